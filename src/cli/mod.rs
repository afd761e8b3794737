//! The `didhub` command line: the server and the operator's commands.

mod account;
mod backup;
mod inventory;
mod operator;
mod remote;

use crate::app::{self, AppConfig};
use crate::clock::SystemClock;
use crate::config::{DatabaseArgs, ServeArgs};
use crate::service::{self, Service};
use crate::store::PoolSettings;
use crate::store::sqlite_file::{self, DatabaseLock};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Check an operator key (read from standard input) against --addr and keep it in a 0600 file.
    Login,
    /// Print a shell completion script, e.g. `didhub completions bash > /etc/bash_completion.d/didhub`.
    Completions { shell: clap_complete::Shell },
}

pub fn init_tracing(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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

/// The shared lock every process using a SQLite database holds, so that
/// `didhub restore` (which needs it exclusive) never swaps the file under one.
fn lock_database(database: &DatabaseArgs) -> anyhow::Result<Option<DatabaseLock>> {
    let Some(path) = sqlite_file::sqlite_path(&database.database) else {
        return Ok(None);
    };
    match DatabaseLock::shared(&path)? {
        Some(lock) => Ok(Some(lock)),
        None => anyhow::bail!(
            "a restore is replacing {}; try again when it is done",
            path.display()
        ),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(addr) = cli.addr.as_deref()
        && !matches!(cli.command, Command::Serve(_))
    {
        return run_remote(addr, cli.command).await;
    }
    let _lock = match &cli.command {
        Command::Openapi
        | Command::Restore { .. }
        | Command::Completions { .. }
        | Command::Login => None,
        _ => lock_database(&cli.database)?,
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
        Command::Account(A::Credit {
            username,
            amount,
            description,
        }) => {
            let remote = remote::Remote::new(addr)?;
            remote
                .post_money(&username, "credits", &amount, &description)
                .await
        }
        Command::Account(A::Adjust {
            username,
            amount,
            description,
        }) => {
            let remote = remote::Remote::new(addr)?;
            remote
                .post_money(&username, "adjustments", &amount, &description)
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
    let mut config = AppConfig::from_args(database, args);
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
        crate::sip::SipConfig {
            listen,
            allow: allow.clone(),
            ..crate::sip::SipConfig::default()
        }
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
    let stopper = server.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stopper.send(true);
    });
    server.wait().await;
    Ok(ExitCode::SUCCESS)
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
