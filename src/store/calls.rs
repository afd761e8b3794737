//! `call_records`: one row per SIP Call-ID, as reported by the operator's SBC.

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// A call as stored: who owned the number then, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub id: i64,
    pub call_id: String,
    pub did_id: i64,
    pub account_id: i64,
    pub number: String,
    pub caller: Option<String>,
    pub outcome: String,
    pub sip_code: Option<i64>,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_secs: i64,
    pub source: String,
    pub revision: i64,
}

const COLUMNS: &str = "id, call_id, did_id, account_id, number, caller, outcome, sip_code, \
     started_at, answered_at, ended_at, duration_secs, source, revision";

fn from_row(row: &AnyRow) -> Result<CallRow, sqlx::Error> {
    Ok(CallRow {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        did_id: row.try_get("did_id")?,
        account_id: row.try_get("account_id")?,
        number: row.try_get("number")?,
        caller: row.try_get("caller")?,
        outcome: row.try_get("outcome")?,
        sip_code: row.try_get("sip_code")?,
        started_at: row.try_get("started_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_secs: row.try_get("duration_secs")?,
        source: row.try_get("source")?,
        revision: row.try_get("revision")?,
    })
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    call_id: &str,
) -> Result<Option<CallRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM call_records WHERE call_id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(call_id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Inserts a new call (`id` and `revision` are ignored); a Call-ID already
/// stored is a unique violation, which the caller answers by merging.
pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    call: &CallRow,
    received_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_records (call_id, did_id, account_id, number, caller, outcome, sip_code, \
         started_at, answered_at, ended_at, duration_secs, source, revision, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13)",
    )
    .bind(&call.call_id)
    .bind(call.did_id)
    .bind(call.account_id)
    .bind(&call.number)
    .bind(&call.caller)
    .bind(&call.outcome)
    .bind(call.sip_code)
    .bind(call.started_at)
    .bind(call.answered_at)
    .bind(call.ended_at)
    .bind(call.duration_secs)
    .bind(&call.source)
    .bind(received_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes the merged record if nobody changed the row since it was read
/// (`call.revision`); false when someone did, and the merge must be redone.
pub async fn update<'e>(
    db: impl Executor<'e, Database = Any>,
    call: &CallRow,
    received_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_records SET caller = $1, outcome = $2, sip_code = $3, started_at = $4, \
         answered_at = $5, ended_at = $6, duration_secs = $7, received_at = $8, \
         revision = revision + 1 WHERE id = $9 AND revision = $10",
    )
    .bind(&call.caller)
    .bind(&call.outcome)
    .bind(call.sip_code)
    .bind(call.started_at)
    .bind(call.answered_at)
    .bind(call.ended_at)
    .bind(call.duration_secs)
    .bind(received_at)
    .bind(call.id)
    .bind(call.revision)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Which of an account's calls to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct CallFilter<'a> {
    pub account_id: i64,
    pub did_id: Option<i64>,
    pub outcome: Option<&'a str>,
    pub caller: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only calls with a smaller id (the paging cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: &CallFilter<'_>,
) -> Result<Vec<CallRow>, sqlx::Error> {
    // Built only from fixed fragments and numbered placeholders; values are bound.
    let mut sql = format!("SELECT {COLUMNS} FROM call_records WHERE account_id = $1");
    let mut n = 1;
    let mut condition = |fragment: &str, present: bool| {
        if present {
            n += 1;
            sql.push_str(&format!(" AND {fragment} ${n}"));
        }
    };
    condition("did_id =", filter.did_id.is_some());
    condition("outcome =", filter.outcome.is_some());
    condition("caller =", filter.caller.is_some());
    condition("started_at >=", filter.since.is_some());
    condition("started_at <", filter.until.is_some());
    condition("id <", filter.before_id.is_some());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(filter.account_id);
    if let Some(v) = filter.did_id {
        query = query.bind(v);
    }
    if let Some(v) = filter.outcome {
        query = query.bind(v);
    }
    if let Some(v) = filter.caller {
        query = query.bind(v);
    }
    for v in [filter.since, filter.until, filter.before_id]
        .into_iter()
        .flatten()
    {
        query = query.bind(v);
    }
    let rows = query.bind(filter.limit).fetch_all(db).await?;
    rows.iter().map(from_row).collect()
}

/// (did_id, outcome, calls) of an account's numbers.
pub async fn counts_by_did<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: i64,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT did_id, outcome, CAST(COUNT(*) AS BIGINT) AS calls FROM call_records \
         WHERE account_id = $1 GROUP BY did_id, outcome",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("did_id")?,
                r.try_get("outcome")?,
                r.try_get("calls")?,
            ))
        })
        .collect()
}

/// (outcome, calls, seconds talked) of all calls started in `[since, until)`.
pub async fn totals<'e>(
    db: impl Executor<'e, Database = Any>,
    since: i64,
    until: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT outcome, CAST(COUNT(*) AS BIGINT) AS calls, \
         CAST(COALESCE(SUM(duration_secs), 0) AS BIGINT) AS seconds FROM call_records \
         WHERE started_at >= $1 AND started_at < $2 GROUP BY outcome",
    )
    .bind(since)
    .bind(until)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("outcome")?,
                r.try_get("calls")?,
                r.try_get("seconds")?,
            ))
        })
        .collect()
}

/// Forgets calls that started before `before`; returns how many.
pub async fn purge_older_than<'e>(
    db: impl Executor<'e, Database = Any>,
    before: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM call_records WHERE started_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
