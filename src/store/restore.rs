//! `restorable_dids`: what a release leaves for the former owner to take the
//! number back within the restore window.

use sqlx::{Any, Executor, Row};

/// Remembers an owned number's terms and forwarding before its release.
/// Must run before the release (which clears them) in the same transaction.
pub async fn remember<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
    account_id: i64,
    restore_until: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO restorable_dids \
           (did_id, account_id, restore_until, assigned_at, paid_through, forward_type, forward_destination) \
         SELECT id, account_id, $1, assigned_at, paid_through, forward_type, forward_destination \
         FROM dids WHERE id = $2 AND account_id = $3 AND status = 'assigned' \
         ON CONFLICT (did_id) DO UPDATE SET account_id = excluded.account_id, \
           restore_until = excluded.restore_until, assigned_at = excluded.assigned_at, \
           paid_through = excluded.paid_through, forward_type = excluded.forward_type, \
           forward_destination = excluded.forward_destination",
    )
    .bind(restore_until)
    .bind(did_id)
    .bind(account_id)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Restorable {
    pub did_id: i64,
    pub account_id: i64,
    pub restore_until: i64,
    pub assigned_at: i64,
    pub paid_through: i64,
    pub forward_type: Option<String>,
    pub forward_destination: Option<String>,
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
) -> Result<Option<Restorable>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT did_id, account_id, restore_until, assigned_at, paid_through, forward_type, \
         forward_destination FROM restorable_dids WHERE did_id = $1",
    )
    .bind(did_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Restorable {
            did_id: r.try_get("did_id")?,
            account_id: r.try_get("account_id")?,
            restore_until: r.try_get("restore_until")?,
            assigned_at: r.try_get("assigned_at")?,
            paid_through: r.try_get("paid_through")?,
            forward_type: r.try_get("forward_type")?,
            forward_destination: r.try_get("forward_destination")?,
        })
    })
    .transpose()
}

/// Gives an aging number back to its former owner; `false` if it is no
/// longer aging (sold meanwhile is impossible while aging, but a concurrent
/// restore may have won).
pub async fn take_back<'e>(
    db: impl Executor<'e, Database = Any>,
    restorable: &Restorable,
    assigned_at: i64,
    paid_through: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dids SET status = 'assigned', account_id = $1, assigned_at = $2, paid_through = $3, \
         aging_until = NULL, forward_type = $4, forward_destination = $5, suspended_at = NULL, \
         updated_at = $6 WHERE id = $7 AND status = 'aging'",
    )
    .bind(restorable.account_id)
    .bind(assigned_at)
    .bind(paid_through)
    .bind(restorable.forward_type.as_deref())
    .bind(restorable.forward_destination.as_deref())
    .bind(now)
    .bind(restorable.did_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn forget<'e>(
    db: impl Executor<'e, Database = Any>,
    did_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM restorable_dids WHERE did_id = $1")
        .bind(did_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Drops closed windows of numbers that left aging: while the number still
/// ages, its row lets a late restore be told `restore_window_closed`.
pub async fn purge_closed<'e>(
    db: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM restorable_dids WHERE restore_until <= $1 \
         AND did_id NOT IN (SELECT id FROM dids WHERE status = 'aging')",
    )
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
