//! Holds, bulk orders and quotes: `did/hold`, `did/unhold`, `did/holds`,
//! `did/order`, and the several-number form of `did/assign`.

use super::AppState;
use super::compat::account_of;
use super::error::{ApiError, ErrorBody};
use super::input::ApiInput;
use super::order_wire::*;
use crate::service::{Order, OrderCriteria, OrderRequest};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

/// Hold up to 10 numbers for this account for `ttl_seconds` (default 600):
/// others no longer find them or buy them until the hold ends.
#[utoipa::path(post, path = "/api/did/hold", tag = "provisioning",
    responses((status = 200, body = HoldsResponse),
              (status = 404, description = "did_not_found (the message names the did_id)", body = ErrorBody),
              (status = 409, description = "did_held (another account holds it) or did_not_available", body = ErrorBody),
              (status = 422, description = "hold_limit_exceeded (20 numbers held at once)", body = ErrorBody)))]
pub async fn hold(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let (did_ids, _) = input.ids("did_id")?;
    let ttl = input.optional_int("ttl_seconds")?;
    let holds = state.service.hold(account_id, &did_ids, ttl).await?;
    Ok(Json(HoldsResponse::new(&holds)).into_response())
}

/// Lift this account's holds on the numbers named.
#[utoipa::path(post, path = "/api/did/unhold", tag = "provisioning",
    responses((status = 200, body = UnholdResponse)))]
pub async fn unhold(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let (did_ids, _) = input.ids("did_id")?;
    let unheld = state.service.unhold(account_id, &did_ids).await?;
    Ok(Json(UnholdResponse {
        count: unheld.len(),
        unheld,
    })
    .into_response())
}

/// This account's running holds.
#[utoipa::path(post, path = "/api/did/holds", tag = "provisioning",
    responses((status = 200, body = HoldsResponse)))]
pub async fn holds(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let holds = state.service.holds(account_id).await?;
    Ok(Json(HoldsResponse::new(&holds)).into_response())
}

/// The same list by GET, with the token in `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/did/holds", tag = "provisioning",
    security(("account_token" = [])),
    responses((status = 200, body = HoldsResponse),
              (status = 401, description = "unauthorized", body = ErrorBody)))]
pub async fn holds_get(state: State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    holds(state, input).await
}

/// Buy `quantity` available numbers matching the criteria, all or none
/// (`dry_run=true`: only say what it would charge).
#[utoipa::path(post, path = "/api/did/order", tag = "provisioning",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 200, description = "OrderResponse, or QuoteResponse with dry_run=true", body = OrderResponse),
              (status = 402, description = "insufficient_balance", body = ErrorBody),
              (status = 409, description = "not_enough_numbers", body = ErrorBody),
              (status = 422, description = "idempotency_key_reused or currency_mismatch", body = ErrorBody)))]
pub async fn order(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let criteria = OrderCriteria {
        country: input.required("country")?.to_owned(),
        did_type: input.optional("type").map(str::to_owned),
        prefix: input.optional("prefix").map(str::to_owned),
        area_code: input.optional("area_code").map(str::to_owned),
        quantity: input
            .optional_int("quantity")?
            .ok_or_else(|| ApiError::bad_request("missing_field", "quantity is required"))?,
        idempotency_key: input.idempotency_key()?,
    };
    if input.flag("dry_run")? {
        let quote = state.service.quote_criteria(account_id, &criteria).await?;
        return Ok(Json(QuoteResponse::from(&quote)).into_response());
    }
    let order = state
        .service
        .order_by_criteria(account_id, &criteria)
        .await?;
    Ok(order_response(&order))
}

/// `did/assign` with several numbers, `partial` or `dry_run`.
pub async fn assign_several(
    state: &AppState,
    account_id: i64,
    input: &ApiInput,
) -> Result<Response, ApiError> {
    let (did_ids, _) = input.ids("did_id")?;
    let partial = input.flag("partial")?;
    if input.flag("dry_run")? {
        let quote = state
            .service
            .quote_ids(account_id, &did_ids, partial)
            .await?;
        return Ok(Json(QuoteResponse::from(&quote)).into_response());
    }
    let request = OrderRequest {
        did_ids,
        partial,
        idempotency_key: input.idempotency_key()?,
    };
    let order = state.service.assign_many(account_id, &request).await?;
    Ok(order_response(&order))
}

/// Whether `did/assign` was asked for more than the seed's one-number purchase.
pub fn wants_order(input: &ApiInput) -> Result<bool, ApiError> {
    let (_, several) = input.ids("did_id")?;
    Ok(several || input.flag("partial")? || input.flag("dry_run")?)
}

fn order_response(order: &Order) -> Response {
    let mut response = Json(OrderResponse::from(order)).into_response();
    if order.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
