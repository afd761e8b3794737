//! Cookies, sessions and CSRF for the console. A customer's session cookie
//! holds the same bearer token the API hands out at login (so logging out
//! revokes it for both); an operator's holds the operator key. Both are
//! HttpOnly and SameSite=Strict, and Secure when the request came over TLS.
//! Every form carries the value of a separate random CSRF cookie (the
//! double-submit pattern), compared in constant time.

use crate::http::AppState;
use crate::service::Operator;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use subtle::ConstantTimeEq;

pub const CUSTOMER_COOKIE: &str = "didhub_session";
pub const OPERATOR_COOKIE: &str = "didhub_operator";
const CSRF_COOKIE: &str = "didhub_csrf";

/// The CSRF value every form of this browser must echo.
#[derive(Clone)]
pub struct CsrfToken(pub String);

/// The value of cookie `name`, if the request sent it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Behind a TLS-terminating proxy (`X-Forwarded-Proto: https`).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value; `None` clears the cookie.
pub fn set_cookie(headers: &HeaderMap, name: &str, value: Option<&str>) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let text = match value {
        Some(value) => format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// Gives every browser a CSRF cookie on its first console request.
pub async fn ensure_csrf_cookie(mut request: Request, next: Next) -> Response {
    let existing = cookie(request.headers(), CSRF_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(random_value);
    let set = fresh.then(|| set_cookie(request.headers(), CSRF_COOKIE, Some(&token)));
    request.extensions_mut().insert(CsrfToken(token));
    let mut response = next.run(request).await;
    if let Some(value) = set {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| forbidden("no CSRF token"))
    }
}

impl CsrfToken {
    /// Refuses a form whose `csrf` field is not this browser's token.
    pub fn check(&self, submitted: &str) -> Result<(), CsrfRejected> {
        if bool::from(self.0.as_bytes().ct_eq(submitted.as_bytes())) {
            Ok(())
        } else {
            Err(CsrfRejected)
        }
    }
}

/// A form without this browser's CSRF token: 403.
pub struct CsrfRejected;

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        forbidden("this form has expired or came from another site: reload the page and try again")
    }
}

fn forbidden(message: &'static str) -> Response {
    (axum::http::StatusCode::FORBIDDEN, message).into_response()
}

fn client(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip())
}

/// The peer address of a request, which login limits count by.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client(parts)))
    }
}

/// A logged-in customer; anyone else is sent to the login page.
pub struct Customer {
    pub account_id: i64,
    pub token: String,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = cookie(&parts.headers, CUSTOMER_COOKIE).map(str::to_owned);
        let Some(token) = token else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.service.authenticate(&token, client(parts)).await {
            Ok(account_id) => Ok(Customer { account_id, token }),
            Err(_) => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// A signed-in operator (by operator key); anyone else goes to its login page.
pub struct OperatorSession(pub Operator);

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let key = cookie(&parts.headers, OPERATOR_COOKIE).map(str::to_owned);
        let Some(key) = key else {
            return Err(Redirect::to("/operator/login").into_response());
        };
        match state
            .service
            .authenticate_operator(&key, client(parts))
            .await
        {
            Ok(operator) => Ok(OperatorSession(operator)),
            Err(_) => Err(Redirect::to("/operator/login").into_response()),
        }
    }
}
