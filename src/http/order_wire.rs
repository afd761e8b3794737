//! JSON shapes of holds, bulk orders and quotes (same conventions as `wire.rs`:
//! amounts as decimal strings of the account's currency, times RFC 3339 UTC).

use super::error::{ErrorDetail, status_and_code};
use super::wire::AssignResponse;
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::service::{Hold, Order, OrderFailure, Quote};
use serde::Serialize;
use utoipa::ToSchema;

fn currency_of(code: &str) -> Currency {
    Currency::parse(code).unwrap_or(Currency::USD)
}

#[derive(Serialize, ToSchema)]
pub struct HoldJson {
    pub did_id: i64,
    pub did_number: String,
    /// When the hold ends by itself.
    pub held_until: String,
}

impl From<&Hold> for HoldJson {
    fn from(hold: &Hold) -> HoldJson {
        HoldJson {
            did_id: hold.did_id,
            did_number: hold.number.clone(),
            held_until: rfc3339(hold.held_until),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HoldsResponse {
    pub count: usize,
    pub holds: Vec<HoldJson>,
}

impl HoldsResponse {
    pub fn new(holds: &[Hold]) -> HoldsResponse {
        HoldsResponse {
            count: holds.len(),
            holds: holds.iter().map(HoldJson::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UnholdResponse {
    /// How many of the named numbers the account held.
    pub count: usize,
    /// The did_ids whose holds were lifted.
    pub unheld: Vec<i64>,
}

/// A number a partial order (or its quote) did not buy, with the error it
/// would have answered alone.
#[derive(Serialize, ToSchema)]
pub struct FailedJson {
    pub did_id: i64,
    pub error: ErrorDetail,
}

impl From<&OrderFailure> for FailedJson {
    fn from(failure: &OrderFailure) -> FailedJson {
        let error = failure.error();
        let (_, code) = status_and_code(&error);
        FailedJson {
            did_id: failure.did_id,
            error: ErrorDetail {
                code: code.to_owned(),
                message: error.to_string(),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    /// Numbers bought.
    pub count: usize,
    /// Each number bought, as the single-number `did/assign` answers it.
    pub dids: Vec<AssignResponse>,
    /// Numbers not bought (only with `partial=true`).
    pub failed: Vec<FailedJson>,
    pub total_charged: String,
    /// Balance after the order.
    pub balance: String,
    pub currency: String,
}

impl From<&Order> for OrderResponse {
    fn from(order: &Order) -> OrderResponse {
        let currency = currency_of(&order.currency);
        OrderResponse {
            count: order.purchases.len(),
            dids: order.purchases.iter().map(AssignResponse::from).collect(),
            failed: order.failures.iter().map(FailedJson::from).collect(),
            total_charged: currency.format_minor(order.total_minor),
            balance: currency.format_minor(order.balance_minor),
            currency: currency.code().to_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct QuoteLineJson {
    pub did_id: i64,
    pub did_number: String,
    pub setup_fee: String,
    pub first_month: String,
    /// setup_fee + first_month.
    pub total: String,
}

/// What the order would charge now; nothing was changed.
#[derive(Serialize, ToSchema)]
pub struct QuoteResponse {
    /// Always true: this is a quote.
    pub dry_run: bool,
    pub count: usize,
    pub dids: Vec<QuoteLineJson>,
    /// Numbers a partial order would not buy.
    pub failed: Vec<FailedJson>,
    /// What the order would charge in all.
    pub total: String,
    /// The balance now.
    pub balance: String,
    /// Whether the balance covers `total`.
    pub covered: bool,
    /// The balance the order would leave (null when not covered).
    pub balance_after: Option<String>,
    pub currency: String,
}

impl From<&Quote> for QuoteResponse {
    fn from(quote: &Quote) -> QuoteResponse {
        let currency = currency_of(&quote.currency);
        QuoteResponse {
            dry_run: true,
            count: quote.lines.len(),
            dids: quote
                .lines
                .iter()
                .map(|line| QuoteLineJson {
                    did_id: line.did_id,
                    did_number: line.number.clone(),
                    setup_fee: currency.format_minor(line.setup_minor),
                    first_month: currency.format_minor(line.monthly_minor),
                    total: currency.format_minor(line.setup_minor + line.monthly_minor),
                })
                .collect(),
            failed: quote.failures.iter().map(FailedJson::from).collect(),
            total: currency.format_minor(quote.total_minor),
            balance: currency.format_minor(quote.balance_minor),
            covered: quote.covered,
            balance_after: quote
                .covered
                .then(|| currency.format_minor(quote.balance_minor - quote.total_minor)),
            currency: currency.code().to_owned(),
        }
    }
}
