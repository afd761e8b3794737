//! `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts`: where events
//! go, what is still to be posted, and what each attempt got back.

use super::events::{EventRow, from_row as event_from_row};
use super::{Backend, Store};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: i64,
    /// `None`: an operator endpoint, which receives every account's events.
    pub account_id: Option<i64>,
    pub url: String,
    pub secret: String,
    pub event_types: String,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
}

const ENDPOINT_COLUMNS: &str = "id, account_id, url, secret, event_types, status, \
     disabled_reason, failing_since, created_at";

fn endpoint_from_row(row: &AnyRow) -> Result<EndpointRow, sqlx::Error> {
    Ok(EndpointRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        event_types: row.try_get("event_types")?,
        status: row.try_get("status")?,
        disabled_reason: row.try_get("disabled_reason")?,
        failing_since: row.try_get("failing_since")?,
        created_at: row.try_get("created_at")?,
    })
}

pub struct NewEndpoint<'a> {
    pub account_id: Option<i64>,
    pub url: &'a str,
    pub secret: &'a str,
    pub event_types: &'a str,
    pub created_at: i64,
}

pub async fn insert_endpoint<'e>(
    db: impl Executor<'e, Database = Any>,
    endpoint: &NewEndpoint<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (account_id, url, secret, event_types, status, created_at) \
         VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
    )
    .bind(endpoint.account_id)
    .bind(endpoint.url)
    .bind(endpoint.secret)
    .bind(endpoint.event_types)
    .bind(endpoint.created_at)
    .fetch_one(db)
    .await?
    .try_get("id")
}

/// An account's endpoints, or (`None`) the operator's; deleted ones left out.
pub async fn list_endpoints<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: Option<i64>,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE status <> 'deleted' \
         AND COALESCE(account_id, -1) = $1 ORDER BY id"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(account_id.unwrap_or(-1))
        .fetch_all(db)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
}

/// An endpoint; a deleted one only with `include_deleted` (its delivery
/// history stays readable for its retention).
pub async fn find_endpoint<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    include_deleted: bool,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 \
         AND (status <> 'deleted' OR $2 = 1)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(i64::from(include_deleted))
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
}

/// Deletes (keeps the row for the delivery history) or disables, with a reason.
pub async fn set_endpoint_status<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    status: &str,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET status = $2, disabled_reason = $3 \
         WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_secret<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    secret: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET secret = $2 WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(id)
    .bind(secret)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes a failed attempt; returns since when the endpoint has been failing.
pub async fn note_failure<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) \
         WHERE id = $1 RETURNING failing_since",
    )
    .bind(id)
    .bind(now)
    .fetch_one(db)
    .await?
    .try_get("failing_since")
}

pub async fn note_success<'e>(
    db: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Queues an event (again) for one endpoint: what replay and test events do.
pub async fn enqueue<'e>(
    db: impl Executor<'e, Database = Any>,
    endpoint_id: i64,
    event: &EventRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_seq, ordering_key, status, attempts, \
             next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)",
    )
    .bind(endpoint_id)
    .bind(event.seq)
    .bind(&event.ordering_key)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A delivery this process holds the lease of, with what it needs to post.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub attempts: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub secret: String,
    pub event: EventRow,
}

/// Who claims, and the times the claim is judged by.
pub struct ClaimRequest<'a> {
    pub owner: &'a str,
    /// The injected clock: deliveries due by then.
    pub now: i64,
    /// The wall clock, which leases are measured in (they guard real processes).
    pub wall_now: i64,
    pub lease_secs: i64,
    pub limit: i64,
    /// Endpoints already at their concurrency limit in this process.
    pub busy_endpoints: &'a [i64],
}

/// Leases up to `limit` due deliveries, each the earliest pending one of its
/// (endpoint, ordering key), so that one key's events go out one at a time
/// and in order. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so that instances
/// claiming together take different rows; SQLite: the one writer does that.
pub async fn claim(store: &Store, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, sqlx::Error> {
    let busy: String = request
        .busy_endpoints
        .iter()
        .map(|id| format!(" AND d.endpoint_id <> {id}"))
        .collect();
    let lock = match store.backend() {
        Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
           SELECT d.id FROM webhook_deliveries d \
           JOIN webhook_endpoints e ON e.id = d.endpoint_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
             AND (d.lease_until IS NULL OR d.lease_until < $4) AND e.status = 'active'{busy} \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
               WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key \
                 AND p.status = 'pending' AND p.event_seq < d.event_seq) \
           ORDER BY d.id LIMIT $5{lock}) \
         RETURNING id"
    );
    let mut tx = store.begin_write().await?;
    let ids: Vec<i64> = sqlx::query(AssertSqlSafe(sql))
        .bind(request.owner)
        .bind(request.wall_now + request.lease_secs)
        .bind(request.now)
        .bind(request.wall_now)
        .bind(request.limit)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    tx.commit().await?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(c) = claimed_details(store.pool(), id).await? {
            claimed.push(c);
        }
    }
    Ok(claimed)
}

