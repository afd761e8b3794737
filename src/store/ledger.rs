//! `ledger_entries`: every balance change, with the balance after it.

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

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
    let ids = insert_many(db, std::slice::from_ref(entry)).await?;
    ids.first().copied().ok_or(sqlx::Error::RowNotFound)
}

/// Inserts several entries in one statement; returns each new id with its kind,
/// in the order given.
pub async fn insert_many<'e>(
    db: impl Executor<'e, Database = Any>,
    entries: &[NewEntry<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    // Built only from fixed fragments and numbered placeholders; values are bound.
    let mut sql = String::from(
        "INSERT INTO ledger_entries \
         (account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at) VALUES ",
    );
    for i in 0..entries.len() {
        let n = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8
        ));
    }
    sql.push_str(" RETURNING id, kind");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for entry in entries {
        query = query
            .bind(entry.account_id)
            .bind(entry.kind)
            .bind(entry.amount_minor)
            .bind(entry.balance_after_minor)
            .bind(entry.did_id)
            .bind(entry.did_number)
            .bind(entry.description)
            .bind(entry.created_at);
    }
    let rows = query.fetch_all(db).await?;
    // RETURNING order is not promised by SQL: match rows back by kind, which the
    // callers keep distinct within one statement.
    entries
        .iter()
        .map(|entry| {
            rows.iter()
                .find(|r| {
                    r.try_get::<String, _>("kind")
                        .is_ok_and(|k| k == entry.kind)
                })
                .ok_or_else(|| sqlx::Error::RowNotFound)
                .and_then(|r| r.try_get("id"))
        })
        .collect()
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
