//! `/api/webhooks`: a customer's webhook endpoints (issue 14): create (URL and
//! event types), list, show, delete, rotate the secret, send a test event,
//! the delivery attempts of the last 30 days, and replays.

use super::AppState;
use super::admin::{bearer_and_source, cursor, json_body, limit, next_cursor, path_id, query};
use super::error::{ApiError, ErrorBody};
use crate::domain::billing::rfc3339;
use crate::service::{Endpoint, parse_event_types};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks", post(create).get(list))
        .route("/api/webhooks/{id}", get(show).delete(delete))
        .route("/api/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/api/webhooks/{id}/test", post(send_test))
        .route("/api/webhooks/{id}/deliveries", get(deliveries))
        .route("/api/webhooks/{id}/replay", post(replay))
}

/// The account behind the request's `Authorization: Bearer` token.
pub struct Customer(pub i64);

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Customer, ApiError> {
        let (token, source) = bearer_and_source(parts)?;
        Ok(Customer(state.service.authenticate(token, source).await?))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// https (or http to a host the operator allows); never a private address.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*(?![\s\S])")]
    pub(crate) url: String,
    /// Event types to receive, e.g. `number.assigned`; empty or absent: all.
    #[serde(default)]
    #[schema(inline, value_type = Vec<EventTypeCode>)]
    pub(crate) event_types: Vec<String>,
}

