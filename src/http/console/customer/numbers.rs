//! `/numbers`: the account's numbers, the forwarding editor and release.
//! Other accounts' numbers are "not found", exactly as in the API.

use super::super::page::{alert, csrf_field, day, message, money_in, notice, number};
use super::super::session::{CsrfToken, Customer};
use super::login::CsrfOnly;
use super::{page, refusal};
use crate::domain::ForwardType;
use crate::http::AppState;
use crate::service::{Did, DidStatus, Error};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

fn type_label(kind: ForwardType) -> &'static str {
    match kind {
        ForwardType::Extension => "Extension on my PBX",
        ForwardType::Pstn => "Phone number (PSTN)",
        ForwardType::Sip => "SIP URI",
        ForwardType::AccessNumber => "Access number (DISA)",
        ForwardType::Ip => "IP address",
    }
}

/// An owner sees "active" or "released"; any other state (none should reach
/// an owner) by its name.
fn status_label(status: DidStatus) -> String {
    match status {
        DidStatus::Assigned => "active".to_owned(),
        DidStatus::Aging => "released".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn forwarding(did: &Did) -> String {
    match (&did.forward, did.forward_type()) {
        (Some(f), Some(kind)) if f.destination.is_empty() => type_label(kind).to_owned(),
        (Some(f), Some(kind)) => format!("{}: {}", type_label(kind), f.destination),
        _ => "not forwarded".to_owned(),
    }
}

pub async fn list(State(state): State<AppState>, customer: Customer, csrf: CsrfToken) -> Response {
    let dids = match state.service.list_numbers(customer.account_id).await {
        Ok(dids) => dids,
        Err(error) => return refusal(&csrf, error),
    };
    let body = html! {
        @if dids.is_empty() {
            p { "You have no numbers yet. " a href="/search" { "Buy one" } "." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table #numbers {
                    caption { "My numbers" }
                    thead { tr { th scope="col" { "Number" } th scope="col" { "Status" } th scope="col" { "Forwarding" }
                        th scope="col" { "Paid through" } th scope="col" { "Monthly" } } }
                    tbody {
                        @for did in &dids {
                            tr {
                                td { a href={ "/numbers/" (did.id) } { (number(&did.number, &did.country)) } }
                                td { (status_label(did.status)) }
                                td { (forwarding(did)) }
                                td { (did.paid_through.map(day).unwrap_or_default()) }
                                td { (money_in(&did.currency, did.monthly_minor)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&csrf, "My numbers", body)
}

/// Where a forwarding refusal is shown: next to the type or the destination.
fn field_of(error: &Error) -> &'static str {
    match error {
        Error::BadRequest {
            code: "invalid_forward_type",
            ..
        }
        | Error::Unprocessable {
            code: "pbx_host_required" | "disa_not_configured",
            ..
        } => "type",
        _ => "destination",
    }
}

struct Editor<'a> {
    kind: &'a str,
    destination: &'a str,
    error: Option<(&'static str, String)>,
}

fn editor(csrf: &CsrfToken, did: &Did, values: &Editor<'_>) -> Markup {
    let error_for = |field: &str| {
        values
            .error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.clone())
    };
    let type_error = error_for("type");
    let destination_error = error_for("destination");
    html! {
        form.card method="post" action={ "/numbers/" (did.id) "/forward" } novalidate {
            h2 { "Forwarding" }
            (csrf_field(csrf))
            label for="forward-type" { "Forward to" }
            select #forward-type name="type" aria-invalid=[type_error.as_ref().map(|_| "true")]
                aria-describedby=[type_error.as_ref().map(|_| "type-error")] {
                @for kind in ForwardType::ALL {
                    option value=(kind.code()) selected[values.kind == kind.code()] { (type_label(kind)) }
                }
            }
            @if let Some(text) = &type_error { p.field-error #type-error { (text) } }
            label for="destination" { "Destination" }
            input #destination name="destination" value=(values.destination)
                aria-invalid=[destination_error.as_ref().map(|_| "true")]
                aria-describedby={ "destination-hint" @if destination_error.is_some() { " destination-error" } };
            p.hint #destination-hint { "An extension (101), a phone number in national or international format (01 23 45 67 89, +33 1 23 45 67 89), a SIP URI (sip:desk@pbx.example.com), an IP address (192.0.2.10:5060), or an access code (may be empty)." }
            @if let Some(text) = &destination_error { p.field-error #destination-error role="alert" { (text) } }
            button type="submit" { "Save forwarding" }
        }
    }
}

fn detail_page(
    csrf: &CsrfToken,
    did: &Did,
    values: &Editor<'_>,
    banner: Option<Markup>,
) -> Response {
    let body = html! {
        @if let Some(banner) = banner { (banner) }
        dl.figures {
            div { dt { "Number" } dd #did-number { (number(&did.number, &did.country)) } }
            div { dt { "Type" } dd { (did.did_type.display_name()) } }
            div { dt { "Status" } dd { (status_label(did.status)) } }
            div { dt { "Forwarding" } dd #did-forward { (forwarding(did)) } }
            div { dt { "Paid through" } dd { (did.paid_through.map(day).unwrap_or_default()) } }
            div { dt { "Monthly" } dd { (money_in(&did.currency, did.monthly_minor)) } }
        }
        (editor(csrf, did, values))
        p { a.danger href={ "/numbers/" (did.id) "/release" } { "Release this number…" } }
    };
    page(csrf, "Number", body)
}

fn current(did: &Did) -> Editor<'_> {
    Editor {
        kind: did.forward.as_ref().map_or("pstn", |f| f.kind.as_str()),
        destination: did.forward.as_ref().map_or("", |f| f.destination.as_str()),
        error: None,
    }
}

#[derive(Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    bought: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> Response {
    match state
        .service
        .owned_number(customer.account_id, did_id)
        .await
    {
        Ok(did) => {
            let banner = match (query.bought, query.saved) {
                (Some(_), _) => Some(notice(
                    "Bought: the number is yours. Set its forwarding below.",
                )),
                (_, Some(_)) => Some(notice("Forwarding saved.")),
                _ => None,
            };
            detail_page(&csrf, &did, &current(&did), banner)
        }
        Err(error) => refusal(&csrf, error),
    }
}

#[derive(Deserialize)]
pub struct ForwardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    destination: String,
}

pub async fn forward(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
    Form(form): Form<ForwardForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    let service = &state.service;
    let outcome = service
        .set_forward(
            customer.account_id,
            did_id,
            &[crate::service::ForwardRequest {
                kind: form.kind.clone(),
                destination: form.destination.clone(),
                timeout_seconds: None,
            }],
        )
        .await;
    let error = match outcome {
        Ok(_) => return Redirect::to(&format!("/numbers/{did_id}?saved=1")).into_response(),
        Err(error) => error,
    };
    let did = match service.owned_number(customer.account_id, did_id).await {
        Ok(did) => did,
        Err(other) => return refusal(&csrf, other),
    };
    let values = Editor {
        kind: &form.kind,
        destination: &form.destination,
        error: Some((field_of(&error), message(&error))),
    };
    let status = crate::http::error::ApiError(error).into_response().status();
    (status, detail_page(&csrf, &did, &values, None)).into_response()
}

pub async fn confirm_release(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
) -> Response {
    let did = match state
        .service
        .owned_number(customer.account_id, did_id)
        .await
    {
        Ok(did) => did,
        Err(error) => return refusal(&csrf, error),
    };
    let aging_days = state.service.settings().aging_secs / 86_400;
    let body = html! {
        (alert(&format!(
            "Releasing {} takes it off your account now. What you paid is not refunded. \
             The number then ages for {aging_days} days before anyone can buy it again.",
            number(&did.number, &did.country)
        )))
        form method="post" action={ "/numbers/" (did.id) "/release" } {
            (csrf_field(&csrf))
            button.danger #confirm-release type="submit" { "Release without refund" }
            " " a href={ "/numbers/" (did.id) } { "Keep it" }
        }
    };
    page(&csrf, "Release a number", body)
}

pub async fn release(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    match state.service.release(customer.account_id, did_id).await {
        Ok(_) => Redirect::to("/numbers").into_response(),
        Err(error) => refusal(&csrf, error),
    }
}
