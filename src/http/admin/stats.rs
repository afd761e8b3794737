//! `GET /admin/v1/stats`: numbers per country and status, sales and revenue
//! per day (from the ledger) and call totals for a date range.

use super::{Admin, query};
use crate::domain::Currency;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::service::Service;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Longest date range one request may ask for.
const MAX_DAYS: i64 = 366;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/stats", get(stats))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// First day, YYYY-MM-DD (UTC).
    from: String,
    /// Last day included, YYYY-MM-DD (UTC); at most 366 days after `from`.
    to: String,
}

#[derive(Serialize, ToSchema, Default)]
pub struct CountryNumbers {
    pub country: String,
    pub on_sale: i64,
    pub owned: i64,
    pub aging: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DayJson {
    pub date: String,
    pub currency: String,
    /// Numbers sold that day.
    pub sales: i64,
    /// Setup fees and monthly charges that day.
    #[schema(example = "12.50")]
    pub revenue: String,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    pub numbers: Vec<CountryNumbers>,
    pub days: Vec<DayJson>,
    /// Calls reported by the SBC (`POST /v1/calls`) that started in the range.
    pub calls: CallTotals,
}

#[derive(Serialize, ToSchema)]
pub struct CallTotals {
    pub total: i64,
    pub answered: i64,
    pub missed: i64,
    pub failed: i64,
    /// Seconds talked on answered calls.
    pub seconds: i64,
}

fn date(name: &str, text: &str) -> Result<i64, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| ApiError::bad_request("invalid_date", format!("{name} must be YYYY-MM-DD")))
}

/// Numbers per country and sales/revenue per day (readonly).
#[utoipa::path(get, path = "/admin/v1/stats", tag = "admin", params(StatsParams),
    security(("operator_key" = [])),
    responses((status = 200, body = Stats), (status = 400, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    Admin(op): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<Stats>, ApiError> {
    op.require(Access::Read)?;
    let params: StatsParams = query(raw.as_deref())?;
    Ok(Json(
        compute(&state.service, &params.from, &params.to).await?,
    ))
}

/// The stats for the days `from` to `to` (YYYY-MM-DD, UTC, both included):
/// what the endpoint answers, and what `didhub stats` prints from the database.
pub async fn compute(service: &Service, from: &str, to: &str) -> Result<Stats, ApiError> {
    let from = date("from", from)?;
    let until = date("to", to)? + 86_400;
    if until <= from || until - from > MAX_DAYS * 86_400 {
        return Err(ApiError::bad_request(
            "invalid_range",
            "to must be on or after from, at most 366 days later",
        ));
    }
    let mut numbers: BTreeMap<String, CountryNumbers> = BTreeMap::new();
    for count in service.inventory_counts().await? {
        let entry = numbers.entry(count.country.clone()).or_default();
        entry.country = count.country;
        match count.status.as_str() {
            "available" => entry.on_sale += count.count,
            "assigned" => entry.owned += count.count,
            "aging" => entry.aging += count.count,
            // Withdrawn numbers are neither on sale, owned nor aging.
            _ => {}
        }
    }
    let days = service.sales_per_day(from, until).await?;
    let calls = service.call_totals(from, until).await?;
    Ok(Stats {
        calls: CallTotals {
            total: calls.total(),
            answered: calls.answered,
            missed: calls.missed,
            failed: calls.failed,
            seconds: calls.seconds,
        },
        numbers: numbers.into_values().collect(),
        days: days
            .into_iter()
            .map(|d| {
                let currency = Currency::parse(&d.currency).unwrap_or(Currency::USD);
                DayJson {
                    date: crate::domain::billing::rfc3339(d.day * 86_400)
                        .chars()
                        .take(10)
                        .collect(),
                    currency: currency.code().to_owned(),
                    sales: d.sales,
                    revenue: currency.format_minor(d.revenue_minor),
                }
            })
            .collect(),
    })
}
