//! `did/restore`: the former owner takes a released number back within the
//! restore window, with its forwarding. While the window is open the number
//! is aging, so nobody else can buy it.

use super::{Did, Error, Result, Service};
use crate::domain::billing::add_months;
use crate::domain::event::EventType;
use crate::store::{Tx, accounts, dids, ledger, restore, suspension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub did: Did,
    /// What the restore charged (a new first month when the paid period had
    /// ended meanwhile), in minor units; 0 otherwise.
    pub charged_minor: i64,
    pub balance_minor: i64,
}

impl Service {
    /// Called before a release in the same transaction: keeps what a restore
    /// needs, for a window that never outlasts aging.
    pub(super) async fn remember_for_restore(
        &self,
        tx: &mut Tx,
        did_id: i64,
        account_id: i64,
        aging_until: i64,
    ) -> Result<()> {
        let until = (self.now() + self.settings().restore_secs).min(aging_until);
        if until > self.now() {
            restore::remember(&mut **tx, did_id, account_id, until).await?;
        }
        Ok(())
    }

    pub async fn restore(&self, account_id: i64, did_id: i64) -> Result<Restored> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let window = restore::find(&mut *tx, did_id)
            .await?
            .filter(|r| r.account_id == account_id)
            .ok_or(Error::DidNotFound)?;
        let aging = dids::find_by_id(&mut *tx, did_id)
            .await?
            .is_some_and(|d| d.status == "aging");
        if now >= window.restore_until || !aging {
            return Err(Error::Refused {
                code: "restore_window_closed",
                message: "the restore window of this number has closed".into(),
            });
        }
        let balance = suspension::lock_balance(&mut *tx, account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let still_paid = window.paid_through > now;
        let (assigned_at, paid_through) = if still_paid {
            (window.assigned_at, window.paid_through)
        } else {
            (now, add_months(now, 1))
        };
        if !restore::take_back(&mut *tx, &window, assigned_at, paid_through, now).await? {
            return Err(Error::Refused {
                code: "restore_window_closed",
                message: "the restore window of this number has closed".into(),
            });
        }
        restore::forget(&mut *tx, did_id).await?;
        let row = dids::find_by_id(&mut *tx, did_id)
            .await?
            .ok_or(Error::DidNotFound)?;
        let charged = if still_paid { 0 } else { row.monthly_minor };
        let balance = self
            .charge_restore(&mut tx, &row, account_id, balance, charged)
            .await?;
        self.number_event(&mut tx, EventType::NumberRestored, account_id, did_id)
            .await?;
        self.announce(&mut tx, &row.number).await?;
        tx.commit().await?;
        self.refresh_number(&row.number).await?;
        tracing::info!(
            account = account_id,
            did = did_id,
            charged,
            "number restored"
        );
        Ok(Restored {
            did: Did::try_from(row)?,
            charged_minor: charged,
            balance_minor: balance,
        })
    }

    /// Debits a restore's new first month (nothing when `amount` is 0);
    /// returns the balance after.
    async fn charge_restore(
        &self,
        tx: &mut Tx,
        did: &dids::DidRow,
        account_id: i64,
        balance: i64,
        amount: i64,
    ) -> Result<i64> {
        if amount == 0 {
            return Ok(balance);
        }
        let currency =
            crate::domain::Currency::parse(&did.currency).unwrap_or(crate::domain::Currency::USD);
        let after = accounts::debit_if_covered(&mut **tx, account_id, amount)
            .await?
            .ok_or_else(|| Error::InsufficientBalance {
                required: currency.format_minor(amount),
                balance: currency.format_minor(balance),
            })?;
        let description = format!("first month for {} (restored)", did.number);
        ledger::insert(
            &mut **tx,
            &ledger::NewEntry {
                account_id,
                kind: "monthly_charge",
                amount_minor: -amount,
                balance_after_minor: after,
                did_id: Some(did.id),
                did_number: Some(&did.number),
                description: &description,
                created_at: self.now(),
            },
        )
        .await?;
        self.note_balance(tx, account_id, after).await?;
        Ok(after)
    }
}
