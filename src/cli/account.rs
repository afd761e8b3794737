//! `didhub account …`

use super::admin::{AccountAction, Source};
use super::operator::Output;
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::http::admin::accounts::{AccountJson, CreatedAccount, PasswordReset};
use crate::http::admin::limits::LimitsInput;
use crate::http::admin::money::{AdminLedger, BalanceAuditJson, PostedJson};
use crate::http::billing::StatementResponse;
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
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Add money to an account's balance.
    Credit {
        username: String,
        amount: String,
        #[arg(long, default_value = "credit")]
        description: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Correct a balance by a signed amount (e.g. -5.00), recorded in the ledger.
    Adjust {
        username: String,
        #[arg(allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        description: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Set (or with --clear remove) the PBX host that `extension` forwards reach.
    SetPbx {
        username: String,
        host: Option<String>,
        #[arg(long, conflicts_with = "host")]
        clear: bool,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Limit the concurrent calls to all of an account's numbers together
    /// (`none` removes the limit); the operator's SBC enforces it.
    Limit {
        username: String,
        #[arg(long, value_parser = super::number::parse_max_calls)]
        max_calls: super::number::MaxCalls,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Replace an account's password (read from standard input) and revoke its tokens.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
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
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Check that every balance equals the sum of its ledger; exits 1 if not.
    Audit {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// A month's statement: opening balance, every entry, totals per kind, closing balance.
    Statement {
        username: String,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        /// Print CSV instead of text.
        #[arg(long, conflicts_with = "output")]
        csv: bool,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
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
    output: Output,
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
    let posted = service
        .post_money_as(Some(&super::cli_operator()), account.id, &posting, None)
        .await?;
    let answer = PostedJson::new(&posted, currency);
    json_or(output, &answer, || {
        balance_line(&account.username, &answer.balance, currency.code())
    })
}

/// With `--output json`, the admin API's answer to the same request (so a
/// script reads the same with and without `--addr`); else the table line.
pub(super) fn json_or(
    output: Output,
    answer: &impl serde::Serialize,
    line: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_value(answer)?),
        Output::Table => println!("{}", line()),
    }
    Ok(())
}

/// `account ledger --output json` prints at most this many entries on both paths.
pub(super) const MAX_LEDGER_ENTRIES: i64 = 1000;

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
            output,
        } => create(&service, &username, &balance, &currency, output).await?,
        AccountCommand::Credit {
            username,
            amount,
            description,
            output,
        } => post(&service, &username, "credit", &amount, &description, output).await?,
        AccountCommand::Adjust {
            username,
            amount,
            description,
            output,
        } => {
            post(
                &service,
                &username,
                "adjustment",
                &amount,
                &description,
                output,
            )
            .await?
        }
        AccountCommand::SetPbx {
            username,
            host,
            clear,
            output,
        } => set_pbx(&service, &username, host, clear, output).await?,
        AccountCommand::Limit {
            username,
            max_calls,
            output,
        } => {
            let id = service.account_by_username(&username).await?.id;
            service
                .set_account_max_calls_as(Some(&super::cli_operator()), id, max_calls.0)
                .await?;
            let answer = LimitsInput {
                max_calls: max_calls.0,
            };
            json_or(output, &answer, || {
                format!("{username}: at most {max_calls} concurrent calls")
            })?;
        }
        AccountCommand::SetPassword {
            username, output, ..
        } => {
            let password = read_password()?;
            let id = service.account_by_username(&username).await?.id;
            service
                .set_password_as(Some(&super::cli_operator()), id, &password)
                .await?;
            let answer = PasswordReset {
                status: "ok".to_owned(),
                password: None,
            };
            json_or(output, &answer, || password_line(&username))?;
        }
        AccountCommand::List { output } => list(&service, output).await?,
        AccountCommand::Ledger {
            username,
            limit,
            output,
        } => ledger(&service, &username, limit, output).await?,
        AccountCommand::Audit { output } => return audit(&service, output).await,
        AccountCommand::Statement {
            username,
            month,
            csv,
            output,
        } => {
            let statement = service.statement_of(&username, &month).await?;
            if csv {
                print!("{}", crate::http::statement_csv(&statement)?);
                return Ok(ExitCode::SUCCESS);
            }
            let answer = serde_json::to_value(StatementResponse::from(&statement))?;
            match output {
                Output::Json => println!("{answer}"),
                Output::Table => print_statement(&username, &answer),
            }
        }
        AccountCommand::Show { .. }
        | AccountCommand::Suspend { .. }
        | AccountCommand::Unsuspend { .. }
        | AccountCommand::Delete { .. } => bail!("run by cli::admin"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(
    service: &Service,
    username: &str,
    balance: &str,
    currency: &str,
    output: Output,
) -> anyhow::Result<()> {
    let currency =
        Currency::parse(currency).with_context(|| format!("unknown currency {currency}"))?;
    let opening = currency.parse_minor(balance)?;
    let password = read_password()?;
    let account = service
        .create_account_as(
            Some(&super::cli_operator()),
            username,
            &password,
            Some(currency),
            opening,
        )
        .await?;
    let answer = CreatedAccount {
        account: AccountJson::new(&account, Some(0)),
        password: None,
    };
    json_or(output, &answer, || {
        created_line(
            &account.username,
            account.id,
            &account.currency.format_minor(account.balance_minor),
            account.currency.code(),
        )
    })
}

async fn set_pbx(
    service: &Service,
    username: &str,
    host: Option<String>,
    clear: bool,
    output: Output,
) -> anyhow::Result<()> {
    if host.is_none() && !clear {
        bail!("give a host, or --clear");
    }
    let id = service.account_by_username(username).await?.id;
    let update = AccountUpdate {
        status: None,
        pbx_host: Some(host),
    };
    let account = service
        .update_account_as(Some(&super::cli_operator()), id, &update)
        .await?;
    json_or(output, &AccountJson::new(&account, None), || {
        pbx_line(&account.username, account.pbx_host.as_deref())
    })
}

async fn list(service: &Service, output: Output) -> anyhow::Result<()> {
    let accounts = service.list_accounts().await?;
    if output == Output::Json {
        let accounts: Vec<_> = accounts.iter().map(|a| AccountJson::new(a, None)).collect();
        println!("{}", serde_json::to_value(accounts)?);
        return Ok(());
    }
    println!("{}", list_header());
    for account in accounts {
        let balance = account.currency.format_minor(account.balance_minor);
        let currency = account.currency.code();
        let pbx = account.pbx_host.as_deref();
        println!("{}", list_line(&account.username, &balance, currency, pbx));
    }
    Ok(())
}

/// The newest entries; with `--output json` the admin API's page (at most
/// 1000 entries, as `--addr` asks for).
async fn ledger(
    service: &Service,
    username: &str,
    limit: i64,
    output: Output,
) -> anyhow::Result<()> {
    let account = service.account_by_username(username).await?;
    if output == Output::Json {
        let limit = limit.clamp(1, MAX_LEDGER_ENTRIES);
        let (account, entries) = service.account_ledger(account.id, None, limit).await?;
        let page = AdminLedger::new(&account, &entries, limit);
        println!("{}", serde_json::to_value(page)?);
        return Ok(());
    }
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
    Ok(())
}

/// Every balance against its ledger sum, by username; exits 1 on a mismatch.
async fn audit(service: &Service, output: Output) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for account in service.list_accounts().await? {
        let (balance, sum) = service.audit_account(account.id).await?;
        rows.push(BalanceAuditJson::new(&account, balance, sum));
    }
    Ok(print_audit(&serde_json::to_value(rows)?, output))
}

/// `account audit` from the admin API's rows (sorted by username), on both
/// paths: the one page `--output json` prints, or the mismatches and a verdict.
pub(super) fn print_audit(rows: &serde_json::Value, output: Output) -> ExitCode {
    let accounts = rows.as_array().cloned().unwrap_or_default();
    let broken: Vec<_> = accounts.iter().filter(|a| a["ok"] == false).collect();
    if output == Output::Json {
        let page = serde_json::json!({
            "accounts": accounts, "mismatches": broken.len(), "next_cursor": null,
        });
        println!("{page}");
        return if broken.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    for a in &broken {
        let text = |field: &str| a[field].as_str().unwrap_or("").to_owned();
        println!(
            "{}",
            mismatch_line(&text("username"), &text("balance"), &text("ledger_sum"))
        );
    }
    audit_verdict(broken.len())
}

/// `account statement` from the admin API's statement JSON, on both paths.
pub(super) fn print_statement(username: &str, s: &serde_json::Value) {
    let text = |v: &serde_json::Value, field: &str| v[field].as_str().unwrap_or("").to_owned();
    println!(
        "statement of {username} for {} ({})",
        text(s, "month"),
        text(s, "currency")
    );
    println!("opening balance {:>14}", text(s, "opening_balance"));
    for e in s["entries"].as_array().into_iter().flatten() {
        let line = ledger_line(
            e["id"].as_i64().unwrap_or(0),
            &text(e, "created_at"),
            &text(e, "type"),
            &text(e, "amount"),
            &text(e, "balance_after"),
            &text(e, "description"),
        );
        println!("{line}");
    }
    for (kind, total) in s["totals"].as_object().into_iter().flatten() {
        println!("total {kind:<15} {:>14}", total.as_str().unwrap_or(""));
    }
    println!("closing balance {:>14}", text(s, "closing_balance"));
}