// The codes of `domain::event::EventType` (a unit test keeps them in step).
/// An event type (see README's event catalogue).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used
pub enum EventTypeCode {
    #[serde(rename = "number.assigned")]
    NumberAssigned,
    #[serde(rename = "number.forwarded")]
    NumberForwarded,
    #[serde(rename = "number.forward_removed")]
    NumberForwardRemoved,
    #[serde(rename = "number.released")]
    NumberReleased,
    #[serde(rename = "number.restored")]
    NumberRestored,
    #[serde(rename = "number.renewed")]
    NumberRenewed,
    #[serde(rename = "number.suspended")]
    NumberSuspended,
    #[serde(rename = "number.reclaimed")]
    NumberReclaimed,
    #[serde(rename = "number.held")]
    NumberHeld,
    #[serde(rename = "number.hold_expired")]
    NumberHoldExpired,
    #[serde(rename = "balance.credited")]
    BalanceCredited,
    #[serde(rename = "balance.adjusted")]
    BalanceAdjusted,
    #[serde(rename = "balance.low")]
    BalanceLow,
    #[serde(rename = "account.suspended")]
    AccountSuspended,
    #[serde(rename = "inventory.imported")]
    InventoryImported,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookJson {
    pub id: i64,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    /// active or disabled.
    pub status: String,
    /// Why it was disabled (410 Gone, or 24 h of failures).
    pub disabled_reason: Option<String>,
    pub created_at: String,
}

impl From<Endpoint> for WebhookJson {
    fn from(e: Endpoint) -> WebhookJson {
        WebhookJson {
            id: e.id,
            url: e.url,
            event_types: e.event_types.iter().map(|t| t.code().to_owned()).collect(),
            status: e.status,
            disabled_reason: e.disabled_reason,
            created_at: rfc3339(e.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: WebhookJson,
    /// `whsec_…`: verify the `webhook-signature` header with it (Standard Webhooks). Shown once.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookJson>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretJson {
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// The test event's id (test), or how many events were queued (replay).
    pub event_id: Option<String>,
    pub queued: u64,
}

/// Create a webhook endpoint; the answer holds its signing secret.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = WebhookInput,
    security(("account_token" = [])),
    responses((status = 201, body = WebhookCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Customer(account): Customer,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let input: WebhookInput = json_body(&body)?;
    let types = parse_event_types(&input.event_types)?;
    let (endpoint, secret) = state
        .service
        .create_webhook(Some(account), &input.url, &types)
        .await?;
    let created = WebhookCreated {
        webhook: endpoint.into(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// The account's webhook endpoints.
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", security(("account_token" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Customer(account): Customer,
) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.service.list_webhooks(Some(account)).await?;
    Ok(Json(WebhookList {
        webhooks: endpoints.into_iter().map(WebhookJson::from).collect(),
    }))
}

/// One webhook endpoint (with why it was disabled, if it was).
#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), security(("account_token" = [])),
    responses((status = 200, body = WebhookJson), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<Json<WebhookJson>, ApiError> {
    let endpoint = state.service.webhook(Some(account), path_id(&id)?).await?;
    Ok(Json(endpoint.into()))
}

/// Delete a webhook endpoint; events not yet delivered to it are dropped.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), security(("account_token" = [])),
    responses((status = 204), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .delete_webhook(Some(account), path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret; the next attempt is signed with the new one.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = i64, Path)), security(("account_token" = [])),
    responses((status = 200, body = SecretJson), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<Json<SecretJson>, ApiError> {
    let secret = state
        .service
        .rotate_webhook_secret(Some(account), path_id(&id)?)
        .await?;
    Ok(Json(SecretJson { secret }))
}

/// Queue a `webhook.test` event to this endpoint.
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "webhooks",
    params(("id" = i64, Path)), security(("account_token" = [])),
    responses((status = 202, body = Queued), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn send_test(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let event_id = state
        .service
        .send_test_event(Some(account), path_id(&id)?)
        .await?;
    let queued = Queued {
        event_id: Some(event_id),
        queued: 1,
    };
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub(crate) limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}(?![\s\S])")]
    pub(crate) cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptJson {
    pub event_id: String,
    pub event_type: String,
    /// delivered, retrying or failed.
    pub status: String,
    pub response_code: Option<i64>,
    pub latency_ms: i64,
    /// Why there was no answer (timeout, refused address, …).
    pub error: Option<String>,
    pub attempted_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptPage {
    pub deliveries: Vec<AttemptJson>,
    pub next_cursor: Option<String>,
}

/// Delivery attempts to this endpoint, newest first (kept 30 days).
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), DeliveryParams), security(("account_token" = [])),
    responses((status = 200, body = AttemptPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AttemptPage>, ApiError> {
    let params: DeliveryParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let before = cursor(params.cursor.as_deref())?;
    let rows = state
        .service
        .webhook_attempts(Some(account), path_id(&id)?, before, limit)
        .await?;
    Ok(Json(attempt_page(rows, limit)))
}

/// A page of attempts, newest first, with the cursor of the next.
pub(crate) fn attempt_page(
    rows: Vec<crate::store::webhooks::AttemptRow>,
    limit: i64,
) -> AttemptPage {
    AttemptPage {
        next_cursor: next_cursor(rows.iter().map(|r| r.id), rows.len(), limit),
        deliveries: rows
            .into_iter()
            .map(|r| AttemptJson {
                event_id: r.event_id,
                event_type: r.event_type,
                status: r.outcome,
                response_code: r.status_code,
                latency_ms: r.latency_ms,
                error: r.error,
                attempted_at: rfc3339(r.attempted_at),
            })
            .collect(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// One event to send again…
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*(?![\s\S])")]
    event_id: Option<String>,
    /// …or every event (of the types subscribed) from this RFC 3339 time…
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*(?![\s\S])")]
    from: Option<String>,
    /// …until this one (exclusive).
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*(?![\s\S])")]
    until: Option<String>,
}

fn time(name: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp())
        .map_err(|_| {
            ApiError::bad_request("invalid_time", format!("{name} must be an RFC 3339 time"))
        })
}

/// Send one event, or a time range of events, to this endpoint again.
#[utoipa::path(post, path = "/api/webhooks/{id}/replay", tag = "webhooks",
    params(("id" = i64, Path)), request_body = ReplayInput, security(("account_token" = [])),
    responses((status = 202, body = Queued), (status = 400, body = ErrorBody),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replay(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let id = path_id(&id)?;
    let input: ReplayInput = json_body(&body)?;
    let queued = match (&input.event_id, &input.from, &input.until) {
        (Some(event_id), None, None) => {
            state
                .service
                .replay_event(Some(account), id, event_id)
                .await?
        }
        (None, Some(from), Some(until)) => {
            let (from, until) = (time("from", from)?, time("until", until)?);
            state
                .service
                .replay_range(Some(account), id, from, until)
                .await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_replay",
                "give event_id, or from and until",
            ));
        }
    };
    let queued = Queued {
        event_id: input.event_id,
        queued,
    };
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[cfg(test)]
mod tests {
    use crate::domain::event::EventType;

    #[test]
    fn the_documented_event_types_are_the_subscribable_ones() {
        let document = crate::http::openapi_document();
        let input = &document["components"]["schemas"]["WebhookInput"];
        let listed = &input["properties"]["event_types"]["items"]["enum"];
        let codes: Vec<&str> = EventType::ALL
            .iter()
            .filter(|t| **t != EventType::WebhookTest)
            .map(|t| t.code())
            .collect();
        assert_eq!(*listed, serde_json::json!(codes));
    }
}
