//! The operator's use cases behind the admin API: each write is recorded in the
//! audit log inside the transaction that makes it. The CLI's direct-database
//! commands share these (with no operator, so no audit row).

use super::accounts::{post_entry, valid_pbx_host};
use super::{AccountSummary, Error, LedgerEntry, Operator, Result, Service};
use crate::domain::event::EventType;
use crate::store::audit::{self, AuditFilter, AuditRow};
use crate::store::dids::NumberFilter;
use crate::store::{self, accounts, admin_idempotency, ledger};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const MAX_REASON_LEN: usize = 500;
const MAX_REFERENCE_LEN: usize = 200;

/// The audit log's name for an account.
pub(super) fn account_target(account_id: i64) -> String {
    format!("account:{account_id}")
}

/// Appends an audit row in `tx` when an operator acts; the CLI's direct writes
/// (no operator) are not logged here.
pub(super) async fn record(
    tx: &mut store::Tx,
    actor: Option<&Operator>,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
    now: i64,
) -> Result<()> {
    let Some(actor) = actor else {
        return Ok(());
    };
    let before = before.map(|v| v.to_string());
    let after = after.map(|v| v.to_string());
    audit::insert(
        &mut **tx,
        &audit::NewAudit {
            actor: &actor.name,
            action,
            target,
            before_json: before.as_deref(),
            after_json: after.as_deref(),
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

/// A change of an account's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    /// active or suspended.
    pub status: Option<String>,
    /// `Some(None)` removes the PBX host.
    pub pbx_host: Option<Option<String>>,
}

/// A credit or an adjustment.
#[derive(Debug, Clone)]
pub struct Posting<'a> {
    /// credit (positive) or adjustment (signed).
    pub kind: &'static str,
    pub amount_minor: i64,
    pub reason: &'a str,
    /// The operator's payment system's own id for it, if any.
    pub reference: Option<&'a str>,
    pub allow_negative: bool,
}

/// What a posting did: replayed as is for a retry with the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub account_id: i64,
    pub entry: LedgerEntry,
    pub balance_minor: i64,
    /// Whether this answer is a replay of an earlier request's.
    #[serde(default)]
    pub replayed: bool,
}

/// New prices for available numbers.
#[derive(Debug, Clone)]
pub struct Repricing {
    /// Country and type narrow it (status and account are ignored).
    pub filter: NumberFilter,
    /// Only these numbers, when not empty.
    pub numbers: Vec<String>,
    pub currency: crate::domain::Currency,
    pub setup_minor: i64,
    pub monthly_minor: i64,
}

/// A number as the operator sees it.
#[derive(Debug, Clone)]
pub struct NumberDetail {
    pub did: super::Did,
    pub aging_until: Option<i64>,
    pub owner: Option<AccountSummary>,
    /// Setup fees and monthly charges made for it, newest first (at most 100).
    pub charges: Vec<LedgerEntry>,
}

/// An account with what the operator looks at.
#[derive(Debug, Clone)]
pub struct AccountDetail {
    pub account: AccountSummary,
    pub numbers: i64,
}

fn status_json(account: &AccountSummary) -> Value {
    serde_json::json!({ "status": account.status, "pbx_host": account.pbx_host })
}

fn check_posting(posting: &Posting<'_>) -> Result<()> {
    if posting.amount_minor == 0 || (posting.kind == "credit" && posting.amount_minor < 0) {
        return Err(Error::bad_request(
            "invalid_amount",
            "a credit must be a positive amount, an adjustment not zero",
        ));
    }
    if posting.reason.trim().is_empty() || posting.reason.len() > MAX_REASON_LEN {
        return Err(Error::bad_request(
            "invalid_reason",
            "a reason of 1 to 500 characters is required",
        ));
    }
    if posting
        .reference
        .is_some_and(|r| r.trim().is_empty() || r.len() > MAX_REFERENCE_LEN)
    {
        return Err(Error::bad_request(
            "invalid_reference",
            "a reference is 1 to 200 characters",
        ));
    }
    Ok(())
}

