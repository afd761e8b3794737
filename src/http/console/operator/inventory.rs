//! `/operator/inventory`: counts per country, type and status; CSV upload
//! with the per-line report (the admin API's strict import); reprice;
//! withdraw (in `withdraw.rs`).

use super::super::page::{alert, countries, country_name, csrf_field, message, notice};
use super::super::session::{CsrfToken, OperatorSession};
use super::{may, page, refusal, refused_unless};
use crate::domain::operator::Access;
use crate::domain::{CountryCode, Currency, DidType};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::service::{CsvMode, Error, ImportReport, Repricing};
use crate::store::dids::NumberFilter;
use axum::Form;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

async fn counts(state: &AppState) -> Result<Markup, Error> {
    let counts = state.service.inventory_counts().await?;
    Ok(html! {
        div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
            table #inventory-counts {
                caption { "Numbers per country, type and status" }
                thead { tr { th scope="col" { "Country" } th scope="col" { "Type" } th scope="col" { "Status" } th scope="col" { "Count" } } }
                tbody {
                    @for c in &counts {
                        tr { td { (c.country) " " (country_name(&c.country)) } td { (c.did_type) } td { (c.status) } td.amount { (c.count) } }
                    }
                }
            }
        }
    })
}

fn upload_form(csrf: &CsrfToken) -> Markup {
    html! {
        form.card method="post" action="/operator/inventory/upload" enctype="multipart/form-data" data-upload {
            h2 { "Upload inventory (CSV)" }
            (csrf_field(csrf))
            label for="csv-file" { "CSV file" }
            input #csv-file name="file" type="file" accept=".csv,text/csv" required;
            p.hint { "Columns: " code { (crate::service::inventory_columns()) } ". Valid rows are imported; the others are reported by line." }
            progress #upload-progress max="100" value="0" hidden aria-label="Upload progress" {}
            p #upload-status role="status" {}
            button type="submit" { "Upload" }
        }
    }
}

fn reprice_form(csrf: &CsrfToken, currency: Currency) -> Markup {
    html! {
        form.card method="post" action="/operator/inventory/reprice" {
            h2 { "Reprice available numbers" }
            (csrf_field(csrf))
            label for="reprice-country" { "Country" }
            select #reprice-country name="country" required {
                @for (code, name) in countries() { option value=(code) { (code) " " (name) } }
            }
            label for="reprice-type" { "Type" }
            select #reprice-type name="type" {
                option value="" { "All types" }
                @for t in DidType::ALL { option value=(t.code()) { (t.display_name()) } }
            }
            label for="reprice-currency" { "Currency" }
            input #reprice-currency name="currency" value=(currency.code()) maxlength="3" required;
            label for="reprice-setup" { "Setup fee" }
            input #reprice-setup name="setup_fee" inputmode="decimal" required;
            label for="reprice-monthly" { "Monthly cost" }
            input #reprice-monthly name="monthly_cost" inputmode="decimal" required;
            button type="submit" { "Reprice" }
        }
    }
}

pub(super) async fn inventory_page(
    state: &AppState,
    operator: &OperatorSession,
    csrf: &CsrfToken,
    banner: Option<Markup>,
) -> Response {
    let counts = match counts(state).await {
        Ok(counts) => counts,
        Err(error) => return refusal(csrf, error),
    };
    let manage = may(&operator.0, Access::Manage);
    let body = html! {
        @if let Some(banner) = banner { (banner) }
        @if manage { div.charts {
            (upload_form(csrf))
            (reprice_form(csrf, state.service.settings().default_currency))
            (super::withdraw::form(csrf))
        } }
        (counts)
    };
    page(csrf, "Inventory", body)
}

pub async fn show(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    inventory_page(&state, &operator, &csrf, None).await
}

