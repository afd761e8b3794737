//! Suspension for non-payment: a number whose renewal cannot be paid stops
//! ringing at once and rings again as soon as a credit pays it. Also the one
//! place a period is charged, whether by maintenance or by a credit.

use super::{Error, Result, Service};
use crate::domain::billing::next_paid_through;
use crate::domain::event::EventType;
use crate::store::dids::DidRow;
use crate::store::{Tx, accounts, ledger, suspension};

/// Why one period of one number was not charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Charged {
    /// `resumed`: the number was suspended and is now paid up, so it rings
    /// again (and routing must hear of it).
    Paid { resumed: bool },
    /// The balance does not cover it.
    Unaffordable,
    /// Someone else renewed or released it meanwhile.
    Moved,
}

impl Service {
    /// Charges the period after `did.paid_through` from `balance` (read under
    /// the account's row lock in `tx`), in `tx`. The number moves on first, so
    /// that a lost race debits nothing.
    pub(super) async fn charge_period(
        &self,
        tx: &mut Tx,
        did: &DidRow,
        account_id: i64,
        balance: i64,
    ) -> Result<Charged> {
        let (Some(assigned_at), Some(paid_through)) = (did.assigned_at, did.paid_through) else {
            return Ok(Charged::Moved);
        };
        if balance < did.monthly_minor {
            return Ok(Charged::Unaffordable);
        }
        let now = self.now();
        let next = next_paid_through(assigned_at, paid_through);
        if !suspension::pay_period(&mut **tx, did.id, account_id, paid_through, next, now).await? {
            return Ok(Charged::Moved);
        }
        // A period priced 0.00 advances without a ledger entry of 0.
        if did.monthly_minor != 0 {
            let after = accounts::debit_if_covered(&mut **tx, account_id, did.monthly_minor)
                .await?
                .ok_or_else(|| Error::Internal("balance changed under the row lock".into()))?;
            let description = format!("monthly charge for {}", did.number);
            ledger::insert(
                &mut **tx,
                &ledger::NewEntry {
                    account_id,
                    kind: "monthly_charge",
                    amount_minor: -did.monthly_minor,
                    balance_after_minor: after,
                    did_id: Some(did.id),
                    did_number: Some(&did.number),
                    description: &description,
                    created_at: now,
                },
            )
            .await?;
            self.note_balance(tx, account_id, after).await?;
        }
        self.number_event(tx, EventType::NumberRenewed, account_id, did.id)
            .await?;
        let resumed = did.suspended_at.is_some() && next > now;
        if resumed {
            // `number.renewed` above, with `suspended_at` cleared, tells that
            // routing resumed: the catalogue has no separate "resumed" event.
            self.announce(tx, &did.number).await?;
            tracing::info!(account = account_id, did = did.id, "suspended number paid");
        }
        Ok(Charged::Paid { resumed })
    }

    /// Suspends a due number its owner cannot pay for, in `tx`.
    pub(super) async fn suspend_unpaid(
        &self,
        tx: &mut Tx,
        did: &DidRow,
        account_id: i64,
    ) -> Result<bool> {
        if did.suspended_at.is_some() {
            return Ok(false);
        }
        let suspended = suspension::mark_suspended(&mut **tx, did, account_id, self.now()).await?;
        if suspended {
            self.number_event(tx, EventType::NumberSuspended, account_id, did.id)
                .await?;
            self.announce(tx, &did.number).await?;
            tracing::info!(
                account = account_id,
                did = did.id,
                "number suspended for non-payment"
            );
        }
        Ok(suspended)
    }

    /// After a credit in `tx` (which holds the account's row lock): pays the
    /// overdue periods of the account's suspended numbers, longest overdue
    /// first, as far as the balance goes. Returns the numbers that changed,
    /// for the caller to refresh once `tx` commits.
    pub(super) async fn pay_suspended(&self, tx: &mut Tx, account_id: i64) -> Result<Vec<String>> {
        let mut waiting = suspension::suspended_of_account(&mut **tx, account_id).await?;
        let mut changed = Vec::new();
        let now = self.now();
        while let Some(did) = waiting.first().cloned() {
            let balance = suspension::lock_balance(&mut **tx, account_id)
                .await?
                .ok_or(Error::Unauthorized)?;
            let Charged::Paid { resumed } =
                self.charge_period(tx, &did, account_id, balance).await?
            else {
                break;
            };
            if resumed {
                changed.push(did.number.clone());
            }
            waiting.remove(0);
            let (Some(assigned_at), Some(paid_through)) = (did.assigned_at, did.paid_through)
            else {
                continue;
            };
            let next = next_paid_through(assigned_at, paid_through);
            if next <= now {
                // Still overdue: its next period takes its place in the queue.
                let mut later = did;
                later.paid_through = Some(next);
                let at = waiting
                    .iter()
                    .position(|d| d.paid_through > Some(next))
                    .unwrap_or(waiting.len());
                waiting.insert(at, later);
            }
        }
        Ok(changed)
    }

    /// Re-reads numbers another transaction changed into this process's memory.
    pub(super) async fn refresh_numbers(&self, numbers: &[String]) -> Result<()> {
        for number in numbers {
            self.refresh_number(number).await?;
        }
        Ok(())
    }

    /// Records whether the balance is below the account's low-balance
    /// threshold after a change, in `tx`; a downward crossing is noticed once.
    pub(super) async fn note_balance(
        &self,
        tx: &mut Tx,
        account_id: i64,
        balance: i64,
    ) -> Result<()> {
        let low = suspension::low_balance(&mut **tx, account_id).await?;
        let Some(threshold) = low.threshold_minor else {
            return Ok(());
        };
        let below = balance < threshold;
        if below != low.below {
            suspension::set_low_balance(&mut **tx, account_id, Some(threshold), below).await?;
            if below {
                self.balance_low_event(tx, account_id, threshold).await?;
                tracing::info!(
                    account = account_id,
                    balance,
                    threshold,
                    "balance below threshold"
                );
            }
        }
        Ok(())
    }
}
