//! `PATCH /admin/v1/numbers/{number}/limits` and
//! `PATCH /admin/v1/accounts/{id}/limits`: the operator's capacity limits
//! (maximum concurrent calls), which the SBC enforces.

use super::{Admin, json_body, path_id};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::patch;
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/numbers/{number}/limits", patch(number))
        .route("/admin/v1/accounts/{id}/limits", patch(account))
}

/// `max_calls` must be given: `null` removes the limit, absent is an error,
/// so that an empty body cannot lift a limit by accident.
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<i64>::deserialize(d)
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    /// Maximum concurrent calls (0 to 1000000); null: no limit.
    #[serde(deserialize_with = "required_nullable")]
    #[schema(required = true, nullable = true)]
    pub max_calls: Option<i64>,
}

/// Limit the concurrent calls to one number (support).
#[utoipa::path(patch, path = "/admin/v1/numbers/{number}/limits", tag = "admin",
    params(("number" = String, Path, description = "E.164, e.g. +33123456789")),
    request_body = LimitsInput, security(("operator_key" = [])),
    responses((status = 200, body = LimitsInput),
              (status = 400, description = "invalid_max_calls, invalid_number, invalid_body", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn number(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<LimitsInput>, ApiError> {
    op.require(Access::Care)?;
    let input: LimitsInput = json_body(&body)?;
    state
        .service
        .set_number_max_calls_as(Some(&op), &number, input.max_calls)
        .await?;
    Ok(Json(input))
}

/// Limit the concurrent calls to all of an account's numbers together (support).
#[utoipa::path(patch, path = "/admin/v1/accounts/{id}/limits", tag = "admin",
    params(("id" = i64, Path, description = "The account's id")),
    request_body = LimitsInput, security(("operator_key" = [])),
    responses((status = 200, body = LimitsInput),
              (status = 400, description = "invalid_max_calls, invalid_body", body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn account(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<LimitsInput>, ApiError> {
    op.require(Access::Care)?;
    let id = path_id(&id)?;
    let input: LimitsInput = json_body(&body)?;
    state
        .service
        .set_account_max_calls_as(Some(&op), id, input.max_calls)
        .await?;
    Ok(Json(input))
}
