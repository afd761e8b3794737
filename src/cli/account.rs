//! `didhub account …`

use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::service::Service;
use anyhow::{Context, bail};
use clap::Subcommand;
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; the password is read from standard input.
    Create {
        username: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Opening balance, e.g. 25.00.
        #[arg(long, default_value = "0")]
        balance: String,
        /// ISO 4217 currency of the account.
        #[arg(long, default_value = "USD")]
        currency: String,
    },
    /// Add money to an account's balance.
    Credit {
        username: String,
        amount: String,
        #[arg(long, default_value = "credit")]
        description: String,
    },
    /// Correct a balance by a signed amount (e.g. -5.00), recorded in the ledger.
    Adjust {
        username: String,
        #[arg(allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        description: String,
    },
    /// Set (or with --clear remove) the PBX host that `extension` forwards reach.
    SetPbx {
        username: String,
        host: Option<String>,
        #[arg(long, conflicts_with = "host")]
        clear: bool,
    },
    /// Limit the concurrent calls to all of an account's numbers together
    /// (`none` removes the limit); the operator's SBC enforces it.
    Limit {
        username: String,
        #[arg(long, value_parser = super::number::parse_max_calls)]
        max_calls: super::number::MaxCalls,
    },
    /// Replace an account's password (read from standard input) and revoke its tokens.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts with their balances.
    List,
    /// Show an account's ledger, newest first.
    Ledger {
        username: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Check that every balance equals the sum of its ledger; exits 1 if not.
    Audit,
}

fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    if password.chars().any(crate::domain::text::is_refused_char) {
        bail!("the password contains a control character");
    }
    Ok(password)
}

/// Credits or adjusts a balance by a decimal amount in the account's currency.
async fn post(
    service: &Service,
    username: &str,
    kind: &'static str,
    amount: &str,
    description: &str,
) -> anyhow::Result<()> {
    let currency = service.account_by_username(username).await?.currency;
    let minor = currency.parse_minor(amount)?;
    let account = service
        .post_to_balance(username, kind, minor, description)
        .await?;
    let balance = currency.format_minor(account.balance_minor);
    println!(
        "{}",
        balance_line(&account.username, &balance, currency.code())
    );
    Ok(())
}

/// `account list` and `account credit|adjust` print the same whether they
/// talk to the database or to a server (`--addr`).
pub(super) fn list_header() -> String {
    format!("{:<24} {:>16} {:<4} pbx_host", "username", "balance", "cur")
}

pub(super) fn list_line(
    username: &str,
    balance: &str,
    currency: &str,
    pbx: Option<&str>,
) -> String {
    format!(
        "{username:<24} {balance:>16} {currency:<4} {}",
        pbx.unwrap_or("-")
    )
}

pub(super) fn balance_line(username: &str, balance: &str, currency: &str) -> String {
    format!("{username}: balance {balance} {currency}")
}

pub async fn run(service: Service, command: AccountCommand) -> anyhow::Result<ExitCode> {
    match command {
        AccountCommand::Create {
            username,
            password_stdin: _,
            balance,
            currency,
        } => {
            let currency = Currency::parse(&currency)
                .with_context(|| format!("unknown currency {currency}"))?;
            let opening = currency.parse_minor(&balance)?;
            let password = read_password()?;
            let account = service
                .create_account(&username, &password, Some(currency), opening)
                .await?;
            println!(
                "created account {} (id {}) with balance {} {}",
                account.username,
                account.id,
                account.currency.format_minor(account.balance_minor),
                account.currency
            );
        }
        AccountCommand::Credit {
            username,
            amount,
            description,
        } => post(&service, &username, "credit", &amount, &description).await?,
        AccountCommand::Adjust {
            username,
            amount,
            description,
        } => post(&service, &username, "adjustment", &amount, &description).await?,
        AccountCommand::SetPbx {
            username,
            host,
            clear,
        } => {
            if host.is_none() && !clear {
                bail!("give a host, or --clear");
            }
            let account = service.set_pbx_host(&username, host.as_deref()).await?;
            println!(
                "{}: PBX host {}",
                account.username,
                account.pbx_host.as_deref().unwrap_or("(none)")
            );
        }
        AccountCommand::Limit {
            username,
            max_calls,
        } => {
            service
                .set_account_max_calls(&username, max_calls.0)
                .await?;
            println!("{username}: at most {max_calls} concurrent calls");
        }
        AccountCommand::SetPassword { username, .. } => {
            let password = read_password()?;
            service.set_password(&username, &password).await?;
            println!("{username}: password replaced, tokens revoked");
        }
        AccountCommand::List => {
            println!("{}", list_header());
            for account in service.list_accounts().await? {
                let balance = account.currency.format_minor(account.balance_minor);
                let currency = account.currency.code();
                println!(
                    "{}",
                    list_line(
                        &account.username,
                        &balance,
                        currency,
                        account.pbx_host.as_deref()
                    )
                );
            }
        }
        AccountCommand::Ledger { username, limit } => {
            let account = service.account_by_username(&username).await?;
            let currency = account.currency;
            for entry in service.ledger(account.id, None, limit).await? {
                println!(
                    "{:>8} {} {:<15} {:>14} {:>14}  {}",
                    entry.id,
                    rfc3339(entry.created_at),
                    entry.kind,
                    currency.format_minor(entry.amount_minor),
                    currency.format_minor(entry.balance_after_minor),
                    entry.description
                );
            }
        }
        AccountCommand::Audit => {
            let mut broken = 0;
            for account in service.list_accounts().await? {
                let (balance, sum) = service.audit_account(account.id).await?;
                if balance != sum {
                    broken += 1;
                    println!(
                        "MISMATCH {}: balance {balance} ledger sum {sum}",
                        account.username
                    );
                }
            }
            if broken > 0 {
                return Ok(ExitCode::FAILURE);
            }
            println!("every balance equals its ledger sum");
        }
    }
    Ok(ExitCode::SUCCESS)
}
