//! `/operator/accounts`: search, create, credit or adjust with a reason, set
//! the PBX host, suspend. The same service calls as `/admin/v1/accounts`.

use super::super::page::{alert, csrf_field, message, money, notice, when};
use super::super::session::{CsrfToken, OperatorSession};
use super::{may, page, query_link, refusal, refused_unless};
use crate::domain::Currency;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::service::{AccountSummary, AccountUpdate, Error, Posting};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    after: i64,
}

fn table(accounts: &[AccountSummary]) -> Markup {
    html! {
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table #accounts {
                caption { "Accounts" }
                thead { tr { th scope="col" { "Id" } th scope="col" { "Username" } th scope="col" { "Status" }
                    th scope="col" { "Balance" } th scope="col" { "PBX host" } } }
                tbody {
                    @for a in accounts {
                        tr {
                            td { (a.id) }
                            td { a href={ "/operator/accounts/" (a.id) } { (a.username) } }
                            td { (a.status) }
                            td.amount { (money(a.currency, a.balance_minor)) }
                            td { (a.pbx_host.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(csrf: &CsrfToken, error: Option<&str>) -> Markup {
    html! {
        form.card method="post" action="/operator/accounts" {
            h2 { "New account" }
            @if let Some(error) = error { (alert(error)) }
            (csrf_field(csrf))
            label for="new-username" { "Username" }
            input #new-username name="username" required autocomplete="off";
            label for="new-password" { "Password" }
            input #new-password name="password" type="password" required autocomplete="new-password";
            label for="new-currency" { "Currency (ISO 4217, empty for the default)" }
            input #new-currency name="currency" maxlength="3";
            label for="new-balance" { "Opening balance" }
            input #new-balance name="initial_balance" inputmode="decimal" placeholder="0.00";
            button type="submit" { "Create account" }
        }
    }
}

async fn list_page(
    state: &AppState,
    operator: &OperatorSession,
    csrf: &CsrfToken,
    query: &ListQuery,
    error: Option<&str>,
) -> Response {
    let search = Some(query.search.trim()).filter(|s| !s.is_empty());
    let accounts = match state
        .service
        .account_page(search, query.after, PAGE_SIZE)
        .await
    {
        Ok(accounts) => accounts,
        Err(error) => return refusal(csrf, error),
    };
    let next = (accounts.len() as i64 == PAGE_SIZE)
        .then(|| accounts.last().map(|a| a.id))
        .flatten();
    let body = html! {
        form.inline method="get" action="/operator/accounts" role="search" {
            div { label for="search" { "Username contains" } input #search name="search" value=(query.search); }
            button type="submit" { "Search" }
        }
        (table(&accounts))
        @if let Some(after) = next {
            nav.pager aria-label="Pages" { a rel="next" href=(query_link("/operator/accounts", &[("search", &query.search), ("after", &after.to_string())])) { "Next page" } }
        }
        @if may(&operator.0, Access::Manage) { (create_form(csrf, error)) }
    };
    page(csrf, "Accounts", body)
}

pub async fn list(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    list_page(&state, &operator, &csrf, &query, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    initial_balance: String,
}

fn amount(currency: Currency, text: &str) -> Result<i64, Error> {
    currency
        .parse_minor(text.trim())
        .map_err(|e| Error::bad_request("invalid_amount", e.to_string()))
}

async fn create_account(
    state: &AppState,
    operator: &OperatorSession,
    form: &CreateForm,
) -> Result<AccountSummary, Error> {
    let default = state.service.settings().default_currency;
    let currency = match form.currency.trim() {
        "" => default,
        code => Currency::parse(code).ok_or_else(|| {
            Error::bad_request("invalid_currency", format!("unknown currency {code:?}"))
        })?,
    };
    let opening = match form.initial_balance.trim() {
        "" => 0,
        text => amount(currency, text)?,
    };
    state
        .service
        .create_account_as(
            Some(&operator.0),
            form.username.trim(),
            &form.password,
            Some(currency),
            opening,
        )
        .await
}

pub async fn create(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Manage) {
        return refused;
    }
    match create_account(&state, &operator, &form).await {
        Ok(account) => {
            Redirect::to(&format!("/operator/accounts/{}?created=1", account.id)).into_response()
        }
        Err(error) => {
            let text = message(&error);
            let status = ApiError(error).into_response().status();
            let page =
                list_page(&state, &operator, &csrf, &ListQuery::default(), Some(&text)).await;
            (status, page).into_response()
        }
    }
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    posted: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn money_form(csrf: &CsrfToken, account: &AccountSummary) -> Markup {
    html! {
        form.card method="post" action={ "/operator/accounts/" (account.id) "/money" } {
            h2 { "Credit or adjust" }
            (csrf_field(csrf))
            label for="kind" { "Kind" }
            select #kind name="kind" {
                option value="credit" { "Credit (payment received)" }
                option value="adjustment" { "Adjustment (signed)" }
            }
            label for="amount" { "Amount in " (account.currency.code()) }
            input #amount name="amount" inputmode="decimal" required placeholder="10.00";
            label for="reason" { "Reason (kept in the ledger and audit log)" }
            input #reason name="reason" required maxlength="500";
            button type="submit" { "Post" }
        }
    }
}

fn settings_form(csrf: &CsrfToken, account: &AccountSummary) -> Markup {
    html! {
        form.card method="post" action={ "/operator/accounts/" (account.id) "/settings" } {
            h2 { "PBX host and status" }
            (csrf_field(csrf))
            label for="pbx_host" { "PBX host (empty to remove)" }
            input #pbx_host name="pbx_host" value=(account.pbx_host.as_deref().unwrap_or("")) placeholder="pbx.example.com:5060";
            label for="status" { "Status" }
            select #status name="status" {
                option value="active" selected[account.status == "active"] { "Active" }
                option value="suspended" selected[account.status == "suspended"] { "Suspended (tokens revoked, numbers stop ringing)" }
            }
            button type="submit" { "Save" }
        }
    }
}

async fn detail_page(
    state: &AppState,
    operator: &OperatorSession,
    csrf: &CsrfToken,
    id: i64,
    banner: Option<Markup>,
) -> Response {
    let (account, entries) = match state.service.account_ledger(id, None, 20).await {
        Ok(found) => found,
        Err(error) => return refusal(csrf, error),
    };
    let body = html! {
        @if let Some(banner) = banner { (banner) }
        dl.figures {
            div { dt { "Username" } dd { (account.username) } }
            div { dt { "Status" } dd #account-status { (account.status) } }
            div { dt { "Balance" } dd #account-balance { (money(account.currency, account.balance_minor)) } }
            div { dt { "PBX host" } dd { (account.pbx_host.as_deref().unwrap_or("none")) } }
            div { dt { "Created" } dd { (when(account.created_at)) } }
        }
        p { a href={ "/operator/numbers?owner=" (account.id) } { "Numbers of this account" } }
        @if may(&operator.0, Access::Money) { (money_form(csrf, &account)) }
        @if may(&operator.0, Access::Care) { (settings_form(csrf, &account)) }
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table #account-ledger {
                caption { "Latest ledger entries" }
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Amount" } th scope="col" { "Balance after" } } }
                tbody {
                    @for e in &entries {
                        tr { td { (when(e.created_at)) } td { (e.description) }
                             td.amount { (money(account.currency, e.amount_minor)) }
                             td.amount { (money(account.currency, e.balance_after_minor)) } }
                    }
                }
            }
        }
    };
    page(csrf, &format!("Account {}", account.username), body)
}

pub async fn detail(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Path(id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    let banner = if query.created.is_some() {
        Some(notice("Account created."))
    } else if query.posted.is_some() {
        Some(notice("Posted to the ledger."))
    } else {
        query.saved.map(|_| notice("Saved."))
    };
    detail_page(&state, &operator, &csrf, id, banner).await
}

#[derive(Deserialize)]
pub struct MoneyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

pub async fn post_money(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<MoneyForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Money) {
        return refused;
    }
    let kind = if form.kind == "adjustment" {
        "adjustment"
    } else {
        "credit"
    };
    let outcome = match state.service.account_by_id(id).await {
        Ok(account) => match amount(account.currency, &form.amount) {
            Ok(amount_minor) => {
                let posting = Posting {
                    kind,
                    amount_minor,
                    reason: &form.reason,
                    reference: None,
                    allow_negative: false,
                };
                state
                    .service
                    .post_money_as(Some(&operator.0), id, &posting, None)
                    .await
                    .map(|_| ())
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("/operator/accounts/{id}?posted=1")).into_response(),
        Err(error) => {
            let text = message(&error);
            let status = ApiError(error).into_response().status();
            (
                status,
                detail_page(&state, &operator, &csrf, id, Some(alert(&text))).await,
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pbx_host: String,
    #[serde(default)]
    status: String,
}

pub async fn settings(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Care) {
        return refused;
    }
    let host = form.pbx_host.trim();
    let update = AccountUpdate {
        status: Some(form.status.clone()),
        pbx_host: Some(Some(host.to_owned()).filter(|h| !h.is_empty())),
    };
    match state
        .service
        .update_account_as(Some(&operator.0), id, &update)
        .await
    {
        Ok(_) => Redirect::to(&format!("/operator/accounts/{id}?saved=1")).into_response(),
        Err(error) => {
            let text = message(&error);
            let status = ApiError(error).into_response().status();
            (
                status,
                detail_page(&state, &operator, &csrf, id, Some(alert(&text))).await,
            )
                .into_response()
        }
    }
}
