//! The outbox (issue 14): every state change that matters records an event in
//! its own transaction, so an event exists if and only if the change committed.
//! Recording also queues one delivery per subscribed webhook endpoint (see
//! `service::webhooks` for how they are posted).
//!
//! Recording is one line in the use case, after the statement that changed
//! (and locked) the row, before `tx.commit()`:
//!
//! ```ignore
//! self.number_event(&mut tx, EventType::NumberHeld, account_id, did_id).await?;
//! self.account_event(&mut tx, EventType::AccountSuspended, account_id).await?;
//! self.emit(&mut tx, EventType::BalanceLow, Some(account_id), OrderingKey::Account(account_id), &state).await?;
//! ```
//!
//! `number_event` reads the number as it now is (`data` is the `Did` view);
//! `emit` takes any serialisable state. Order per key relies on the caller
//! holding the row's lock when it records, which the statement that made the
//! change has taken.

use super::{AccountSummary, Did, Error, LedgerEntry, Result, Service};
use crate::domain::event::{EventType, OrderingKey};
use crate::store::events::{self, EventRow, NewEvent};
use crate::store::{Tx, accounts, dids};
use serde::Serialize;
use serde_json::json;

/// A new event id: a UUIDv7, sortable by the second of the injected clock.
pub(super) fn new_event_id(now: i64) -> String {
    let seconds = u64::try_from(now).unwrap_or(0);
    let stamp = uuid::Timestamp::from_unix(uuid::NoContext, seconds, 0);
    format!("evt_{}", uuid::Uuid::new_v7(stamp).simple())
}

/// A recorded event as the history and webhooks show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub account_id: Option<i64>,
    pub ordering_key: String,
    pub data: serde_json::Value,
    pub created_at: i64,
    /// Position in the outbox: a cursor for paging.
    pub seq: i64,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;
    fn try_from(row: EventRow) -> Result<Event> {
        let data = serde_json::from_str(&row.data_json)
            .map_err(|e| Error::Internal(format!("event {}: {e}", row.id)))?;
        Ok(Event {
            id: row.id,
            event_type: row.event_type,
            account_id: row.account_id,
            ordering_key: row.ordering_key,
            data,
            created_at: row.created_at,
            seq: row.seq,
        })
    }
}

impl Service {
    /// Records an event about `state` (the resource after the change) in `tx`.
    pub(crate) async fn emit(
        &self,
        tx: &mut Tx,
        event_type: EventType,
        account_id: Option<i64>,
        key: OrderingKey<'_>,
        state: &impl Serialize,
    ) -> Result<()> {
        let now = self.now();
        let data = serde_json::to_string(state)
            .map_err(|e| Error::Internal(format!("encoding {event_type} event: {e}")))?;
        let id = new_event_id(now);
        let event = NewEvent {
            id: &id,
            event_type: event_type.code(),
            account_id,
            ordering_key: &key.text(),
            data_json: &data,
            created_at: now,
        };
        events::insert(tx, &event).await?;
        metrics::counter!("didhub_events_total", "type" => event_type.code()).increment(1);
        Ok(())
    }

    /// Records a number's event; the data is the number as it now is.
    pub(crate) async fn number_event(
        &self,
        tx: &mut Tx,
        event_type: EventType,
        account_id: i64,
        did_id: i64,
    ) -> Result<()> {
        let row = dids::find_by_id(&mut **tx, did_id)
            .await?
            .ok_or(Error::DidNotFound)?;
        let did = Did::try_from(row)?;
        self.number_event_of(tx, event_type, account_id, &did).await
    }

    /// [`Self::number_event`] for a caller that already holds the number as
    /// the change left it (a purchase's `RETURNING` row): no second read.
    pub(crate) async fn number_event_of(
        &self,
        tx: &mut Tx,
        event_type: EventType,
        account_id: i64,
        did: &Did,
    ) -> Result<()> {
        let state = json!({ "account_id": account_id, "number": did });
        let key = OrderingKey::Number(&did.number);
        self.emit(tx, event_type, Some(account_id), key, &state)
            .await
    }

    /// Records an account's event (status changes); the data is the account.
    pub(crate) async fn account_event(
        &self,
        tx: &mut Tx,
        event_type: EventType,
        account_id: i64,
    ) -> Result<()> {
        let account = self.account_in(tx, account_id).await?;
        let state = json!({ "account": account_json(&account) });
        let key = OrderingKey::Account(account_id);
        self.emit(tx, event_type, Some(account_id), key, &state)
            .await
    }

    /// Records `balance.credited` or `balance.adjusted` for a ledger entry.
    pub(crate) async fn balance_event(
        &self,
        tx: &mut Tx,
        account_id: i64,
        entry: &LedgerEntry,
    ) -> Result<()> {
        let event_type = match entry.kind.as_str() {
            "credit" => EventType::BalanceCredited,
            _ => EventType::BalanceAdjusted,
        };
        let account = self.account_in(tx, account_id).await?;
        let state = json!({ "account": account_json(&account), "entry": entry });
        let key = OrderingKey::Account(account_id);
        self.emit(tx, event_type, Some(account_id), key, &state)
            .await
    }

    /// Records `balance.low`: the balance just fell below the account's threshold.
    pub(crate) async fn balance_low_event(
        &self,
        tx: &mut Tx,
        account_id: i64,
        threshold_minor: i64,
    ) -> Result<()> {
        let account = self.account_in(tx, account_id).await?;
        let state = json!({
            "account": account_json(&account),
            "low_balance_threshold_minor": threshold_minor,
        });
        let key = OrderingKey::Account(account_id);
        self.emit(tx, EventType::BalanceLow, Some(account_id), key, &state)
            .await
    }

    /// Records `inventory.imported` with one batch's counts, when it changed anything.
    pub(crate) async fn inventory_event(
        &self,
        tx: &mut Tx,
        counts: &serde_json::Value,
    ) -> Result<()> {
        let changed = ["inserted", "updated"]
            .iter()
            .any(|k| counts[k].as_u64().unwrap_or(0) > 0);
        if !changed {
            return Ok(());
        }
        let key = OrderingKey::Inventory;
        self.emit(tx, EventType::InventoryImported, None, key, counts)
            .await
    }

    async fn account_in(&self, tx: &mut Tx, account_id: i64) -> Result<AccountSummary> {
        accounts::find_by_id(&mut **tx, account_id)
            .await?
            .map(AccountSummary::from)
            .ok_or_else(|| Error::NotFound(format!("no account {account_id}")))
    }

    /// A number's events (its history), newest first, older than `before_seq`.
    pub async fn number_history(
        &self,
        number: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let rows = events::list_for_key(
            self.store.pool(),
            number,
            before_seq.unwrap_or(i64::MAX),
            limit.clamp(1, 1000),
        )
        .await?;
        rows.into_iter().map(Event::try_from).collect()
    }
}

fn account_json(account: &AccountSummary) -> serde_json::Value {
    json!({
        "id": account.id,
        "username": account.username,
        "status": account.status,
        "currency": account.currency.code(),
        "balance_minor": account.balance_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_sort_by_the_clock_second() {
        let early = new_event_id(1_700_000_000);
        let late = new_event_id(1_700_000_001);
        assert!(early < late, "{early} !< {late}");
        assert_ne!(new_event_id(1), new_event_id(1));
    }
}
