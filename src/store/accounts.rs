//! `accounts`: who may log in, their currency and their balance.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub currency: String,
    pub balance_minor: i64,
    pub pbx_host: Option<String>,
    pub created_at: i64,
    /// active, suspended or closed.
    pub status: String,
}

const SELECT_BY_USERNAME: &str = "SELECT id, username, password_hash, currency, balance_minor, pbx_host, created_at, status \
     FROM accounts WHERE username = $1";
const SELECT_BY_ID: &str = "SELECT id, username, password_hash, currency, balance_minor, pbx_host, created_at, status \
     FROM accounts WHERE id = $1";

fn from_row(row: &AnyRow) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        currency: row.try_get("currency")?,
        balance_minor: row.try_get("balance_minor")?,
        pbx_host: row.try_get("pbx_host")?,
        created_at: row.try_get("created_at")?,
        status: row.try_get("status")?,
    })
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
    password_hash: &str,
    currency: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO accounts (username, password_hash, currency, balance_minor, created_at) \
         VALUES ($1, $2, $3, 0, $4) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(currency)
    .bind(now)
    .fetch_one(db)
    .await?;
    row.try_get("id")
}

pub async fn find_by_username<'e>(
    db: impl Executor<'e, Database = Any>,
    username: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query(SELECT_BY_USERNAME)
        .bind(username)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_id<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query(SELECT_BY_ID)
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, username, password_hash, currency, balance_minor, pbx_host, created_at, status \
         FROM accounts ORDER BY username",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Debits only if the balance covers the amount; returns the new balance, or
/// `None` when it does not (the row is left untouched).
pub async fn debit_if_covered<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    amount_minor: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE accounts SET balance_minor = balance_minor - $1 \
         WHERE id = $2 AND balance_minor >= $1 RETURNING balance_minor",
    )
    .bind(amount_minor)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get("balance_minor")).transpose()
}

/// [`debit_if_covered`], also requiring the account's currency: one round trip
/// on the purchase path; the caller finds out which condition failed only when
/// one did. Returns the new balance and the username (for the route table).
pub async fn debit_in_currency_if_covered<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    amount_minor: i64,
    currency: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE accounts SET balance_minor = balance_minor - $1 \
         WHERE id = $2 AND balance_minor >= $1 AND currency = $3 RETURNING balance_minor, username",
    )
    .bind(amount_minor)
    .bind(id)
    .bind(currency)
    .fetch_optional(db)
    .await?;
    row.map(|r| Ok((r.try_get("balance_minor")?, r.try_get("username")?)))
        .transpose()
}

/// Adds a signed amount; returns the new balance.
pub async fn adjust_balance<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    delta_minor: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE accounts SET balance_minor = balance_minor + $1 WHERE id = $2 RETURNING balance_minor",
    )
    .bind(delta_minor)
    .bind(id)
    .fetch_one(db)
    .await?;
    row.try_get("balance_minor")
}

pub async fn set_pbx_host<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    pbx_host: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET pbx_host = $1 WHERE id = $2")
        .bind(pbx_host)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_password_hash<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Accounts by id after `after_id`, optionally only those whose username
/// contains `search` (case-insensitively): a page of the admin API's list.
pub async fn page<'e>(
    db: impl Executor<'e, Database = Any>,
    search: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    let pattern = search.map(|s| format!("%{}%", escape_like(&s.to_lowercase())));
    sqlx::query(
        "SELECT id, username, password_hash, currency, balance_minor, pbx_host, created_at, status \
         FROM accounts WHERE id > $1 AND ($2 IS NULL OR LOWER(username) LIKE $2 ESCAPE '!') \
         ORDER BY id LIMIT $3",
    )
    .bind(after_id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// `text` with LIKE's wildcards and the escape character itself taken literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

pub async fn set_status<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// How many numbers the account owns.
pub async fn count_numbers<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM dids WHERE account_id = $1 AND status = 'assigned'",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    row.try_get("n")
}

/// Closes the account only if its balance is zero and it owns no number.
pub async fn close_if_empty<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE accounts SET status = 'closed' WHERE id = $1 AND balance_minor = 0 \
         AND status <> 'closed' \
         AND NOT EXISTS (SELECT 1 FROM dids WHERE account_id = $1 AND status = 'assigned')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The operator's limit of concurrent calls to all of an account's numbers;
/// `false` if there is no such account.
pub async fn set_max_calls<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    max_calls: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("UPDATE accounts SET max_calls = $1 WHERE id = $2")
        .bind(max_calls)
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// An account's limit of concurrent calls; `None`: no limit (or no account).
pub async fn max_calls<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT max_calls FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("max_calls")?,
        None => None,
    })
}
