//! `GET/POST /login`, `POST /logout`: the API's login and logout, with the
//! token kept in a cookie.

use super::super::page::{Side, alert, csrf_field, layout, message};
use super::super::session::{CUSTOMER_COOKIE, ClientIp, CsrfToken, Customer, set_cookie};
use crate::http::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

fn login_page(csrf: &CsrfToken, username: &str, error: Option<&str>) -> maud::Markup {
    let body = html! {
        @if let Some(error) = error { (alert(error)) }
        form.card method="post" action="/login" {
            (csrf_field(csrf))
            label for="username" { "Username" }
            input #username name="username" type="text" autocomplete="username" required value=(username);
            label for="password" { "Password" }
            input #password name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    };
    layout(Side::Customer, "Log in", None, body)
}

pub async fn form(csrf: CsrfToken) -> Response {
    login_page(&csrf, "", None).into_response()
}

pub async fn submit(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    match state
        .service
        .login(&form.username, &form.password, ip)
        .await
    {
        Ok(outcome) => (
            [(
                header::SET_COOKIE,
                set_cookie(&headers, CUSTOMER_COOKIE, Some(&outcome.token)),
            )],
            Redirect::to("/"),
        )
            .into_response(),
        Err(error) => {
            let text = message(&error);
            let status = crate::http::error::ApiError(error).into_response().status();
            (status, login_page(&csrf, &form.username, Some(&text))).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Err(error) = state.service.logout(&customer.token).await {
        return (StatusCode::SERVICE_UNAVAILABLE, message(&error)).into_response();
    }
    (
        [(
            header::SET_COOKIE,
            set_cookie(&headers, CUSTOMER_COOKIE, None),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}
