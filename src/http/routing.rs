//! Routing lookups for the operator's own SBC (Kamailio, OpenSIPS, FreeSWITCH):
//! where a call to a DID goes, from the in-memory route table. Protected by the
//! operator's routing key, never by a customer token.

use super::AppState;
use super::error::error_response;
use crate::domain::text::refused_char;
use crate::service::{Destination, Limits, Route};
use crate::sip::number::{Scratch, to_e164};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Normalises the `{number}` of a lookup URL as the SIP server reads a
/// Request-URI (`+33…`, `0033…`, `011…`, `%2B33…`, `+33 (0)1…`, a national
/// number with its `;phone-context=+33`), also accepting digits with the
/// separators people type.
pub(super) fn e164(text: &str) -> Option<String> {
    let mut scratch: Scratch = Default::default();
    to_e164(text.trim().as_bytes(), &mut scratch)
        .map(|number| number.into_owned())
        .or_else(|| plain_e164(text))
}

fn plain_e164(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let digits: String = trimmed
        .strip_prefix('+')
        .or_else(|| trimmed.strip_prefix("00"))
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    (!digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{digits}"))
}

/// The key from `Authorization: Bearer …`, HTTP Basic (password; what
/// mod_xml_curl sends) or `X-Routing-Key`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = headers.get("x-routing-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_owned());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, value) = authorization.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text
            .split_once(':')
            .map(|(_, password)| password.to_owned());
    }
    None
}

/// The refusal to send when the request lacks the routing key, if it does.
pub(super) fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = state.routing_key.as_deref() else {
        return Some(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "routing_api_disabled",
            "the operator has not configured a routing key",
        ));
    };
    let presented = presented_key(headers).unwrap_or_default();
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        None
    } else {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid routing key is required",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        Some(response)
    }
}

/// The route of `number` for a caller holding the routing key; otherwise the
/// answer to send (401/503, or 404 when nobody owns the number).
fn authorised_route(
    state: &AppState,
    headers: &HeaderMap,
    number: &str,
) -> Result<Arc<Route>, Box<Response>> {
    if let Some(denied) = refusal(state, headers) {
        return Err(Box::new(denied));
    }
    if let Some(refused) = control_char_refusal([("number", number)]) {
        return Err(Box::new(refused));
    }
    e164(number)
        .and_then(|n| state.service.route(&n))
        .ok_or_else(|| {
            Box::new(error_response(
                StatusCode::NOT_FOUND,
                "did_not_found",
                "nobody owns this number",
            ))
        })
}

/// A 400 `invalid_characters` naming the first field that carries a control
/// character: such text is no number and, echoed into XML, not even a document.
pub(super) fn control_char_refusal<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Response> {
    fields.into_iter().find_map(|(name, value)| {
        let c = refused_char(name).or_else(|| refused_char(value))?;
        Some(error_response(
            StatusCode::BAD_REQUEST,
            "invalid_characters",
            &format!(
                "field {:.64} contains the control character {c:?}",
                name.escape_debug().to_string()
            ),
        ))
    })
}

#[derive(Serialize, ToSchema)]
pub struct RouteAccountJson {
    pub id: i64,
    pub username: String,
}

/// One destination, in the order calls try them.
#[derive(Serialize, ToSchema)]
pub struct RouteForwardJson {
    /// extension, pstn, sip, access_number or ip.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where calls go (`sip:`, `sips:` or `tel:` URI).
    pub target: String,
    /// Seconds it rings before the next destination is tried; null: no limit of its own.
    pub timeout_seconds: Option<u16>,
}

/// Maximum concurrent calls the SBC should allow; null: no limit.
#[derive(Serialize, ToSchema)]
pub struct RouteLimitsJson {
    pub number_max_calls: Option<i64>,
    pub account_max_calls: Option<i64>,
}

