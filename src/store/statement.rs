//! What a monthly statement reads from the ledger.

use super::ledger::EntryRow;
use sqlx::{Any, Executor, Row};

/// The balance just before `at`: the balance after the last earlier entry.
pub async fn balance_before<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    at: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT balance_after_minor FROM ledger_entries WHERE account_id = $1 AND created_at < $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(account_id)
    .bind(at)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(row) => row.try_get("balance_after_minor")?,
        None => 0,
    })
}

/// Entries with `from <= created_at < until`, oldest first.
pub async fn entries_between<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    from: i64,
    until: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at \
         FROM ledger_entries WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 \
         ORDER BY created_at, id",
    )
    .bind(account_id)
    .bind(from)
    .bind(until)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(EntryRow {
            id: r.try_get("id")?,
            account_id: r.try_get("account_id")?,
            kind: r.try_get("kind")?,
            amount_minor: r.try_get("amount_minor")?,
            balance_after_minor: r.try_get("balance_after_minor")?,
            did_id: r.try_get("did_id")?,
            did_number: r.try_get("did_number")?,
            description: r.try_get("description")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}
