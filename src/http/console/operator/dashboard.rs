//! `GET /operator`: sales and revenue per day over 90 days, numbers on sale
//! vs owned per country (top 20), and renewals due in the next 30 days.

use super::super::page::{alert, day, message, money_in};
use super::super::session::{CsrfToken, OperatorSession};
use super::charts::{columns, paired_rows};
use super::{page, refused_unless};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::service::Error;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use std::collections::BTreeMap;

const DAY: i64 = 86_400;
const SALES_DAYS: i64 = 90;
const RENEWAL_DAYS: i64 = 30;
const TOP_COUNTRIES: usize = 20;
/// Enough to chart; a larger book shows its first this many.
const MAX_RENEWALS: i64 = 10_000;

async fn sales(state: &AppState) -> Result<Markup, Error> {
    let today = state.service.now().div_euclid(DAY);
    let from = (today - SALES_DAYS + 1) * DAY;
    let days = state.service.sales_per_day(from, (today + 1) * DAY).await?;
    let currency = state.service.settings().default_currency.code();
    let mut sales = Vec::new();
    let mut revenue = Vec::new();
    for d in today - SALES_DAYS + 1..=today {
        let of_day: Vec<_> = days.iter().filter(|s| s.day == d).collect();
        sales.push((day(d * DAY), of_day.iter().map(|s| s.sales).sum::<i64>()));
        let minor: i64 = of_day
            .iter()
            .filter(|s| s.currency == currency)
            .map(|s| s.revenue_minor)
            .sum();
        revenue.push((day(d * DAY), minor));
    }
    let total_sales: i64 = sales.iter().map(|(_, n)| n).sum();
    let total_revenue: i64 = revenue.iter().map(|(_, n)| n).sum();
    Ok(html! {
        (columns("sales-chart", "Numbers sold per day, last 90 days", &format!("{total_sales} sold"), &sales, |n| format!("{n} sold")))
        (columns("revenue-chart", &format!("Revenue per day in {currency}, last 90 days"),
            &format!("{} in total", money_in(currency, total_revenue)), &revenue, |m| money_in(currency, m)))
    })
}

async fn countries(state: &AppState) -> Result<Markup, Error> {
    let mut per_country: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for c in state.service.inventory_counts().await? {
        let entry = per_country.entry(c.country).or_default();
        match c.status.as_str() {
            "available" => entry.0 += c.count,
            "assigned" => entry.1 += c.count,
            _ => {}
        }
    }
    let mut rows: Vec<(String, i64, i64)> = per_country
        .into_iter()
        .map(|(c, (a, b))| (c, a, b))
        .collect();
    rows.sort_by(|x, y| (y.2, y.1).cmp(&(x.2, x.1)).then(x.0.cmp(&y.0)));
    rows.truncate(TOP_COUNTRIES);
    Ok(paired_rows(
        "countries-chart",
        "On sale vs owned, top 20 countries",
        &rows,
    ))
}

async fn renewals(state: &AppState) -> Result<Markup, Error> {
    let due = state
        .service
        .renewals_due(RENEWAL_DAYS * DAY, MAX_RENEWALS)
        .await?;
    let today = state.service.now().div_euclid(DAY);
    let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
    let mut amounts: BTreeMap<String, i64> = BTreeMap::new();
    for did in &due {
        let d = did.paid_through.unwrap_or(0).div_euclid(DAY).max(today);
        *per_day.entry(d).or_default() += 1;
        *amounts.entry(did.currency.clone()).or_default() += did.monthly_minor;
    }
    let bars: Vec<(String, i64)> = (today..today + RENEWAL_DAYS)
        .map(|d| (day(d * DAY), per_day.get(&d).copied().unwrap_or(0)))
        .collect();
    let worth: Vec<String> = amounts.iter().map(|(c, m)| money_in(c, *m)).collect();
    let summary = format!(
        "{} renewals worth {}",
        due.len(),
        if worth.is_empty() {
            "nothing".to_owned()
        } else {
            worth.join(" + ")
        }
    );
    Ok(columns(
        "renewals-chart",
        "Renewals due in the next 30 days",
        &summary,
        &bars,
        |n| format!("{n} due"),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    let parts = [
        sales(&state).await,
        countries(&state).await,
        renewals(&state).await,
    ];
    let body = html! {
        p { "Signed in with key " strong { (operator.0.name) } " (" (operator.0.role.code()) ")." }
        div.charts {
            @for part in &parts {
                @match part { Ok(chart) => (chart), Err(error) => (alert(&message(error))) }
            }
        }
    };
    page(&csrf, "Dashboard", body)
}
