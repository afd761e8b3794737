//! Keeping what this process holds in memory (route table, shelf, token cache)
//! in step with the database: announce what a transaction changed, apply what
//! other processes announced.

use super::{Result, Service};
use crate::store::{Tx, dids};
use std::sync::Arc;

impl Service {
    /// Announces `subject` (see `Store::announce_change`) inside `tx`.
    pub(crate) async fn announce(&self, tx: &mut Tx, subject: &str) -> Result<()> {
        self.store.announce_change(tx, subject, self.now()).await?;
        Ok(())
    }

    /// Re-reads one number into the route table and the shelf.
    pub async fn refresh_number(&self, number: &str) -> Result<()> {
        self.refresh_route(number).await?;
        let row = dids::find_by_number(self.store.pool(), number).await?;
        self.shelf.update(number, row)
    }

    /// Records in memory a purchase this process just committed: the number
    /// leaves the shelf and enters the route table, not yet forwarded.
    pub(crate) fn note_sold(&self, did: &super::Did, account_id: i64, username: &str) {
        self.routes.put(
            &did.number,
            Some(super::Route {
                did_id: did.id,
                did: did.number.as_str().into(),
                account_id,
                username: username.into(),
                destinations: Vec::new(),
                contacts: Arc::from([]),
                // The account's limit is read with the number's next refresh
                // (setting a forward does one): until then calls get 480, so
                // there is nothing for the SBC to limit.
                limits: super::Limits {
                    number_max_calls: did.max_calls,
                    account_max_calls: None,
                },
            }),
        );
        // Removing cannot fail: there is no row to convert.
        let _ = self.shelf.update(&did.number, None);
    }

    /// Reloads every number on sale.
    pub async fn restock_shelf(&self) -> Result<usize> {
        self.shelf.begin_restock();
        let mut on_sale = Vec::new();
        let loaded = dids::for_each_available(self.store.pool(), |row| {
            on_sale.push(super::Did::try_from(row)?);
            Ok::<(), super::Error>(())
        })
        .await;
        if !matches!(loaded, Ok(Ok(()))) {
            self.shelf.restock_failed();
            loaded??;
        }
        let touched = self.shelf.restock(on_sale);
        for number in touched {
            let row = dids::find_by_number(self.store.pool(), &number).await?;
            self.shelf.update(&number, row)?;
        }
        Ok(self.shelf.len())
    }

    /// Loads the route table and the shelf from the database, and forgets
    /// verified tokens: called at start and whenever announcements may have
    /// been missed.
    pub async fn load_memory(&self) -> Result<(usize, usize)> {
        self.tokens.clear();
        Ok((self.reload_routes().await?, self.restock_shelf().await?))
    }

    /// Applies a change another process announced.
    pub async fn apply_change(&self, subject: &str) -> Result<()> {
        if let Some(hash) = subject.strip_prefix("token:") {
            self.tokens.evict(hash);
        } else if let Some(account) = subject.strip_prefix("tokens:") {
            if let Ok(account_id) = account.parse() {
                self.tokens.evict_account(account_id);
            }
        } else if let Some(account) = subject.strip_prefix("account:") {
            if let Ok(account_id) = account.parse() {
                self.refresh_account_routes(account_id).await?;
            }
        } else if subject == "inventory" {
            self.restock_shelf().await?;
        } else if subject.starts_with('+') {
            self.refresh_number(subject).await?;
        }
        Ok(())
    }
}