async fn claimed_details<'e>(
    db: impl Executor<'e, Database = Any>,
    delivery_id: i64,
) -> Result<Option<Claimed>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT d.id AS delivery_id, d.attempts, d.endpoint_id, e.url, e.secret, \
                v.seq, v.id, v.event_type, v.account_id, v.ordering_key, v.data_json, v.created_at \
         FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         JOIN events v ON v.seq = d.event_seq WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Claimed {
            delivery_id: r.try_get("delivery_id")?,
            attempts: r.try_get("attempts")?,
            endpoint_id: r.try_get("endpoint_id")?,
            url: r.try_get("url")?,
            secret: r.try_get("secret")?,
            event: event_from_row(&r)?,
        })
    })
    .transpose()
}

/// How an attempt ends for its delivery.
pub enum Settle<'a> {
    Delivered,
    RetryAt(i64),
    /// Given up (the endpoint was disabled).
    Failed(&'a str),
}

/// Records an attempt's end, if this owner still holds the lease (a lease that
/// expired and was taken over leaves the new holder in charge).
pub async fn settle<'e>(
    db: impl Executor<'e, Database = Any>,
    delivery_id: i64,
    owner: &str,
    settle: &Settle<'_>,
    status_code: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (status, next, error) = match settle {
        Settle::Delivered => ("delivered", now, None),
        Settle::RetryAt(at) => ("pending", *at, None),
        Settle::Failed(reason) => ("failed", now, Some(*reason)),
    };
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, \
             next_attempt_at = $4, last_status_code = $5, last_error = $6, updated_at = $7, \
             lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(delivery_id)
    .bind(owner)
    .bind(status)
    .bind(next)
    .bind(status_code)
    .bind(error)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up every pending delivery of a disabled endpoint.
pub async fn fail_pending<'e>(
    db: impl Executor<'e, Database = Any>,
    endpoint_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2, updated_at = $3 \
         WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(endpoint_id)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub endpoint_id: i64,
    pub event_id: String,
    pub event_type: String,
    /// delivered, retrying, failed or refused.
    pub outcome: String,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub attempted_at: i64,
}

pub async fn insert_attempt<'e>(
    db: impl Executor<'e, Database = Any>,
    attempt: &AttemptRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, event_type, outcome, \
             status_code, latency_ms, error, attempted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(attempt.delivery_id)
    .bind(attempt.endpoint_id)
    .bind(&attempt.event_id)
    .bind(&attempt.event_type)
    .bind(&attempt.outcome)
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(&attempt.error)
    .bind(attempt.attempted_at)
    .execute(db)
    .await?;
    Ok(())
}

/// An endpoint's attempts, newest first, older than `before_id`.
pub async fn list_attempts<'e>(
    db: impl Executor<'e, Database = Any>,
    endpoint_id: i64,
    before_id: i64,
    limit: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, delivery_id, endpoint_id, event_id, event_type, outcome, status_code, \
                latency_ms, error, attempted_at \
         FROM webhook_attempts WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(endpoint_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AttemptRow {
                id: r.try_get("id")?,
                delivery_id: r.try_get("delivery_id")?,
                endpoint_id: r.try_get("endpoint_id")?,
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("event_type")?,
                outcome: r.try_get("outcome")?,
                status_code: r.try_get("status_code")?,
                latency_ms: r.try_get("latency_ms")?,
                error: r.try_get("error")?,
                attempted_at: r.try_get("attempted_at")?,
            })
        })
        .collect()
}

/// Forgets attempts (and settled deliveries) older than `before`.
pub async fn purge_older_than<'e, E>(db: E, before: i64) -> Result<(), sqlx::Error>
where
    E: Executor<'e, Database = Any> + Copy,
{
    sqlx::query("DELETE FROM webhook_attempts WHERE attempted_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(())
}

/// Deliveries not yet settled: the `didhub_webhook_deliveries_pending` gauge.
pub async fn count_pending<'e>(db: impl Executor<'e, Database = Any>) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(db)
    .await?
    .try_get("n")
}

/// Gives a claimed delivery back unattempted (this process is at its limit
/// for the endpoint).
pub async fn release_lease<'e>(
    db: impl Executor<'e, Database = Any>,
    delivery_id: i64,
    owner: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(delivery_id)
    .bind(owner)
    .execute(db)
    .await?;
    Ok(())
}
