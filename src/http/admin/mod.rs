//! The operator's admin API under `/admin/v1/`: JSON in and out, an operator
//! key as bearer. Customer tokens are never accepted here (different prefix
//! and table), and operator keys never on the customer API.

pub mod accounts;
pub mod audit;
pub mod history;
pub mod inventory;
pub mod limits;
pub mod money;
pub mod numbers;
pub mod statement;
pub mod stats;
pub mod webhooks;
pub mod withdraw;

use super::AppState;
use super::error::ApiError;
use crate::service::{Error, Operator};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Default and largest page sizes of admin lists.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(accounts::router())
        .merge(money::router())
        .merge(audit::router())
        .merge(inventory::router())
        .merge(numbers::router())
        .merge(history::router())
        .merge(limits::router())
        .merge(webhooks::router())
        .merge(stats::router())
        .merge(withdraw::router())
        .merge(statement::router())
}

/// The operator behind the request's `Authorization: Bearer` key.
pub struct Admin(pub Operator);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        let (key, source) = bearer_and_source(parts)?;
        Ok(Admin(
            state.service.authenticate_operator(key, source).await?,
        ))
    }
}

/// The `Authorization: Bearer` credential and the client's address, which
/// the failed-attempt throttles count by. Without connection info (a router
/// served without it) every caller shares one bucket: stricter, never looser.
pub(crate) fn bearer_and_source(parts: &Parts) -> Result<(&str, IpAddr), ApiError> {
    let credential = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(Error::Unauthorized))?;
    let source = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    Ok((credential, source))
}

fn invalid_body(message: String) -> ApiError {
    let code = if message.starts_with("unknown field") {
        "unknown_field"
    } else {
        "invalid_body"
    };
    ApiError::bad_request(code, message)
}

/// A JSON body, parsed after the role check so that a key without the role
/// learns nothing about the body. Unknown fields are refused by name
/// (`deny_unknown_fields` on every admin input).
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid_body(e.to_string()))?;
    refuse_control_chars_in(&value, "body")?;
    serde_json::from_value(value).map_err(|e| invalid_body(e.to_string()))
}

/// Control characters (NUL above all, which PostgreSQL cannot store) are
/// refused in every JSON string and member name, as on the customer API.
fn refuse_control_chars_in(value: &serde_json::Value, field: &str) -> Result<(), ApiError> {
    match value {
        serde_json::Value::String(text) => crate::http::input::refuse_control_chars(field, text),
        serde_json::Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_control_chars_in(item, field)),
        serde_json::Value::Object(members) => members.iter().try_for_each(|(name, item)| {
            crate::http::input::refuse_control_chars(name, "")?;
            refuse_control_chars_in(item, name)
        }),
        _ => Ok(()),
    }
}

/// Query parameters, unknown ones refused by name like body fields.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|e| invalid_body(e.to_string()))?;
    for (name, value) in &pairs {
        crate::http::input::refuse_control_chars(name, value)?;
    }
    serde_urlencoded::from_str(raw).map_err(|e| invalid_body(e.to_string()))
}

pub fn limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

pub fn cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()
}

/// An id in a path; anything else names no resource.
pub fn path_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError(Error::NotFound(format!("no resource {text}"))))
}

/// The next page's cursor: the last id, when the page was full.
pub fn next_cursor(
    ids: impl DoubleEndedIterator<Item = i64>,
    count: usize,
    limit: i64,
) -> Option<String> {
    (count as i64 == limit)
        .then(|| ids.last().map(|id| id.to_string()))
        .flatten()
}
