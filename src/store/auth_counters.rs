//! `auth_counters`: fixed-window counters of login attempts and failed
//! authentications, shared by every instance so that limits hold behind a
//! load balancer. Each row counts one thing (the key says what) and ends its
//! window at `window_end`; a hit after that starts a new window.

use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// One counter to bump: its key and the length of a fresh window.
#[derive(Debug, Clone)]
pub struct Hit {
    pub key: String,
    pub window_secs: i64,
}

/// A counter after the hit: hits so far in its window and when the window ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub key: String,
    pub hits: i64,
    pub window_end: i64,
}

/// Counts one hit on every counter in one statement and returns their counts.
/// Counting before the password is checked, atomically, is what stops parallel
/// guesses from all slipping in under a limit.
pub async fn hit<'e>(
    db: impl Executor<'e, Database = Any>,
    hits: &[Hit],
    now: i64,
) -> Result<Vec<Count>, sqlx::Error> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    // sqlx's QueryBuilder writes `?` placeholders, which PostgreSQL refuses, so
    // the VALUES list is written here; it holds placeholders only, never input.
    let values: Vec<String> = (0..hits.len())
        .map(|i| format!("(${}, 1, ${})", 2 * i + 2, 2 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO auth_counters (counter_key, hits, window_end) VALUES {} \
         ON CONFLICT (counter_key) DO UPDATE SET \
           hits = CASE WHEN auth_counters.window_end <= $1 THEN 1 ELSE auth_counters.hits + 1 END, \
           window_end = CASE WHEN auth_counters.window_end <= $1 \
             THEN excluded.window_end ELSE auth_counters.window_end END \
         RETURNING counter_key, hits, window_end",
        values.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
    for hit in hits {
        query = query.bind(hit.key.clone()).bind(now + hit.window_secs);
    }
    let rows = query.fetch_all(db).await?;
    rows.iter()
        .map(|row| {
            Ok(Count {
                key: row.try_get("counter_key")?,
                hits: row.try_get("hits")?,
                window_end: row.try_get("window_end")?,
            })
        })
        .collect()
}

/// Takes back one hit from each counter (an attempt that turned out right, or
/// was never checked, is no failure).
pub async fn take_back<'e>(
    db: impl Executor<'e, Database = Any>,
    keys: &[&str],
) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    // Placeholders only, as in `hit`.
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE auth_counters SET hits = hits - 1 WHERE hits > 0 AND counter_key IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for key in keys {
        query = query.bind(key.to_string());
    }
    query.execute(db).await?;
    Ok(())
}

pub async fn clear<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_counters WHERE counter_key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn purge_expired<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM auth_counters WHERE window_end <= $1")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
