//! `GET/POST /operator/login`, `POST /operator/logout`: the operator key,
//! checked as the admin API checks it, kept in an HttpOnly cookie.

use super::super::page::{Side, alert, csrf_field, layout, message};
use super::super::session::{ClientIp, CsrfToken, OPERATOR_COOKIE, set_cookie};
use crate::http::AppState;
use crate::http::error::ApiError;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
}

fn login_page(csrf: &CsrfToken, error: Option<&str>) -> maud::Markup {
    let body = html! {
        @if let Some(error) = error { (alert(error)) }
        form.card method="post" action="/operator/login" {
            (csrf_field(csrf))
            label for="key" { "Operator key" }
            input #key name="key" type="password" autocomplete="off" required;
            p.hint { "Made with " code { "didhub operator key create" } "." }
            button type="submit" { "Sign in" }
        }
    };
    layout(Side::Operator, "Operator sign-in", None, body)
}

pub async fn form(csrf: CsrfToken) -> Response {
    login_page(&csrf, None).into_response()
}

pub async fn submit(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    let key = form.key.trim();
    match state.service.authenticate_operator(key, ip).await {
        Ok(_) => (
            [(
                header::SET_COOKIE,
                set_cookie(&headers, OPERATOR_COOKIE, Some(key)),
            )],
            Redirect::to("/operator"),
        )
            .into_response(),
        Err(error) => {
            let text = message(&error);
            let status = ApiError(error).into_response().status();
            (status, login_page(&csrf, Some(&text))).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(csrf: CsrfToken, headers: HeaderMap, Form(form): Form<CsrfOnly>) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    (
        [(
            header::SET_COOKIE,
            set_cookie(&headers, OPERATOR_COOKIE, None),
        )],
        Redirect::to("/operator/login"),
    )
        .into_response()
}
