//! `api_tokens`: bearer tokens, stored only as SHA-256 hashes.

use sqlx::{Any, Executor, Row};

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (account_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The account a live (unexpired, unrevoked) token belongs to, and when the
/// token expires.
pub async fn find_live_account<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT account_id, expires_at FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await?;
    row.map(|r| Ok((r.try_get("account_id")?, r.try_get("expires_at")?)))
        .transpose()
}

pub async fn revoke<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token_hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke_all_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets tokens that can no longer authenticate anything.
pub async fn purge_dead<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM api_tokens WHERE expires_at <= $1 OR revoked_at IS NOT NULL")
            .bind(now)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
