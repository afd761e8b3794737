//! The customer console at `/`: the same accounts, tokens and rules as the
//! provisioning API.

mod buy;
mod ledger;
mod login;
mod numbers;
mod search;

use super::page::{Side, alert, layout, message, money};
use super::session::{CsrfToken, Customer};
use super::unserved;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::service::Error;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

/// The renewal horizon the home page projects.
const PROJECTION_DAYS: i64 = 30;

const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/search", "Buy a number"),
    ("/numbers", "My numbers"),
    ("/ledger", "Ledger"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home).fallback(unserved))
        .route(
            "/login",
            get(login::form).post(login::submit).fallback(unserved),
        )
        .route("/logout", post(login::logout).fallback(unserved))
        .route("/search", get(search::show).fallback(unserved))
        .route(
            "/buy/{did_id}",
            get(buy::confirm).post(buy::submit).fallback(unserved),
        )
        .route("/numbers", get(numbers::list).fallback(unserved))
        .route("/numbers/{did_id}", get(numbers::detail).fallback(unserved))
        .route(
            "/numbers/{did_id}/forward",
            post(numbers::forward).fallback(unserved),
        )
        .route(
            "/numbers/{did_id}/release",
            get(numbers::confirm_release)
                .post(numbers::release)
                .fallback(unserved),
        )
        .route("/ledger", get(ledger::show).fallback(unserved))
        .route("/ledger.csv", get(ledger::csv).fallback(unserved))
}

/// A signed-in customer page.
fn page(csrf: &CsrfToken, title: &str, body: Markup) -> Response {
    layout(Side::Customer, title, Some((NAV, csrf)), body).into_response()
}

/// A service refusal as a page, with the API's status code.
fn refusal(csrf: &CsrfToken, error: Error) -> Response {
    let text = message(&error);
    let status = ApiError(error).into_response().status();
    (status, page(csrf, "Something went wrong", alert(&text))).into_response()
}

async fn home(State(state): State<AppState>, customer: Customer, csrf: CsrfToken) -> Response {
    let service = &state.service;
    let account = match service.account_summary(customer.account_id).await {
        Ok(account) => account,
        Err(e) => return refusal(&csrf, e),
    };
    let projection = match service
        .renewal_projection(customer.account_id, PROJECTION_DAYS * 86_400)
        .await
    {
        Ok(projection) => projection,
        Err(e) => return refusal(&csrf, e),
    };
    let after = account.balance_minor - projection.total_minor;
    let body = html! {
        p { "Signed in as " strong { (account.username) } "." }
        dl.figures {
            div { dt { "Balance" } dd #balance { (money(account.currency, account.balance_minor)) } }
            div {
                dt { "Renewals in the next " (PROJECTION_DAYS) " days" }
                dd #projection { (money(account.currency, projection.total_minor))
                    " (" (projection.renewals) " monthly charges)" }
            }
            div { dt { "Balance after them" } dd { (money(account.currency, after)) } }
        }
        @if after < 0 {
            (alert("Your balance does not cover the coming renewals: numbers that cannot renew are taken back after a grace period."))
        }
        p { a.button href="/search" { "Buy a number" } " " a href="/numbers" { "See my numbers" } }
    };
    page(&csrf, "Overview", body)
}
