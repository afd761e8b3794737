//! `login_failures`: failed logins per username in a fixed window, shared by
//! every instance so throttling holds behind a load balancer.

use sqlx::{Any, Executor, Row};

/// Counts one attempt, starting a new window when the old one has passed, and
/// returns the attempts so far in the window and when it started. Counting
/// before the password is checked, in one statement, is what stops parallel
/// guesses from all slipping in under the limit.
pub async fn count_attempt<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
    now: i64,
    window_secs: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO login_failures (username, failures, window_start) VALUES ($1, 1, $2) \
         ON CONFLICT (username) DO UPDATE SET \
           failures = CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
           window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 ELSE login_failures.window_start END \
         RETURNING failures, window_start",
    )
    .bind(username)
    .bind(now)
    .bind(now - window_secs)
    .fetch_one(db)
    .await?;
    Ok((row.try_get("failures")?, row.try_get("window_start")?))
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
