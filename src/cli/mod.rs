//! The `didhub` command line: the server and the operator's commands.

mod account;
mod admin;
mod backup;
mod bounded;
mod inventory;
mod number;
mod operator;
mod remote;
mod webhook;

use crate::app::{self, AppConfig};
use crate::clock::SystemClock;
use crate::config::{DatabaseArgs, ServeArgs};
use crate::service::{self, Service};
use crate::store::PoolSettings;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "didhub",
    version,
    about = "DID number provisioning and call routing"
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// A didhub server (http://host:port) whose admin API the operator
    /// commands talk to, instead of the database (every `account` command,
    /// `number`, `stats`, `audit log`, `inventory import|list|counts|reprice|withdraw`);
    /// the key from DIDHUB_OPERATOR_KEY or `didhub login`.
    #[arg(long, env = "DIDHUB_ADDR", global = true)]
    pub addr: Option<String>,
    /// Log filter, e.g. `info` or `didhub=debug,tower_http=debug`.
    #[arg(long, env = "DIDHUB_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log lines as text or as one JSON object per line.
    #[arg(
        long,
        env = "DIDHUB_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (and, with --demo, seed demo data first).
    Serve(Box<ServeArgs>),
    /// Manage customer accounts and their balances.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Import, generate and inspect the number inventory.
    #[command(subcommand)]
    Inventory(inventory::InventoryCommand),
    /// Run renewals, the end of aging and clean-up once, then exit.
    Maintenance,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Copy the SQLite database to FILE, consistently, while the server runs.
    Backup {
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database with FILE (a backup); every server on it must be stopped.
    Restore { file: PathBuf },
    /// Operator keys for the admin API.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// The admin API's audit log.
    #[command(subcommand)]
    Audit(operator::AuditCommand),
    /// The operator's webhook endpoints, which receive every account's events.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Numbers on sale, owned and aging per country; sales and revenue per day (UTC).
    Stats {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day included, YYYY-MM-DD (at most 366 days after --from).
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value_t = operator::Output::Table)]
        output: operator::Output,
    },
    /// Any number, sold or not: show it, limit its concurrent calls, or force its release.
    #[command(subcommand)]
    Number(admin::NumberCommand),
    /// Check an operator key (read from standard input) against --addr and keep it in a 0600 file.
    Login,
    /// Print a shell completion script, e.g. `didhub completions bash > /etc/bash_completion.d/didhub`.
    Completions { shell: clap_complete::Shell },
}

