//! `didhub operator key …` (keys for the admin API) and `didhub audit log`.

use crate::domain::billing::rfc3339;
use crate::domain::operator::Role;
use crate::service::Service;
use crate::store::audit::AuditFilter;
use anyhow::{Context, bail};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Operator keys for the admin API (`/admin/v1/`).
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key and print it once (only its hash is kept).
    Create {
        name: String,
        /// admin, billing, support or readonly.
        #[arg(long)]
        role: String,
        /// Lifetime such as 3600s, 90m, 12h or 30d; never expires without it.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List keys (never the keys themselves).
    List {
        /// table (aligned columns) or json (one array, for scripts).
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Revoke a key at once.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the audit log of admin writes, newest first.
    Log {
        /// Only this operator key's writes.
        #[arg(long)]
        actor: Option<String>,
        /// Only this action, e.g. money.credit.
        #[arg(long)]
        action: Option<String>,
        /// Only this target, e.g. account:42.
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// table (aligned columns) or json (one array, for scripts).
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// "30d" → seconds. Four units are all an expiry needs; not worth a crate.
fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("--expires-in {text:?}: use a number with s, m, h or d, e.g. 30d"),
    };
    let value: i64 = digits
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .with_context(|| format!("--expires-in {text:?}: not a positive number"))?;
    value
        .checked_mul(scale)
        .with_context(|| format!("--expires-in {text:?}: too long"))
}

pub async fn run(service: Service, command: OperatorCommand) -> anyhow::Result<ExitCode> {
    let OperatorCommand::Key(command) = command;
    match command {
        KeyCommand::Create {
            name,
            role,
            expires_in,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role}: use admin, billing, support or readonly")
            })?;
            let expires = expires_in.as_deref().map(parse_duration).transpose()?;
            let key = service.create_operator_key(&name, role, expires).await?;
            eprintln!("operator key {name} ({}); shown only now:", role.code());
            println!("{key}");
        }
        KeyCommand::List {
            output: Output::Json,
        } => {
            let keys: Vec<_> = service
                .list_operator_keys()
                .await?
                .into_iter()
                .map(|k| {
                    serde_json::json!({
                        "name": k.name, "role": k.role, "created_at": rfc3339(k.created_at),
                        "expires_at": k.expires_at.map(rfc3339),
                        "revoked_at": k.revoked_at.map(rfc3339),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(keys));
        }
        KeyCommand::List {
            output: Output::Table,
        } => {
            println!(
                "{:<24} {:<9} {:<21} {:<21} state",
                "name", "role", "created", "expires"
            );
            for key in service.list_operator_keys().await? {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", rfc3339(at)),
                    None if key.expires_at.is_some_and(|e| e <= service.now()) => {
                        "expired".to_owned()
                    }
                    None => "live".to_owned(),
                };
                println!(
                    "{:<24} {:<9} {:<21} {:<21} {state}",
                    key.name,
                    key.role,
                    rfc3339(key.created_at),
                    key.expires_at.map_or_else(|| "never".to_owned(), rfc3339),
                );
            }
        }
        KeyCommand::Revoke { name } => {
            service.revoke_operator_key(&name).await?;
            println!("operator key {name} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit(service: Service, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Log {
        actor,
        action,
        target,
        limit,
        output,
    } = command;
    let filter = AuditFilter {
        actor,
        action,
        target,
        ..AuditFilter::default()
    };
    let rows = service.audit_log(&filter, None, limit).await?;
    if output == Output::Json {
        let parse = |text: Option<&str>| {
            text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        };
        let entries: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "actor": r.actor, "action": r.action, "target": r.target,
                    "before": parse(r.before_json.as_deref()),
                    "after": parse(r.after_json.as_deref()),
                    "at": rfc3339(r.created_at),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(entries));
        return Ok(ExitCode::SUCCESS);
    }
    for row in rows {
        println!(
            "{}",
            audit_line(
                row.id,
                &rfc3339(row.created_at),
                &row.actor,
                &row.action,
                &row.target,
                row.before_json.as_deref(),
                row.after_json.as_deref(),
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `audit log`, the same from the database or a server.
pub(super) fn audit_line(
    id: i64,
    at: &str,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    format!(
        "{id:>8} {at} {actor:<16} {action:<24} {target:<16} {} -> {}",
        before.unwrap_or("-"),
        after.unwrap_or("-")
    )
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn expiry_durations_read_four_units_and_nothing_else() {
        assert_eq!(parse_duration("3600s").ok(), Some(3600));
        assert_eq!(parse_duration("90m").ok(), Some(5400));
        assert_eq!(parse_duration("12h").ok(), Some(43_200));
        assert_eq!(parse_duration("30d").ok(), Some(2_592_000));
        for bad in ["", "d", "0d", "-1d", "1w", "1.5h", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
