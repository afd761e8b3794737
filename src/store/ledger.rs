//! `ledger_entries`: every balance change, with the balance after it.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub account_id: i64,
    pub kind: &'a str,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub did_id: Option<i64>,
    pub did_number: Option<&'a str>,
    pub description: &'a str,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct EntryRow {
    pub id: i64,
    pub account_id: i64,
    pub kind: String,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub did_id: Option<i64>,
    pub did_number: Option<String>,
    pub description: String,
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<EntryRow, sqlx::Error> {
    Ok(EntryRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        kind: row.try_get("kind")?,
        amount_minor: row.try_get("amount_minor")?,
        balance_after_minor: row.try_get("balance_after_minor")?,
        did_id: row.try_get("did_id")?,
        did_number: row.try_get("did_number")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    entry: &NewEntry<'_>,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO ledger_entries \
         (account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(entry.account_id)
    .bind(entry.kind)
    .bind(entry.amount_minor)
    .bind(entry.balance_after_minor)
    .bind(entry.did_id)
    .bind(entry.did_number)
    .bind(entry.description)
    .bind(entry.created_at)
    .fetch_one(db)
    .await?;
    row.try_get("id")
}

/// Newest first, `limit` entries older than `before_id` (all when `None`).
pub async fn list_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at \
         FROM ledger_entries WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(account_id)
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The sum of an account's entries, which must always equal its balance.
pub async fn sum_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<i64, sqlx::Error> {
    // PostgreSQL's SUM(BIGINT) is NUMERIC, which `Any` cannot decode: cast back.
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM ledger_entries WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_one(db)
    .await?;
    row.try_get("total")
}
