//! `login_failures`: failed logins per username in a fixed window, shared by
//! every instance so throttling holds behind a load balancer.

use sqlx::{Any, Executor, Row};

pub async fn get<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let row = sqlx::query("SELECT failures, window_start FROM login_failures WHERE username = $1")
        .bind(username)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok((r.try_get("failures")?, r.try_get("window_start")?)))
        .transpose()
}

/// Counts one failure, starting a new window when the old one has passed.
pub async fn record<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
    now: i64,
    window_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_failures (username, failures, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (username) DO UPDATE SET \
           failures = CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
           window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 ELSE login_failures.window_start END",
    )
    .bind(username)
    .bind(now)
    .bind(now - window_secs)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn clear<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE username = $1")
        .bind(username)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn purge_expired<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    window_secs: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM login_failures WHERE window_start <= $1")
        .bind(now - window_secs)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
