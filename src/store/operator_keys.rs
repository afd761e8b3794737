//! `operator_keys`: the admin API's bearer keys, stored only as SHA-256 hashes.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    role: &str,
    key_hash: &str,
    now: i64,
    expires_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO operator_keys (name, role, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(role)
    .bind(key_hash)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The key a hash belongs to, when it is neither revoked nor expired.
pub async fn find_live<'e>(
    db: impl Executor<'e, Database = Any>,
    key_hash: &str,
    now: i64,
) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query(
        "SELECT name, role, created_at, expires_at, revoked_at FROM operator_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(key_hash)
    .bind(now)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn list<'e>(db: impl Executor<'e, Database = Any>) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query(
        "SELECT name, role, created_at, expires_at, revoked_at FROM operator_keys ORDER BY name",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

pub async fn revoke<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE operator_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(name)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
