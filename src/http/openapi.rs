//! The OpenAPI document, generated from the handlers' annotations. A copy is
//! committed as `openapi.json`; a test fails when the two drift apart.

use super::{admin, billing, calls, compat, freeswitch, order_wire, orders, routing, webhooks};
use axum::Json;
use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "didhub", description = "DID number provisioning API, compatible with the PBXme flow"),
    paths(
        compat::login,
        compat::logout,
        compat::balance,
        compat::ledger,
        compat::type_list,
        compat::available,
        compat::assign,
        compat::list,
        compat::forward,
        compat::release,
        orders::hold,
        orders::unhold,
        orders::holds,
        orders::holds_get,
        orders::order,
        billing::restore,
        billing::upcoming,
        billing::upcoming_get,
        billing::settings,
        billing::settings_get,
        billing::statement,
        billing::statement_get,
        calls::list,
        calls::record,
        routing::lookup,
        routing::kamailio,
        freeswitch::freeswitch,
        admin::accounts::create,
        admin::accounts::list,
        admin::accounts::show,
        admin::accounts::update,
        admin::accounts::delete,
        admin::accounts::reset_password,
        admin::money::credit,
        admin::money::adjust,
        admin::money::ledger,
        admin::money::balances_audit,
        admin::audit::list,
        admin::inventory::upload,
        admin::inventory::counts,
        admin::inventory::list,
        admin::inventory::reprice,
        admin::withdraw::withdraw,
        admin::numbers::show,
        admin::numbers::release,
        admin::history::history,
        admin::webhooks::create,
        admin::webhooks::list,
        admin::webhooks::remove,
        admin::webhooks::deliveries,
        webhooks::create,
        webhooks::list,
        webhooks::show,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::send_test,
        webhooks::deliveries,
        webhooks::replay,
        admin::limits::number,
        admin::limits::account,
        admin::stats::stats,
        admin::statement::statement,
    ),
    components(schemas(order_wire::OrderResponse, order_wire::QuoteResponse)),
    modifiers(&RoutingKey),
    tags(
        (name = "provisioning", description = "Search, buy, forward and release numbers"),
        (name = "billing", description = "What is coming, the low-balance threshold, monthly statements"),
        (name = "routing", description = "Where calls go, for the operator's SBC (routing key)"),
        (name = "webhooks", description = "Signed event notifications to the account's endpoints (account token)"),
        (name = "admin", description = "The operator's admin API (operator key: admin, billing, support or readonly)")
    )
)]
struct ApiDoc;

mod requests;

/// The bearer scheme of customer calls (the `token` field works too).
const ACCOUNT_TOKEN: &str = "account_token";

struct RoutingKey;

impl Modify for RoutingKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "routing_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                ACCOUNT_TOKEN,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "operator_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// 400 codes every seed API operation can answer, from reading its body.
const BODY_CODES: &str = "invalid_body, invalid_field, field_too_long, invalid_characters, \
                          unsupported_media_type";

/// The 400 codes of each seed API operation beyond `BODY_CODES`.
const BAD_REQUEST_CODES: [(&str, &str); 19] = [
    ("/api/login", "missing_credentials"),
    ("/api/logout", ""),
    ("/api/balance", ""),
    ("/api/did/type-list", ""),
    ("/api/did/list", ""),
    (
        "/api/ledger",
        "invalid_limit, invalid_cursor (limit not an integer: invalid_field)",
    ),
    (
        "/api/did/available",
        "missing_field, unknown_country, invalid_type, invalid_filter, invalid_limit, invalid_cursor",
    ),
    (
        "/api/did/assign",
        "missing_field, invalid_did_id, invalid_idempotency_key, duplicate_did_id, \
         too_many_numbers (over 100)",
    ),
    (
        "/api/did/hold",
        "missing_field, invalid_did_id, duplicate_did_id, too_many_numbers (over 10), invalid_ttl",
    ),
    (
        "/api/did/unhold",
        "missing_field, invalid_did_id, duplicate_did_id, too_many_numbers (over 20)",
    ),
    ("/api/did/holds", ""),
    (
        "/api/did/order",
        "missing_field, unknown_country, invalid_type, invalid_filter, invalid_quantity, \
         invalid_idempotency_key",
    ),
    ("/api/did/release", "missing_field, invalid_did_id"),
    ("/api/did/restore", "missing_field, invalid_did_id"),
    ("/api/billing/upcoming", "invalid_days"),
    ("/api/billing/settings", "invalid_amount"),
    (
        "/api/billing/statement",
        "missing_field, invalid_month, invalid_format",
    ),
    (
        "/api/did/forward",
        "missing_field, invalid_did_id, invalid_forward_type, invalid_destination",
    ),
    (
        "/api/did/calls",
        "invalid_did_id, invalid_limit, invalid_cursor (status, since, until: invalid_field)",
    ),
];

