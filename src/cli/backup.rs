//! `didhub backup FILE` and `didhub restore FILE` (SQLite; PostgreSQL has pg_dump).

use crate::app;
use crate::config::DatabaseArgs;
use crate::store::sqlite_file::{self, DatabaseLock};
use crate::store::{Backend, Store, resolve_database_url};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const POSTGRES_HINT: &str = "the database is PostgreSQL: back it up with \
     `pg_dump -Fc -f didhub.dump DATABASE_URL`; restore it, with every didhub instance \
     stopped, with `pg_restore --clean --if-exists -d DATABASE_URL didhub.dump` \
     (README, Backups)";

/// The SQLite file behind `--database`, or the advice for PostgreSQL.
fn database_file(database: &DatabaseArgs) -> anyhow::Result<PathBuf> {
    if resolve_database_url(&database.database).1 == Backend::Postgres {
        bail!("{POSTGRES_HINT}");
    }
    sqlite_file::sqlite_path(&database.database).with_context(|| {
        format!(
            "{} is not a SQLite file (an in-memory database has nothing to back up)",
            app::redact(&database.database)
        )
    })
}

pub async fn backup(database: &DatabaseArgs, file: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let source = database_file(database)?;
    if !source.is_file() {
        bail!("no database at {}", source.display());
    }
    if let (Ok(a), Ok(b)) = (source.canonicalize(), file.canonicalize())
        && a == b
    {
        bail!("{} is the database itself", file.display());
    }
    let store = Store::connect(&database.database, &database.pool_settings())
        .await
        .with_context(|| format!("opening {}", source.display()))?;
    let copied = sqlite_file::backup(&store, file, force).await;
    store.close().await;
    copied?;
    let summary = sqlite_file::verify(file).await?;
    println!(
        "backed up {} to {} ({} accounts, {} numbers, {} owned; schema {})",
        source.display(),
        file.display(),
        summary.accounts,
        summary.numbers,
        summary.numbers_owned,
        summary.schema_version
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(database: &DatabaseArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let target = database_file(database)?;
    let Some(lock) = DatabaseLock::exclusive(&target)? else {
        bail!(
            "a didhub process is using {} (it holds a lock on {}): stop every `didhub serve` \
             on it, then restore",
            target.display(),
            DatabaseLock::path(&target).display()
        );
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let restored = sqlite_file::restore(file, &target, &stamp, &lock).await?;
    let summary = &restored.summary;
    println!(
        "restored {} from {} ({} accounts, {} numbers, {} owned; schema {})",
        target.display(),
        file.display(),
        summary.accounts,
        summary.numbers,
        summary.numbers_owned,
        summary.schema_version
    );
    if let Some(previous) = &restored.previous {
        println!("the replaced database is kept as {}", previous.display());
    }
    Ok(ExitCode::SUCCESS)
}
