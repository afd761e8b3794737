//! `/admin/v1/numbers/{number}`: any number with its owner, forwarding,
//! paid-through and charges; force-release into aging.

use super::{Admin, json_body};
use crate::domain::billing::rfc3339;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::wire::{DidJson, LedgerEntryJson};
use crate::service::{NumberDetail, Released};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/numbers/{number}", get(show))
        .route("/admin/v1/numbers/{number}/release", post(release))
}

#[derive(Serialize, ToSchema)]
pub struct OwnerJson {
    pub id: i64,
    pub username: String,
}

#[derive(Serialize, ToSchema)]
pub struct NumberJson {
    pub number: DidJson,
    pub owner: Option<OwnerJson>,
    /// While aging: when it goes back on sale.
    pub aging_until: Option<String>,
    /// Setup fees and monthly charges made for it, newest first (at most 100).
    pub charges: Vec<LedgerEntryJson>,
}

/// Show any number with its owner, forwarding, paid-through and charges (readonly).
#[utoipa::path(get, path = "/admin/v1/numbers/{number}", tag = "admin",
    params(("number" = String, Path, description = "E.164, e.g. +33123456789")),
    security(("operator_key" = [])),
    responses((status = 200, body = NumberJson), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(number): Path<String>,
) -> Result<Json<NumberJson>, ApiError> {
    op.require(Access::Read)?;
    let detail = state.service.number_detail(&number).await?;
    Ok(Json(detail.into()))
}

impl From<NumberDetail> for NumberJson {
    fn from(detail: NumberDetail) -> NumberJson {
        let currency = detail.did.currency();
        NumberJson {
            number: DidJson::from(&detail.did),
            owner: detail.owner.map(|o| OwnerJson {
                id: o.id,
                username: o.username,
            }),
            aging_until: detail.aging_until.map(rfc3339),
            charges: detail
                .charges
                .iter()
                .map(|e| LedgerEntryJson::new(e, currency))
                .collect(),
        }
    }
}

impl From<Released> for ForcedRelease {
    fn from(released: Released) -> ForcedRelease {
        ForcedRelease {
            number: released.did.number,
            status: "aging".to_owned(),
            aging_until: rfc3339(released.aging_until),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// Why: mandatory, recorded in the audit log.
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ForcedRelease {
    pub number: String,
    pub status: String,
    pub aging_until: String,
}

/// Take a number from its owner into aging, without refund (admin).
#[utoipa::path(post, path = "/admin/v1/numbers/{number}/release", tag = "admin",
    params(("number" = String, Path, description = "E.164, e.g. +33123456789")),
    request_body = ReleaseInput, security(("operator_key" = [])),
    responses((status = 200, body = ForcedRelease), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<ForcedRelease>, ApiError> {
    op.require(Access::Manage)?;
    let input: ReleaseInput = json_body(&body)?;
    let released = state
        .service
        .force_release_as(&op, &number, &input.reason)
        .await?;
    Ok(Json(released.into()))
}
