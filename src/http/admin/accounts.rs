//! `/admin/v1/accounts`: create, list and search, show, update, reset password, delete.

use super::{Admin, cursor, json_body, limit, next_cursor, path_id, query};
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::service::{AccountSummary, AccountUpdate};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/accounts", post(create).get(list))
        .route(
            "/admin/v1/accounts/{id}",
            get(show).patch(update).delete(delete),
        )
        .route("/admin/v1/accounts/{id}/password", post(reset_password))
}

#[derive(Serialize, ToSchema)]
pub struct AccountJson {
    pub id: i64,
    pub username: String,
    pub currency: String,
    #[schema(example = "10.00")]
    pub balance: String,
    /// active, suspended or closed.
    pub status: String,
    pub pbx_host: Option<String>,
    pub created_at: String,
    /// Numbers the account owns (on show only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<i64>,
}

impl AccountJson {
    pub fn new(account: &AccountSummary, numbers: Option<i64>) -> AccountJson {
        AccountJson {
            id: account.id,
            username: account.username.clone(),
            currency: account.currency.code().to_owned(),
            balance: account.currency.format_minor(account.balance_minor),
            status: account.status.clone(),
            pbx_host: account.pbx_host.clone(),
            created_at: rfc3339(account.created_at),
            numbers,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    username: String,
    /// Omit to have one generated and shown once in the answer.
    password: Option<String>,
    /// ISO 4217; the server's default when omitted.
    currency: Option<String>,
    /// Decimal string in the currency's digits, e.g. "25.00".
    initial_balance: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountJson,
    /// The generated password, shown only here; absent when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

fn generated_password() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn currency(code: Option<&str>, default: Currency) -> Result<Currency, ApiError> {
    match code {
        None => Ok(default),
        Some(code) => Currency::parse(code).ok_or_else(|| {
            ApiError::bad_request("invalid_currency", format!("unknown currency {code}"))
        }),
    }
}

pub fn amount(currency: Currency, text: &str) -> Result<i64, ApiError> {
    currency
        .parse_minor(text)
        .map_err(|e| ApiError::bad_request("invalid_amount", e.to_string()))
}

/// Create an account (admin).
#[utoipa::path(post, path = "/admin/v1/accounts", tag = "admin", request_body = CreateAccount,
    security(("operator_key" = [])),
    responses((status = 201, body = CreatedAccount), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Admin(op): Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedAccount>), ApiError> {
    op.require(Access::Manage)?;
    let input: CreateAccount = json_body(&body)?;
    let currency = currency(
        input.currency.as_deref(),
        state.service.settings().default_currency,
    )?;
    let opening = input
        .initial_balance
        .as_deref()
        .map(|text| amount(currency, text))
        .transpose()?
        .unwrap_or(0);
    let generated = input.password.is_none().then(generated_password);
    let password = input
        .password
        .as_deref()
        .or(generated.as_deref())
        .unwrap_or("");
    let account = state
        .service
        .create_account_as(
            Some(&op),
            &input.username,
            password,
            Some(currency),
            opening,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            account: AccountJson::new(&account, Some(0)),
            password: generated,
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Part of the username, case-insensitive.
    search: Option<String>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountJson>,
    pub next_cursor: Option<String>,
}

/// List accounts by id, optionally searched by username (readonly).
#[utoipa::path(get, path = "/admin/v1/accounts", tag = "admin", params(ListParams),
    security(("operator_key" = [])),
    responses((status = 200, body = AccountPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(op): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<AccountPage>, ApiError> {
    op.require(Access::Read)?;
    let params: ListParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let after = cursor(params.cursor.as_deref())?.unwrap_or(0);
    let search = params.search.as_deref().filter(|s| !s.is_empty());
    let accounts = state.service.account_page(search, after, limit).await?;
    Ok(Json(AccountPage {
        next_cursor: next_cursor(accounts.iter().map(|a| a.id), accounts.len(), limit),
        accounts: accounts.iter().map(|a| AccountJson::new(a, None)).collect(),
    }))
}

/// Show an account with its balance, numbers count, PBX host and status (readonly).
#[utoipa::path(get, path = "/admin/v1/accounts/{id}", tag = "admin",
    security(("operator_key" = [])),
    responses((status = 200, body = AccountJson), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
) -> Result<Json<AccountJson>, ApiError> {
    op.require(Access::Read)?;
    let detail = state.service.account_detail(path_id(&id)?).await?;
    Ok(Json(AccountJson::new(
        &detail.account,
        Some(detail.numbers),
    )))
}

/// A field that may be absent (unchanged), null (cleared) or set.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// active or suspended. A suspended account cannot log in (its tokens are
    /// revoked) and its numbers answer as unavailable on SIP.
    status: Option<String>,
    /// Host[:port] that `extension` forwards reach; null removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pbx_host: Option<Option<String>>,
}

/// Set an account's status and/or PBX host (support).
#[utoipa::path(patch, path = "/admin/v1/accounts/{id}", tag = "admin", request_body = UpdateAccount,
    security(("operator_key" = [])),
    responses((status = 200, body = AccountJson), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AccountJson>, ApiError> {
    op.require(Access::Care)?;
    let id = path_id(&id)?;
    let input: UpdateAccount = json_body(&body)?;
    let update = AccountUpdate {
        status: input.status,
        pbx_host: input.pbx_host,
    };
    let account = state
        .service
        .update_account_as(Some(&op), id, &update)
        .await?;
    Ok(Json(AccountJson::new(&account, None)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// Omit to have one generated and shown once in the answer.
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Replace an account's password and revoke its tokens (support).
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/password", tag = "admin",
    request_body = ResetPassword, security(("operator_key" = [])),
    responses((status = 200, body = PasswordReset), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<PasswordReset>, ApiError> {
    op.require(Access::Care)?;
    let id = path_id(&id)?;
    let input: ResetPassword = json_body(&body)?;
    let generated = input.password.is_none().then(generated_password);
    let password = input
        .password
        .as_deref()
        .or(generated.as_deref())
        .unwrap_or("");
    state
        .service
        .set_password_as(Some(&op), id, password)
        .await?;
    Ok(Json(PasswordReset {
        status: "ok".to_owned(),
        password: generated,
    }))
}

/// Delete (close) an account that owns no number and has a zero balance (admin).
#[utoipa::path(delete, path = "/admin/v1/accounts/{id}", tag = "admin",
    security(("operator_key" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "Owns numbers or money", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    op.require(Access::Manage)?;
    state
        .service
        .close_account_as(Some(&op), path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
