//! A SQLite database as a file: the lock that tells a restore a server is
//! using it, a consistent copy taken while the server runs, and the checks and
//! atomic swap of a restore. PostgreSQL has its own tools (`pg_dump`,
//! `pg_restore`); none of this applies to it.

use super::{Backend, Store, migration_sources, resolve_database_url};
use anyhow::{Context, bail};
use sqlx::any::install_default_drivers;
use sqlx::{AnyConnection, Connection, Row};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Tables every didhub SQLite database has; a file without them is not ours.
const EXPECTED_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "accounts",
    "api_tokens",
    "dids",
    "ledger_entries",
    "idempotency_keys",
    "auth_counters",
    "change_log",
];

/// The file of a SQLite database (`./didhub.db`, `sqlite:x.db?mode=rwc`);
/// `None` for PostgreSQL and in-memory databases.
pub fn sqlite_path(database: &str) -> Option<PathBuf> {
    let (url, backend) = resolve_database_url(database);
    if backend != Backend::Sqlite {
        return None;
    }
    let rest = url.strip_prefix("sqlite://").unwrap_or(&url);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// `<db>` with `suffix` appended to its file name (`didhub.db` → `didhub.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An advisory `flock` on `<db>.lock`, released when dropped (or when the
/// process dies, however it dies: the kernel drops it with the descriptor, so a
/// crashed server never leaves a stale lock behind, unlike a PID file). Every
/// process that uses the database holds it shared; a restore needs it
/// exclusive, so it can run only when no didhub process has the file open, and
/// nothing can open it while the restore runs. The lock file is never removed:
/// removing it would let a second process lock a new file of the same name.
/// (std's `File::try_lock` is `flock(2)` on Linux; no crate needed.)
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    pub fn path(database: &Path) -> PathBuf {
        with_suffix(database, ".lock")
    }

    /// The lock of a process that uses the database; `None` while a restore holds it.
    pub fn shared(database: &Path) -> anyhow::Result<Option<DatabaseLock>> {
        Self::take(database, false)
    }

    /// The lock of a restore; `None` while any didhub process uses the database.
    pub fn exclusive(database: &Path) -> anyhow::Result<Option<DatabaseLock>> {
        Self::take(database, true)
    }

    fn take(database: &Path, exclusive: bool) -> anyhow::Result<Option<DatabaseLock>> {
        let path = Self::path(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let taken = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match taken {
            Ok(()) => Ok(Some(DatabaseLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => {
                Err(error).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// What a verified database holds, for the operator to recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub schema_version: i64,
    pub accounts: i64,
    pub numbers: i64,
    pub numbers_owned: i64,
}

/// Writes a consistent copy of the open SQLite database to `target` with
/// `VACUUM INTO` (one read transaction: WAL lets the server keep writing
/// meanwhile). The copy is written beside `target`, synced, then linked into
/// place, so `target` is either absent or complete; an existing `target` is
/// replaced only with `overwrite`.
pub async fn backup(store: &Store, target: &Path, overwrite: bool) -> anyhow::Result<()> {
    if store.backend() != Backend::Sqlite {
        bail!("backup copies SQLite databases; use pg_dump for PostgreSQL");
    }
    if !overwrite && target.exists() {
        bail!("{} exists (--force replaces it)", target.display());
    }
    let partial = sibling(target, "partial")?;
    remove_if_present(&partial)?;
    let written = write_copy(store, &partial, target, overwrite).await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

async fn write_copy(
    store: &Store,
    partial: &Path,
    target: &Path,
    overwrite: bool,
) -> anyhow::Result<()> {
    let partial_text = partial
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", partial.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(partial_text)
        .execute(store.pool())
        .await
        .context("copying the database (VACUUM INTO)")?;
    File::open(partial)?.sync_all()?;
    if overwrite {
        std::fs::rename(partial, target)?;
    } else {
        // A hard link fails if `target` appeared meanwhile: never overwrite
        // what was not there when we checked.
        std::fs::hard_link(partial, target).map_err(|error| match error.kind() {
            ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{} exists (--force replaces it)", target.display())
            }
            _ => anyhow::Error::new(error).context(format!("creating {}", target.display())),
        })?;
        std::fs::remove_file(partial)?;
    }
    sync_directory(target)
}

/// Checks that `file` is a whole didhub SQLite database this binary can run:
/// SQLite's `integrity_check`, the expected tables, and no migration newer than
/// (or unknown to) this binary.
pub async fn verify(file: &Path) -> anyhow::Result<Summary> {
    inspect(file).await.with_context(|| {
        format!(
            "{} is not a didhub database this binary can restore",
            file.display()
        )
    })
}

async fn inspect(file: &Path) -> anyhow::Result<Summary> {
    let text = file.to_str().context("the path is not valid UTF-8")?;
    install_default_drivers();
    // `mode=rw`: never create a file that is not there.
    let mut conn = AnyConnection::connect(&format!("sqlite://{text}?mode=rw"))
        .await
        .context("not a SQLite database")?;
    let checked = check(&mut conn).await;
    let _ = conn.close().await;
    checked
}

async fn check(conn: &mut AnyConnection) -> anyhow::Result<Summary> {
    let problems: Vec<String> = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .context("not a readable SQLite database")?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    if problems != ["ok"] {
        bail!("integrity check failed: {}", problems.join("; "));
    }
    let tables: BTreeSet<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>("name"))
            .collect::<Result<_, _>>()?;
    let missing: Vec<&str> = EXPECTED_TABLES
        .iter()
        .copied()
        .filter(|table| !tables.contains(*table))
        .collect();
    if !missing.is_empty() {
        bail!("tables missing: {}", missing.join(", "));
    }
    let schema_version = check_migrations(conn).await?;
    let count = |sql: &'static str| sqlx::query(sql);
    let mut numbers = [0i64; 3];
    for (slot, sql) in numbers.iter_mut().zip([
        "SELECT CAST(COUNT(*) AS BIGINT) FROM accounts",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM dids",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM dids WHERE account_id IS NOT NULL",
    ]) {
        *slot = count(sql).fetch_one(&mut *conn).await?.try_get(0)?;
    }
    Ok(Summary {
        schema_version,
        accounts: numbers[0],
        numbers: numbers[1],
        numbers_owned: numbers[2],
    })
}

/// The newest migration applied, after checking every applied one succeeded
/// and is one this binary knows.
async fn check_migrations(conn: &mut AnyConnection) -> anyhow::Result<i64> {
    let known = migration_sources(Backend::Sqlite);
    let newest_known = known.iter().map(|m| m.0).max().unwrap_or(0);
    let applied = sqlx::query(
        "SELECT CAST(version AS BIGINT) AS version, CAST(success AS BIGINT) AS success \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut newest = 0;
    for row in &applied {
        let version: i64 = row.try_get("version")?;
        let success: i64 = row.try_get("success")?;
        if !known.iter().any(|m| m.0 == version) {
            bail!(
                "schema migration {version} comes from another (newer?) didhub; \
                 this binary knows migrations up to {newest_known}"
            );
        }
        if success != 1 {
            bail!("schema migration {version} did not complete");
        }
        newest = newest.max(version);
    }
    if newest == 0 {
        bail!("no schema migration recorded");
    }
    Ok(newest)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub summary: Summary,
    /// Where the database that was replaced now is, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the database at `database` with a verified copy of `backup`. The
/// caller proves with `_held` that no didhub process has the database open.
/// The copy is made and checked beside the database, synced, and renamed over
/// it in one step; the replaced file stays as `<db>.before-restore-<stamp>`
/// (with its `-wal`, if it had one SQLite could not fold in).
pub async fn restore(
    backup: &Path,
    database: &Path,
    stamp: &str,
    _held: &DatabaseLock,
) -> anyhow::Result<Restored> {
    if !std::fs::metadata(backup)
        .with_context(|| format!("reading {}", backup.display()))?
        .is_file()
    {
        bail!("{} is not a file", backup.display());
    }
    let incoming = sibling(database, "restore")?;
    remove_with_journals(&incoming)?;
    let installed = install(backup, &incoming, database, stamp).await;
    if installed.is_err() {
        let _ = remove_with_journals(&incoming);
    }
    installed
}

async fn install(
    backup: &Path,
    incoming: &Path,
    database: &Path,
    stamp: &str,
) -> anyhow::Result<Restored> {
    std::fs::copy(backup, incoming)
        .with_context(|| format!("copying {} to {}", backup.display(), incoming.display()))?;
    File::open(incoming)?.sync_all()?;
    // The copy is what gets installed, so the copy is what is checked.
    let summary = inspect(incoming).await.with_context(|| {
        format!(
            "{} is not a didhub database this binary can restore",
            backup.display()
        )
    })?;
    // Verification opened the copy: make sure no journal of it is left behind.
    remove_journals(incoming)?;
    let previous = set_aside(database, stamp).await?;
    std::fs::rename(incoming, database)
        .with_context(|| format!("renaming {} to {}", incoming.display(), database.display()))?;
    sync_directory(database)?;
    Ok(Restored { summary, previous })
}

/// Keeps the current database as `<db>.before-restore-<stamp>` and clears its
/// `-wal`/`-shm`, which would otherwise be replayed into the restored file.
async fn set_aside(database: &Path, stamp: &str) -> anyhow::Result<Option<PathBuf>> {
    let wal = with_suffix(database, "-wal");
    if !database.exists() {
        remove_journals(database)?;
        return Ok(None);
    }
    if wal.exists() {
        // Fold the WAL into the file so the kept copy is whole by itself; a
        // database too broken for that keeps its WAL beside it instead.
        if let Err(error) = checkpoint(database).await {
            tracing::warn!(error = %format!("{error:#}"), "could not checkpoint the database being replaced; its -wal is kept beside it");
        }
    }
    let previous = with_suffix(database, &format!(".before-restore-{stamp}"));
    std::fs::hard_link(database, &previous)
        .with_context(|| format!("keeping the current database as {}", previous.display()))?;
    if wal.exists() {
        std::fs::rename(&wal, with_suffix(&previous, "-wal"))?;
    }
    remove_if_present(&with_suffix(database, "-shm"))?;
    Ok(Some(previous))
}

async fn checkpoint(database: &Path) -> anyhow::Result<()> {
    let text = database
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", database.display()))?;
    install_default_drivers();
    let mut conn = AnyConnection::connect(&format!("sqlite://{text}?mode=rw")).await?;
    let done = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await;
    conn.close().await?;
    done?;
    Ok(())
}

/// A hidden temporary file beside `path`, so that renaming it onto `path`
/// stays on one file system (and so is atomic).
fn sibling(path: &Path, purpose: &str) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_string_lossy();
    Ok(path.with_file_name(format!(".{name}.{purpose}-{}.tmp", std::process::id())))
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

fn remove_journals(database: &Path) -> std::io::Result<()> {
    remove_if_present(&with_suffix(database, "-wal"))?;
    remove_if_present(&with_suffix(database, "-shm"))
}

fn remove_with_journals(database: &Path) -> std::io::Result<()> {
    remove_if_present(database)?;
    remove_journals(database)
}

/// Makes a rename or link in `path`'s directory durable.
fn sync_directory(path: &Path) -> anyhow::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing directory {}", directory.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_a_sqlite_database_and_none_otherwise() {
        assert_eq!(sqlite_path("./didhub.db"), Some("./didhub.db".into()));
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db".into())
        );
        assert_eq!(sqlite_path("sqlite:x.db"), Some("x.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[test]
    fn a_shared_lock_excludes_a_restore_and_a_restore_excludes_servers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("didhub.db");

        let server = DatabaseLock::shared(&db).expect("lockable");
        assert!(server.is_some());
        assert!(DatabaseLock::shared(&db).expect("lockable").is_some());
        assert!(DatabaseLock::exclusive(&db).expect("lockable").is_none());
        drop(server);
        let restore = DatabaseLock::exclusive(&db).expect("lockable");
        assert!(restore.is_some());
        assert!(DatabaseLock::shared(&db).expect("lockable").is_none());
    }
}
