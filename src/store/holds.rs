//! Holds on numbers for sale (`dids.held_by`, `dids.held_until`). A hold counts
//! while `held_until` is after the reader's clock: expiry needs no writer.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub did_id: i64,
    pub number: String,
    pub account_id: i64,
    pub held_until: i64,
}

fn from_row(row: &AnyRow) -> Result<HoldRow, sqlx::Error> {
    Ok(HoldRow {
        did_id: row.try_get("id")?,
        number: row.try_get("number")?,
        account_id: row.try_get("held_by")?,
        held_until: row.try_get("held_until")?,
    })
}

/// Holds a number on sale for `account_id` until `held_until`, unless another
/// account holds it now. `None` when the number is not on sale or held by another.
pub async fn place<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
    account_id: i64,
    held_until: i64,
    now: i64,
) -> Result<Option<HoldRow>, sqlx::Error> {
    sqlx::query(
        "UPDATE dids SET held_by = $1, held_until = $2 \
         WHERE id = $3 AND status = 'available' \
           AND (held_by IS NULL OR held_until <= $4 OR held_by = $1) \
         RETURNING id, number, held_by, held_until",
    )
    .bind(account_id)
    .bind(held_until)
    .bind(did_id)
    .bind(now)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Lifts `account_id`'s hold on a number; `None` when it held none there.
pub async fn lift<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
    account_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE dids SET held_by = NULL, held_until = NULL \
         WHERE id = $1 AND held_by = $2 RETURNING number",
    )
    .bind(did_id)
    .bind(account_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get("number")).transpose()
}

/// The hold on one number, expired or not; `None` when it has none.
pub async fn find_by_number<'e>(
    db: impl Executor<'e, Database = Any>,
    number: &str,
) -> Result<Option<HoldRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, number, held_by, held_until FROM dids \
         WHERE number = $1 AND held_by IS NOT NULL AND status = 'available'",
    )
    .bind(number)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Every hold still running at `now`, on numbers still on sale.
pub async fn active<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, number, held_by, held_until FROM dids \
         WHERE held_by IS NOT NULL AND held_until > $1 AND status = 'available'",
    )
    .bind(now)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// One account's running holds, in number order.
pub async fn of_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    now: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, number, held_by, held_until FROM dids \
         WHERE held_by = $1 AND held_until > $2 AND status = 'available' ORDER BY number",
    )
    .bind(account_id)
    .bind(now)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Clears the holds that ran out by `now`: housekeeping only, since every
/// reader already ignores them. Returns the holds cleared (a hold renewed
/// meanwhile is left alone).
pub async fn clear_expired(
    conn: &mut sqlx::AnyConnection,
    now: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    let expired: Vec<HoldRow> = sqlx::query(
        "SELECT id, number, held_by, held_until FROM dids \
         WHERE held_by IS NOT NULL AND held_until <= $1",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect::<Result<_, _>>()?;
    let mut cleared = Vec::with_capacity(expired.len());
    for hold in expired {
        let done = sqlx::query(
            "UPDATE dids SET held_by = NULL, held_until = NULL \
             WHERE id = $1 AND held_by = $2 AND held_until = $3",
        )
        .bind(hold.did_id)
        .bind(hold.account_id)
        .bind(hold.held_until)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            cleared.push(hold);
        }
    }
    Ok(cleared)
}

/// Makes the account's row wait for this transaction: on PostgreSQL a row
/// lock, so that two instances counting one account's holds take turns (SQLite
/// writers take turns anyway).
pub async fn lock_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET balance_minor = balance_minor WHERE id = $1")
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(())
}

/// What a number for sale would cost and whether `account_id` may buy it now.
#[derive(Debug, Clone)]
pub struct Offer {
    pub did_id: i64,
    pub number: String,
    pub currency: String,
    pub setup_minor: i64,
    pub monthly_minor: i64,
    pub status: String,
    /// Another account holds it now.
    pub held_by_other: bool,
}

const OFFER_COLUMNS: &str = "id, number, currency, setup_minor, monthly_minor, status, \
     CASE WHEN held_by IS NOT NULL AND held_by <> $2 AND held_until > $3 THEN 1 ELSE 0 END AS held_by_other";

fn offer_from_row(row: &AnyRow) -> Result<Offer, sqlx::Error> {
    Ok(Offer {
        did_id: row.try_get("id")?,
        number: row.try_get("number")?,
        currency: row.try_get("currency")?,
        setup_minor: row.try_get("setup_minor")?,
        monthly_minor: row.try_get("monthly_minor")?,
        status: row.try_get("status")?,
        held_by_other: row.try_get::<i64, _>("held_by_other")? != 0,
    })
}

/// One number as `account_id` sees it at `now` (what a quote reads).
pub async fn offer<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
    account_id: i64,
    now: i64,
) -> Result<Option<Offer>, sqlx::Error> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM dids WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(did_id)
        .bind(account_id)
        .bind(now)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(offer_from_row)
        .transpose()
}

/// What an order by criteria looks for.
#[derive(Debug, Clone)]
pub struct Criteria<'a> {
    pub country: &'a str,
    pub did_type: Option<&'a str>,
    /// E.164 prefix ("+331").
    pub prefix: Option<&'a str>,
}

/// Up to `limit` numbers on sale matching `criteria` that `account_id` may buy
/// at `now` (not held by another), in number order.
pub async fn pick<'e>(
    db: impl Executor<'e, Database = Any>,
    criteria: &Criteria<'_>,
    account_id: i64,
    now: i64,
    limit: i64,
) -> Result<Vec<Offer>, sqlx::Error> {
    let upper = criteria.prefix.map(|p| format!("{p}~"));
    let sql = format!(
        "SELECT {OFFER_COLUMNS} FROM dids WHERE country = $1 AND status = 'available' \
         AND (held_by IS NULL OR held_by = $2 OR held_until <= $3) \
         AND ($4 IS NULL OR did_type = $4) AND ($5 IS NULL OR (number >= $5 AND number < $6)) \
         ORDER BY number LIMIT $7"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(criteria.country)
        .bind(account_id)
        .bind(now)
        .bind(criteria.did_type)
        .bind(criteria.prefix)
        .bind(upper)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(offer_from_row)
        .collect()
}
