//! `GET /ledger` (paged) and `GET /ledger.csv` (all of it): the API's ledger.

use super::super::page::{alert, money, number, when};
use super::super::session::{CsrfToken, Customer};
use super::{page, refusal};
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::http::AppState;
use crate::service::{LedgerEntry, Result, Service};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

const PAGE_SIZE: i64 = 25;
/// The API's largest page, used to walk the whole ledger for the CSV.
const CSV_BATCH: i64 = 1000;

#[derive(Deserialize)]
pub struct LedgerQuery {
    #[serde(default)]
    before: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Query(query): Query<LedgerQuery>,
) -> Response {
    let service = &state.service;
    let account = match service.account_summary(customer.account_id).await {
        Ok(account) => account,
        Err(error) => return refusal(&csrf, error),
    };
    let entries = match service
        .ledger(customer.account_id, query.before, PAGE_SIZE)
        .await
    {
        Ok(entries) => entries,
        Err(error) => return refusal(&csrf, error),
    };
    let currency = account.currency;
    let next = (entries.len() as i64 == PAGE_SIZE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let body = html! {
        p { "Balance: " strong { (money(currency, account.balance_minor)) } " · "
            a href="/ledger.csv" download="ledger.csv" { "Download all as CSV" } }
        @if entries.is_empty() {
            (alert("No money has moved on this account yet."))
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table #ledger {
                    caption { "Ledger, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Number" }
                        th scope="col" { "Amount" } th scope="col" { "Balance after" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (when(e.created_at)) }
                                td { (e.description) }
                                td { @if let Some(n) = &e.did_number { (number(n, &country_of(n))) } }
                                td.amount { (money(currency, e.amount_minor)) }
                                td.amount { (money(currency, e.balance_after_minor)) }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if query.before.is_some() { a href="/ledger" { "Newest" } }
                @if let Some(id) = next { a rel="next" href={ "/ledger?before=" (id) } { "Older" } }
            }
        }
    };
    page(&csrf, "Ledger", body)
}

/// The ISO code of a stored number's country, for display.
fn country_of(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .ok()
        .and_then(|n| n.country().id())
        .map(|id| id.as_ref().to_owned())
        .unwrap_or_default()
}

async fn all_entries(service: &Service, account_id: i64) -> Result<Vec<LedgerEntry>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let batch = service.ledger(account_id, before, CSV_BATCH).await?;
        let full = batch.len() as i64 == CSV_BATCH;
        before = batch.last().map(|e| e.id);
        all.extend(batch);
        if !full {
            return Ok(all);
        }
    }
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at
/// the start) gets a leading apostrophe (OWASP's CSV injection advice):
/// descriptions can carry an operator's free-text reason.
fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn to_csv(entries: &[LedgerEntry], currency: Currency) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "created_at",
        "kind",
        "amount",
        "currency",
        "balance_after",
        "number",
        "description",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for e in entries {
        rows.push(vec![
            e.id.to_string(),
            rfc3339(e.created_at),
            e.kind.clone(),
            currency.format_minor(e.amount_minor),
            currency.code().to_owned(),
            currency.format_minor(e.balance_after_minor),
            e.did_number.clone().unwrap_or_default(),
            spreadsheet_safe(&e.description),
        ]);
    }
    for row in rows {
        // Writing to memory cannot fail.
        let _ = writer.write_record(&row);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

pub async fn csv(State(state): State<AppState>, customer: Customer, csrf: CsrfToken) -> Response {
    let service = &state.service;
    let account = match service.account_summary(customer.account_id).await {
        Ok(account) => account,
        Err(error) => return refusal(&csrf, error),
    };
    match all_entries(service, customer.account_id).await {
        Ok(entries) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"ledger.csv\"",
                ),
            ],
            to_csv(&entries, account.currency),
        )
            .into_response(),
        Err(error) => refusal(&csrf, error),
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn a_description_a_spreadsheet_would_evaluate_is_quoted() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            spreadsheet_safe("setup fee for +33123456789"),
            "setup fee for +33123456789"
        );
    }
}
