//! `GET/POST /buy/{did_id}`: the exact charge, then one confirmation. The
//! form carries an idempotency key made when it was shown, so a double
//! submit buys once (the API's `did/assign` rule).

use super::super::page::{alert, csrf_field, message, money, money_in, number};
use super::super::session::{CsrfToken, Customer};
use super::{page, refusal};
use crate::http::AppState;
use crate::service::{AssignRequest, PurchaseQuote};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
}

fn confirmation(csrf: &CsrfToken, quote: &PurchaseQuote, error: Option<&str>) -> Response {
    let did = &quote.did;
    let mut key = [0u8; 16];
    rand::fill(&mut key);
    let body = html! {
        @if let Some(error) = error { (alert(error)) }
        dl.figures {
            div { dt { "Number" } dd #quote-number { (number(&did.number, &did.country)) } }
            div { dt { "Type" } dd { (did.did_type.display_name()) } }
            div { dt { "Setup fee" } dd { (money_in(&did.currency, did.setup_minor)) } }
            div { dt { "First month" } dd { (money_in(&did.currency, did.monthly_minor)) } }
            div { dt { "Charged now" } dd #quote-total { strong { (money_in(&did.currency, quote.total_minor)) } } }
            div { dt { "Your balance" } dd { (money(quote.account_currency, quote.balance_minor)) } }
            div { dt { "Balance after" } dd { (money(quote.account_currency, quote.balance_after_minor())) } }
            div { dt { "Then every month" } dd { (money_in(&did.currency, did.monthly_minor)) } }
        }
        @if quote.affordable() {
            form method="post" action={ "/buy/" (did.id) } {
                (csrf_field(csrf))
                input type="hidden" name="idempotency_key" value=(hex::encode(key));
                button #confirm-buy type="submit" {
                    "Buy for " (money_in(&did.currency, quote.total_minor))
                }
                " " a href="/search" { "Cancel" }
            }
        } @else {
            (alert("Your balance does not cover this charge."))
            p { a href="/search" { "Back to the search" } }
        }
    };
    page(csrf, "Confirm the purchase", body)
}

pub async fn confirm(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
) -> Response {
    match state
        .service
        .purchase_quote(customer.account_id, did_id)
        .await
    {
        Ok(quote) => confirmation(&csrf, &quote, None),
        Err(error) => refusal(&csrf, error),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Path(did_id): Path<i64>,
    Form(form): Form<BuyForm>,
) -> Response {
    if let Err(refused) = csrf.check(&form.csrf) {
        return refused.into_response();
    }
    let request = AssignRequest {
        did_id,
        idempotency_key: Some(form.idempotency_key).filter(|k| !k.is_empty()),
    };
    match state.service.assign(customer.account_id, &request).await {
        Ok(purchase) => {
            Redirect::to(&format!("/numbers/{}?bought=1", purchase.did.id)).into_response()
        }
        Err(error) => {
            let text = message(&error);
            match state
                .service
                .purchase_quote(customer.account_id, did_id)
                .await
            {
                Ok(quote) => {
                    let status = crate::http::error::ApiError(error).into_response().status();
                    (status, confirmation(&csrf, &quote, Some(&text))).into_response()
                }
                Err(_) => refusal(&csrf, error),
            }
        }
    }
}