impl From<Limits> for RouteLimitsJson {
    fn from(limits: Limits) -> RouteLimitsJson {
        RouteLimitsJson {
            number_max_calls: limits.number_max_calls,
            account_max_calls: limits.account_max_calls,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RouteJson {
    /// The DID, E.164.
    pub did: String,
    pub did_id: i64,
    /// `forwarded`, or `not_forwarded` (answer the call 480).
    pub status: String,
    /// The first destination's type; null when not forwarded.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The first destination (`sip:`, `sips:` or `tel:` URI); null when not forwarded.
    pub target: Option<String>,
    /// Every destination, in order; empty when not forwarded.
    pub forwards: Vec<RouteForwardJson>,
    pub limits: RouteLimitsJson,
    pub account: RouteAccountJson,
}

/// Where a call to a DID goes.
#[utoipa::path(get, path = "/v1/routing/{number}", tag = "routing",
    params(("number" = String, Path, description = "The DID: +33123456789, 33123456789 or 0033123456789")),
    security(("routing_key" = [])),
    responses((status = 200, description = "Owned: `status` says whether (and `forwards` where) calls go", body = RouteJson),
              (status = 400, description = "invalid_characters: a control character in the number", body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody),
              (status = 404, description = "did_not_found: nobody owns this number", body = super::error::ErrorBody)))]
pub async fn lookup(
    State(state): State<AppState>,
    Path(number): Path<String>,
    headers: HeaderMap,
) -> Response {
    let route = match authorised_route(&state, &headers, &number) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    axum::Json(RouteJson {
        did: route.did.to_string(),
        did_id: route.did_id,
        status: route.status().code().to_owned(),
        kind: route.first().map(|d| d.kind.code().to_owned()),
        target: route.first().map(|d| d.contact.to_string()),
        forwards: route
            .destinations
            .iter()
            .map(|d| RouteForwardJson {
                kind: d.kind.code().to_owned(),
                target: d.contact.to_string(),
                timeout_seconds: d.timeout_seconds,
            })
            .collect(),
        limits: route.limits.into(),
        account: RouteAccountJson {
            id: route.account_id,
            username: route.username.to_string(),
        },
    })
    .into_response()
}

/// Kamailio `rtjson` routing document (fetch with `http_client_query`, then
/// `rtjson_init_routes`): one serial route per destination, in order, each
/// carrying the dialled DID in a `Diversion` header (applied by
/// `rtjson_update_branch` in a `branch_route`) and its ring timeout as
/// `fr_timer`/`fr_inv_timer` (ms, read by rtjson per branch). The `didhub`
/// member (ignored by rtjson) carries the status and the limits for the script.
#[utoipa::path(get, path = "/v1/routing/{number}/kamailio", tag = "routing",
    params(("number" = String, Path, description = "The DID")),
    security(("routing_key" = [])),
    responses((status = 200, description = "rtjson document; `routes` is empty unless `didhub.status` is `forwarded` (answer 480)"),
              (status = 400, description = "invalid_characters: a control character in the number", body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody),
              (status = 404, description = "did_not_found: nobody owns this number", body = super::error::ErrorBody)))]
pub async fn kamailio(
    State(state): State<AppState>,
    Path(number): Path<String>,
    headers: HeaderMap,
) -> Response {
    let route = match authorised_route(&state, &headers, &number) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let diversion = format!(
        "Diversion: <sip:{}@{}>;reason=unconditional\r\n",
        route.did,
        state.service.settings().routing.diversion_host()
    );
    let routes: Vec<serde_json::Value> = route
        .destinations
        .iter()
        .map(|d| rtjson_route(d, &diversion))
        .collect();
    axum::Json(serde_json::json!({
        "version": "1.0",
        "routing": "serial",
        "routes": routes,
        "didhub": {
            "status": route.status().code(),
            "did": &*route.did,
            "account_id": route.account_id,
            "number_max_calls": route.limits.number_max_calls,
            "account_max_calls": route.limits.account_max_calls,
        },
    }))
    .into_response()
}

/// One rtjson route. The ring timeout bounds both the wait for a first
/// answer (`fr_timer`) and the ringing (`fr_inv_timer`), so that a dead
/// destination fails over as soon as one that does not pick up.
fn rtjson_route(destination: &Destination, diversion: &str) -> serde_json::Value {
    let mut route = serde_json::json!({
        "uri": &*destination.contact,
        "headers": { "extra": diversion },
    });
    if let Some(seconds) = destination.timeout_seconds {
        let ms = u32::from(seconds) * 1000;
        route["fr_timer"] = ms.into();
        route["fr_inv_timer"] = ms.into();
    }
    route
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_numbers_normalise_to_e164() {
        for text in [
            "+33123456789",
            "33123456789",
            "0033123456789",
            "+33 1-23.45(67)89",
        ] {
            assert_eq!(e164(text).as_deref(), Some("+33123456789"), "{text}");
        }
        for bad in ["", "+", "abc", "+331234567890123456", "sip:+33123456789@x"] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }
}