fn error_answer(description: &str, headers: &[(&str, &str)]) -> Value {
    let mut answer = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    for (name, what) in headers {
        answer["headers"][*name] = json!({"description": what, "schema": {"type": "string"}});
    }
    answer
}

/// The answers every seed API operation can give besides its own: bad input,
/// missing token, oversized body, database trouble.
fn add_common_answers(doc: &mut Value) {
    // The billing reads also answer GET, with the same answers.
    let operations = BAD_REQUEST_CODES
        .iter()
        .flat_map(|(path, codes)| [(*path, *codes, "post"), (*path, *codes, "get")]);
    for (path, codes, method) in operations {
        // `get_mut`, not indexing: indexing a missing method would insert it.
        let Some(operation) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(path))
            .and_then(|p| p.get_mut(method))
            .and_then(|o| o.as_object_mut())
        else {
            continue;
        };
        let listed = if codes.is_empty() {
            BODY_CODES.to_owned()
        } else {
            format!("{codes}, {BODY_CODES}")
        };
        let responses = &mut operation["responses"];
        responses["400"] = error_answer(&format!("Bad input: {listed}"), &[]);
        responses["413"] = error_answer("body_too_large: the body exceeds --max-body-bytes", &[]);
        let unavailable = if path == "/api/login" {
            "database_unavailable, or busy (too many password checks waiting): retry later"
        } else {
            "database_unavailable: retry later"
        };
        responses["503"] = error_answer(unavailable, &[("Retry-After", "Seconds to wait")]);
        if path == "/api/login" {
            responses["401"] = error_answer("invalid_credentials", &[]);
            responses["429"] = error_answer(
                "too_many_attempts: too many failed logins for this username or address",
                &[("Retry-After", "Seconds until the window ends")],
            );
        } else {
            responses["401"] = error_answer(
                "unauthorized: missing, expired or revoked token",
                &[("WWW-Authenticate", "Bearer")],
            );
            responses["429"] = error_answer(
                "too_many_attempts: too many failed authentications from this address",
                &[("Retry-After", "Seconds until the window ends")],
            );
            operation.insert("security".to_owned(), json!([{ACCOUNT_TOKEN: []}]));
        }
    }
}

