//! The web console: server-rendered pages for customers (`/`) and operators
//! (`/operator`). Every action calls the same service functions as the JSON
//! API; forms work without JavaScript, and `assets/console.js` only adds
//! progress and confirmation niceties.

mod customer;
mod operator;
mod page;
mod session;

use super::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// No inline script or style, nothing from elsewhere, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(customer::router())
        .merge(operator::router())
        .route("/console/console.css", get(css))
        .route("/console/console.js", get(js))
        .layer(middleware::from_fn(session::ensure_csrf_cookie))
        .layer(middleware::from_fn(security_headers))
}

/// A method a console page does not take answers as the path did before
/// the console existed: the API's 404 `not_found` (so `POST /` is unchanged).
async fn unserved() -> Response {
    super::not_found().await
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
