//! Bulk orders: `did/assign` with several numbers (all or nothing, or per
//! number with `partial`), `did/order` by criteria, and quotes (`dry_run`) of
//! both. An order is one transaction and one idempotency key; each number in
//! it is sold by the same steps as a single purchase (`purchase.rs`).

use super::holds::check_ids;
use super::purchase::{Sold, did_held, replay_or_claim, sell};
use super::search::{Filters, parse_filters};
use super::{Error, Purchase, Result, Service};
use crate::domain::Currency;
use crate::domain::event::EventType;
use crate::store::holds::{Criteria, Offer};
use crate::store::{Tx, accounts, holds, idempotency};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use std::collections::HashSet;

/// Most numbers one order may buy.
pub const MAX_ORDER: usize = 100;
/// Rounds of picking by criteria before giving up on numbers others keep taking.
const PICK_ROUNDS: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct OrderRequest {
    pub did_ids: Vec<i64>,
    /// Buy what can be bought and report the rest, instead of all or nothing.
    pub partial: bool,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct OrderCriteria {
    pub country: String,
    pub did_type: Option<String>,
    pub prefix: Option<String>,
    pub area_code: Option<String>,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
}

/// Why one number of a partial order was not bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    NotFound,
    NotAvailable,
    Held { message: String },
    InsufficientBalance { required: String, balance: String },
    CurrencyMismatch { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFailure {
    pub did_id: i64,
    pub refusal: Refusal,
}

impl OrderFailure {
    /// The error this number would have answered on its own.
    pub fn error(&self) -> Error {
        match &self.refusal {
            Refusal::NotFound => Error::UnknownDid(self.did_id),
            Refusal::NotAvailable => Error::DidNotAvailable,
            Refusal::Held { message } => Error::Refused {
                code: "did_held",
                message: message.clone(),
            },
            Refusal::InsufficientBalance { required, balance } => Error::InsufficientBalance {
                required: required.clone(),
                balance: balance.clone(),
            },
            Refusal::CurrencyMismatch { message } => {
                Error::unprocessable("currency_mismatch", message.clone())
            }
        }
    }
}

/// The refusal of one number, or the error that must end the whole order.
fn refusal(error: Error) -> Result<Refusal> {
    Ok(match error {
        Error::DidNotFound | Error::UnknownDid(_) => Refusal::NotFound,
        Error::DidNotAvailable => Refusal::NotAvailable,
        Error::Refused {
            code: "did_held",
            message,
        } => Refusal::Held { message },
        Error::InsufficientBalance { required, balance } => {
            Refusal::InsufficientBalance { required, balance }
        }
        Error::Unprocessable {
            code: "currency_mismatch",
            message,
        } => Refusal::CurrencyMismatch { message },
        other => return Err(other),
    })
}

/// What an order bought, what it could not (partial orders only), and the
/// account's balance after it, in the account's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub purchases: Vec<Purchase>,
    pub failures: Vec<OrderFailure>,
    pub total_minor: i64,
    pub balance_minor: i64,
    pub currency: String,
    #[serde(skip)]
    pub replayed: bool,
}

/// One number of a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteLine {
    pub did_id: i64,
    pub number: String,
    pub setup_minor: i64,
    pub monthly_minor: i64,
}

/// What an order would charge now, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    /// Numbers a partial order would not buy, and why.
    pub failures: Vec<OrderFailure>,
    pub total_minor: i64,
    pub balance_minor: i64,
    pub currency: String,
    /// The balance pays for every line.
    pub covered: bool,
}

impl Service {
    /// Buys several numbers in one transaction.
    pub async fn assign_many(&self, account_id: i64, request: &OrderRequest) -> Result<Order> {
        check_ids(&request.did_ids, MAX_ORDER)?;
        let now = self.now();
        let ids: Vec<String> = request.did_ids.iter().map(i64::to_string).collect();
        let fingerprint = format!("did/assign:{};partial={}", ids.join(","), request.partial);
        let key = request.idempotency_key.as_deref();
        let mut tx = self.store.begin_write().await?;
        if let Some(body) = replay_or_claim(&mut tx, account_id, key, &fingerprint, now).await? {
            return replayed(&body);
        }
        let (sold, failures) = if request.partial {
            sell_each(&mut tx, account_id, &request.did_ids, now).await?
        } else {
            (
                sell_all(&mut tx, account_id, &request.did_ids, now).await?,
                Vec::new(),
            )
        };
        self.finish_order(tx, account_id, key, sold, failures).await
    }

    /// Buys `quantity` numbers matching the criteria in one transaction, or none.
    pub async fn order_by_criteria(
        &self,
        account_id: i64,
        criteria: &OrderCriteria,
    ) -> Result<Order> {
        let filters = order_filters(criteria)?;
        let now = self.now();
        let fingerprint = format!(
            "did/order:{}:{}:{}:{}",
            filters.country,
            filters.did_type.map_or("", |t| t.code()),
            filters.prefix.as_deref().unwrap_or(""),
            criteria.quantity
        );
        let key = criteria.idempotency_key.as_deref();
        let mut tx = self.store.begin_write().await?;
        if let Some(body) = replay_or_claim(&mut tx, account_id, key, &fingerprint, now).await? {
            return replayed(&body);
        }
        let wanted = usize::try_from(criteria.quantity).unwrap_or(0);
        let sold = sell_matching(&mut tx, account_id, &filters, wanted, now).await?;
        self.finish_order(tx, account_id, key, sold, Vec::new())
            .await
    }

