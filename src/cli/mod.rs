//! The `didhub` command line: the server and the operator's commands.

mod account;
mod backup;
mod bounded;
mod inventory;
mod number;
mod operator;
mod remote;

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
    /// commands talk to, instead of the database (`account list|credit|adjust`,
    /// `audit log`); the key from DIDHUB_OPERATOR_KEY or `didhub login`.
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
    /// Operator settings of one number (capacity limit).
    #[command(subcommand)]
    Number(number::NumberCommand),
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

/// A service for one-shot operator commands.
async fn operator_service(database: &DatabaseArgs) -> anyhow::Result<Service> {
    let pool = PoolSettings {
        max_connections: database.db_max_connections.min(4),
        ..database.pool_settings()
    };
    let store = app::open_store(&database.database, &pool).await?;
    Ok(Service::new(
        store,
        Arc::new(SystemClock),
        service::Settings::default(),
    ))
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
        Command::Number(command) => {
            number::run(operator_service(&cli.database).await?, command).await
        }
        Command::Operator(command) => {
            operator::run(operator_service(&cli.database).await?, command).await
        }
        Command::Audit(command) => {
            operator::audit(operator_service(&cli.database).await?, command).await
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

/// The commands that work against a server; the others need the database.
async fn run_remote(addr: &str, command: Command) -> anyhow::Result<ExitCode> {
    use account::AccountCommand as A;
    use operator::AuditCommand;
    match command {
        Command::Login => remote::login(addr).await,
        Command::Account(A::List) => remote::Remote::new(addr)?.account_list().await,
        Command::Account(
            ref command @ (A::Credit {
                ref username,
                ref amount,
                ref description,
            }
            | A::Adjust {
                ref username,
                ref amount,
                ref description,
            }),
        ) => {
            let resource = match command {
                A::Credit { .. } => "credits",
                _ => "adjustments",
            };
            remote::Remote::new(addr)?
                .post_money(username, resource, amount, description)
                .await
        }
        Command::Audit(AuditCommand::Log {
            actor,
            action,
            target,
            limit,
            output: operator::Output::Table,
        }) => {
            let filters = [("actor", actor), ("action", action), ("target", target)];
            remote::Remote::new(addr)?.audit_log(&filters, limit).await
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
