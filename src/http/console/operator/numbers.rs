//! `/operator/numbers`: find a number (or an owner's numbers) and force a
//! release with a reason; a found number shows its history (`history.rs`).

use super::super::page::{alert, csrf_field, day, message, money, money_in, notice, number, when};
use super::super::session::{CsrfToken, OperatorSession};
use super::{may, page, query_link, refused_unless};
use crate::domain::E164;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::service::{Did, Error, NumberDetail};
use crate::store::dids::NumberFilter;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct FindQuery {
    #[serde(default)]
    number: String,
    /// An account id or username.
    #[serde(default)]
    owner: String,
    /// The history page's cursor.
    #[serde(default)]
    before: String,
}

fn search_form(query: &FindQuery) -> Markup {
    html! {
        form.inline method="get" action="/operator/numbers" role="search" {
            div { label for="find-number" { "Number (E.164)" } input #find-number name="number" value=(query.number) placeholder="+33123456789"; }
            div { label for="find-owner" { "or owner (account id or username)" } input #find-owner name="owner" inputmode="numeric" value=(query.owner); }
            button type="submit" { "Find" }
        }
    }
}

fn detail(csrf: &CsrfToken, detail: &NumberDetail, can_release: bool) -> Markup {
    let did = &detail.did;
    html! {
        dl.figures {
            div { dt { "Number" } dd #found-number { (number(&did.number, &did.country)) } }
            div { dt { "Status" } dd { (format!("{:?}", did.status).to_lowercase()) } }
            div { dt { "Owner" } dd { @if let Some(o) = &detail.owner { a href={ "/operator/accounts/" (o.id) } { (o.username) } } @else { "nobody" } } }
            div { dt { "Prices" } dd { (money_in(&did.currency, did.setup_minor)) " setup, " (money_in(&did.currency, did.monthly_minor)) " monthly" } }
            div { dt { "Paid through" } dd { (did.paid_through.map(day).unwrap_or_default()) } }
            div { dt { "Forwarding" } dd { (did.forward.as_ref().map(|f| format!("{}: {}", f.kind, f.destination)).unwrap_or_default()) } }
        }
        @if !detail.charges.is_empty() {
            div.scroll tabindex="0" role="region" aria-label="Charges, scrolls sideways" { table { caption { "Charges" }
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Amount" } } }
                tbody { @for e in &detail.charges { tr { td { (when(e.created_at)) } td { (e.description) } td.amount { (money(did.currency(), e.amount_minor)) } } } } } }
        }
        @if can_release && detail.owner.is_some() {
            form.card method="post" action="/operator/numbers/release" {
                h2 { "Force release" }
                (csrf_field(csrf))
                input type="hidden" name="number" value=(did.number);
                label for="release-reason" { "Reason (kept in the audit log)" }
                input #release-reason name="reason" required maxlength="500";
                p.hint { "The owner is not refunded; the number ages before it is sold again." }
                button.danger type="submit" { "Release now" }
            }
        }
    }
}

fn owned(dids: &[Did]) -> Markup {
    html! {
        table #owner-numbers { caption { "Numbers of this account" }
            thead { tr { th scope="col" { "Number" } th scope="col" { "Status" } th scope="col" { "Paid through" } } }
            tbody { @for d in dids { tr {
                td { a href=(query_link("/operator/numbers", &[("number", &d.number)])) { (number(&d.number, &d.country)) } }
                td { (format!("{:?}", d.status).to_lowercase()) } td { (d.paid_through.map(day).unwrap_or_default()) } } } } }
    }
}

async fn found(
    state: &AppState,
    operator: &OperatorSession,
    csrf: &CsrfToken,
    query: &FindQuery,
) -> Result<Markup, Error> {
    let typed = query.number.trim();
    if !typed.is_empty() {
        let e164 = E164::parse(typed, None)
            .map_err(|e| Error::bad_request("invalid_number", e.to_string()))?;
        let found = state.service.number_detail(e164.as_str()).await?;
        let history = super::history::section(state, e164.as_str(), &query.before).await?;
        return Ok(html! {
            (detail(csrf, &found, may(&operator.0, Access::Manage)))
            (history)
        });
    }
    let owner = query.owner.trim();
    if owner.is_empty() {
        return Ok(html! {});
    }
    let account_id = match owner.parse::<i64>() {
        Ok(id) => id,
        Err(_) => state.service.account_by_username(owner).await?.id,
    };
    let filter = NumberFilter {
        account_id: Some(account_id),
        ..NumberFilter::default()
    };
    Ok(owned(&state.service.number_page(&filter, "", 500).await?))
}

async fn find_page(
    state: &AppState,
    operator: &OperatorSession,
    csrf: &CsrfToken,
    query: &FindQuery,
    banner: Option<Markup>,
) -> Response {
    let result = found(state, operator, csrf, query)
        .await
        .unwrap_or_else(|error| alert(&message(&error)));
    let body = html! { @if let Some(b) = banner { (b) } (search_form(query)) (result) };
    page(csrf, "Numbers", body)
}

pub async fn find(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Query(query): Query<FindQuery>,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    find_page(&state, &operator, &csrf, &query, None).await
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    reason: String,
}

pub async fn force_release(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Form(form): Form<ReleaseForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Manage) {
        return refused;
    }
    let banner = match state
        .service
        .force_release_as(&operator.0, &form.number, &form.reason)
        .await
    {
        Ok(_) => notice("Released."),
        Err(error) => alert(&message(&error)),
    };
    let query = FindQuery {
        number: form.number,
        ..FindQuery::default()
    };
    find_page(&state, &operator, &csrf, &query, Some(banner)).await
}