fn report(report: &ImportReport) -> Markup {
    html! {
        section #upload-report aria-labelledby="report-title" {
            h2 #report-title { "Upload report" }
            (notice(&format!("{} added, {} updated, {} unchanged, {} in use (left as they are), {} refused.",
                report.inserted, report.updated, report.unchanged, report.in_use, report.rejected)))
            @if !report.problems.is_empty() {
                div.scroll tabindex="0" role="region" aria-label="Refused lines, scrolls sideways" {
                    table #upload-problems {
                        caption { "Refused lines" }
                        thead { tr { th scope="col" { "Line" } th scope="col" { "Problem" } } }
                        tbody { @for p in &report.problems { tr { td { (p.line) } td { (p.message) } } } }
                    }
                }
            }
        }
    }
}

/// The CSRF field and the file, in either order.
async fn read_upload(mut form: Multipart) -> Result<(String, String), Error> {
    let invalid = |e: axum::extract::multipart::MultipartError| {
        Error::bad_request("invalid_upload", e.body_text())
    };
    let (mut csrf, mut text) = (String::new(), String::new());
    while let Some(field) = form.next_field().await.map_err(invalid)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(invalid)?,
            Some("file") => {
                let bytes = field.bytes().await.map_err(invalid)?;
                text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::bad_request("invalid_csv", "the CSV must be UTF-8"))?;
            }
            _ => {}
        }
    }
    Ok((csrf, text))
}

pub async fn upload(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    form: Multipart,
) -> Response {
    let (submitted, text) = match read_upload(form).await {
        Ok(read) => read,
        Err(error) => return refusal(&csrf, error),
    };
    if let Err(refused) = csrf.check(&submitted) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Manage) {
        return refused;
    }
    match state
        .service
        .import_inventory_as(Some(&operator.0), &text, CsvMode::Strict)
        .await
    {
        Ok(done) => inventory_page(&state, &operator, &csrf, Some(report(&done))).await,
        Err(error) => {
            let text = message(&error);
            let status = ApiError(error).into_response().status();
            (
                status,
                inventory_page(&state, &operator, &csrf, Some(alert(&text))).await,
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct RepriceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    country: String,
    #[serde(default, rename = "type")]
    did_type: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    setup_fee: String,
    #[serde(default)]
    monthly_cost: String,
}

fn repricing(form: &RepriceForm) -> Result<Repricing, Error> {
    let country = CountryCode::parse(&form.country).ok_or_else(|| {
        Error::bad_request(
            "unknown_country",
            format!("unknown country {:?}", form.country),
        )
    })?;
    let did_type = match form.did_type.as_str() {
        "" => None,
        t => Some(
            DidType::parse(t)
                .ok_or_else(|| Error::bad_request("invalid_type", format!("unknown type {t:?}")))?,
        ),
    };
    let currency = Currency::parse(form.currency.trim()).ok_or_else(|| {
        Error::bad_request(
            "invalid_currency",
            format!("unknown currency {:?}", form.currency),
        )
    })?;
    let amount = |text: &str| {
        currency
            .parse_minor(text.trim())
            .map_err(|e| Error::bad_request("invalid_amount", e.to_string()))
    };
    Ok(Repricing {
        filter: NumberFilter {
            country: Some(country.as_str().to_owned()),
            did_type: did_type.map(|t| t.code().to_owned()),
            ..NumberFilter::default()
        },
        numbers: Vec::new(),
        currency,
        setup_minor: amount(&form.setup_fee)?,
        monthly_minor: amount(&form.monthly_cost)?,
    })
}

pub async fn reprice(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Form(form): Form<RepriceForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Manage) {
        return refused;
    }
    let outcome = match repricing(&form) {
        Ok(repricing) => state.service.reprice_as(&operator.0, &repricing).await,
        Err(error) => Err(error),
    };
    let banner = match outcome {
        Ok(changed) => notice(&format!("{changed} available numbers repriced.")),
        Err(error) => alert(&message(&error)),
    };
    inventory_page(&state, &operator, &csrf, Some(banner)).await
}