impl Service {
    /// Credits or adjusts a balance as one ledger entry. With an idempotency
    /// key (and the request's fingerprint), a retry replays the first answer.
    pub async fn post_money_as(
        &self,
        actor: Option<&Operator>,
        account_id: i64,
        posting: &Posting<'_>,
        idempotency: Option<(&str, &str)>,
    ) -> Result<Posted> {
        check_posting(posting)?;
        let account = self.account_by_id(account_id).await?;
        if account.status == "closed" {
            return Err(Error::Conflict(format!("account {account_id} is closed")));
        }
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        if let (Some(actor), Some((key, fingerprint))) = (actor, idempotency)
            && !admin_idempotency::claim(&mut *tx, &actor.name, key, fingerprint, now).await?
        {
            return replay(&mut tx, &actor.name, key, fingerprint).await;
        }
        let description = match posting.reference {
            Some(reference) => format!("{} (ref {reference})", posting.reason.trim()),
            None => posting.reason.trim().to_owned(),
        };
        let (balance, entry_id) = post_entry(
            &mut tx,
            account_id,
            posting.kind,
            posting.amount_minor,
            &description,
            now,
        )
        .await?;
        // Re-read under the row lock the posting took: a close that committed
        // meanwhile wins, and this posting rolls back.
        let closed = accounts::find_by_id(&mut *tx, account_id)
            .await?
            .is_none_or(|a| a.status == "closed");
        if closed {
            return Err(Error::Conflict(format!("account {account_id} is closed")));
        }
        if balance < 0 && !posting.allow_negative {
            return Err(Error::unprocessable(
                "insufficient_balance",
                "an adjustment may not take the balance below zero (unless allow_negative)",
            ));
        }
        self.note_balance(&mut tx, account_id, balance).await?;
        let paid = if posting.amount_minor > 0 {
            self.pay_suspended(&mut tx, account_id).await?
        } else {
            Vec::new()
        };
        let settled = crate::store::suspension::lock_balance(&mut *tx, account_id)
            .await?
            .unwrap_or(balance);
        let posted = Posted {
            account_id,
            entry: LedgerEntry {
                id: entry_id,
                kind: posting.kind.to_owned(),
                amount_minor: posting.amount_minor,
                balance_after_minor: balance,
                did_id: None,
                did_number: None,
                description,
                created_at: now,
            },
            balance_minor: settled,
            replayed: false,
        };
        self.balance_event(&mut tx, account_id, &posted.entry)
            .await?;
        let currency = account.currency;
        let before =
            serde_json::json!({ "balance": currency.format_minor(balance - posting.amount_minor) });
        let after = serde_json::json!({
            "balance": currency.format_minor(balance),
            "amount": currency.format_minor(posting.amount_minor),
            "reason": posting.reason, "reference": posting.reference, "ledger_entry": entry_id,
        });
        let action = format!("money.{}", posting.kind);
        let target = account_target(account_id);
        record(
            &mut tx,
            actor,
            &action,
            &target,
            Some(before),
            Some(after),
            now,
        )
        .await?;
        if let (Some(actor), Some((key, _))) = (actor, idempotency) {
            let body =
                serde_json::to_string(&posted).map_err(|e| Error::Internal(e.to_string()))?;
            admin_idempotency::complete(&mut *tx, &actor.name, key, &body).await?;
        }
        tx.commit().await?;
        // Paid numbers ring again here at once, elsewhere on the announcement.
        self.refresh_numbers(&paid).await?;
        Ok(posted)
    }

