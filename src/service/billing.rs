//! Periodic work: monthly renewals, the end of aging, and clean-up. Safe to run
//! on every instance at once: each change is conditional on the state it saw.

use super::suspension::Charged;
use super::{Result, Service};
use crate::domain::event::EventType;
use crate::domain::renewal::reclaim_at;
use crate::store::{auth_counters, dids, idempotency, restore, suspension, tokens};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenewalReport {
    pub renewed: u64,
    pub unpaid: u64,
    pub reclaimed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub renewals: RenewalReport,
    pub aging_ended: u64,
    /// Call records past their retention period, deleted.
    pub calls_purged: u64,
}

/// How long an idempotency key's answer is kept.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;
const RENEWAL_BATCH: i64 = 500;
/// How long a logged change is kept for other processes to pick up.
const CHANGE_LOG_RETENTION_SECS: i64 = 3600;

impl Service {
    pub async fn run_maintenance(&self) -> Result<MaintenanceReport> {
        let renewals = self.renew_due_numbers().await?;
        let now = self.now();
        let pool = self.store.pool();
        let aging_ended = dids::end_aging(pool, now).await?;
        if aging_ended > 0 {
            self.inventory_changed().await?;
        }
        self.store
            .prune_changes(now - CHANGE_LOG_RETENTION_SECS)
            .await?;
        tokens::purge_dead(pool, now).await?;
        restore::purge_closed(pool, now).await?;
        auth_counters::purge_expired(pool, now).await?;
        idempotency::purge_older_than(pool, now - IDEMPOTENCY_RETENTION_SECS).await?;
        self.purge_webhook_history().await?;
        self.expire_holds().await?;
        let calls_purged = self.purge_old_calls().await?;
        Ok(MaintenanceReport {
            renewals,
            aging_ended,
            calls_purged,
        })
    }

    /// Charges the next month of every number whose paid period has ended. A
    /// number its owner cannot pay for is suspended at once (its calls are
    /// refused) and kept through the grace period, then taken back into aging.
    pub async fn renew_due_numbers(&self) -> Result<RenewalReport> {
        let mut report = RenewalReport::default();
        let now = self.now();
        let mut cursor = (i64::MIN, i64::MIN);
        loop {
            let due = suspension::due_after(self.store.pool(), now, cursor, RENEWAL_BATCH).await?;
            let Some(last) = due.last() else {
                return Ok(report);
            };
            cursor = (last.paid_through.unwrap_or(i64::MAX), last.id);
            for did in due {
                match self.renew_one(&did, now).await? {
                    Renewal::Renewed => report.renewed += 1,
                    Renewal::Reclaimed => report.reclaimed += 1,
                    Renewal::Unpaid => report.unpaid += 1,
                    Renewal::Skipped => {}
                }
            }
        }
    }
}

enum Renewal {
    Renewed,
    /// Not paid: suspended (or still), within grace.
    Unpaid,
    Reclaimed,
    /// Someone else renewed or released it meanwhile, or it is not owned.
    Skipped,
}

impl Service {
    /// One period of one due number, in its own transaction under the
    /// owner's row lock, so that a credit racing it is either seen here or
    /// sees the suspension this makes.
    async fn renew_one(&self, did: &dids::DidRow, now: i64) -> Result<Renewal> {
        let (Some(account_id), Some(paid_through)) = (did.account_id, did.paid_through) else {
            return Ok(Renewal::Skipped);
        };
        let mut tx = self.store.begin_write().await?;
        let Some(balance) = suspension::lock_balance(&mut *tx, account_id).await? else {
            return Ok(Renewal::Skipped);
        };
        match self
            .charge_period(&mut tx, did, account_id, balance)
            .await?
        {
            Charged::Paid { resumed } => {
                tx.commit().await?;
                // A plain renewal changes nothing routing or the shelf hold.
                if resumed {
                    self.refresh_number(&did.number).await?;
                }
                Ok(Renewal::Renewed)
            }
            Charged::Moved => Ok(Renewal::Skipped),
            Charged::Unaffordable
                if now >= reclaim_at(paid_through, self.settings().renewal_grace_secs) =>
            {
                self.reclaim(tx, did, account_id, now).await
            }
            Charged::Unaffordable => {
                let suspended = self.suspend_unpaid(&mut tx, did, account_id).await?;
                tx.commit().await?;
                if suspended {
                    self.refresh_number(&did.number).await?;
                }
                Ok(Renewal::Unpaid)
            }
        }
    }

    /// Takes an unpaid number back into aging once grace is over.
    async fn reclaim(
        &self,
        mut tx: crate::store::Tx,
        did: &dids::DidRow,
        account_id: i64,
        now: i64,
    ) -> Result<Renewal> {
        let aging_until = now + self.settings().aging_secs;
        self.remember_for_restore(&mut tx, did.id, account_id, aging_until)
            .await?;
        let reclaimed = dids::release(&mut *tx, did.id, account_id, now, aging_until)
            .await?
            .is_some();
        if !reclaimed {
            return Ok(Renewal::Skipped);
        }
        self.number_event(&mut tx, EventType::NumberReclaimed, account_id, did.id)
            .await?;
        self.announce(&mut tx, &did.number).await?;
        tx.commit().await?;
        self.refresh_number(&did.number).await?;
        tracing::info!(
            account = account_id,
            did = did.id,
            "unpaid number reclaimed"
        );
        Ok(Renewal::Reclaimed)
    }
}
