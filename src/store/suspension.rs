//! Suspension for non-payment and the account-side facts billing needs: the
//! balance under the account's row lock, the low-balance threshold. Every
//! change is conditional on the state its caller saw, like `dids`.

use super::dids::{DID_COLUMNS, DidRow, from_row};
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// The account's balance, read under its row lock (a no-op UPDATE), so that
/// a renewal and a credit on the same account take turns: whichever comes
/// second sees what the first did. `None` when there is no such account.
pub async fn lock_balance<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE accounts SET balance_minor = balance_minor WHERE id = $1 RETURNING balance_minor",
    )
    .bind(account_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get("balance_minor")).transpose()
}

/// Marks a due number suspended, unless it was renewed, released or already
/// suspended meanwhile.
pub async fn mark_suspended<'e>(
    db: impl Executor<'e, Database = Any>,
    did: &DidRow,
    account_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET suspended_at = $1, updated_at = $1 \
         WHERE id = $2 AND account_id = $3 AND status = 'assigned' AND paid_through = $4 \
           AND suspended_at IS NULL",
    )
    .bind(now)
    .bind(did.id)
    .bind(account_id)
    .bind(did.paid_through)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves `paid_through` on by one period only if nobody did meanwhile; a
/// number paid past `now` is no longer suspended.
pub async fn pay_period<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
    account_id: i64,
    old_paid_through: i64,
    new_paid_through: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET paid_through = $1, updated_at = $2, \
                suspended_at = CASE WHEN $1 > $2 THEN NULL ELSE suspended_at END \
         WHERE id = $3 AND account_id = $4 AND status = 'assigned' AND paid_through = $5",
    )
    .bind(new_paid_through)
    .bind(now)
    .bind(did_id)
    .bind(account_id)
    .bind(old_paid_through)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The account's numbers suspended for non-payment, longest overdue first.
pub async fn suspended_of_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<Vec<DidRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {DID_COLUMNS} FROM dids WHERE account_id = $1 AND status = 'assigned' \
         AND suspended_at IS NOT NULL ORDER BY paid_through, id"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(db)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The account's low-balance threshold, if set, and whether the balance was
/// last seen below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowBalance {
    pub threshold_minor: Option<i64>,
    pub below: bool,
}

pub async fn low_balance<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<LowBalance, sqlx::Error> {
    let row =
        sqlx::query("SELECT low_balance_minor, below_low_balance FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(db)
            .await?;
    Ok(LowBalance {
        threshold_minor: row.try_get("low_balance_minor")?,
        below: row.try_get::<i64, _>("below_low_balance")? != 0,
    })
}

pub async fn set_low_balance<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
    threshold_minor: Option<i64>,
    below: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET low_balance_minor = $1, below_low_balance = $2 WHERE id = $3")
        .bind(threshold_minor)
        .bind(i64::from(below))
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Owned numbers whose paid period ended by `now`, in (paid_through, id)
/// order after the cursor `after`: a run pages through them once, and a
/// number renewed but still overdue comes round again further on.
pub async fn due_after<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<DidRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {DID_COLUMNS} FROM dids WHERE status = 'assigned' AND paid_through <= $1 \
         AND (paid_through > $2 OR (paid_through = $2 AND id > $3)) \
         ORDER BY paid_through, id LIMIT $4"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(from_row)
        .collect()
}
