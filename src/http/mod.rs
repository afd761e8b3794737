//! The HTTP API: thin handlers that parse, call the service and map errors.

pub mod admin;
pub(crate) mod billing;
mod calls;
mod compat;
mod console;
pub mod error;
mod freeswitch;
mod input;
mod metrics;
mod openapi;
mod order_wire;
mod orders;
mod routing;
pub mod server;
mod webhooks;
mod wire;

use crate::service::Service;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use billing::statement_csv;
use error::{ApiError, error_response};
pub use openapi::{openapi_document, openapi_json};
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The operator's key for the routing lookups; `None` turns them off.
    pub routing_key: Option<Arc<str>>,
    /// The key that opens `/metrics`; `None` when it is off.
    pub metrics_key: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub routing_key: Option<String>,
    /// Key for `/metrics`; without it the routing key opens it, and without
    /// either `/metrics` is off.
    pub metrics_key: Option<String>,
    /// Timeouts and the connection limit of the accept loop.
    pub connections: server::ConnectionLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 64 * 1024,
            routing_key: None,
            metrics_key: None,
            connections: server::ConnectionLimits::default(),
        }
    }
}

pub fn router(service: Service, settings: &HttpSettings) -> Router {
    let metrics_key = settings
        .metrics_key
        .as_deref()
        .or(settings.routing_key.as_deref());
    let mut router = Router::new()
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
        // Holds, bulk orders and quotes.
        .route("/api/did/hold", post(orders::hold))
        .route("/api/did/unhold", post(orders::unhold))
        .route("/api/did/holds", post(orders::holds).get(orders::holds_get))
        .route("/api/did/order", post(orders::order))
        .route("/api/did/calls", post(calls::list))
        .route("/v1/calls", post(calls::record))
        .route("/v1/routing/freeswitch", post(freeswitch::freeswitch))
        // Suspension, restore and statements (issue 12).
        .route("/api/did/restore", post(billing::restore))
        .route(
            "/api/billing/upcoming",
            get(billing::upcoming_get).post(billing::upcoming),
        )
        .route(
            "/api/billing/settings",
            get(billing::settings_get).post(billing::settings),
        )
        .route(
            "/api/billing/statement",
            get(billing::statement_get).post(billing::statement),
        )
        .route("/v1/routing/{number}", get(routing::lookup))
        .route("/v1/routing/{number}/kamailio", get(routing::kamailio))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(healthz))
        .merge(admin::router())
        .merge(webhooks::router())
        .merge(console::router())
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Without a key nothing is recorded either: no cost when nobody reads.
    // (Layered after the fallback, so that unmatched paths count too.)
    if metrics_key.is_some() {
        metrics::install();
        router = router.layer(middleware::from_fn(metrics::track));
    }
    router
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                // 5xx answers are logged by `log_response`, once.
                .on_failure(()),
        )
        .with_state(AppState {
            service,
            routing_key: settings.routing_key.as_deref().map(Arc::from),
            metrics_key: metrics_key.map(Arc::from),
        })
}

/// The span of a request: method and path, never the query string (it may
/// hold a token) nor headers or body. Health probes get no span, which
/// `log_response` takes as "log at debug": they come every few seconds.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return tracing::Span::none();
    }
    tracing::info_span!("request", method = %request.method(), path)
}

/// One line per answer: status and latency at info, 5xx at error. Refusals
/// (4xx) are routine and stay at info.
fn log_response(response: &Response, latency: Duration, span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if span.is_none() {
        tracing::debug!(status, latency_ms, "health probe answered");
    } else if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "answered");
    } else {
        tracing::info!(status, latency_ms, "answered");
    }
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
