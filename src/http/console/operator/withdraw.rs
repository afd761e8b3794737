//! `/operator/inventory/withdraw`: take available numbers off sale, by numbers
//! listed one per line or by country and/or type, through the admin API's
//! `withdraw_as` (admin only, as `POST /admin/v1/inventory/withdraw`).

use super::super::page::{alert, countries, csrf_field, message, notice};
use super::super::session::{CsrfToken, OperatorSession};
use super::inventory::inventory_page;
use super::refused_unless;
use crate::domain::operator::Access;
use crate::domain::{CountryCode, DidType, E164};
use crate::http::AppState;
use crate::service::{Error, Withdrawal, Withdrawn};
use crate::store::dids::NumberFilter;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

pub fn form(csrf: &CsrfToken) -> Markup {
    html! {
        form.card method="post" action="/operator/inventory/withdraw" {
            h2 { "Withdraw available numbers" }
            (csrf_field(csrf))
            label for="withdraw-numbers" { "Numbers (international format, one per line)" }
            textarea #withdraw-numbers name="numbers" rows="4" {}
            label for="withdraw-country" { "Country" }
            select #withdraw-country name="country" {
                option value="" { "Any country" }
                @for (code, name) in countries() { option value=(code) { (code) " " (name) } }
            }
            label for="withdraw-type" { "Type" }
            select #withdraw-type name="type" {
                option value="" { "All types" }
                @for t in DidType::ALL { option value=(t.code()) { (t.display_name()) } }
            }
            p.hint { "Without numbers, every available number of the country and/or type is withdrawn. Sold and aging numbers are left as they are; importing a number puts it back on sale." }
            button.danger type="submit" { "Withdraw" }
        }
    }
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    numbers: String,
    #[serde(default)]
    country: String,
    #[serde(default, rename = "type")]
    did_type: String,
}

fn withdrawal(form: &WithdrawForm) -> Result<Withdrawal, Error> {
    let country = match form.country.trim() {
        "" => None,
        c => Some(CountryCode::parse(c).ok_or_else(|| {
            Error::bad_request("invalid_country", format!("unknown country {c:?}"))
        })?),
    };
    let did_type = match form.did_type.trim() {
        "" => None,
        t => Some(
            DidType::parse(t)
                .ok_or_else(|| Error::bad_request("invalid_type", format!("unknown type {t:?}")))?,
        ),
    };
    Ok(Withdrawal {
        filter: NumberFilter {
            country: country.as_ref().map(|c| c.as_str().to_owned()),
            did_type: did_type.map(|t| t.code().to_owned()),
            ..NumberFilter::default()
        },
        ids: Vec::new(),
        numbers: form
            .numbers
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| listed(line, country.as_ref()))
            .collect(),
    })
}

/// A listed number in E.164, as the page shows numbers with spaces (national
/// input is read in the chosen country); a line that is no phone number is
/// passed on as typed, and reported as not in the inventory.
fn listed(line: &str, country: Option<&CountryCode>) -> String {
    E164::parse(line, country)
        .map(|e164| e164.as_str().to_owned())
        .unwrap_or_else(|_| line.to_owned())
}

/// Why a listed number stayed on sale, in words.
fn reason(code: &str) -> &str {
    match code {
        "assigned" => "sold to a customer",
        "aging" => "aging after a release",
        "withdrawn" => "already withdrawn",
        "not_found" => "not in the inventory",
        "not_matching" => "not of the chosen country or type",
        other => other,
    }
}

fn report(done: &Withdrawn) -> Markup {
    html! {
        section #withdraw-report aria-labelledby="withdraw-title" {
            h2 #withdraw-title { "Withdrawal" }
            (notice(&format!("Withdrawn: {}. Left as they were: {}.", done.withdrawn, done.skipped.len())))
            @if !done.skipped.is_empty() {
                div.scroll tabindex="0" role="region" aria-label="Numbers left on sale, scrolls sideways" {
                    table #withdraw-skipped {
                        caption { "Numbers not withdrawn" }
                        thead { tr { th scope="col" { "Number" } th scope="col" { "Why" } } }
                        tbody { @for s in &done.skipped { tr {
                            td { (s.number.clone().unwrap_or_default()) }
                            td { (reason(&s.reason)) }
                        } } }
                    }
                }
            }
        }
    }
}

pub async fn withdraw(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Form(form): Form<WithdrawForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Manage) {
        return refused;
    }
    let outcome = match withdrawal(&form) {
        Ok(withdrawal) => {
            state
                .service
                .withdraw_as(Some(&operator.0), &withdrawal)
                .await
        }
        Err(error) => Err(error),
    };
    let banner = match outcome {
        Ok(done) => report(&done),
        Err(error) => alert(&message(&error)),
    };
    inventory_page(&state, &operator, &csrf, Some(banner)).await
}
