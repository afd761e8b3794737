//! Money over time for the account holder: what is coming, the low-balance
//! threshold, monthly statements, and restoring a released number. Form or
//! JSON bodies like the rest of `/api/`; the reads also answer GET with the
//! fields in the query string.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::input::ApiInput;
use super::wire::{DidJson, LedgerEntryJson};
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::service::Statement;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn account_of(state: &AppState, input: &ApiInput) -> Result<i64, ApiError> {
    let token = input
        .token()
        .ok_or(ApiError(crate::service::Error::Unauthorized))?;
    Ok(state.service.authenticate(token, input.client()).await?)
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingRenewalJson {
    pub did_id: i64,
    pub did_number: String,
    /// When it will be charged (now, for one already due).
    pub due_at: String,
    #[schema(example = "1.50")]
    pub amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingResponse {
    pub days: i64,
    pub currency: String,
    pub balance: String,
    /// Every renewal due within `days`, in date order.
    pub renewals: Vec<UpcomingRenewalJson>,
    pub total: String,
    /// The first renewal the balance will not cover at this rate; null when it
    /// covers ten years of them.
    pub runs_out_at: Option<String>,
    /// The account's low-balance threshold; null when none is set.
    pub low_balance_threshold: Option<String>,
    pub below_threshold: bool,
    /// When renewals will take the balance below the threshold, if they will.
    pub threshold_crossed_at: Option<String>,
}

/// Renewals due in the next `days` (default 30), their total, and when the balance runs out.
#[utoipa::path(post, path = "/api/billing/upcoming", tag = "billing",
    responses((status = 200, body = UpcomingResponse),
              (status = 400, description = "invalid_days", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn upcoming(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<UpcomingResponse> {
    let account_id = account_of(&state, &input).await?;
    let days = input.optional_int("days")?;
    let account = state.service.account_summary(account_id).await?;
    let up = state.service.upcoming(account_id, days).await?;
    let money = |minor: i64| account.currency.format_minor(minor);
    Ok(Json(UpcomingResponse {
        days: up.days,
        currency: account.currency.code().to_owned(),
        balance: money(up.balance_minor),
        renewals: up
            .renewals
            .iter()
            .map(|r| UpcomingRenewalJson {
                did_id: r.did_id,
                did_number: r.number.clone(),
                due_at: rfc3339(r.due_at),
                amount: money(r.amount_minor),
            })
            .collect(),
        total: money(up.total_minor),
        runs_out_at: up.runs_out_at.map(rfc3339),
        low_balance_threshold: up.low_balance_minor.map(money),
        below_threshold: up.below_threshold,
        threshold_crossed_at: up.threshold_crossed_at.map(rfc3339),
    }))
}

/// [`upcoming`] with its fields in the query string.
#[utoipa::path(get, path = "/api/billing/upcoming", tag = "billing",
    params(("days" = Option<i64>, Query, description = "How far ahead, 1 to 366 days; default 30"),
           ("token" = Option<String>, Query, description = "The account token, unless sent as a bearer header")),
    responses((status = 200, body = UpcomingResponse),
              (status = 400, description = "invalid_days or invalid_field", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn upcoming_get(state: State<AppState>, input: ApiInput) -> ApiResult<UpcomingResponse> {
    upcoming(state, input).await
}

#[derive(Serialize, ToSchema)]
pub struct BillingSettingsResponse {
    pub currency: String,
    /// Null when none is set.
    #[schema(example = "5.00")]
    pub low_balance_threshold: Option<String>,
    pub below_threshold: bool,
}

/// Read or set the low-balance threshold (`low_balance_threshold`; empty clears it).
#[utoipa::path(post, path = "/api/billing/settings", tag = "billing",
    responses((status = 200, body = BillingSettingsResponse),
              (status = 400, description = "invalid_amount", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn settings(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<BillingSettingsResponse> {
    billing_settings(state, input, true).await
}

/// Read the low-balance threshold and whether the balance is below it.
#[utoipa::path(get, path = "/api/billing/settings", tag = "billing",
    params(("token" = Option<String>, Query, description = "The account token, unless sent as a bearer header")),
    responses((status = 200, body = BillingSettingsResponse), (status = 401, body = ErrorBody)))]
pub async fn settings_get(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<BillingSettingsResponse> {
    billing_settings(state, input, false).await
}

async fn billing_settings(
    state: AppState,
    input: ApiInput,
    may_change: bool,
) -> ApiResult<BillingSettingsResponse> {
    let account_id = account_of(&state, &input).await?;
    let account = state.service.account_summary(account_id).await?;
    let asked = input
        .raw("low_balance_threshold")
        .filter(|_| may_change)
        .map(str::trim);
    let current = match asked {
        None => state.service.billing_settings(account_id).await?,
        Some("") => state.service.set_low_balance(account_id, None).await?,
        Some(text) => {
            let minor = account.currency.parse_minor(text).map_err(|e| {
                ApiError::bad_request("invalid_amount", format!("low_balance_threshold: {e}"))
            })?;
            state
                .service
                .set_low_balance(account_id, Some(minor))
                .await?
        }
    };
    Ok(Json(BillingSettingsResponse {
        currency: account.currency.code().to_owned(),
        low_balance_threshold: current
            .low_balance_minor
            .map(|t| account.currency.format_minor(t)),
        below_threshold: current.below_threshold,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StatementResponse {
    /// YYYY-MM.
    pub month: String,
    pub currency: String,
    pub from: String,
    pub until: String,
    pub opening_balance: String,
    /// Every ledger entry of the month, oldest first.
    pub entries: Vec<LedgerEntryJson>,
    /// Per entry type (credit, setup_fee, monthly_charge, adjustment): the sum.
    pub totals: BTreeMap<String, String>,
    pub closing_balance: String,
}

impl From<&Statement> for StatementResponse {
    fn from(s: &Statement) -> StatementResponse {
        StatementResponse {
            month: s.month.clone(),
            currency: s.currency.code().to_owned(),
            from: rfc3339(s.from),
            until: rfc3339(s.until),
            opening_balance: s.currency.format_minor(s.opening_minor),
            entries: s
                .entries
                .iter()
                .map(|e| LedgerEntryJson::new(e, s.currency))
                .collect(),
            totals: s
                .totals
                .iter()
                .map(|(k, v)| (k.clone(), s.currency.format_minor(*v)))
                .collect(),
            closing_balance: s.currency.format_minor(s.closing_minor),
        }
    }
}

/// The statement as CSV: one row per entry between an `opening` and a
/// `closing` row, then one `total` row per kind.
pub fn statement_csv(s: &Statement) -> Result<String, csv::Error> {
    let money = |minor: i64| s.currency.format_minor(minor);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "date",
        "entry_id",
        "type",
        "did_number",
        "description",
        "amount",
        "balance_after",
    ])?;
    let opening = money(s.opening_minor);
    out.write_record([
        &rfc3339(s.from),
        "",
        "opening",
        "",
        "opening balance",
        "",
        &opening,
    ])?;
    for e in &s.entries {
        out.write_record([
            rfc3339(e.created_at),
            e.id.to_string(),
            e.kind.clone(),
            e.did_number.clone().unwrap_or_default(),
            e.description.clone(),
            money(e.amount_minor),
            money(e.balance_after_minor),
        ])?;
    }
    let closing = money(s.closing_minor);
    out.write_record([
        &rfc3339(s.until),
        "",
        "closing",
        "",
        "closing balance",
        "",
        &closing,
    ])?;
    for (kind, total) in &s.totals {
        out.write_record(["", "", "total", "", kind.as_str(), &money(*total), ""])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Renders a statement as JSON, or CSV when `format` is `csv`.
pub fn render_statement(statement: &Statement, format: Option<&str>) -> Result<Response, ApiError> {
    match format
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("json") => Ok(Json(StatementResponse::from(statement)).into_response()),
        Some("csv") => {
            let csv = statement_csv(statement)
                .map_err(|e| ApiError(crate::service::Error::Internal(e.to_string())))?;
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_format",
            "format must be json or csv",
        )),
    }
}

/// The month's statement (`month` YYYY-MM; `format` json or csv).
#[utoipa::path(post, path = "/api/billing/statement", tag = "billing",
    responses((status = 200, description = "JSON; with format=csv, CSV: date, entry_id, type, did_number, description, amount, balance_after",
               content((StatementResponse = "application/json"), (String = "text/csv"))),
              (status = 400, description = "missing_field, invalid_month or invalid_format", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    input: ApiInput,
) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let month = input.required("month")?;
    let statement = state.service.statement(account_id, month).await?;
    render_statement(&statement, input.optional("format"))
}

/// [`statement`] with its fields in the query string.
#[utoipa::path(get, path = "/api/billing/statement", tag = "billing",
    params(("month" = String, Query, description = "YYYY-MM"),
           ("format" = Option<String>, Query, description = "json (default) or csv"),
           ("token" = Option<String>, Query, description = "The account token, unless sent as a bearer header")),
    responses((status = 200, description = "JSON; with format=csv, CSV",
               content((StatementResponse = "application/json"), (String = "text/csv"))),
              (status = 400, description = "missing_field, invalid_month or invalid_format", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn statement_get(state: State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    statement(state, input).await
}

#[derive(Serialize, ToSchema)]
pub struct RestoreResponse {
    /// "restored".
    pub status: String,
    pub did: DidJson,
    /// A new first month when the paid period ended meanwhile, else 0.
    pub charged: String,
    pub balance: String,
}

/// Take back a number released within the restore window, with its forwarding.
#[utoipa::path(post, path = "/api/did/restore", tag = "provisioning",
    responses((status = 200, body = RestoreResponse),
              (status = 400, description = "missing_field or invalid_did_id", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 402, description = "insufficient_balance: the new first month is not covered", body = ErrorBody),
              (status = 404, description = "did_not_found: this account released no such number", body = ErrorBody),
              (status = 409, description = "restore_window_closed", body = ErrorBody)))]
pub async fn restore(State(state): State<AppState>, input: ApiInput) -> ApiResult<RestoreResponse> {
    let account_id = account_of(&state, &input).await?;
    let restored = state
        .service
        .restore(account_id, input.positive_id("did_id")?)
        .await?;
    let currency = Currency::parse(&restored.did.currency).unwrap_or(Currency::USD);
    Ok(Json(RestoreResponse {
        status: "restored".to_owned(),
        did: DidJson::from(&restored.did),
        charged: currency.format_minor(restored.charged_minor),
        balance: currency.format_minor(restored.balance_minor),
    }))
}
