//! The single place where service errors become HTTP answers:
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status.

use crate::service::Error;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The code of a body over `--max-body-bytes`: answered 413 Content Too
/// Large (RFC 9110 §15.5.14), not 400.
pub const BODY_TOO_LARGE: &str = "body_too_large";

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        ApiError(error)
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(Error::bad_request(code, message))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `did_not_available`.
    pub code: String,
    /// Human-readable explanation; may change between releases.
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let (status, code) = match &error {
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Error::AccountSuspended => (StatusCode::FORBIDDEN, "account_suspended"),
            Error::LoginThrottled { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Error::BadRequest {
                code: BODY_TOO_LARGE,
                ..
            } => (StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE),
            Error::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Error::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code),
            Error::DidNotFound => (StatusCode::NOT_FOUND, "did_not_found"),
            Error::DidNotAvailable => (StatusCode::CONFLICT, "did_not_available"),
            Error::InsufficientBalance { .. } => {
                (StatusCode::PAYMENT_REQUIRED, "insufficient_balance")
            }
            Error::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::ConflictWith { code, .. } => (StatusCode::CONFLICT, *code),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            Error::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        };
        let mut response = error_response(status, code, &error.to_string());
        let headers = response.headers_mut();
        match &error {
            Error::LoginThrottled { retry_after_secs } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.max(&1).to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            Error::Unavailable | Error::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Error::Unauthorized | Error::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