    /// Sets status and/or PBX host in one transaction. Suspending revokes the
    /// account's tokens; its numbers stop ringing (the route table is refreshed).
    pub async fn update_account_as(
        &self,
        actor: Option<&Operator>,
        account_id: i64,
        update: &AccountUpdate,
    ) -> Result<AccountSummary> {
        if update.status.is_none() && update.pbx_host.is_none() {
            return Err(Error::bad_request(
                "nothing_to_change",
                "give status and/or pbx_host",
            ));
        }
        if let Some(Some(host)) = &update.pbx_host
            && !valid_pbx_host(host)
        {
            return Err(Error::bad_request(
                "invalid_pbx_host",
                "PBX host must be a hostname or IP address with an optional port",
            ));
        }
        if let Some(status) = &update.status
            && status != "active"
            && status != "suspended"
        {
            return Err(Error::bad_request(
                "invalid_status",
                "status must be active or suspended",
            ));
        }
        let account = self.account_by_id(account_id).await?;
        if account.status == "closed" {
            return Err(Error::Conflict(format!("account {account_id} is closed")));
        }
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        if let Some(host) = &update.pbx_host {
            accounts::set_pbx_host(&mut *tx, account_id, host.as_deref()).await?;
        }
        let suspending = update.status.as_deref() == Some("suspended");
        if let Some(status) = &update.status {
            accounts::set_status(&mut *tx, account_id, status).await?;
            if suspending {
                self.revoke_tokens_in(&mut tx, account_id).await?;
                self.account_event(&mut tx, EventType::AccountSuspended, account_id)
                    .await?;
            }
        }
        self.announce(&mut tx, &account_target(account_id)).await?;
        let after = serde_json::json!({
            "status": update.status.as_deref().unwrap_or(&account.status),
            "pbx_host": update.pbx_host.clone().unwrap_or(account.pbx_host.clone()),
        });
        let target = account_target(account_id);
        record(
            &mut tx,
            actor,
            "account.update",
            &target,
            Some(status_json(&account)),
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        if suspending {
            self.tokens.evict_account(account_id);
        }
        self.refresh_account_routes(account_id).await?;
        self.account_by_id(account_id).await
    }

    /// Closes an account that owns no number and holds no money: it can no
    /// longer log in or be changed; its row and ledger stay for the books.
    pub async fn close_account_as(&self, actor: Option<&Operator>, account_id: i64) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let account = accounts::find_by_id(&mut *tx, account_id)
            .await?
            .map(AccountSummary::from)
            .ok_or_else(|| Error::NotFound(format!("no account {account_id}")))?;
        if account.status == "closed" {
            return Err(Error::NotFound(format!("no account {account_id}")));
        }
        let numbers = accounts::count_numbers(&mut *tx, account_id).await?;
        if numbers > 0 || account.balance_minor != 0 {
            return Err(Error::unprocessable(
                "account_not_empty",
                format!(
                    "an account can be deleted only with no numbers and a zero balance \
                     (it has {numbers} numbers and balance {})",
                    account.currency.format_minor(account.balance_minor)
                ),
            ));
        }
        // Conditional on the balance still being zero, whatever committed since the read.
        if !accounts::close_if_empty(&mut *tx, account_id).await? {
            return Err(Error::Conflict(format!(
                "account {account_id} changed meanwhile; try again"
            )));
        }
        self.revoke_tokens_in(&mut tx, account_id).await?;
        let target = account_target(account_id);
        let after = serde_json::json!({ "status": "closed" });
        record(
            &mut tx,
            actor,
            "account.delete",
            &target,
            Some(status_json(&account)),
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        self.tokens.evict_account(account_id);
        Ok(())
    }

    pub async fn account_detail(&self, account_id: i64) -> Result<AccountDetail> {
        let account = self.account_by_id(account_id).await?;
        let numbers = accounts::count_numbers(self.store.pool(), account_id).await?;
        Ok(AccountDetail { account, numbers })
    }

    /// A page of accounts by id after `after_id`, optionally searched by username.
    pub async fn account_page(
        &self,
        search: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AccountSummary>> {
        Ok(
            accounts::page(self.store.pool(), search, after_id, limit.clamp(1, 500))
                .await?
                .into_iter()
                .map(AccountSummary::from)
                .collect(),
        )
    }

    /// Any number with its owner and the charges made for it.
    pub async fn number_detail(&self, number: &str) -> Result<NumberDetail> {
        let row = crate::store::dids::find_by_number(self.store.pool(), number)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no number {number}")))?;
        let aging_until = row.aging_until;
        let owner = match row.account_id {
            Some(id) => Some(self.account_by_id(id).await?),
            None => None,
        };
        let charges = ledger::list_for_number(self.store.pool(), number, 100)
            .await?
            .into_iter()
            .map(LedgerEntry::from)
            .collect();
        Ok(NumberDetail {
            did: super::Did::try_from(row)?,
            aging_until,
            owner,
            charges,
        })
    }

    /// Takes a number from its owner into aging, whatever the owner wants; the
    /// ledger is left as it is (no refund).
    pub async fn force_release_as(
        &self,
        actor: &Operator,
        number: &str,
        reason: &str,
    ) -> Result<super::Released> {
        if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
            return Err(Error::bad_request(
                "invalid_reason",
                "a reason of 1 to 500 characters is required",
            ));
        }
        let row = crate::store::dids::find_by_number(self.store.pool(), number)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no number {number}")))?;
        let account_id = row
            .account_id
            .ok_or_else(|| Error::Conflict(format!("{number} is not owned by anyone")))?;
        self.release_as(Some(actor), account_id, row.id, reason.trim())
            .await
            .map_err(|e| match e {
                Error::DidNotFound => Error::Conflict(format!("{number} changed owner meanwhile")),
                other => other,
            })
    }

    /// A page of numbers in number order after `after`.
    pub async fn number_page(
        &self,
        filter: &NumberFilter,
        after: &str,
        limit: i64,
    ) -> Result<Vec<super::Did>> {
        let rows =
            crate::store::dids::page(self.store.pool(), filter, after, limit.clamp(1, 500)).await?;
        super::views::dids(rows)
    }

    /// Sets the prices of available numbers (by country/type, or the listed
    /// numbers); sold and aging numbers keep their terms. Returns how many changed.
    pub async fn reprice_as(&self, actor: &Operator, repricing: &Repricing) -> Result<u64> {
        if repricing.setup_minor < 0 || repricing.monthly_minor < 0 {
            return Err(Error::bad_request(
                "invalid_amount",
                "prices cannot be negative",
            ));
        }
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let currency = repricing.currency.code();
        let (setup, monthly) = (repricing.setup_minor, repricing.monthly_minor);
        let mut changed = 0;
        if repricing.numbers.is_empty() {
            changed += crate::store::dids::reprice_available(
                &mut *tx,
                &repricing.filter,
                None,
                currency,
                setup,
                monthly,
                now,
            )
            .await?;
        }
        for number in &repricing.numbers {
            changed += crate::store::dids::reprice_available(
                &mut *tx,
                &repricing.filter,
                Some(number),
                currency,
                setup,
                monthly,
                now,
            )
            .await?;
        }
        let after = serde_json::json!({
            "country": repricing.filter.country, "type": repricing.filter.did_type,
            "numbers": repricing.numbers, "currency": currency,
            "setup_fee": repricing.currency.format_minor(setup),
            "monthly_cost": repricing.currency.format_minor(monthly), "changed": changed,
        });
        record(
            &mut tx,
            Some(actor),
            "inventory.reprice",
            "inventory",
            None,
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        if changed > 0 {
            self.inventory_changed().await?;
        }
        Ok(changed)
    }

    pub async fn sales_per_day(&self, from: i64, until: i64) -> Result<Vec<ledger::DaySales>> {
        Ok(ledger::sales_per_day(self.store.pool(), from, until).await?)
    }

    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        Ok(audit::list(self.store.pool(), filter, before_id, limit.clamp(1, 500)).await?)
    }

    /// Ledger entries of one account, newest first, with paging.
    pub async fn account_ledger(
        &self,
        account_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<(AccountSummary, Vec<LedgerEntry>)> {
        let account = self.account_by_id(account_id).await?;
        let rows = ledger::list_for_account(
            self.store.pool(),
            account_id,
            before_id,
            limit.clamp(1, 1000),
        )
        .await?;
        Ok((account, rows.into_iter().map(LedgerEntry::from).collect()))
    }
}

/// The stored answer for a key already used: the same request gets it again,
/// a different one is refused.
async fn replay(tx: &mut store::Tx, actor: &str, key: &str, fingerprint: &str) -> Result<Posted> {
    let stored = admin_idempotency::find(&mut **tx, actor, key)
        .await?
        .ok_or_else(|| Error::Internal("idempotency key vanished".to_owned()))?;
    if stored.fingerprint != fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    let body = stored.response_body.ok_or_else(|| {
        Error::Conflict("the first request with this key is still running".to_owned())
    })?;
    let mut posted: Posted =
        serde_json::from_str(&body).map_err(|e| Error::Internal(e.to_string()))?;
    posted.replayed = true;
    Ok(posted)
}
