//! FreeSWITCH dialplan lookups: mod_xml_curl posts the channel's fields and
//! mod_dialplan_xml runs the `<context>` we answer. The hunt happens on
//! `Hunt-Destination-Number` in `Hunt-Context` (after a transfer these differ
//! from the `Caller-*` fields), so those are read first and the answer's
//! context is the one the request hunts in.

use super::AppState;
use super::routing::{control_char_refusal, e164, refusal};
use crate::service::{Destination, Route};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

const XML_NOT_FOUND: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
<document type=\"freeswitch/xml\">\n  <section name=\"result\">\n    <result status=\"not found\"/>\n  </section>\n</document>\n";

/// The fields naming the dialled number, most specific first: the hunt's,
/// the caller profile's, then the user part of the INVITE's Request-URI.
const DIALLED_FIELDS: [&str; 4] = [
    "Hunt-Destination-Number",
    "Caller-Destination-Number",
    "destination_number",
    "variable_sip_req_user",
];
const CONTEXT_FIELDS: [&str; 3] = ["Hunt-Context", "Caller-Context", "context"];

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

pub(super) fn xml_escape(text: &str) -> String {
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

/// `text` as a PCRE matching exactly it: every character but letters and
/// digits escaped.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn first_field<'a>(fields: &'a HashMap<String, String>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| fields.get(*name))
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

/// mod_xml_curl dialplan lookup: a `freeswitch/xml` document whose context
/// sets `Diversion`, applies the capacity limits and bridges to every
/// destination in turn; "not found" for other sections, unknown numbers and
/// numbers forwarded nowhere.
#[utoipa::path(post, path = "/v1/routing/freeswitch", tag = "routing",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "mod_xml_curl's fields: section, Hunt-Destination-Number and Hunt-Context (else Caller-Destination-Number, Caller-Context), variable_sip_req_user"),
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
    let dialled = first_field(&fields, &DIALLED_FIELDS[..3]).unwrap_or("");
    let context = first_field(&fields, &CONTEXT_FIELDS).unwrap_or("public");
    // The hunted number first; the Request-URI's user when the dialplan
    // rewrote it into a form that names no DID.
    let route = DIALLED_FIELDS
        .iter()
        .filter_map(|name| fields.get(*name))
        .find_map(|number| e164(number).and_then(|n| state.service.route(&n)));
    match route.filter(|r| !r.destinations.is_empty()) {
        Some(route) => xml(dialplan(&state, &route, dialled, context)),
        None => xml(XML_NOT_FOUND.to_owned()),
    }
}

/// One leg of the bridge: a SIP URI through the sofia profile, a `tel:`
/// number back through the dialplan (mod_loopback) in the request's context.
fn leg(destination: &Destination, profile: &str, context: &str) -> String {
    let timeout = destination
        .timeout_seconds
        .map(|seconds| format!("[leg_timeout={seconds}]"))
        .unwrap_or_default();
    match destination.contact.strip_prefix("tel:") {
        Some(number) => format!("{timeout}loopback/{number}/{context}"),
        None => format!("{timeout}sofia/{profile}/{}", destination.contact),
    }
}

/// The `limit` actions: FreeSWITCH counts the calls in its `hash` backend
/// and hangs up with USER_BUSY (486) past the maximum.
fn limit_actions(route: &Route) -> String {
    let limits = [
        (
            format!("number_{}", route.did.trim_start_matches('+')),
            route.limits.number_max_calls,
        ),
        (
            format!("account_{}", route.account_id),
            route.limits.account_max_calls,
        ),
    ];
    limits
        .iter()
        .filter_map(|(resource, max)| {
            max.map(|max| {
                format!(
                    "          <action application=\"limit\" data=\"hash didhub {resource} {max} !USER_BUSY\"/>\n"
                )
            })
        })
        .collect()
}

fn dialplan(state: &AppState, route: &Route, dialled: &str, context: &str) -> String {
    let policy = &state.service.settings().routing;
    let bridge: Vec<String> = route
        .destinations
        .iter()
        .map(|d| leg(d, policy.freeswitch_profile(), context))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
<document type=\"freeswitch/xml\">\n  <section name=\"dialplan\" description=\"didhub\">\n    <context name=\"{context}\">\n      \
<extension name=\"didhub_{digits}\">\n        <condition field=\"destination_number\" expression=\"^{expression}$\">\n          \
<action application=\"set\" data=\"sip_h_Diversion=&lt;sip:{did}@{host}&gt;;reason=unconditional\"/>\n\
{limits}          <action application=\"bridge\" data=\"{bridge}\"/>\n        </condition>\n      </extension>\n    </context>\n  </section>\n</document>\n",
        context = xml_escape(context),
        digits = route.did.trim_start_matches('+'),
        expression = xml_escape(&regex_literal(dialled)),
        did = xml_escape(&route.did),
        host = xml_escape(policy.diversion_host()),
        limits = limit_actions(route),
        bridge = xml_escape(&bridge.join("|")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn dialled_numbers_become_literal_expressions() {
        assert_eq!(regex_literal("+33 (0)1"), "\\+33\\ \\(0\\)1");
        assert_eq!(regex_literal("0123"), "0123");
    }
}
