//! Persistence: one sqlx `Any` code path for SQLite and PostgreSQL. Where the two
//! really differ (connection setup, migrations, how a write transaction starts)
//! the difference is named here and nowhere else.

pub mod accounts;
pub mod admin_idempotency;
pub mod audit;
pub mod auth_counters;
pub mod calls;
pub mod dids;
pub mod events;
pub mod holds;
pub mod idempotency;
pub mod ledger;
pub mod notify;
pub mod operator_keys;
pub mod restore;
pub mod sqlite_file;
pub mod statement;
pub mod suspension;
pub mod tokens;
pub mod webhooks;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row, Transaction};
use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A write transaction. On SQLite it also holds this process's write lane:
/// SQLite runs one writer at a time anyway, and writers queued on an async
/// mutex wait in order and wake at once, where writers queued in SQLite's busy
/// handler sleep and poll (long tails, lost throughput). Correctness still
/// comes from the database: the lane is only a queue, and other processes on
/// the same file still wait on the file lock.
pub struct Tx {
    tx: Transaction<'static, Any>,
    _lane: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503: short, so
    /// that a database outage fails requests fast instead of piling them up.
    pub acquire_timeout: Duration,
    /// Longest a single statement may run (PostgreSQL `statement_timeout`;
    /// SQLite's `busy_timeout`, the wait for the write lock).
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: Arc<str>,
    write_lane: Arc<Mutex<()>>,
}

/// The channel on which instances sharing a PostgreSQL database tell each other
/// what changed (see [`Store::announce_change`]).
pub const CHANGE_CHANNEL: &str = "didhub_changes";

/// Turns what an operator types (`./didhub.db`, `sqlite:x.db`, `postgres://…`) into
/// a driver URL and the backend it selects.
pub fn resolve_database_url(text: &str) -> (String, Backend) {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return (text.to_owned(), Backend::Postgres);
    }
    let path = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
        .unwrap_or(text);
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let query = query.map_or_else(|| "mode=rwc".to_owned(), str::to_owned);
    (format!("sqlite://{path}?{query}"), Backend::Sqlite)
}

