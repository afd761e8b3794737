//! The operator console at `/operator`: signed in with an operator key, and
//! each page and form shown only to roles that may use it (the handlers
//! refuse the rest with the admin API's 403, whatever the page showed).

mod accounts;
mod audit;
mod charts;
mod dashboard;
mod history;
mod inventory;
mod login;
mod numbers;
mod withdraw;

use super::page::{Side, alert, layout, message};
use super::session::CsrfToken;
use super::unserved;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::admin::inventory::MAX_UPLOAD_BYTES;
use crate::http::error::ApiError;
use crate::service::{Error, Operator};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;

const NAV: &[(&str, &str)] = &[
    ("/operator", "Dashboard"),
    ("/operator/accounts", "Accounts"),
    ("/operator/inventory", "Inventory"),
    ("/operator/numbers", "Numbers"),
    ("/operator/audit", "Audit log"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator", get(dashboard::show).fallback(unserved))
        .route(
            "/operator/login",
            get(login::form).post(login::submit).fallback(unserved),
        )
        .route("/operator/logout", post(login::logout).fallback(unserved))
        .route(
            "/operator/accounts",
            get(accounts::list)
                .post(accounts::create)
                .fallback(unserved),
        )
        .route(
            "/operator/accounts/{id}",
            get(accounts::detail).fallback(unserved),
        )
        .route(
            "/operator/accounts/{id}/money",
            post(accounts::post_money).fallback(unserved),
        )
        .route(
            "/operator/accounts/{id}/settings",
            post(accounts::settings).fallback(unserved),
        )
        .route(
            "/operator/inventory",
            get(inventory::show).fallback(unserved),
        )
        .route(
            "/operator/inventory/upload",
            post(inventory::upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
                .fallback(unserved),
        )
        .route(
            "/operator/inventory/reprice",
            post(inventory::reprice).fallback(unserved),
        )
        .route(
            "/operator/inventory/withdraw",
            post(withdraw::withdraw).fallback(unserved),
        )
        .route("/operator/numbers", get(numbers::find).fallback(unserved))
        .route(
            "/operator/numbers/release",
            post(numbers::force_release).fallback(unserved),
        )
        .route("/operator/audit", get(audit::show).fallback(unserved))
}

/// A signed-in operator page.
fn page(csrf: &CsrfToken, title: &str, body: Markup) -> Response {
    layout(Side::Operator, title, Some((NAV, csrf)), body).into_response()
}

/// A service refusal as a page, with the admin API's status code.
fn refusal(csrf: &CsrfToken, error: Error) -> Response {
    let text = message(&error);
    let status = ApiError(error).into_response().status();
    (status, page(csrf, "Refused", alert(&text))).into_response()
}

/// The role check of the admin API: the 403 page when the role falls short.
fn refused_unless(operator: &Operator, csrf: &CsrfToken, access: Access) -> Option<Response> {
    operator
        .require(access)
        .err()
        .map(|error| refusal(csrf, error))
}

/// A link with its query string encoded.
fn query_link(path: &str, pairs: &[(&str, &str)]) -> String {
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

fn may(operator: &Operator, access: Access) -> bool {
    operator.role.allows(access)
}
