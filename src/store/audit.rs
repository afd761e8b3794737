//! `audit_log`: every admin write, append-only (triggers refuse changes).

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before_json: Option<&'a str>,
    pub after_json: Option<&'a str>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub created_at: i64,
}

/// What `list` filters on; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        before_json: row.try_get("before_json")?,
        after_json: row.try_get("after_json")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    entry: &NewAudit<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (actor, action, target, before_json, after_json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.before_json)
    .bind(entry.after_json)
    .bind(entry.created_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Newest first, `limit` rows older than `before_id` that match `filter`.
/// A `NULL` parameter switches its condition off, so one statement serves
/// every combination of filters.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query(
        "SELECT id, actor, action, target, before_json, after_json, created_at FROM audit_log \
         WHERE id < $1 \
           AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR action = $3) \
           AND ($4 IS NULL OR target = $4) \
           AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6) \
         ORDER BY id DESC LIMIT $7",
    )
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(filter.actor.as_deref())
    .bind(filter.action.as_deref())
    .bind(filter.target.as_deref())
    .bind(filter.since)
    .bind(filter.until)
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
