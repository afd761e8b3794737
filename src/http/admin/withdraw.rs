//! `POST /admin/v1/inventory/withdraw`: take available numbers off sale.

use super::inventory::{country, did_type};
use super::{Admin, json_body};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::service::{MAX_WITHDRAW_LISTED, Withdrawal, Withdrawn};
use crate::store::dids::NumberFilter;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/inventory/withdraw", post(withdraw))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawInput {
    /// Withdraw these numbers by id (as the inventory list shows them)...
    #[serde(default)]
    ids: Vec<i64>,
    /// ...and/or by E.164 number (ids and numbers together at most 1000)...
    #[serde(default)]
    numbers: Vec<String>,
    /// ...narrowed to this country; alone, every available number of it.
    country: Option<String>,
    /// ...narrowed to this type; alone, every available number of it.
    #[serde(rename = "type")]
    did_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SkippedJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// assigned, aging, withdrawn, not_found, or not_matching (country/type).
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct WithdrawReport {
    /// Numbers taken off sale.
    pub withdrawn: u64,
    /// The first 1000 of them.
    pub numbers: Vec<String>,
    /// Listed ids and numbers left as they were.
    pub skipped: Vec<SkippedJson>,
}

impl From<Withdrawn> for WithdrawReport {
    fn from(done: Withdrawn) -> WithdrawReport {
        WithdrawReport {
            withdrawn: done.withdrawn,
            numbers: done.numbers,
            skipped: done
                .skipped
                .into_iter()
                .map(|s| SkippedJson {
                    id: s.id,
                    number: s.number,
                    reason: s.reason,
                })
                .collect(),
        }
    }
}

/// Withdraw available numbers from sale, by id, number, country and/or type;
/// sold and aging numbers are left as they are (admin).
#[utoipa::path(post, path = "/admin/v1/inventory/withdraw", tag = "admin",
    request_body = WithdrawInput, security(("operator_key" = [])),
    responses((status = 200, body = WithdrawReport), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    Admin(op): Admin,
    body: Bytes,
) -> Result<Json<WithdrawReport>, ApiError> {
    op.require(Access::Manage)?;
    let input: WithdrawInput = json_body(&body)?;
    if input.ids.len() + input.numbers.len() > MAX_WITHDRAW_LISTED {
        return Err(ApiError::bad_request(
            "too_many_numbers",
            "at most 1000 ids and numbers per request",
        ));
    }
    let withdrawal = Withdrawal {
        filter: NumberFilter {
            country: country(input.country.as_deref())?,
            did_type: did_type(input.did_type.as_deref())?,
            ..NumberFilter::default()
        },
        ids: input.ids,
        numbers: input.numbers,
    };
    let done = state.service.withdraw_as(Some(&op), &withdrawal).await?;
    Ok(Json(done.into()))
}