impl Store {
    pub async fn connect(database: &str, settings: &PoolSettings) -> Result<Store, sqlx::Error> {
        install_default_drivers();
        let (url, backend) = resolve_database_url(database);
        let options = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout);
        let timeout_ms = settings.statement_timeout.as_millis();
        // Run on every new connection. SQLite: WAL lets readers run beside the
        // one writer; FULL keeps an acknowledged purchase durable across power loss.
        let setup: Arc<str> = match backend {
            Backend::Sqlite => format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA busy_timeout = {timeout_ms}; PRAGMA foreign_keys = ON;"
            ),
            Backend::Postgres => format!("SET statement_timeout = {timeout_ms}"),
        }
        .into();
        let pool = options
            .after_connect(move |conn, _meta| {
                let setup = Arc::clone(&setup);
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(setup)).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
            write_lane: Arc::new(Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The driver URL (it may hold a password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let sources = migration_sources(self.backend);
        let migrations = sources
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    // sqlx's own marker: such a migration runs its own transaction.
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect();
        // Locking (a PostgreSQL advisory lock) makes concurrent first starts of
        // several instances safe.
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.set_locking(true);
        migrator.run(&self.pool).await
    }

    /// Tells the other processes what this transaction changed, so that they
    /// update what they hold in memory: a number (`+33…`), `account:<id>`,
    /// `inventory`, `token:<hash>` or `tokens:<account id>`. PostgreSQL:
    /// `NOTIFY`, delivered when the transaction commits. SQLite: a row in
    /// `change_log`, which the other processes poll.
    pub async fn announce_change(
        &self,
        conn: &mut sqlx::AnyConnection,
        subject: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        // NOTIFY takes no bind parameters; the subject is checked to be plain.
        if subject.is_empty()
            || subject.len() > 100
            || !subject
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b':')
        {
            return Err(sqlx::Error::Protocol(format!(
                "unexpected change subject {subject:?}"
            )));
        }
        match self.backend {
            Backend::Postgres => {
                // Wall-clock milliseconds, not the injected clock (whole
                // seconds, stood still in tests): the stamp only measures the
                // propagation lag between processes, no rule depends on it.
                let payload =
                    notify::Notification::payload(subject, chrono::Utc::now().timestamp_millis());
                conn.execute(AssertSqlSafe(format!(
                    "NOTIFY {CHANGE_CHANNEL}, '{payload}'"
                )))
                .await?;
            }
            Backend::Sqlite => {
                sqlx::query("INSERT INTO change_log (subject, created_at) VALUES ($1, $2)")
                    .bind(subject)
                    .bind(now)
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// SQLite: the changes announced after `last_id`, oldest first, as
    /// (id, subject, `created_at`).
    pub async fn changes_after(
        &self,
        last_id: i64,
    ) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, subject, created_at FROM change_log WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(last_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("subject")?,
                    r.try_get("created_at")?,
                ))
            })
            .collect()
    }

    /// SQLite: the newest change id (0 when none).
    pub async fn latest_change_id(&self) -> Result<i64, sqlx::Error> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS id FROM change_log")
            .fetch_one(&self.pool)
            .await?;
        row.try_get("id")
    }

    /// SQLite: forgets changes every process has long since applied.
    pub async fn prune_changes(&self, before: i64) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Sqlite {
            sqlx::query("DELETE FROM change_log WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Starts a transaction that will write. SQLite must take the write lock up
    /// front (`BEGIN IMMEDIATE`): a deferred transaction that reads first and
    /// writes later fails with SQLITE_BUSY instead of waiting when another writer
    /// got there in between. PostgreSQL's row locks make a plain BEGIN right.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                // Queue for the lane before taking a pooled connection, so that
                // waiting writers do not hold connections readers need.
                let lane = Arc::clone(&self.write_lane).lock_owned().await;
                Ok(Tx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _lane: Some(lane),
                })
            }
            Backend::Postgres => Ok(Tx {
                tx: self.pool.begin().await?,
                _lane: None,
            }),
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The migrations this binary knows for `backend`: (version, description, SQL).
pub fn migration_sources(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite => &[
            (
                1,
                "initial",
                include_str!("../../migrations/sqlite/0001_initial.sql"),
            ),
            (
                2,
                "change log",
                include_str!("../../migrations/sqlite/0002_change_log.sql"),
            ),
            (
                3,
                "auth counters",
                include_str!("../../migrations/sqlite/0003_auth_counters.sql"),
            ),
            // Admin API migrations are numbered from 100 so that they never
            // clash with others added meanwhile: sqlx applies every version it
            // has not seen, whatever the gaps or the order they arrive in.
            (
                100,
                "operator keys",
                include_str!("../../migrations/sqlite/0100_operator_keys.sql"),
            ),
            (
                101,
                "admin audit",
                include_str!("../../migrations/sqlite/0101_admin_audit.sql"),
            ),
            (
                110,
                "withdrawn numbers",
                include_str!("../../migrations/sqlite/0110_withdrawn_numbers.sql"),
            ),
            // Events and webhooks (issue 14): versions 120-129.
            (
                120,
                "events",
                include_str!("../../migrations/sqlite/0120_events.sql"),
            ),
            // Suspension, restore and statements (issue 12): 130-139.
            (
                130,
                "suspension and restore",
                include_str!("../../migrations/sqlite/0130_suspension_restore.sql"),
            ),
            // Holds, bulk orders and quotes (issue 12): 140 to 149.
            (
                140,
                "holds",
                include_str!("../../migrations/sqlite/0140_holds.sql"),
            ),
            // Routing (failover, limits): 150-159.
            (
                150,
                "failover and limits",
                include_str!("../../migrations/sqlite/0150_failover_limits.sql"),
            ),
            // Call records (SBC CDRs): 160-169.
            (
                160,
                "call records",
                include_str!("../../migrations/sqlite/0160_call_records.sql"),
            ),
        ],
        Backend::Postgres => &[
            (
                1,
                "initial",
                include_str!("../../migrations/postgres/0001_initial.sql"),
            ),
            (
                2,
                "auth counters",
                include_str!("../../migrations/postgres/0002_auth_counters.sql"),
            ),
            (
                100,
                "operator keys",
                include_str!("../../migrations/postgres/0100_operator_keys.sql"),
            ),
            (
                101,
                "admin audit",
                include_str!("../../migrations/postgres/0101_admin_audit.sql"),
            ),
            (
                110,
                "withdrawn numbers",
                include_str!("../../migrations/postgres/0110_withdrawn_numbers.sql"),
            ),
            // Events and webhooks (issue 14): versions 120-129.
            (
                120,
                "events",
                include_str!("../../migrations/postgres/0120_events.sql"),
            ),
            // Suspension, restore and statements (issue 12): 130-139.
            (
                130,
                "suspension and restore",
                include_str!("../../migrations/postgres/0130_suspension_restore.sql"),
            ),
            // Holds, bulk orders and quotes (issue 12): 140 to 149.
            (
                140,
                "holds",
                include_str!("../../migrations/postgres/0140_holds.sql"),
            ),
            // Routing (failover, limits): 150-159.
            (
                150,
                "failover and limits",
                include_str!("../../migrations/postgres/0150_failover_limits.sql"),
            ),
            // Call records (SBC CDRs): 160-169.
            (
                160,
                "call records",
                include_str!("../../migrations/postgres/0160_call_records.sql"),
            ),
        ],
    }
}

/// Whether an error means the database could not be reached at all, as opposed
/// to a query that failed: the first is a 503 a client may retry.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    )
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_sqlite_urls_select_sqlite() {
        assert_eq!(
            resolve_database_url("./didhub.db"),
            ("sqlite://./didhub.db?mode=rwc".to_owned(), Backend::Sqlite)
        );
        assert_eq!(
            resolve_database_url("sqlite:/tmp/x.db"),
            ("sqlite:///tmp/x.db?mode=rwc".to_owned(), Backend::Sqlite)
        );
        assert_eq!(
            resolve_database_url("postgres://postgres@127.0.0.1/didhub").1,
            Backend::Postgres
        );
    }
}
