//! Monthly statements: the opening balance, every ledger entry of the month,
//! totals per kind, the closing balance. Opening plus entries is closing,
//! because every balance change is a ledger entry.

use super::{Error, LedgerEntry, Result, Service};
use crate::domain::Currency;
use crate::domain::renewal::month_bounds;
use crate::store::{accounts, statement};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Statement {
    pub account_id: i64,
    pub username: String,
    pub currency: Currency,
    /// `YYYY-MM`.
    pub month: String,
    /// The month's first instant and the next month's, UTC.
    pub from: i64,
    pub until: i64,
    pub opening_minor: i64,
    pub entries: Vec<LedgerEntry>,
    /// Per ledger kind, the sum of the month's entries.
    pub totals: BTreeMap<String, i64>,
    pub closing_minor: i64,
}

impl Service {
    pub async fn statement(&self, account_id: i64, month: &str) -> Result<Statement> {
        let (from, until) = month_bounds(month.trim()).ok_or_else(|| {
            Error::bad_request("invalid_month", "month must be YYYY-MM, e.g. 2026-11")
        })?;
        // One transaction, so that the opening balance and the entries agree.
        let mut tx = self.store.begin_write().await?;
        let account = accounts::find_by_id(&mut *tx, account_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account_id}")))?;
        let opening = statement::balance_before(&mut *tx, account_id, from).await?;
        let rows = statement::entries_between(&mut *tx, account_id, from, until).await?;
        tx.commit().await?;
        let mut totals = BTreeMap::new();
        for row in &rows {
            *totals.entry(row.kind.clone()).or_insert(0) += row.amount_minor;
        }
        let closing = opening + totals.values().sum::<i64>();
        Ok(Statement {
            account_id,
            currency: Currency::parse(&account.currency).unwrap_or(Currency::USD),
            username: account.username,
            month: month.trim().to_owned(),
            from,
            until,
            opening_minor: opening,
            entries: rows.into_iter().map(LedgerEntry::from).collect(),
            totals,
            closing_minor: closing,
        })
    }

    /// [`Service::statement`] of the account named `username` (operator CLI).
    pub async fn statement_of(&self, username: &str, month: &str) -> Result<Statement> {
        let account = self.account_by_username(username).await?;
        self.statement(account.id, month).await
    }
}
