//! What is coming: the renewals due in the next days, when the balance runs
//! out at this rate, and the account's low-balance threshold.

use super::{Error, Result, Service};
use crate::domain::billing::next_paid_through;
use crate::store::{accounts, dids, suspension};

/// How far ahead the run-out date is looked for: ten years of renewals.
const RUN_OUT_HORIZON_SECS: i64 = 10 * 366 * 86_400;
const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcomingRenewal {
    pub did_id: i64,
    pub number: String,
    pub due_at: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Clone)]
pub struct Upcoming {
    pub days: i64,
    pub balance_minor: i64,
    pub renewals: Vec<UpcomingRenewal>,
    pub total_minor: i64,
    /// The first renewal the balance will not cover at this rate (within ten
    /// years); `None` when it covers them all.
    pub runs_out_at: Option<i64>,
    pub low_balance_minor: Option<i64>,
    /// The balance is below the threshold now.
    pub below_threshold: bool,
    /// When renewals will take the balance below the threshold, if they do.
    pub threshold_crossed_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingSettings {
    pub low_balance_minor: Option<i64>,
    pub below_threshold: bool,
}

/// The renewals of `rows` due before `until`, in date order; a number due
/// already is due now.
fn renewals_until(rows: &[dids::DidRow], now: i64, until: i64) -> Vec<UpcomingRenewal> {
    let mut out = Vec::new();
    for row in rows {
        let (Some(assigned_at), Some(mut due)) = (row.assigned_at, row.paid_through) else {
            continue;
        };
        while due < until {
            out.push(UpcomingRenewal {
                did_id: row.id,
                number: row.number.clone(),
                due_at: due.max(now),
                amount_minor: row.monthly_minor,
            });
            due = next_paid_through(assigned_at, due);
        }
    }
    out.sort_by_key(|r| (r.due_at, r.did_id));
    out
}

/// The date of the first renewal that takes the balance below `floor`.
fn first_below(renewals: &[UpcomingRenewal], balance: i64, floor: i64) -> Option<i64> {
    let mut left = balance;
    renewals.iter().find_map(|r| {
        left -= r.amount_minor;
        (r.amount_minor > 0 && left < floor).then_some(r.due_at)
    })
}

impl Service {
    pub async fn upcoming(&self, account_id: i64, days: Option<i64>) -> Result<Upcoming> {
        let days = days.unwrap_or(30);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::bad_request("invalid_days", "days must be 1 to 366"));
        }
        let now = self.now();
        let account = accounts::find_by_id(self.store.pool(), account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let low = suspension::low_balance(self.store.pool(), account_id).await?;
        let owned = dids::list_owned(self.store.pool(), account_id).await?;
        let horizon = renewals_until(&owned, now, now + RUN_OUT_HORIZON_SECS);
        let renewals: Vec<_> = horizon
            .iter()
            .filter(|r| r.due_at < now + days * 86_400)
            .cloned()
            .collect();
        let balance = account.balance_minor;
        Ok(Upcoming {
            days,
            balance_minor: balance,
            total_minor: renewals.iter().map(|r| r.amount_minor).sum(),
            renewals,
            // Running out: the first renewal the balance cannot pay.
            runs_out_at: first_below(&horizon, balance, 0),
            low_balance_minor: low.threshold_minor,
            below_threshold: low.threshold_minor.is_some_and(|t| balance < t),
            threshold_crossed_at: low
                .threshold_minor
                .filter(|t| balance >= *t)
                .and_then(|t| first_below(&horizon, balance, t)),
        })
    }

    pub async fn billing_settings(&self, account_id: i64) -> Result<BillingSettings> {
        let account = accounts::find_by_id(self.store.pool(), account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let low = suspension::low_balance(self.store.pool(), account_id).await?;
        Ok(BillingSettings {
            low_balance_minor: low.threshold_minor,
            below_threshold: low
                .threshold_minor
                .is_some_and(|t| account.balance_minor < t),
        })
    }

    /// Sets (or with `None` clears) the low-balance threshold. Setting it
    /// below the balance's current level is not itself a crossing.
    pub async fn set_low_balance(
        &self,
        account_id: i64,
        threshold_minor: Option<i64>,
    ) -> Result<BillingSettings> {
        if threshold_minor.is_some_and(|t| t < 0) {
            return Err(Error::bad_request(
                "invalid_amount",
                "the low-balance threshold cannot be negative",
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let balance = suspension::lock_balance(&mut *tx, account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let below = threshold_minor.is_some_and(|t| balance < t);
        suspension::set_low_balance(&mut *tx, account_id, threshold_minor, below).await?;
        tx.commit().await?;
        Ok(BillingSettings {
            low_balance_minor: threshold_minor,
            below_threshold: below,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renewal(due_at: i64, amount_minor: i64) -> UpcomingRenewal {
        UpcomingRenewal {
            did_id: 1,
            number: "+33123456789".to_owned(),
            due_at,
            amount_minor,
        }
    }

    #[test]
    fn the_balance_runs_out_at_the_first_renewal_it_cannot_cover() {
        let renewals = [renewal(10, 300), renewal(20, 300), renewal(30, 300)];
        assert_eq!(first_below(&renewals, 650, 0), Some(30));
        assert_eq!(first_below(&renewals, 900, 0), None);
        assert_eq!(first_below(&renewals, 650, 100), Some(20));
        assert_eq!(first_below(&[renewal(10, 0)], 0, 0), None);
    }
}
