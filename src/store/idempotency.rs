//! `idempotency_keys`: the first answer to a keyed request, replayed on retries.

use sqlx::{Any, Executor, Row};

pub struct StoredKey {
    pub fingerprint: String,
    pub response: Option<(u16, String)>,
}

/// Claims the key for this request. Inside a transaction the claim holds the
/// key's row: a concurrent request with the same key waits here until the first
/// commits (then sees its answer) or rolls back (then proceeds itself).
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (account_id, idem_key, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, idem_key) DO NOTHING",
    )
    .bind(account_id)
    .bind(key)
    .bind(fingerprint)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    key: &str,
) -> Result<Option<StoredKey>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT fingerprint, response_status, response_body FROM idempotency_keys \
         WHERE account_id = $1 AND idem_key = $2",
    )
    .bind(account_id)
    .bind(key)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status: Option<i64> = row.try_get("response_status")?;
    let body: Option<String> = row.try_get("response_body")?;
    Ok(Some(StoredKey {
        fingerprint: row.try_get("fingerprint")?,
        response: status
            .zip(body)
            .and_then(|(s, b)| u16::try_from(s).ok().map(|s| (s, b))),
    }))
}

pub async fn complete<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $1, response_body = $2 \
         WHERE account_id = $3 AND idem_key = $4",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(account_id)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn purge_older_than<'e>(
    db: impl Executor<'e, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(cutoff)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
