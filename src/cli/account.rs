//! `didhub account …`

use super::admin::{AccountAction, Source};
use super::operator::Output;
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::service::{AccountUpdate, Posting, Service};
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
    List {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Show an account's ledger, newest first.
    Ledger {
        username: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Check that every balance equals the sum of its ledger; exits 1 if not.
    Audit,
    /// A month's statement: opening balance, every entry, totals per kind, closing balance.
    Statement {
        username: String,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        /// Print CSV instead of text.
        #[arg(long)]
        csv: bool,
    },
    /// Show an account: balance, numbers, PBX host, status.
    Show {
        username: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Suspend an account: it cannot log in (its tokens are revoked) and its numbers do not ring.
    Suspend {
        username: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Make a suspended account active again.
    Unsuspend {
        username: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete (close) an account that owns no number and has a zero balance.
    Delete { username: String },
}

impl AccountCommand {
    /// The commands `cli::admin` runs, with their username and output.
    pub(super) fn admin_action(&self) -> Option<(&str, AccountAction, Output)> {
        match self {
            AccountCommand::Show { username, output } => {
                Some((username, AccountAction::Show, *output))
            }
            AccountCommand::Suspend { username, output } => {
                Some((username, AccountAction::Suspend, *output))
            }
            AccountCommand::Unsuspend { username, output } => {
                Some((username, AccountAction::Unsuspend, *output))
            }
            AccountCommand::Delete { username } => {
                Some((username, AccountAction::Delete, Output::Table))
            }
            _ => None,
        }
    }
}

pub(super) fn read_password() -> anyhow::Result<String> {
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
    let account = service.account_by_username(username).await?;
    let currency = account.currency;
    let posting = Posting {
        kind,
        amount_minor: currency.parse_minor(amount)?,
        reason: description,
        reference: None,
        allow_negative: false,
    };
    service
        .post_money_as(Some(&super::cli_operator()), account.id, &posting, None)
        .await?;
    let account = service.account_by_id(account.id).await?;
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

pub(super) fn created_line(username: &str, id: i64, balance: &str, currency: &str) -> String {
    format!("created account {username} (id {id}) with balance {balance} {currency}")
}

pub(super) fn pbx_line(username: &str, host: Option<&str>) -> String {
    format!("{username}: PBX host {}", host.unwrap_or("(none)"))
}

pub(super) fn password_line(username: &str) -> String {
    format!("{username}: password replaced, tokens revoked")
}

pub(super) fn ledger_line(
    id: i64,
    at: &str,
    kind: &str,
    amount: &str,
    balance_after: &str,
    description: &str,
) -> String {
    format!("{id:>8} {at} {kind:<15} {amount:>14} {balance_after:>14}  {description}")
}

pub(super) fn mismatch_line(username: &str, balance: &str, ledger_sum: &str) -> String {
    format!("MISMATCH {username}: balance {balance} ledger sum {ledger_sum}")
}

/// `account audit`'s last word and exit code.
pub(super) fn audit_verdict(mismatches: usize) -> ExitCode {
    if mismatches > 0 {
        return ExitCode::FAILURE;
    }
    println!("every balance equals its ledger sum");
    ExitCode::SUCCESS
}

pub(super) fn balance_line(username: &str, balance: &str, currency: &str) -> String {
    format!("{username}: balance {balance} {currency}")
}

pub async fn run(service: Service, command: AccountCommand) -> anyhow::Result<ExitCode> {
    if let Some((username, action, output)) = command.admin_action() {
        return super::admin::account(Source::Database(&service), username, action, output).await;
    }
    run_other(service, command).await
}

/// The commands of `account` that `cli::admin` does not run.
async fn run_other(service: Service, command: AccountCommand) -> anyhow::Result<ExitCode> {
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
                .create_account_as(
                    Some(&super::cli_operator()),
                    &username,
                    &password,
                    Some(currency),
                    opening,
                )
                .await?;
            println!(
                "{}",
                created_line(
                    &account.username,
                    account.id,
                    &account.currency.format_minor(account.balance_minor),
                    account.currency.code()
                )
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
            let id = service.account_by_username(&username).await?.id;
            let update = AccountUpdate {
                status: None,
                pbx_host: Some(host),
            };
            let account = service
                .update_account_as(Some(&super::cli_operator()), id, &update)
                .await?;
            println!(
                "{}",
                pbx_line(&account.username, account.pbx_host.as_deref())
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
            let id = service.account_by_username(&username).await?.id;
            service
                .set_password_as(Some(&super::cli_operator()), id, &password)
                .await?;
            println!("{}", password_line(&username));
        }
        AccountCommand::List {
            output: Output::Json,
        } => {
            let accounts: Vec<_> = service
                .list_accounts()
                .await?
                .iter()
                .map(|a| crate::http::admin::accounts::AccountJson::new(a, None))
                .collect();
            println!("{}", serde_json::to_value(accounts)?);
        }
        AccountCommand::List {
            output: Output::Table,
        } => {
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
                    "{}",
                    ledger_line(
                        entry.id,
                        &rfc3339(entry.created_at),
                        &entry.kind,
                        &currency.format_minor(entry.amount_minor),
                        &currency.format_minor(entry.balance_after_minor),
                        &entry.description
                    )
                );
            }
        }
        AccountCommand::Audit => {
            let mut broken = 0;
            for account in service.list_accounts().await? {
                let (balance, sum) = service.audit_account(account.id).await?;
                if balance != sum {
                    broken += 1;
                    let format = |minor| account.currency.format_minor(minor);
                    println!(
                        "{}",
                        mismatch_line(&account.username, &format(balance), &format(sum))
                    );
                }
            }
            return Ok(audit_verdict(broken));
        }
        AccountCommand::Statement {
            username,
            month,
            csv,
        } => {
            let statement = service.statement_of(&username, &month).await?;
            if csv {
                print!("{}", crate::http::statement_csv(&statement)?);
            } else {
                print_statement(&statement);
            }
        }
        AccountCommand::Show { .. }
        | AccountCommand::Suspend { .. }
        | AccountCommand::Unsuspend { .. }
        | AccountCommand::Delete { .. } => bail!("run by cli::admin"),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_statement(s: &crate::service::Statement) {
    let money = |minor: i64| s.currency.format_minor(minor);
    println!(
        "statement of {} for {} ({})",
        s.username,
        s.month,
        s.currency.code()
    );
    println!("opening balance {:>14}", money(s.opening_minor));
    for entry in &s.entries {
        println!(
            "{:>8} {} {:<15} {:>14} {:>14}  {}",
            entry.id,
            rfc3339(entry.created_at),
            entry.kind,
            money(entry.amount_minor),
            money(entry.balance_after_minor),
            entry.description
        );
    }
    for (kind, total) in &s.totals {
        println!("total {kind:<15} {:>14}", money(*total));
    }
    println!("closing balance {:>14}", money(s.closing_minor));
}
