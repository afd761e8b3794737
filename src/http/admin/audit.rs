//! `GET /admin/v1/audit`: the audit log, newest first, with filters. There is
//! no endpoint that changes it (and the database refuses changes too).

use super::{Admin, cursor, limit, next_cursor, query};
use crate::domain::billing::rfc3339;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::store::audit::{AuditFilter, AuditRow};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/audit", get(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Operator key name.
    actor: Option<String>,
    /// e.g. account.create, account.update, money.credit, money.adjustment.
    action: Option<String>,
    /// e.g. account:42.
    target: Option<String>,
    /// RFC 3339; entries at or after.
    since: Option<String>,
    /// RFC 3339; entries before.
    until: Option<String>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryJson {
    pub id: i64,
    /// The operator key's name.
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryJson>,
    pub next_cursor: Option<String>,
}

fn time(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp())
            .map_err(|_| {
                ApiError::bad_request("invalid_time", format!("{name} must be an RFC 3339 time"))
            })
    })
    .transpose()
}

fn entry(row: AuditRow) -> AuditEntryJson {
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    AuditEntryJson {
        id: row.id,
        actor: row.actor,
        action: row.action,
        target: row.target,
        before: parse(row.before_json),
        after: parse(row.after_json),
        at: rfc3339(row.created_at),
    }
}

/// The audit log of admin writes, newest first (readonly).
#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", params(AuditParams),
    security(("operator_key" = [])),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(op): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    op.require(Access::Read)?;
    let params: AuditParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let filter = AuditFilter {
        actor: params.actor,
        action: params.action,
        target: params.target,
        since: time("since", params.since.as_deref())?,
        until: time("until", params.until.as_deref())?,
    };
    let before = cursor(params.cursor.as_deref())?;
    let rows = state.service.audit_log(&filter, before, limit).await?;
    Ok(Json(AuditPage {
        next_cursor: next_cursor(rows.iter().map(|r| r.id), rows.len(), limit),
        entries: rows.into_iter().map(entry).collect(),
    }))
}