/// What the annotations cannot say about single operations.
fn add_details(doc: &mut Value) {
    let answers = |names: &[&str]| {
        let refs: Vec<Value> = names
            .iter()
            .map(|n| json!({"$ref": format!("#/components/schemas/{n}")}))
            .collect();
        json!({"application/json": {"schema": {"oneOf": refs}}})
    };
    doc["paths"]["/api/did/assign"]["post"]["responses"]["200"]["content"] =
        answers(&["AssignResponse", "OrderResponse", "QuoteResponse"]);
    doc["paths"]["/api/did/assign"]["post"]["responses"]["200"]["description"] = json!(
        "AssignResponse for one did_id; OrderResponse for several (an array, a repeated \
         field) or partial=true; QuoteResponse with dry_run=true"
    );
    doc["paths"]["/api/did/order"]["post"]["responses"]["200"]["content"] =
        answers(&["OrderResponse", "QuoteResponse"]);
    for path in ["/api/did/assign", "/api/did/order"] {
        let Some(parameters) = doc["paths"][path]["post"]["parameters"].as_array_mut() else {
            continue;
        };
        for parameter in parameters {
            if parameter["name"] == "Idempotency-Key" {
                // `purchase::check_key`: 1 to 255 printable ASCII characters.
                parameter["schema"] =
                    json!({"type": "string", "pattern": r"^[!-~]{1,255}(?![\s\S])"});
            }
        }
    }
    for path in ["/v1/routing/{number}", "/v1/routing/{number}/kamailio"] {
        if let Some(parameters) = doc["paths"][path]["get"]["parameters"].as_array_mut() {
            for parameter in parameters {
                // Any text names a number (404 when nobody owns it) but control characters.
                parameter["schema"]["pattern"] = json!(requests::printable());
            }
        }
    }
    // The billing reads' query fields: any text but control characters (the
    // handlers then refuse what they cannot read, 400).
    for path in [
        "/api/billing/upcoming",
        "/api/billing/settings",
        "/api/billing/statement",
    ] {
        if let Some(parameters) = doc["paths"][path]["get"]["parameters"].as_array_mut() {
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let schema = &mut parameter["schema"];
                match name.as_str() {
                    "month" => schema["pattern"] = json!(requests::month_pattern()),
                    "format" => *schema = json!({"type": "string", "enum": ["json", "csv"]}),
                    "days" => {
                        *schema = json!({"type": "integer", "minimum": 1, "maximum": 366});
                    }
                    _ if schema["type"] == "string" => {
                        schema["pattern"] = json!(requests::printable());
                    }
                    _ => {}
                }
            }
        }
    }
    // mod_xml_curl posts many fields; the lookup reads three and ignores the rest,
    // and answers "not found" to anything it cannot read, an empty body included.
    // Control characters it refuses in every field, named or not (400 invalid_characters).
    let field = json!({"type": "string", "pattern": requests::printable()});
    doc["paths"]["/v1/routing/freeswitch"]["post"]["requestBody"] = json!({
        "required": false,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "properties": {
                "section": field,
                "Caller-Destination-Number": field,
                "destination_number": field,
                "Caller-Context": field,
                "Hunt-Context": field,
            },
            "propertyNames": field,
            "additionalProperties": field,
        }}},
    });
}

/// The routing lookups' own refusals.
fn add_routing_answers(doc: &mut Value) {
    for (path, method) in [
        ("/v1/routing/{number}", "get"),
        ("/v1/routing/{number}/kamailio", "get"),
        ("/v1/routing/freeswitch", "post"),
        ("/v1/calls", "post"),
    ] {
        let Some(responses) = doc["paths"][path][method]["responses"].as_object_mut() else {
            continue;
        };
        responses.insert(
            "401".to_owned(),
            error_answer(
                "unauthorized: a valid routing key is required",
                &[("WWW-Authenticate", "Bearer")],
            ),
        );
        responses.insert(
            "503".to_owned(),
            error_answer(
                "routing_api_disabled: the operator has not configured a routing key",
                &[],
            ),
        );
    }
}

pub fn openapi_document() -> Value {
    let mut api = ApiDoc::openapi();
    // The crate version would make the committed copy drift on every release bump.
    api.info.version = "1".to_owned();
    let mut doc = serde_json::to_value(api).unwrap_or_else(|e| json!({"error": e.to_string()}));
    requests::add_request_bodies(&mut doc);
    add_common_answers(&mut doc);
    add_routing_answers(&mut doc);
    add_details(&mut doc);
    doc
}

/// The document as committed in `openapi.json`.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_document())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub async fn serve() -> Json<Value> {
    Json(openapi_document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_operation_is_a_described_object() {
        let doc = super::openapi_document();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                assert!(operation.is_object(), "{method} {path} is {operation}");
            }
        }
    }

    #[test]
    fn the_committed_openapi_json_matches_the_code() {
        let committed = include_str!("../../openapi.json");
        assert!(
            committed.trim_end() == super::openapi_json().trim_end(),
            "openapi.json is stale: run `cargo run -- openapi > openapi.json` and commit it"
        );
    }
}