    /// Records the order's answer under its key, commits, and updates memory.
    async fn finish_order(
        &self,
        mut tx: Tx,
        account_id: i64,
        key: Option<&str>,
        sold: Vec<Sold>,
        failures: Vec<OrderFailure>,
    ) -> Result<Order> {
        let account = accounts::find_by_id(&mut *tx, account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let order = Order {
            purchases: sold.iter().map(|s| s.purchase.clone()).collect(),
            failures,
            total_minor: sold.iter().map(|s| s.purchase.total_minor).sum(),
            balance_minor: account.balance_minor,
            currency: account.currency,
            replayed: false,
        };
        if let Some(key) = key {
            let body = serde_json::to_string(&order)
                .map_err(|e| Error::Internal(format!("encoding order: {e}")))?;
            idempotency::complete(&mut *tx, account_id, key, 200, &body).await?;
        }
        for s in &sold {
            self.number_event_of(
                &mut tx,
                EventType::NumberAssigned,
                account_id,
                &s.purchase.did,
            )
            .await?;
            self.announce(&mut tx, &s.purchase.did.number).await?;
        }
        tx.commit().await?;
        for s in &sold {
            self.note_sold(&s.purchase.did, account_id, &s.username);
        }
        metrics::counter!("didhub_purchases_total", "outcome" => "ok").increment(sold.len() as u64);
        tracing::info!(
            account = account_id,
            numbers = sold.len(),
            failed = order.failures.len(),
            total = order.total_minor,
            "order placed"
        );
        Ok(order)
    }

    /// What assigning `did_ids` would charge now; changes nothing.
    pub async fn quote_ids(
        &self,
        account_id: i64,
        did_ids: &[i64],
        partial: bool,
    ) -> Result<Quote> {
        check_ids(did_ids, MAX_ORDER)?;
        let now = self.now();
        let pool = self.store.pool();
        let mut offers = Vec::with_capacity(did_ids.len());
        for &did_id in did_ids {
            offers.push((did_id, holds::offer(pool, did_id, account_id, now).await?));
        }
        self.quote(account_id, offers, partial).await
    }

    /// What an order by criteria would charge now; changes nothing.
    pub async fn quote_criteria(&self, account_id: i64, criteria: &OrderCriteria) -> Result<Quote> {
        let filters = order_filters(criteria)?;
        let picked = holds::pick(
            self.store.pool(),
            &criteria_of(&filters),
            account_id,
            self.now(),
            criteria.quantity,
        )
        .await?;
        if (picked.len() as i64) < criteria.quantity {
            return Err(not_enough(picked.len(), criteria.quantity));
        }
        let offers = picked.into_iter().map(|o| (o.did_id, Some(o))).collect();
        self.quote(account_id, offers, false).await
    }

    async fn quote(
        &self,
        account_id: i64,
        offers: Vec<(i64, Option<Offer>)>,
        partial: bool,
    ) -> Result<Quote> {
        let account = accounts::find_by_id(self.store.pool(), account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let mut quote = Quote {
            lines: Vec::new(),
            failures: Vec::new(),
            total_minor: 0,
            balance_minor: account.balance_minor,
            currency: account.currency.clone(),
            covered: true,
        };
        let mut left = account.balance_minor;
        for (did_id, offer) in offers {
            let line = match sellable(did_id, offer, &account.currency) {
                Ok(line) => line,
                Err(error) if partial => {
                    let refusal = refusal(error)?;
                    quote.failures.push(OrderFailure { did_id, refusal });
                    continue;
                }
                Err(error) => return Err(error),
            };
            let cost = line.setup_minor + line.monthly_minor;
            if partial && cost > left {
                // The partial order would refuse this one and go on.
                let money = Currency::parse(&account.currency).unwrap_or(Currency::USD);
                let refusal = Refusal::InsufficientBalance {
                    required: money.format_minor(cost),
                    balance: money.format_minor(left),
                };
                quote.failures.push(OrderFailure { did_id, refusal });
                continue;
            }
            left -= cost;
            quote.total_minor += cost;
            quote.lines.push(line);
        }
        quote.covered = quote.total_minor <= account.balance_minor
            && !quote
                .failures
                .iter()
                .any(|f| matches!(f.refusal, Refusal::InsufficientBalance { .. }));
        Ok(quote)
    }
}

/// A number as a quote line, or why it cannot be bought now.
fn sellable(did_id: i64, offer: Option<Offer>, currency: &str) -> Result<QuoteLine> {
    let offer = offer.ok_or(Error::UnknownDid(did_id))?;
    if offer.status != "available" {
        return Err(Error::DidNotAvailable);
    }
    if offer.held_by_other {
        return Err(did_held(&offer.number));
    }
    if offer.currency != currency {
        return Err(Error::unprocessable(
            "currency_mismatch",
            format!(
                "{} is priced in {} but the account is in {currency}",
                offer.number, offer.currency
            ),
        ));
    }
    Ok(QuoteLine {
        did_id,
        number: offer.number,
        setup_minor: offer.setup_minor,
        monthly_minor: offer.monthly_minor,
    })
}

fn replayed(body: &str) -> Result<Order> {
    let mut order: Order =
        serde_json::from_str(body).map_err(|e| Error::Internal(format!("stored order: {e}")))?;
    order.replayed = true;
    Ok(order)
}

/// All or nothing: the first number that cannot be sold ends the order, and
/// the caller's transaction rolls back.
async fn sell_all(tx: &mut Tx, account_id: i64, did_ids: &[i64], now: i64) -> Result<Vec<Sold>> {
    let mut sold = Vec::with_capacity(did_ids.len());
    for &did_id in did_ids {
        match sell(tx, account_id, did_id, now).await {
            Ok(one) => sold.push(one),
            Err(Error::DidNotFound) => return Err(Error::UnknownDid(did_id)),
            Err(error) => return Err(error),
        }
    }
    Ok(sold)
}

/// Per number: each inside a savepoint, so that one refused number leaves no
/// trace while the others stay sold.
async fn sell_each(
    tx: &mut Tx,
    account_id: i64,
    did_ids: &[i64],
    now: i64,
) -> Result<(Vec<Sold>, Vec<OrderFailure>)> {
    let mut sold = Vec::new();
    let mut failures = Vec::new();
    for &did_id in did_ids {
        let mut savepoint = (**tx).begin().await?;
        match sell(&mut savepoint, account_id, did_id, now).await {
            Ok(one) => {
                savepoint.commit().await?;
                sold.push(one);
            }
            Err(error) => {
                savepoint.rollback().await?;
                let refusal = refusal(error)?;
                failures.push(OrderFailure { did_id, refusal });
            }
        }
    }
    Ok((sold, failures))
}

/// Buys `wanted` numbers matching `filters`, skipping those others take
/// meanwhile; fewer than `wanted` to be had is `not_enough_numbers`.
async fn sell_matching(
    tx: &mut Tx,
    account_id: i64,
    filters: &Filters,
    wanted: usize,
    now: i64,
) -> Result<Vec<Sold>> {
    let criteria = criteria_of(filters);
    let mut sold = Vec::with_capacity(wanted);
    let mut tried = HashSet::new();
    for _ in 0..PICK_ROUNDS {
        let limit = (wanted - sold.len() + tried.len()) as i64;
        let picked = holds::pick(&mut **tx, &criteria, account_id, now, limit).await?;
        let fresh: Vec<Offer> = picked
            .into_iter()
            .filter(|o| tried.insert(o.did_id))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for offer in fresh {
            match sell(tx, account_id, offer.did_id, now).await {
                Ok(one) => sold.push(one),
                // Taken or held by someone else since it was picked: pick another.
                Err(Error::DidNotAvailable | Error::DidNotFound | Error::Refused { .. }) => {}
                Err(error) => return Err(error),
            }
            if sold.len() == wanted {
                return Ok(sold);
            }
        }
    }
    Err(not_enough(sold.len(), wanted as i64))
}

fn not_enough(found: usize, wanted: i64) -> Error {
    Error::Refused {
        code: "not_enough_numbers",
        message: format!("only {found} matching numbers are available, {wanted} requested"),
    }
}

fn order_filters(criteria: &OrderCriteria) -> Result<Filters> {
    if !(1..=MAX_ORDER as i64).contains(&criteria.quantity) {
        return Err(Error::bad_request(
            "invalid_quantity",
            format!("quantity must be between 1 and {MAX_ORDER}"),
        ));
    }
    parse_filters(
        &criteria.country,
        criteria.did_type.as_deref(),
        criteria.prefix.as_deref(),
        criteria.area_code.as_deref(),
    )
}

fn criteria_of(filters: &Filters) -> Criteria<'_> {
    Criteria {
        country: filters.country.as_str(),
        did_type: filters.did_type.map(|t| t.code()),
        prefix: filters.prefix.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_survives_the_trip_through_its_error() {
        let refusals = [
            Refusal::NotFound,
            Refusal::NotAvailable,
            Refusal::Held {
                message: "+33123456789 is held for another account".to_owned(),
            },
            Refusal::InsufficientBalance {
                required: "3.50".to_owned(),
                balance: "1.00".to_owned(),
            },
            Refusal::CurrencyMismatch {
                message: "priced in EUR".to_owned(),
            },
        ];
        for refusal_given in refusals {
            let failure = OrderFailure {
                did_id: 7,
                refusal: refusal_given.clone(),
            };
            assert_eq!(refusal(failure.error()).expect("a refusal"), refusal_given);
        }
        assert!(refusal(Error::Unavailable).is_err(), "ends the order");
        assert!(refusal(Error::Internal("x".into())).is_err());
    }
}
