//! Money: credits and adjustments (idempotent on `Idempotency-Key`), an
//! account's ledger, and the balance-against-ledger audit.

use super::accounts::amount;
use super::{Admin, cursor, json_body, limit, next_cursor, path_id, query};
use crate::domain::Currency;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::wire::LedgerEntryJson;
use crate::service::{AccountSummary, LedgerEntry, Posted, Posting};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/accounts/{id}/credits", post(credit))
        .route("/admin/v1/accounts/{id}/adjustments", post(adjust))
        .route("/admin/v1/accounts/{id}/ledger", get(ledger))
        .route("/admin/v1/balances/audit", get(balances_audit))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// Decimal string in the account currency's digits; signed for adjustments.
    #[schema(example = "25.00")]
    amount: String,
    /// Why: mandatory, recorded in the ledger and the audit log.
    reason: String,
    /// The payment system's own id for this movement.
    reference: Option<String>,
    /// Adjustments only: allow the balance to go below zero.
    #[serde(default)]
    allow_negative: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PostedJson {
    pub account_id: i64,
    pub currency: String,
    pub balance: String,
    pub entry: LedgerEntryJson,
    /// True when this is the stored answer to an earlier request with the same key.
    pub replayed: bool,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 200 visible characters",
        )),
    }
}

async fn post_money(
    state: &AppState,
    op: &crate::service::Operator,
    kind: &'static str,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<PostedJson>, ApiError> {
    let id = path_id(id)?;
    let input: MoneyInput = json_body(body)?;
    if kind == "credit" && input.allow_negative {
        return Err(ApiError::bad_request(
            "invalid_field",
            "allow_negative applies to adjustments only",
        ));
    }
    let account = state.service.account_by_id(id).await?;
    let posting = Posting {
        kind,
        amount_minor: amount(account.currency, &input.amount)?,
        reason: &input.reason,
        reference: input.reference.as_deref(),
        allow_negative: input.allow_negative,
    };
    let key = idempotency_key(headers)?;
    let fingerprint = hex::encode(
        Sha256::new()
            .chain_update(format!("{kind}\n{id}\n"))
            .chain_update(body)
            .finalize(),
    );
    let idempotency = key.as_deref().map(|k| (k, fingerprint.as_str()));
    let posted: Posted = state
        .service
        .post_money_as(Some(op), id, &posting, idempotency)
        .await?;
    Ok(Json(PostedJson::new(&posted, account.currency)))
}

impl PostedJson {
    pub fn new(posted: &Posted, currency: Currency) -> PostedJson {
        PostedJson {
            account_id: posted.account_id,
            currency: currency.code().to_owned(),
            balance: currency.format_minor(posted.balance_minor),
            entry: LedgerEntryJson::new(&posted.entry, currency),
            replayed: posted.replayed,
        }
    }
}

/// Credit an account (billing). Retry-safe with `Idempotency-Key`.
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/credits", tag = "admin",
    request_body = MoneyInput, security(("operator_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body replays the first answer")),
    responses((status = 200, body = PostedJson), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn credit(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PostedJson>, ApiError> {
    op.require(Access::Money)?;
    post_money(&state, &op, "credit", &id, &headers, &body).await
}

/// Adjust a balance by a signed amount (billing); refused below zero unless allow_negative.
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/adjustments", tag = "admin",
    request_body = MoneyInput, security(("operator_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body replays the first answer")),
    responses((status = 200, body = PostedJson), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PostedJson>, ApiError> {
    op.require(Access::Money)?;
    post_money(&state, &op, "adjustment", &id, &headers, &body).await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 500, default 100.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminLedger {
    pub account_id: i64,
    pub currency: String,
    pub balance: String,
    pub entries: Vec<LedgerEntryJson>,
    pub next_cursor: Option<String>,
}

/// An account's ledger, newest first (readonly).
#[utoipa::path(get, path = "/admin/v1/accounts/{id}/ledger", tag = "admin", params(PageParams),
    security(("operator_key" = [])),
    responses((status = 200, body = AdminLedger), (status = 404, body = ErrorBody)))]
pub async fn ledger(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AdminLedger>, ApiError> {
    op.require(Access::Read)?;
    let id = path_id(&id)?;
    let params: PageParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let before = cursor(params.cursor.as_deref())?;
    let (account, entries) = state.service.account_ledger(id, before, limit).await?;
    Ok(Json(AdminLedger::new(&account, &entries, limit)))
}

impl AdminLedger {
    /// A page of at most `limit` entries of `account`'s ledger.
    pub fn new(account: &AccountSummary, entries: &[LedgerEntry], limit: i64) -> AdminLedger {
        let currency = account.currency;
        AdminLedger {
            account_id: account.id,
            currency: currency.code().to_owned(),
            balance: currency.format_minor(account.balance_minor),
            next_cursor: next_cursor(entries.iter().map(|e| e.id), entries.len(), limit),
            entries: entries
                .iter()
                .map(|e| LedgerEntryJson::new(e, currency))
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BalanceAuditJson {
    pub account_id: i64,
    pub username: String,
    pub currency: String,
    pub balance: String,
    pub ledger_sum: String,
    /// Balance equals the ledger sum.
    pub ok: bool,
}

impl BalanceAuditJson {
    /// One account's balance against its ledger sum, both in minor units.
    pub fn new(account: &AccountSummary, balance: i64, ledger_sum: i64) -> BalanceAuditJson {
        BalanceAuditJson {
            account_id: account.id,
            username: account.username.clone(),
            currency: account.currency.code().to_owned(),
            balance: account.currency.format_minor(balance),
            ledger_sum: account.currency.format_minor(ledger_sum),
            ok: balance == ledger_sum,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BalanceAuditPage {
    pub accounts: Vec<BalanceAuditJson>,
    /// Accounts on this page whose balance differs from their ledger sum.
    pub mismatches: usize,
    pub next_cursor: Option<String>,
}

/// Every balance against its ledger sum, a page of accounts at a time (readonly).
#[utoipa::path(get, path = "/admin/v1/balances/audit", tag = "admin", params(PageParams),
    security(("operator_key" = [])),
    responses((status = 200, body = BalanceAuditPage), (status = 401, body = ErrorBody)))]
pub async fn balances_audit(
    State(state): State<AppState>,
    Admin(op): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<BalanceAuditPage>, ApiError> {
    op.require(Access::Read)?;
    let params: PageParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    let after = cursor(params.cursor.as_deref())?.unwrap_or(0);
    let accounts = state.service.account_page(None, after, limit).await?;
    let mut rows = Vec::with_capacity(accounts.len());
    for account in &accounts {
        let (balance, sum) = state.service.audit_account(account.id).await?;
        rows.push(BalanceAuditJson::new(account, balance, sum));
    }
    Ok(Json(BalanceAuditPage {
        mismatches: rows.iter().filter(|r| !r.ok).count(),
        next_cursor: next_cursor(accounts.iter().map(|a| a.id), accounts.len(), limit),
        accounts: rows,
    }))
}
