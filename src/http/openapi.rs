//! The OpenAPI document, generated from the handlers' annotations. A copy is
//! committed as `openapi.json`; a test fails when the two drift apart.

use super::{admin, compat, routing};
use axum::Json;
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
        routing::lookup,
        routing::kamailio,
        routing::freeswitch,
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
        admin::numbers::show,
        admin::numbers::release,
        admin::stats::stats,
    ),
    modifiers(&RoutingKey),
    tags(
        (name = "provisioning", description = "Search, buy, forward and release numbers"),
        (name = "routing", description = "Where calls go, for the operator's SBC (routing key)"),
        (name = "admin", description = "The operator's admin API (operator key: admin, billing, support or readonly)")
    )
)]
struct ApiDoc;

struct RoutingKey;

impl Modify for RoutingKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "routing_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "operator_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed copy drift on every release bump.
    doc.info.version = "1".to_owned();
    doc
}

/// The document as committed in `openapi.json`.
pub fn openapi_json() -> String {
    openapi_document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_openapi_json_matches_the_code() {
        let committed = include_str!("../../openapi.json");
        assert!(
            committed.trim_end() == super::openapi_json().trim_end(),
            "openapi.json is stale: run `cargo run -- openapi > openapi.json` and commit it"
        );
    }
}
