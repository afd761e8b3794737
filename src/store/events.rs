//! `events`: the outbox. An event is inserted in the transaction of the change
//! it describes, together with one pending delivery per subscribed endpoint.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub account_id: Option<i64>,
    pub ordering_key: &'a str,
    pub data_json: &'a str,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub account_id: Option<i64>,
    pub ordering_key: String,
    pub data_json: String,
    pub created_at: i64,
}

pub(crate) fn from_row(row: &AnyRow) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        account_id: row.try_get("account_id")?,
        ordering_key: row.try_get("ordering_key")?,
        data_json: row.try_get("data_json")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "seq, id, event_type, account_id, ordering_key, data_json, created_at";

/// Inserts the event and a pending delivery for every active endpoint that
/// wants it (the account's own and the operator's); returns the event's `seq`.
pub async fn insert(conn: &mut AnyConnection, event: &NewEvent<'_>) -> Result<i64, sqlx::Error> {
    let seq = insert_unrouted(&mut *conn, event).await?;
    fan_out(conn, seq, event).await?;
    Ok(seq)
}

/// Inserts the event alone, for the caller to queue where it wants (test events).
pub async fn insert_unrouted<'e>(
    db: impl Executor<'e, Database = Any>,
    event: &NewEvent<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, event_type, account_id, ordering_key, data_json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(event.id)
    .bind(event.event_type)
    .bind(event.account_id)
    .bind(event.ordering_key)
    .bind(event.data_json)
    .bind(event.created_at)
    .fetch_one(db)
    .await?
    .try_get("seq")
}

async fn fan_out(
    conn: &mut AnyConnection,
    seq: i64,
    event: &NewEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries \
             (endpoint_id, event_seq, ordering_key, status, attempts, next_attempt_at, \
              created_at, updated_at) \
         SELECT id, $1, $2, 'pending', 0, $3, $3, $3 FROM webhook_endpoints \
         WHERE status = 'active' AND (account_id IS NULL OR account_id = $4) \
           AND (event_types = '*' OR event_types LIKE $5)",
    )
    .bind(seq)
    .bind(event.ordering_key)
    .bind(event.created_at)
    .bind(event.account_id.unwrap_or(-1))
    .bind(format!("%,{},%", event.event_type))
    .execute(conn)
    .await?;
    Ok(())
}

/// The events of one ordering key (a number's history), newest first, older
/// than `before_seq`.
pub async fn list_for_key<'e>(
    db: impl Executor<'e, Database = Any>,
    ordering_key: &str,
    before_seq: i64,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE ordering_key = $1 AND seq < $2 \
         ORDER BY seq DESC LIMIT $3"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ordering_key)
        .bind(before_seq)
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The events of an account (`None`: every account), oldest first, in
/// `[from, until)`: what a replay of a time range sends again.
pub async fn list_between<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: Option<i64>,
    from: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE created_at >= $1 AND created_at < $2 \
         AND ($3 = -1 OR account_id = $3) ORDER BY seq LIMIT $4"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(until)
        .bind(account_id.unwrap_or(-1))
        .bind(limit)
        .fetch_all(db)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<EventRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn count<'e>(db: impl Executor<'e, Database = Any>) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM events")
        .fetch_one(db)
        .await?
        .try_get("n")
}
