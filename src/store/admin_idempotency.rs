//! `admin_idempotency_keys`: the first answer to a keyed admin money request,
//! per operator key, replayed on retries (the operator's payment system retries).

use sqlx::{Any, Executor, Row};

pub struct StoredKey {
    pub fingerprint: String,
    pub response_body: Option<String>,
}

/// Claims the key inside the caller's transaction: a concurrent request with the
/// same key waits on the row until the first commits or rolls back.
pub async fn claim<'e>(
    db: impl Executor<'e, Database = Any>,
    actor: &str,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO admin_idempotency_keys (actor, idem_key, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (actor, idem_key) DO NOTHING",
    )
    .bind(actor)
    .bind(key)
    .bind(fingerprint)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    actor: &str,
    key: &str,
) -> Result<Option<StoredKey>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT fingerprint, response_body FROM admin_idempotency_keys \
         WHERE actor = $1 AND idem_key = $2",
    )
    .bind(actor)
    .bind(key)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(StoredKey {
            fingerprint: r.try_get("fingerprint")?,
            response_body: r.try_get("response_body")?,
        })
    })
    .transpose()
}

pub async fn complete<'e>(
    db: impl Executor<'e, Database = Any>,
    actor: &str,
    key: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE admin_idempotency_keys SET response_body = $1 WHERE actor = $2 AND idem_key = $3",
    )
    .bind(body)
    .bind(actor)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}
