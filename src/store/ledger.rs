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
    sqlx::query(
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
    .await?
    .try_get("id")
}

/// Inserts several entries, in the order given; returns each new id in that
/// order. One statement per entry: a multi-row `INSERT … RETURNING` does not
/// promise its rows back in `VALUES` order, and entries of one kind (a bulk
/// order's setups) cannot be told apart afterwards. Callers insert a handful
/// of entries inside a transaction, so the extra round trips are cheap.
pub async fn insert_many(
    conn: &mut sqlx::AnyConnection,
    entries: &[NewEntry<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = Vec::with_capacity(entries.len());
    for entry in entries {
        ids.push(insert(&mut *conn, entry).await?);
    }
    Ok(ids)
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

/// The entries that charged for a number, newest first.
pub async fn list_for_number<'e>(
    db: impl Executor<'e, Database = Any>,
    number: &str,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at \
         FROM ledger_entries WHERE did_number = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(number)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySales {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub currency: String,
    /// Numbers sold (setup fees charged).
    pub sales: i64,
    /// Setup fees and monthly charges, as a positive amount.
    pub revenue_minor: i64,
}

/// Sales and revenue per UTC day and currency in `[from, until)`, from the ledger.
pub async fn sales_per_day<'e>(
    db: impl Executor<'e, Database = Any>,
    from: i64,
    until: i64,
) -> Result<Vec<DaySales>, sqlx::Error> {
    sqlx::query(
        "SELECT l.created_at / 86400 AS day, a.currency, \
                CAST(SUM(CASE WHEN l.kind = 'setup_fee' THEN 1 ELSE 0 END) AS BIGINT) AS sales, \
                CAST(-SUM(l.amount_minor) AS BIGINT) AS revenue \
         FROM ledger_entries l JOIN accounts a ON a.id = l.account_id \
         WHERE l.kind IN ('setup_fee', 'monthly_charge') AND l.created_at >= $1 AND l.created_at < $2 \
         GROUP BY l.created_at / 86400, a.currency ORDER BY day, a.currency",
    )
    .bind(from)
    .bind(until)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(DaySales {
            day: r.try_get("day")?,
            currency: r.try_get("currency")?,
            sales: r.try_get("sales")?,
            revenue_minor: r.try_get("revenue")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PoolSettings, Store};

    fn entry(kind: &str, amount_minor: i64, balance_after_minor: i64) -> NewEntry<'_> {
        NewEntry {
            account_id: 1,
            kind,
            amount_minor,
            balance_after_minor,
            did_id: None,
            did_number: None,
            description: kind,
            created_at: 0,
        }
    }

    /// Two entries of one kind in one call each get their own id, in order:
    /// the ids used to be matched back by kind, so both got the first one.
    #[tokio::test]
    async fn entries_of_one_kind_get_their_own_ids_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.db");
        let store = Store::connect(&path.display().to_string(), &PoolSettings::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        sqlx::query(
            "INSERT INTO accounts (id, username, password_hash, currency, created_at) \
             VALUES (1, 'a', 'x', 'USD', 0)",
        )
        .execute(store.pool())
        .await
        .expect("account");

        let entries = [
            entry("setup_fee", -100, -100),
            entry("setup_fee", -250, -350),
            entry("monthly_charge", -50, -400),
        ];
        let mut tx = store.pool().begin().await.expect("begin");
        let ids = insert_many(&mut tx, &entries).await.expect("insert");
        tx.commit().await.expect("commit");

        assert_eq!(ids.len(), 3);
        for (id, expected) in ids.iter().zip(&entries) {
            let amount: i64 = sqlx::query("SELECT amount_minor FROM ledger_entries WHERE id = $1")
                .bind(id)
                .fetch_one(store.pool())
                .await
                .expect("row")
                .get("amount_minor");
            assert_eq!(amount, expected.amount_minor, "entry {id}");
        }
    }
}
