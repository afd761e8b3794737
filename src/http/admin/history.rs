//! `GET /admin/v1/numbers/{number}/history`: what happened to a number, from
//! the event outbox (issue 14 records it, issue 10 shows it), newest first.

use super::{Admin, cursor, limit, next_cursor, query};
use crate::domain::billing::rfc3339;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::service::Event;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/numbers/{number}/history", get(history))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1 to 500, default 100.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// An event as webhooks carry it (see README's event catalogue).
#[derive(Serialize, ToSchema)]
pub struct EventJson {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    pub account_id: Option<i64>,
    /// The resource as it was right after the change.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<Event> for EventJson {
    fn from(event: Event) -> EventJson {
        EventJson {
            id: event.id,
            event_type: event.event_type,
            timestamp: rfc3339(event.created_at),
            account_id: event.account_id,
            data: event.data,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    pub events: Vec<EventJson>,
    pub next_cursor: Option<String>,
}

/// A number's events, newest first (readonly).
#[utoipa::path(get, path = "/admin/v1/numbers/{number}/history", tag = "admin",
    params(("number" = String, Path, description = "E.164, e.g. +33123456789"), HistoryParams),
    security(("operator_key" = [])),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(number): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<HistoryPage>, ApiError> {
    op.require(Access::Read)?;
    let params: HistoryParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let before = cursor(params.cursor.as_deref())?;
    let events = state.service.number_history(&number, before, limit).await?;
    Ok(Json(HistoryPage {
        next_cursor: next_cursor(events.iter().map(|e| e.seq), events.len(), limit),
        events: events.into_iter().map(EventJson::from).collect(),
    }))
}