/// Refuses control characters in the command line and in `DIDHUB_*`
/// variables before they reach a use case: a NUL in a username, for one, is
/// an error on PostgreSQL and a silently truncated string elsewhere.
pub fn refuse_control_chars(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<()> {
    let refused = |text: &std::ffi::OsStr| {
        text.to_string_lossy()
            .chars()
            .any(crate::domain::text::is_refused_char)
    };
    for (position, arg) in args.into_iter().enumerate() {
        if refused(&arg) {
            anyhow::bail!(
                "argument {position} ({:?}) contains a control character",
                arg.to_string_lossy()
            );
        }
    }
    for (name, value) in vars {
        if name.to_string_lossy().starts_with("DIDHUB_") && refused(&value) {
            anyhow::bail!(
                "environment variable {} contains a control character",
                name.to_string_lossy()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init_tracing(cli: &Cli) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        // Colour codes only for a person at a terminal, not in a log file.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Who the audit log names for a command run on the database directly:
/// `cli:<login name>`, or `cli` when the environment does not say.
pub(crate) fn cli_operator() -> service::Operator {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|u| !u.trim().is_empty()));
    service::Operator {
        name: user.map_or_else(|| "cli".to_owned(), |u| format!("cli:{}", u.trim())),
        role: crate::domain::operator::Role::Admin,
    }
}

/// A service for one-shot operator commands.
async fn operator_service(database: &DatabaseArgs) -> anyhow::Result<Service> {
    operator_service_with(database, service::Settings::default()).await
}

async fn operator_service_with(
    database: &DatabaseArgs,
    settings: service::Settings,
) -> anyhow::Result<Service> {
    let pool = PoolSettings {
        max_connections: database.db_max_connections.min(4),
        ..database.pool_settings()
    };
    let store = app::open_store(&database.database, &pool).await?;
    Ok(Service::new(store, Arc::new(SystemClock), settings))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(addr) = cli.addr.as_deref()
        && !matches!(cli.command, Command::Serve(_))
    {
        return run_remote(addr, cli.command).await;
    }
    let _lock = match &cli.command {
        // `serve` takes it once its listeners are bound (see `app::start`).
        Command::Openapi
        | Command::Restore { .. }
        | Command::Serve(_)
        | Command::Completions { .. }
        | Command::Login => None,
        _ => app::lock_database(&cli.database.database)?,
    };
    match cli.command {
        Command::Backup { file, force } => backup::backup(&cli.database, &file, force).await,
        Command::Restore { file } => backup::restore(&cli.database, &file).await,
        Command::Serve(args) => serve(&cli.database, &args).await,
        Command::Account(command) => {
            account::run(operator_service(&cli.database).await?, command).await
        }
        Command::Inventory(command) => {
            inventory::run(operator_service(&cli.database).await?, command).await
        }
        Command::Operator(command) => {
            operator::run(operator_service(&cli.database).await?, command).await
        }
        Command::Audit(command) => {
            operator::audit(operator_service(&cli.database).await?, command).await
        }
        Command::Webhook(command) => {
            let settings = service::Settings {
                webhooks: service::WebhookSettings {
                    urls: command.url_policy(),
                    ..service::WebhookSettings::default()
                },
                ..service::Settings::default()
            };
            webhook::run(
                operator_service_with(&cli.database, settings).await?,
                command,
            )
            .await
        }
        Command::Stats { from, to, output } => {
            let service = operator_service(&cli.database).await?;
            admin::stats(admin::Source::Database(&service), &from, &to, output).await
        }
        Command::Number(command) => {
            let service = operator_service(&cli.database).await?;
            admin::number(admin::Source::Database(&service), command).await
        }
        Command::Login => bail_login(),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "didhub", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Maintenance => {
            let report = operator_service(&cli.database)
                .await?
                .run_maintenance()
                .await?;
            println!(
                "renewed {}, unpaid {}, reclaimed {}, back from aging {}",
                report.renewals.renewed,
                report.renewals.unpaid,
                report.renewals.reclaimed,
                report.aging_ended
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", crate::http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            operator_service(&cli.database).await?;
            println!(
                "database {} is up to date",
                app::redact(&cli.database.database)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The SIP listener's settings from `serve`'s flags.
fn sip_config(
    listen: std::net::SocketAddr,
    allow: crate::sip::Allow,
    args: &ServeArgs,
) -> crate::sip::SipConfig {
    crate::sip::SipConfig {
        listen,
        allow,
        max_tcp_per_peer: args.sip_tcp_max_per_peer as usize,
        tcp_message_timeout: std::time::Duration::from_secs(args.sip_tcp_message_timeout_secs),
        tcp_idle: std::time::Duration::from_secs(args.sip_tcp_idle_secs),
        ..crate::sip::SipConfig::default()
    }
}

fn bail_login() -> anyhow::Result<ExitCode> {
    anyhow::bail!("didhub login needs --addr URL (or DIDHUB_ADDR)")
}

/// The `account` commands through a server's admin API.
async fn remote_account(addr: &str, command: account::AccountCommand) -> anyhow::Result<ExitCode> {
    use account::AccountCommand as A;
    let server = remote::Remote::new(addr)?;
    match command {
        A::List { output } => server.account_list(output).await,
        A::Create {
            username,
            balance,
            currency,
            output,
            ..
        } => {
            let password = account::read_password()?;
            server
                .account_create(&username, &password, &balance, &currency, output)
                .await
        }
        A::SetPbx {
            username,
            host,
            clear,
            output,
        } => {
            if host.is_none() && !clear {
                anyhow::bail!("give a host, or --clear");
            }
            server.set_pbx(&username, host.as_deref(), output).await
        }
        A::SetPassword {
            username, output, ..
        } => {
            let password = account::read_password()?;
            server.set_password(&username, &password, output).await
        }
        A::Limit {
            username,
            max_calls,
            output,
        } => server.account_limit(&username, max_calls, output).await,
        A::Ledger {
            username,
            limit,
            output,
        } => server.ledger(&username, limit, output).await,
        A::Audit { output } => server.balances_audit(output).await,
        A::Statement {
            username,
            month,
            csv,
            output,
        } => server.statement(&username, &month, csv, output).await,
        A::Credit {
            username,
            amount,
            description,
            output,
        } => {
            server
                .post_money(&username, "credits", &amount, &description, output)
                .await
        }
        A::Adjust {
            username,
            amount,
            description,
            output,
        } => {
            server
                .post_money(&username, "adjustments", &amount, &description, output)
                .await
        }
        A::Show { .. } | A::Suspend { .. } | A::Unsuspend { .. } | A::Delete { .. } => {
            let Some((username, action, output)) = command.admin_action() else {
                anyhow::bail!("not an admin API command");
            };
            admin::account(admin::Source::Server(&server), username, action, output).await
        }
    }
}

/// The commands that work against a server; the others need the database.
async fn run_remote(addr: &str, command: Command) -> anyhow::Result<ExitCode> {
    use operator::AuditCommand;
    match command {
        Command::Login => remote::login(addr).await,
        Command::Stats { from, to, output } => {
            let server = remote::Remote::new(addr)?;
            admin::stats(admin::Source::Server(&server), &from, &to, output).await
        }
        Command::Number(command) => {
            let server = remote::Remote::new(addr)?;
            admin::number(admin::Source::Server(&server), command).await
        }
        Command::Inventory(inventory::InventoryCommand::List(args)) => {
            let path = format!("/inventory/numbers?{}", args.query()?);
            let page = remote::Remote::new(addr)?.get(&path).await?;
            Ok(inventory::print_numbers(&page, args.output))
        }
        Command::Inventory(inventory::InventoryCommand::Reprice(args)) => {
            let answer = remote::Remote::new(addr)?
                .post("/inventory/reprice", &args.body())
                .await?;
            Ok(inventory::print_repriced(&answer, args.output))
        }
        Command::Inventory(inventory::InventoryCommand::Counts { output }) => {
            let server = remote::Remote::new(addr)?;
            admin::inventory_counts(admin::Source::Server(&server), output).await
        }
        Command::Inventory(inventory::InventoryCommand::Import {
            file,
            lenient_csv,
            output,
            ..
        }) => {
            if lenient_csv {
                anyhow::bail!(
                    "--lenient-csv works on the database only: the server reads strict CSV"
                );
            }
            let report = remote::Remote::new(addr)?.upload_inventory(&file).await?;
            Ok(inventory::print_import(&file, &report, output))
        }
        Command::Inventory(inventory::InventoryCommand::Withdraw(args)) => {
            let report = remote::Remote::new(addr)?
                .post("/inventory/withdraw", &args.body())
                .await?;
            Ok(inventory::print_withdrawn(&report, args.output))
        }
        Command::Account(command) => remote_account(addr, command).await,
        Command::Audit(AuditCommand::Log {
            actor,
            action,
            target,
            limit,
            output,
        }) => {
            let filters = [("actor", actor), ("action", action), ("target", target)];
            remote::Remote::new(addr)?
                .audit_log(&filters, limit, output)
                .await
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "didhub", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        _ => anyhow::bail!(
            "this command works on the database only: unset DIDHUB_ADDR / drop --addr"
        ),
    }
}

async fn serve(database: &DatabaseArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    // Before the settings: the default connection limit derives from it.
    raise_open_file_limit();
    let mut config = AppConfig::from_args(database, args);
    if let Some(path) = &args.deny_destinations {
        let text = bounded::read_text(path, crate::config::ReadLimitArgs::default())?;
        config.service.deny_destinations = crate::domain::deny::DenyList::parse(&text)
            .with_context(|| format!("--deny-destinations {}", path.display()))?;
        tracing::info!(
            prefixes = config.service.deny_destinations.len(),
            "destination deny list loaded"
        );
    }
    let allow = match args.sip_allow.as_deref() {
        Some(list) => crate::sip::Allow::parse(list)
            .map_err(|e| anyhow::anyhow!("--sip-allow {list:?}: {e}"))?,
        None => crate::sip::Allow::any(),
    };
    config.sip = app::sip_listen(args.sip_listen.as_deref(), args.demo)?.map(|listen| {
        if allow.is_any() && !listen.ip().is_loopback() {
            tracing::warn!(
                %listen,
                "the SIP redirect server answers anyone who can reach it, and its 302s show \
                 where each number forwards: list your SBCs and carriers with --sip-allow"
            );
        }
        sip_config(listen, allow.clone(), args)
    });
    let demo = config.demo.clone();
    let server = app::start(config, Arc::new(SystemClock)).await?;
    let base = format!("http://{}", server.address);
    if let Some(path) = &args.address_file {
        std::fs::write(path, server.address.to_string())?;
    }
    println!("didhub listening on {base}");
    println!("  API base:      {base}/api");
    println!("  OpenAPI:       {base}/openapi.json");
    println!("  database:      {}", app::redact(&database.database));
    match server.sip_address {
        Some(sip) => println!("  SIP redirect:  udp+tcp {sip}"),
        None => println!("  SIP redirect:  off (--sip-listen to enable)"),
    }
    if let Some(demo) = demo {
        println!(
            "  demo account:  username={} password={}",
            demo.username, demo.password
        );
    }
    shutdown_signal().await;
    let timeout = Duration::from_secs(args.shutdown_timeout_secs);
    tracing::info!(
        timeout_secs = timeout.as_secs(),
        "stopping: no new connections; finishing requests in flight"
    );
    if tokio::time::timeout(timeout, server.shutdown())
        .await
        .is_ok()
    {
        tracing::info!("stopped");
        return Ok(ExitCode::SUCCESS);
    }
    tracing::error!(
        timeout_secs = timeout.as_secs(),
        "requests still in flight at the shutdown timeout; exiting anyway with status 1"
    );
    // Not a return: the runtime would wait for blocking work (password
    // hashing) still queued, past the bound the operator set.
    std::process::exit(1)
}

/// Lets the process use as many files (connections) as the hard limit
/// allows; the default soft limit of 1024 is reached by ~1000 clients.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "open-file limit unchanged"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod sip_flag_tests {
    use super::{ServeArgs, sip_config};
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(flags: &[&str]) -> Result<crate::sip::SipConfig, clap::Error> {
        let argv = std::iter::once("serve").chain(flags.iter().copied());
        let serve = Serve::try_parse_from(argv)?;
        let listen = "127.0.0.1:5060".parse().unwrap();
        Ok(sip_config(listen, crate::sip::Allow::any(), &serve.args))
    }

    #[test]
    fn the_sip_tcp_flags_reach_the_sip_settings() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults, crate::sip::SipConfig::default());
        let set = config(&[
            "--sip-tcp-max-per-peer",
            "4",
            "--sip-tcp-message-timeout-secs",
            "3",
            "--sip-tcp-idle-secs",
            "7",
        ])
        .unwrap();
        assert_eq!(set.max_tcp_per_peer, 4);
        assert_eq!(set.tcp_message_timeout, Duration::from_secs(3));
        assert_eq!(set.tcp_idle, Duration::from_secs(7));
        for zero in [
            "--sip-tcp-max-per-peer",
            "--sip-tcp-message-timeout-secs",
            "--sip-tcp-idle-secs",
        ] {
            assert!(config(&[zero, "0"]).is_err(), "{zero} 0 accepted");
        }
    }
}
