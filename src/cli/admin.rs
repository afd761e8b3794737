//! Operator commands that print the admin API's own JSON: from the database
//! the same structures are built as the server would answer, so the table
//! (or `--output json`) is the same on both paths.

use super::operator::Output;
use super::remote::Remote;
use crate::http::admin::accounts::AccountJson;
use crate::http::admin::inventory::InventoryCounts;
use crate::http::admin::limits::LimitsInput;
use crate::http::admin::numbers::{ForcedRelease, NumberJson};
use crate::service::{AccountUpdate, Service};
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

/// Where a command runs: on the database, or through a server's admin API.
pub enum Source<'a> {
    Database(&'a Service),
    Server(&'a Remote),
}

#[derive(Debug, Subcommand)]
pub enum NumberCommand {
    /// Show any number with its owner, forwarding, paid-through and charges.
    Show {
        number: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Limit the concurrent calls to a number (`none` removes the limit); the
    /// operator's SBC enforces it.
    Limit {
        /// The number, E.164 (+33123456789).
        number: String,
        #[arg(long, value_parser = super::number::parse_max_calls)]
        max_calls: super::number::MaxCalls,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Take a number from its owner into aging, without refund.
    Release {
        number: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// `didhub stats --from --to`: numbers per country, sales and revenue per day.
pub async fn stats(
    source: Source<'_>,
    from: &str,
    to: &str,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let stats = match source {
        Source::Database(service) => {
            let stats = crate::http::admin::stats::compute(service, from, to)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.0))?;
            to_json(stats)?
        }
        Source::Server(remote) => {
            let query = serde_urlencoded::to_string([("from", from), ("to", to)])?;
            remote.get(&format!("/stats?{query}")).await?
        }
    };
    Ok(print(&stats, output, |s| {
        println!(
            "{:<8} {:>8} {:>8} {:>8}",
            "country", "on_sale", "owned", "aging"
        );
        for n in s["numbers"].as_array().into_iter().flatten() {
            let (on_sale, owned) = (text(n, "on_sale"), text(n, "owned"));
            let line = format!(
                "{:<8} {on_sale:>8} {owned:>8} {:>8}",
                text(n, "country"),
                text(n, "aging")
            );
            println!("{line}");
        }
        println!(
            "{:<10} {:<4} {:>6} {:>14}",
            "date", "cur", "sales", "revenue"
        );
        for d in s["days"].as_array().into_iter().flatten() {
            let (date, currency) = (text(d, "date"), text(d, "currency"));
            let line = format!(
                "{date:<10} {currency:<4} {:>6} {:>14}",
                text(d, "sales"),
                text(d, "revenue")
            );
            println!("{line}");
        }
    }))
}

/// Account commands with an admin endpoint of their own.
#[derive(Debug, Clone, Copy)]
pub enum AccountAction {
    Show,
    Suspend,
    Unsuspend,
    Delete,
}

/// A path segment: everything but letters and digits percent-encoded (`+` above all).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn to_json(value: impl serde::Serialize) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(value)?)
}

fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn print(value: &Value, output: Output, table: impl FnOnce(&Value)) -> ExitCode {
    match output {
        Output::Json => println!("{value}"),
        Output::Table => table(value),
    }
    ExitCode::SUCCESS
}

pub async fn number(source: Source<'_>, command: NumberCommand) -> anyhow::Result<ExitCode> {
    match command {
        NumberCommand::Show { number, output } => {
            let shown = match source {
                Source::Database(service) => {
                    to_json(NumberJson::from(service.number_detail(&number).await?))?
                }
                Source::Server(remote) => {
                    remote
                        .get(&format!("/numbers/{}", segment(&number)))
                        .await?
                }
            };
            Ok(print(&shown, output, print_number))
        }
        NumberCommand::Limit {
            number,
            max_calls,
            output,
        } => {
            let limits = match source {
                Source::Database(service) => {
                    let actor = super::cli_operator();
                    service
                        .set_number_max_calls_as(Some(&actor), &number, max_calls.0)
                        .await?;
                    to_json(LimitsInput {
                        max_calls: max_calls.0,
                    })?
                }
                Source::Server(remote) => {
                    let path = format!("/numbers/{}/limits", segment(&number));
                    remote
                        .patch(&path, &json!({ "max_calls": max_calls.0 }))
                        .await?
                }
            };
            Ok(print(&limits, output, |_| {
                println!("{number}: at most {max_calls} concurrent calls");
            }))
        }
        NumberCommand::Release {
            number,
            reason,
            output,
        } => {
            let released = match source {
                Source::Database(service) => {
                    let actor = super::cli_operator();
                    let released = service.force_release_as(&actor, &number, &reason).await?;
                    to_json(ForcedRelease::from(released))?
                }
                Source::Server(remote) => {
                    let path = format!("/numbers/{}/release", segment(&number));
                    remote.post(&path, &json!({ "reason": reason })).await?
                }
            };
            Ok(print(&released, output, |r| {
                println!(
                    "{}: aging until {}",
                    text(r, "number"),
                    text(r, "aging_until")
                );
            }))
        }
    }
}

fn print_number(shown: &Value) {
    let did = &shown["number"];
    let owner = match shown["owner"]["username"].as_str() {
        Some(name) => format!("{name} (id {})", text(&shown["owner"], "id")),
        None => "-".to_owned(),
    };
    let forwarding = match did["forwarding"]["type"].as_str() {
        Some(kind) => format!("{kind} {}", text(&did["forwarding"], "destination")),
        None => "-".to_owned(),
    };
    println!("number        {}", text(did, "did_number"));
    println!(
        "country/type  {} {}",
        text(did, "country"),
        text(did, "type")
    );
    println!("status        {}", text(did, "status"));
    println!("owner         {owner}");
    println!(
        "prices        setup {}, monthly {} {}",
        text(did, "setup_fee"),
        text(did, "monthly_cost"),
        text(did, "currency")
    );
    println!("paid through  {}", text(did, "paid_through"));
    println!("forwarding    {forwarding}");
    println!("aging until   {}", text(shown, "aging_until"));
    for charge in shown["charges"].as_array().into_iter().flatten() {
        println!(
            "charge        {} {} {}",
            text(charge, "created_at"),
            text(charge, "type"),
            text(charge, "amount")
        );
    }
}

pub async fn inventory_counts(source: Source<'_>, output: Output) -> anyhow::Result<ExitCode> {
    let counts = match source {
        Source::Database(service) => {
            to_json(InventoryCounts::from(service.inventory_counts().await?))?
        }
        Source::Server(remote) => remote.get("/inventory/counts").await?,
    };
    Ok(print(&counts, output, |c| {
        println!(
            "{:<8} {:<13} {:<10} {:>8}",
            "country", "type", "status", "count"
        );
        for row in c["counts"].as_array().into_iter().flatten() {
            println!(
                "{:<8} {:<13} {:<10} {:>8}",
                text(row, "country"),
                text(row, "type"),
                text(row, "status"),
                text(row, "count")
            );
        }
    }))
}

async fn account_on_database(
    service: &Service,
    username: &str,
    action: AccountAction,
) -> anyhow::Result<Value> {
    let id = service.account_by_username(username).await?.id;
    let actor = super::cli_operator();
    let status = match action {
        AccountAction::Show => {
            let detail = service.account_detail(id).await?;
            return to_json(AccountJson::new(&detail.account, Some(detail.numbers)));
        }
        AccountAction::Delete => {
            service.close_account_as(Some(&actor), id).await?;
            return Ok(Value::Null);
        }
        AccountAction::Suspend => "suspended",
        AccountAction::Unsuspend => "active",
    };
    let update = AccountUpdate {
        status: Some(status.to_owned()),
        pbx_host: None,
    };
    let account = service.update_account_as(Some(&actor), id, &update).await?;
    to_json(AccountJson::new(&account, None))
}

async fn account_on_server(
    remote: &Remote,
    username: &str,
    action: AccountAction,
) -> anyhow::Result<Value> {
    let path = format!("/accounts/{}", remote.account_id(username).await?);
    match action {
        AccountAction::Show => remote.get(&path).await,
        AccountAction::Delete => remote.delete(&path).await.map(|_| Value::Null),
        AccountAction::Suspend => remote.patch(&path, &json!({"status": "suspended"})).await,
        AccountAction::Unsuspend => remote.patch(&path, &json!({"status": "active"})).await,
    }
}

pub async fn account(
    source: Source<'_>,
    username: &str,
    action: AccountAction,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let account = match source {
        Source::Database(service) => account_on_database(service, username, action).await?,
        Source::Server(remote) => account_on_server(remote, username, action).await?,
    };
    if let AccountAction::Delete = action {
        println!("{username}: deleted (closed; its ledger is kept)");
        return Ok(ExitCode::SUCCESS);
    }
    Ok(print(&account, output, |a| match action {
        AccountAction::Show => println!(
            "{} (id {}): {}, balance {} {}, {} numbers, PBX host {}",
            text(a, "username"),
            text(a, "id"),
            text(a, "status"),
            text(a, "balance"),
            text(a, "currency"),
            text(a, "numbers"),
            a["pbx_host"].as_str().unwrap_or("(none)")
        ),
        _ => println!("{}: {}", text(a, "username"), text(a, "status")),
    }))
}
