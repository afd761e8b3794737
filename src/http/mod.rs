//! The HTTP API: thin handlers that parse, call the service and map errors.

pub mod admin;
mod compat;
pub mod error;
mod input;
mod openapi;
mod routing;
mod wire;

use crate::service::Service;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use error::{ApiError, error_response};
pub use openapi::{openapi_document, openapi_json};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The operator's key for the routing lookups; `None` turns them off.
    pub routing_key: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub routing_key: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 64 * 1024,
            routing_key: None,
        }
    }
}

pub fn router(service: Service, settings: &HttpSettings) -> Router {
    Router::new()
        .route("/api/login", post(compat::login))
        .route("/api/logout", post(compat::logout))
        .route("/api/balance", post(compat::balance))
        .route("/api/ledger", post(compat::ledger))
        .route("/api/did/type-list", post(compat::type_list))
        .route("/api/did/available", post(compat::available))
        .route("/api/did/assign", post(compat::assign))
        .route("/api/did/list", post(compat::list))
        .route("/api/did/forward", post(compat::forward))
        .route("/api/did/release", post(compat::release))
        .route("/v1/routing/freeswitch", post(routing::freeswitch))
        .route("/v1/routing/{number}", get(routing::lookup))
        .route("/v1/routing/{number}/kamailio", get(routing::kamailio))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(healthz))
        .merge(admin::router())
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(AppState {
            service,
            routing_key: settings.routing_key.as_deref().map(Arc::from),
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.service.ready().await?;
    Ok("ready")
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    // The admin API is REST (GET, POST, PATCH, DELETE); the rest takes POST.
    let message = if uri.path().starts_with("/admin/") {
        "this admin endpoint does not take this method: see /openapi.json"
    } else {
        "this endpoint takes POST"
    };
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
    .into_response()
}
