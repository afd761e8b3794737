//! The seed's DID provisioning API (`POST /api/...`), field for field.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::input::ApiInput;
use super::wire::*;
use crate::domain::DidType;
use crate::domain::billing::rfc3339;
use crate::service::{AssignRequest, SearchQuery};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn account_of(state: &AppState, input: &ApiInput) -> Result<i64, ApiError> {
    let token = input
        .token()
        .ok_or(ApiError(crate::service::Error::Unauthorized))?;
    Ok(state.service.authenticate(token).await?)
}

// Request bodies, for the OpenAPI document only: handlers read fields through `ApiInput`
// so that form and JSON bodies share one path.
#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// Or send `Authorization: Bearer <token>`.
    token: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct AvailableForm {
    token: Option<String>,
    /// ISO 3166-1 alpha-2, case-insensitive.
    country: String,
    /// landline, mobile_voice, mobile_sms or voice_sms.
    #[serde(rename = "type")]
    did_type: Option<String>,
    /// E.164 prefix such as "+331".
    prefix: Option<String>,
    /// National area code such as "01" (France) or "212" (US).
    area_code: Option<String>,
    /// Digits the number must contain.
    contains: Option<String>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct DidForm {
    token: Option<String>,
    did_id: i64,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct AssignForm {
    token: Option<String>,
    did_id: i64,
    /// Or the `Idempotency-Key` header: a retry with the same key replays the first answer.
    idempotency_key: Option<String>,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct ForwardForm {
    token: Option<String>,
    did_id: i64,
    /// PSTN number (national numbers are read in the DID's country), SIP URI, IP[:port],
    /// extension digits, or an optional DISA profile code for access_number.
    destination: String,
    /// extension, pstn, sip, access_number or ip.
    #[serde(rename = "type")]
    kind: String,
}

#[allow(dead_code)]
#[derive(Deserialize, ToSchema)]
pub struct LedgerForm {
    token: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Log in and receive the `account_token` for all other calls.
#[utoipa::path(post, path = "/api/login", tag = "provisioning",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
              (status = 429, description = "Too many failed logins; see Retry-After", body = ErrorBody)))]
pub async fn login(State(state): State<AppState>, input: ApiInput) -> ApiResult<LoginResponse> {
    let outcome = state
        .service
        .login(
            input.raw("username").unwrap_or(""),
            input.raw("password").unwrap_or(""),
        )
        .await?;
    Ok(Json(LoginResponse {
        account_token: outcome.token,
        token_type: "Bearer".to_owned(),
        expires_at: rfc3339(outcome.expires_at),
        username: outcome.username,
    }))
}

/// Revoke the token used for this call.
#[utoipa::path(post, path = "/api/logout", tag = "provisioning",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, input: ApiInput) -> ApiResult<StatusResponse> {
    account_of(&state, &input).await?;
    if let Some(token) = input.token() {
        state.service.logout(token).await?;
    }
    Ok(Json(StatusResponse {
        status: "logged_out".to_owned(),
    }))
}

/// The account's balance.
#[utoipa::path(post, path = "/api/balance", tag = "provisioning",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BalanceResponse), (status = 401, body = ErrorBody)))]
pub async fn balance(State(state): State<AppState>, input: ApiInput) -> ApiResult<BalanceResponse> {
    let account_id = account_of(&state, &input).await?;
    let account = state.service.account_summary(account_id).await?;
    Ok(Json(BalanceResponse {
        balance: account.currency.format_minor(account.balance_minor),
        currency: account.currency.code().to_owned(),
    }))
}

