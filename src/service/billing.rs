//! Periodic work: monthly renewals, the end of aging, and clean-up. Safe to run
//! on every instance at once: each change is conditional on the state it saw.

use super::{Result, Service};
use crate::domain::billing::next_paid_through;
use crate::store::{accounts, auth_counters, dids, idempotency, ledger, tokens};

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
        auth_counters::purge_expired(pool, now).await?;
        idempotency::purge_older_than(pool, now - IDEMPOTENCY_RETENTION_SECS).await?;
        let calls_purged = self.purge_old_calls().await?;
        Ok(MaintenanceReport {
            renewals,
            aging_ended,
            calls_purged,
        })
    }

    /// Charges the next month of every number whose paid period has ended. A
    /// number its owner cannot pay for is kept through the grace period, then
    /// taken back into aging.
    pub async fn renew_due_numbers(&self) -> Result<RenewalReport> {
        let mut report = RenewalReport::default();
        let now = self.now();
        let mut skipped = std::collections::HashSet::new();
        loop {
            let due = dids::due_for_renewal(self.store.pool(), now, RENEWAL_BATCH).await?;
            let fresh: Vec<_> = due
                .into_iter()
                .filter(|d| !skipped.contains(&d.id))
                .collect();
            if fresh.is_empty() {
                return Ok(report);
            }
            for did in fresh {
                let (Some(account_id), Some(assigned_at), Some(paid_through)) =
                    (did.account_id, did.assigned_at, did.paid_through)
                else {
                    skipped.insert(did.id);
                    continue;
                };
                let mut tx = self.store.begin_write().await?;
                match accounts::debit_if_covered(&mut *tx, account_id, did.monthly_minor).await? {
                    Some(balance) => {
                        let next = next_paid_through(assigned_at, paid_through);
                        if !dids::extend_paid_through(
                            &mut *tx,
                            did.id,
                            account_id,
                            paid_through,
                            next,
                            now,
                        )
                        .await?
                        {
                            skipped.insert(did.id);
                            continue; // someone else renewed or released it: roll back
                        }
                        if did.monthly_minor != 0 {
                            let description = format!("monthly charge for {}", did.number);
                            ledger::insert(
                                &mut *tx,
                                &ledger::NewEntry {
                                    account_id,
                                    kind: "monthly_charge",
                                    amount_minor: -did.monthly_minor,
                                    balance_after_minor: balance,
                                    did_id: Some(did.id),
                                    did_number: Some(&did.number),
                                    description: &description,
                                    created_at: now,
                                },
                            )
                            .await?;
                        }
                        tx.commit().await?;
                        report.renewed += 1;
                    }
                    None if now >= paid_through + self.settings().renewal_grace_secs => {
                        let aging_until = now + self.settings().aging_secs;
                        let reclaimed =
                            dids::release(&mut *tx, did.id, account_id, now, aging_until)
                                .await?
                                .is_some();
                        if reclaimed {
                            self.announce(&mut tx, &did.number).await?;
                        }
                        tx.commit().await?;
                        if reclaimed {
                            self.refresh_number(&did.number).await?;
                            report.reclaimed += 1;
                            tracing::info!(
                                account = account_id,
                                did = did.id,
                                "unpaid number reclaimed"
                            );
                        }
                    }
                    None => {
                        skipped.insert(did.id);
                        report.unpaid += 1;
                    }
                }
            }
        }
    }
}
