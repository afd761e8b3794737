//! Call records. `POST /v1/calls`: the operator's SBC reports calls (routing
//! key). `POST /api/did/calls`: a customer lists the calls to their numbers.

use super::AppState;
use super::compat::account_of;
use super::error::{ApiError, ErrorBody, error_response};
use super::input::ApiInput;
use super::routing::{e164, refusal};
use crate::domain::billing::rfc3339;
use crate::domain::call::{Outcome, parse_report};
use crate::service::{Call, CallQuery, Recorded};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

fn invalid(message: impl std::fmt::Display) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "invalid_call_record",
        &message.to_string(),
    )
}

/// The JSON document of a report. mod_json_cdr posts it as the `cdr` field of
/// a form, URL-encoded (`encode=true`, its default) or base64 (`encode=base64`);
/// Kamailio and mod_json_cdr with `encode=false` post it as is.
fn document(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // Kamailio's http_client_query posts the JSON with curl's default form
    // content type: a body that opens an object is read as JSON whatever it says.
    let looks_like_json = body.trim_ascii_start().starts_with(b"{");
    let json = if content_type.starts_with("application/x-www-form-") && !looks_like_json {
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| "the form cannot be read".to_owned())?;
        let cdr = fields
            .into_iter()
            .find(|(name, _)| name == "cdr")
            .map(|(_, value)| value)
            .ok_or_else(|| "the form has no cdr field".to_owned())?;
        if content_type.starts_with("application/x-www-form-base64-encoded") {
            base64::engine::general_purpose::STANDARD
                .decode(cdr.trim())
                .map_err(|_| "the cdr field is not base64".to_owned())?
        } else {
            cdr.into_bytes()
        }
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&json).map_err(|e| format!("not JSON: {e}"))
}

#[derive(Serialize, ToSchema)]
pub struct RecordedJson {
    /// `recorded` (a new call), `merged` (into the call with this Call-ID) or
    /// `ignored` (nobody owns the dialled number; nothing is stored).
    pub status: String,
    pub call_id: String,
}

/// Report a call: a Kamailio `acc_json` record or CDR, or a FreeSWITCH
/// `mod_json_cdr` document. Reports of one Call-ID merge into one call.
#[utoipa::path(post, path = "/v1/calls", tag = "routing",
    request_body(content = serde_json::Value, description = "acc_json record (callid, sip_code, time, and a did extra), acc_json CDR (start_time, end_time, duration, callid and did extras), or a mod_json_cdr document (also as the form field cdr)"),
    security(("routing_key" = [])),
    responses((status = 200, body = RecordedJson),
              (status = 400, description = "invalid_call_record", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 409, description = "conflict: the same call reported concurrently; retry", body = ErrorBody)))]
pub async fn record(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = refusal(&state, &headers) {
        return denied;
    }
    let report =
        match document(&headers, &body).and_then(|d| parse_report(&d).map_err(|e| e.to_string())) {
            Ok(report) => report,
            Err(message) => return invalid(message),
        };
    let recorded = match e164(&report.dialled) {
        Some(number) => state.service.record_call(&report, &number).await,
        None => Ok(Recorded::Ignored),
    };
    let status = match recorded {
        Ok(Recorded::New) => "recorded",
        Ok(Recorded::Merged) => "merged",
        Ok(Recorded::Ignored) => "ignored",
        Err(error) => return ApiError(error).into_response(),
    };
    Json(RecordedJson {
        status: status.to_owned(),
        call_id: report.call_id,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct CallJson {
    pub id: i64,
    pub call_id: String,
    pub did_id: i64,
    pub did_number: String,
    /// The caller (From user) as the SBC reported it.
    pub from: Option<String>,
    /// answered, missed (busy, no answer, declined, cancelled) or failed.
    pub status: String,
    /// The final SIP answer, when reported.
    pub sip_code: Option<i64>,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// Seconds talked; 0 unless answered.
    pub duration_seconds: i64,
}

impl From<&Call> for CallJson {
    fn from(call: &Call) -> CallJson {
        CallJson {
            id: call.id,
            call_id: call.call_id.clone(),
            did_id: call.did_id,
            did_number: call.number.clone(),
            from: call.caller.clone(),
            status: call.outcome.code().to_owned(),
            sip_code: call.sip_code,
            started_at: rfc3339(call.started_at),
            answered_at: call.answered_at.map(rfc3339),
            ended_at: call.ended_at.map(rfc3339),
            duration_seconds: call.duration_secs,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CallsResponse {
    pub count: usize,
    pub calls: Vec<CallJson>,
    pub next_cursor: Option<String>,
}

/// Largest `since`/`until` accepted (as the OpenAPI document says).
const MAX_UNIX_TIME: i64 = 99_999_999_999;

fn query_of(input: &ApiInput) -> Result<CallQuery, ApiError> {
    let limit = input.optional_int("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let outcome = input
        .optional("status")
        .map(|s| {
            Outcome::parse(s.trim()).ok_or_else(|| {
                ApiError::bad_request("invalid_field", "status must be answered, missed or failed")
            })
        })
        .transpose()?;
    let before_id = input
        .optional("cursor")
        .map(|c| {
            c.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()?;
    let time = |name: &'static str| -> Result<Option<i64>, ApiError> {
        match input.optional_int(name)? {
            Some(t) if !(0..=MAX_UNIX_TIME).contains(&t) => Err(ApiError::bad_request(
                "invalid_field",
                format!("{name} must be unix seconds, 0 to {MAX_UNIX_TIME}"),
            )),
            t => Ok(t),
        }
    };
    Ok(CallQuery {
        did_id: input
            .optional("did_id")
            .map(|_| input.positive_id("did_id"))
            .transpose()?,
        outcome,
        caller: input.optional("from").map(|f| f.trim().to_owned()),
        since: time("since")?,
        until: time("until")?,
        before_id,
        limit,
    })
}

/// The calls to the account's numbers, newest first: all, or one number's
/// (`did_id`), filtered by caller (`from`), `status` and start time.
#[utoipa::path(post, path = "/api/did/calls", tag = "provisioning",
    responses((status = 200, body = CallsResponse),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, description = "did_not_found: not a number of this account", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    input: ApiInput,
) -> Result<Json<CallsResponse>, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let query = query_of(&input)?;
    if let Some(did_id) = query.did_id {
        state.service.owned_number(account_id, did_id).await?;
    }
    let calls = state.service.calls(account_id, &query).await?;
    let next_cursor = (calls.len() as i64 == query.limit)
        .then(|| calls.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(CallsResponse {
        count: calls.len(),
        calls: calls.iter().map(CallJson::from).collect(),
        next_cursor,
    }))
}