/// The DID types on sale.
#[utoipa::path(post, path = "/api/did/type-list", tag = "provisioning",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TypeListResponse), (status = 401, body = ErrorBody)))]
pub async fn type_list(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<TypeListResponse> {
    account_of(&state, &input).await?;
    Ok(Json(TypeListResponse {
        types: DidType::ALL
            .iter()
            .map(|t| DidTypeJson {
                code: t.code().to_owned(),
                name: t.display_name().to_owned(),
                capabilities: t.capabilities().into_iter().map(str::to_owned).collect(),
            })
            .collect(),
    }))
}

/// Search available numbers in a country.
#[utoipa::path(post, path = "/api/did/available", tag = "provisioning",
    request_body(content = AvailableForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = AvailableResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn available(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<AvailableResponse> {
    account_of(&state, &input).await?;
    let query = SearchQuery {
        country: input.required("country")?.to_owned(),
        did_type: input.optional("type").map(str::to_owned),
        prefix: input.optional("prefix").map(str::to_owned),
        area_code: input.optional("area_code").map(str::to_owned),
        contains: input.optional("contains").map(str::to_owned),
        limit: input.optional_int("limit")?,
        cursor: input.optional("cursor").map(str::to_owned),
    };
    let page = state.service.search_available(&query).await?;
    Ok(Json(AvailableResponse {
        country: page.country.as_str().to_owned(),
        count: page.dids.len(),
        dids: page
            .dids
            .iter()
            .map(|d| DidJson::from(d.as_ref()))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Buy a number: setup fee and first month are charged at once.
#[utoipa::path(post, path = "/api/did/assign", tag = "provisioning",
    request_body(content = AssignForm, content_type = "application/x-www-form-urlencoded"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 200, body = AssignResponse),
              (status = 402, description = "insufficient_balance", body = ErrorBody),
              (status = 404, description = "did_not_found", body = ErrorBody),
              (status = 409, description = "did_not_available", body = ErrorBody),
              (status = 422, description = "idempotency_key_reused or currency_mismatch", body = ErrorBody)))]
pub async fn assign(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let request = AssignRequest {
        did_id: input.positive_id("did_id")?,
        idempotency_key: input.idempotency_key()?,
    };
    let purchase = state.service.assign(account_id, &request).await?;
    let mut response = Json(AssignResponse::from(&purchase)).into_response();
    if purchase.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The account's numbers with their forwarding.
#[utoipa::path(post, path = "/api/did/list", tag = "provisioning",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ListResponse), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, input: ApiInput) -> ApiResult<ListResponse> {
    let account_id = account_of(&state, &input).await?;
    let dids = state.service.list_numbers(account_id).await?;
    Ok(Json(ListResponse {
        count: dids.len(),
        dids: dids.iter().map(DidJson::from).collect(),
    }))
}

/// Point a number at an extension, a PSTN number, a SIP URI, the DISA service or an IP.
#[utoipa::path(post, path = "/api/did/forward", tag = "provisioning",
    request_body(content = ForwardForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DidJson),
              (status = 400, description = "invalid_forward_type or invalid_destination", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "pbx_host_required or disa_not_configured", body = ErrorBody)))]
pub async fn forward(State(state): State<AppState>, input: ApiInput) -> ApiResult<DidJson> {
    let account_id = account_of(&state, &input).await?;
    let did_id = input.positive_id("did_id")?;
    let kind = input.required("type")?;
    let destination = input.raw("destination").unwrap_or("");
    let did = state
        .service
        .set_forward(account_id, did_id, kind, destination)
        .await?;
    Ok(Json(DidJson::from(&did)))
}

/// Give a number up: it leaves the account at once, without refund.
#[utoipa::path(post, path = "/api/did/release", tag = "provisioning",
    request_body(content = DidForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ReleaseResponse), (status = 404, body = ErrorBody)))]
pub async fn release(State(state): State<AppState>, input: ApiInput) -> ApiResult<ReleaseResponse> {
    let account_id = account_of(&state, &input).await?;
    let released = state
        .service
        .release(account_id, input.positive_id("did_id")?)
        .await?;
    Ok(Json(ReleaseResponse {
        status: "released".to_owned(),
        did_id: released.did.id,
        did_number: released.did.number,
        aging_until: rfc3339(released.aging_until),
    }))
}

/// Every money movement on the account, newest first.
#[utoipa::path(post, path = "/api/ledger", tag = "provisioning",
    request_body(content = LedgerForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = LedgerResponse), (status = 401, body = ErrorBody)))]
pub async fn ledger(State(state): State<AppState>, input: ApiInput) -> ApiResult<LedgerResponse> {
    let account_id = account_of(&state, &input).await?;
    let limit = input.optional_int("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let before = match input.optional("cursor") {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
        })?),
    };
    let account = state.service.account_summary(account_id).await?;
    let entries = state.service.ledger(account_id, before, limit).await?;
    let next_cursor = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(LedgerResponse {
        currency: account.currency.code().to_owned(),
        balance: account.currency.format_minor(account.balance_minor),
        entries: entries
            .iter()
            .map(|e| LedgerEntryJson::new(e, account.currency))
            .collect(),
        next_cursor,
    }))
}
