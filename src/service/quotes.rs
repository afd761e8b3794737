//! What the console shows before money moves: the exact charge of a purchase
//! and what the account's renewals will cost. Read-only; the charges
//! themselves are made by `purchase.rs` and `billing.rs` with the same rules.

use super::purchase::first_charge_minor;
use super::{Did, DidStatus, Error, Result, Service};
use crate::domain::Currency;
use crate::domain::billing::add_months;
use crate::store::dids;

/// The price of an available number for one account, before buying it, with
/// the number itself for display.
#[derive(Debug, Clone)]
pub struct PurchaseQuote {
    pub did: Did,
    /// Setup fee plus the first month: what buying debits at once.
    pub total_minor: i64,
    pub balance_minor: i64,
    /// The account's currency; a number priced in another cannot be bought.
    pub account_currency: Currency,
}

impl PurchaseQuote {
    /// The balance after buying, when the account can pay.
    pub fn balance_after_minor(&self) -> i64 {
        self.balance_minor - self.total_minor
    }

    pub fn affordable(&self) -> bool {
        self.account_currency.code() == self.did.currency && self.balance_after_minor() >= 0
    }
}

/// The renewals falling due within a horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalProjection {
    /// Monthly charges due (a number can renew more than once in a long horizon).
    pub renewals: i64,
    pub total_minor: i64,
}

/// Renewals of numbers paid through `paid_through` that fall in `(.., until]`.
fn renewals_until(paid_through: i64, until: i64) -> i64 {
    let mut due = paid_through;
    let mut count = 0;
    while due <= until && count < 1000 {
        count += 1;
        due = add_months(due, 1);
    }
    count
}

impl Service {
    /// What buying `did_id` would cost `account_id` now: the `dry_run` quote of
    /// `did/assign` (same refusals: held by another, not on sale, currency),
    /// with the number.
    pub async fn purchase_quote(&self, account_id: i64, did_id: i64) -> Result<PurchaseQuote> {
        let quote = self.quote_ids(account_id, &[did_id], false).await?;
        let row = dids::find_by_id(self.store.pool(), did_id)
            .await?
            .ok_or(Error::DidNotFound)?;
        let did = Did::try_from(row)?;
        debug_assert_eq!(quote.total_minor, first_charge_minor(&did));
        let account_currency = Currency::parse(&quote.currency)
            .ok_or_else(|| Error::Internal(format!("stored currency {}", quote.currency)))?;
        Ok(PurchaseQuote {
            did,
            total_minor: quote.total_minor,
            balance_minor: quote.balance_minor,
            account_currency,
        })
    }

    /// The monthly charges the account's numbers will incur within `horizon_secs`.
    pub async fn renewal_projection(
        &self,
        account_id: i64,
        horizon_secs: i64,
    ) -> Result<RenewalProjection> {
        let until = self.now() + horizon_secs;
        let mut projection = RenewalProjection {
            renewals: 0,
            total_minor: 0,
        };
        for did in self.list_numbers(account_id).await? {
            let Some(paid_through) = did
                .paid_through
                .filter(|_| did.status == DidStatus::Assigned)
            else {
                continue;
            };
            let renewals = renewals_until(paid_through, until);
            projection.renewals += renewals;
            projection.total_minor += renewals * did.monthly_minor;
        }
        Ok(projection)
    }

    /// Owned numbers whose paid-through date falls within `horizon_secs`, for
    /// the operator's dashboard (at most `limit`, soonest first).
    pub async fn renewals_due(&self, horizon_secs: i64, limit: i64) -> Result<Vec<Did>> {
        let until = self.now() + horizon_secs;
        let rows = crate::store::suspension::due_after(
            self.store.pool(),
            until,
            (i64::MIN, i64::MIN),
            limit,
        )
        .await?;
        super::views::dids(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::renewals_until;

    const DAY: i64 = 86_400;

    #[test]
    fn a_number_paid_past_the_horizon_renews_zero_times() {
        assert_eq!(renewals_until(100 * DAY, 40 * DAY), 0);
    }

    #[test]
    fn a_number_due_inside_the_horizon_renews_once_per_month_in_it() {
        assert_eq!(renewals_until(10 * DAY, 30 * DAY), 1);
        assert_eq!(renewals_until(10 * DAY, 75 * DAY), 3);
    }
}
