//! `/admin/v1/webhooks`: the operator's webhook endpoints, which receive every
//! account's events (the same as `didhub webhook add|list|remove`).

use super::{Admin, cursor, json_body, limit, path_id, query};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::webhooks::{
    AttemptPage, DeliveryParams, WebhookCreated, WebhookInput, WebhookJson, WebhookList,
    attempt_page,
};
use crate::service::parse_event_types;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/webhooks", get(list).post(create))
        .route("/admin/v1/webhooks/{id}", delete(remove))
        .route("/admin/v1/webhooks/{id}/deliveries", get(deliveries))
}

/// Add an endpoint for every account's events; the answer holds its secret (admin).
#[utoipa::path(post, path = "/admin/v1/webhooks", tag = "admin", request_body = WebhookInput,
    security(("operator_key" = [])),
    responses((status = 201, body = WebhookCreated), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Admin(op): Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    op.require(Access::Manage)?;
    let input: WebhookInput = json_body(&body)?;
    let types = parse_event_types(&input.event_types)?;
    let (endpoint, secret) = state
        .service
        .create_webhook(None, &input.url, &types)
        .await?;
    let created = WebhookCreated {
        webhook: endpoint.into(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// The operator's endpoints (readonly).
#[utoipa::path(get, path = "/admin/v1/webhooks", tag = "admin", security(("operator_key" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(op): Admin,
) -> Result<Json<WebhookList>, ApiError> {
    op.require(Access::Read)?;
    let endpoints = state.service.list_webhooks(None).await?;
    Ok(Json(WebhookList {
        webhooks: endpoints.into_iter().map(WebhookJson::from).collect(),
    }))
}

/// Remove an operator endpoint (admin).
#[utoipa::path(delete, path = "/admin/v1/webhooks/{id}", tag = "admin",
    params(("id" = i64, Path)), security(("operator_key" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    op.require(Access::Manage)?;
    state.service.delete_webhook(None, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delivery attempts to an operator endpoint, newest first (readonly).
#[utoipa::path(get, path = "/admin/v1/webhooks/{id}/deliveries", tag = "admin",
    params(("id" = i64, Path), DeliveryParams), security(("operator_key" = [])),
    responses((status = 200, body = AttemptPage), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AttemptPage>, ApiError> {
    op.require(Access::Read)?;
    let params: DeliveryParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let before = cursor(params.cursor.as_deref())?;
    let rows = state
        .service
        .webhook_attempts(None, path_id(&id)?, before, limit)
        .await?;
    Ok(Json(attempt_page(rows, limit)))
}
