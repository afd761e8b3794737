//! The one error type of the service boundary. Each variant has a stable public
//! code; internal causes are logged where they are mapped and never shown.

use crate::store;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing, expired or revoked token")]
    Unauthorized,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("this needs an operator key with the {needed} role")]
    Forbidden { needed: &'static str },
    #[error("this account is suspended")]
    AccountSuspended,
    /// Too many logins or failed authentications (see `auth.rs` for the limits).
    #[error("too many attempts; retry in {retry_after_secs} s")]
    LoginThrottled { retry_after_secs: i64 },
    /// Every password worker is taken and the wait queue is full.
    #[error("too many logins in progress; retry shortly")]
    Busy,
    /// Malformed input: a field that cannot be read at all.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Well-formed input that a rule refuses.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("no such DID on this account")]
    DidNotFound,
    #[error("this DID is no longer available")]
    DidNotAvailable,
    /// A did_id named in a request that no number has (bulk orders name it).
    #[error("no DID with did_id {0}")]
    UnknownDid(i64),
    /// The data's state refuses the request (409), with its own stable code:
    /// `did_held`, `not_enough_numbers`, `restore_window_closed`.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("balance {balance} does not cover {required}")]
    InsufficientBalance { required: String, balance: String },
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Error {
        Error::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        if store::is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            Error::Unavailable
        } else {
            Error::Internal(error.to_string())
        }
    }
}
