//! Routing lookups for the operator's own SBC (Kamailio, OpenSIPS, FreeSWITCH):
//! where a call to a DID goes, from the in-memory route table. Protected by the
//! operator's routing key, never by a customer token.

use super::AppState;
use super::error::error_response;
use crate::domain::text::refused_char;
use crate::service::Route;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Normalises the `{number}` of a lookup URL: `+33…`, `33…`, `0033…`, with
/// separators, all name the same DID.
pub(super) fn e164(text: &str) -> Option<String> {
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
fn control_char_refusal<'a>(
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

#[derive(Serialize, ToSchema)]
pub struct RouteJson {
    /// The DID, E.164.
    pub did: String,
    pub did_id: i64,
    /// `forwarded` or `not_forwarded`.
    pub status: String,
    /// extension, pstn, sip, access_number or ip; null when not forwarded.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Where calls go (`sip:`, `sips:` or `tel:` URI); null when not forwarded.
    pub target: Option<String>,
    pub account: RouteAccountJson,
}

/// Where a call to a DID goes.
#[utoipa::path(get, path = "/v1/routing/{number}", tag = "routing",
    params(("number" = String, Path, description = "The DID: +33123456789, 33123456789 or 0033123456789")),
    security(("routing_key" = [])),
    responses((status = 200, body = RouteJson),
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
        status: if route.contact.is_some() {
            "forwarded"
        } else {
            "not_forwarded"
        }
        .to_owned(),
        kind: route.kind.map(|k| k.code().to_owned()),
        target: route.contact.as_deref().map(str::to_owned),
        account: RouteAccountJson {
            id: route.account_id,
            username: route.username.to_string(),
        },
    })
    .into_response()
}

/// Kamailio `rtjson` routing document (fetch with `http_async_query`, then
/// `rtjson_init_routes`): one serial route to the target, carrying the dialled
/// DID in a `Diversion` header.
#[utoipa::path(get, path = "/v1/routing/{number}/kamailio", tag = "routing",
    params(("number" = String, Path, description = "The DID")),
    security(("routing_key" = [])),
    responses((status = 200, description = "rtjson document"),
              (status = 400, description = "invalid_characters: a control character in the number", body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody),
              (status = 404, description = "did_not_found, or not_forwarded (reply 480)", body = super::error::ErrorBody)))]
pub async fn kamailio(
    State(state): State<AppState>,
    Path(number): Path<String>,
    headers: HeaderMap,
) -> Response {
    let route = match authorised_route(&state, &headers, &number) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let Some(contact) = route.contact.as_deref() else {
        return error_response(
            StatusCode::NOT_FOUND,
            "not_forwarded",
            "the number is not forwarded anywhere",
        );
    };
    axum::Json(serde_json::json!({
        "version": "1.0",
        "routing": "serial",
        "routes": [{
            "uri": contact,
            "headers": {
                "extra": format!("Diversion: <sip:{}@didhub.invalid>;reason=unconditional\r\n", route.did),
            },
        }],
    }))
    .into_response()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

const XML_NOT_FOUND: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
<document type=\"freeswitch/xml\">\n  <section name=\"result\">\n    <result status=\"not found\"/>\n  </section>\n</document>\n";

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// FreeSWITCH `mod_xml_curl` dialplan binding: answers the dialplan section
/// with an extension that bridges the call to the DID's target (PSTN targets
/// without a gateway are transferred to the same context, for FreeSWITCH's own
/// PSTN routing). Unknown or unforwarded numbers get the standard "not found".
#[utoipa::path(post, path = "/v1/routing/freeswitch", tag = "routing",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "mod_xml_curl's fields: section, Caller-Destination-Number (or destination_number), Caller-Context"),
    security(("routing_key" = [])),
    responses((status = 200, description = "freeswitch/xml document", content_type = "text/xml"),
              (status = 400, description = "invalid_characters: a control character in a field", body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody)))]
pub async fn freeswitch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = refusal(&state, &headers) {
        return denied;
    }
    let fields: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refused) =
        control_char_refusal(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        return refused;
    }
    if fields.get("section").is_some_and(|s| s != "dialplan") {
        return xml(XML_NOT_FOUND.to_owned());
    }
    let dialled = fields
        .get("Caller-Destination-Number")
        .or_else(|| fields.get("destination_number"))
        .map(String::as_str)
        .unwrap_or("");
    let context = fields
        .get("Caller-Context")
        .or_else(|| fields.get("Hunt-Context"))
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or("public");
    let Some(route) = e164(dialled).and_then(|n| state.service.route(&n)) else {
        return xml(XML_NOT_FOUND.to_owned());
    };
    let Some(contact) = route.contact.as_deref() else {
        return xml(XML_NOT_FOUND.to_owned());
    };
    let action = match contact.strip_prefix("tel:") {
        Some(number) => format!(
            "<action application=\"transfer\" data=\"{} XML {}\"/>",
            xml_escape(number),
            xml_escape(context)
        ),
        None => format!(
            "<action application=\"bridge\" data=\"sofia/external/{}\"/>",
            xml_escape(contact)
        ),
    };
    let digits = route.did.trim_start_matches('+');
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
<document type=\"freeswitch/xml\">\n  <section name=\"dialplan\" description=\"didhub\">\n    <context name=\"{context}\">\n      \
<extension name=\"didhub_{digits}\">\n        <condition field=\"destination_number\" expression=\"^(\\+|00)?{digits}$\">\n          \
<action application=\"set\" data=\"sip_h_Diversion=&lt;sip:{did}@didhub.invalid&gt;;reason=unconditional\"/>\n          \
{action}\n        </condition>\n      </extension>\n    </context>\n  </section>\n</document>\n",
        context = xml_escape(context),
        did = xml_escape(&route.did),
    ))
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

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }
}
