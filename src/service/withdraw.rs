//! Withdrawing available numbers from sale: by id, by number, or every one of
//! a country and/or type. Sold and aging numbers are never touched; an
//! inventory import puts a withdrawn number back on sale.

use super::admin::record;
use super::{Error, Operator, Result, Service};
use crate::store::dids::{self, NumberFilter};

/// At most this many ids and numbers per request, and this many withdrawn
/// numbers named in an answer or an audit row.
pub const MAX_WITHDRAW_LISTED: usize = 1000;

/// Above this many numbers, other instances restock their whole shelf instead
/// of re-reading each number.
const ANNOUNCE_EACH_UP_TO: usize = 100;

/// What to take off sale. Country and type narrow the ids and numbers when
/// both are given; alone they select every available number that matches.
#[derive(Debug, Clone, Default)]
pub struct Withdrawal {
    pub filter: NumberFilter,
    pub ids: Vec<i64>,
    pub numbers: Vec<String>,
}

/// A listed number that was not withdrawn, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotWithdrawn {
    pub id: Option<i64>,
    pub number: Option<String>,
    /// assigned, aging, withdrawn, not_found, or not_matching (the country/type).
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Withdrawn {
    pub withdrawn: u64,
    /// The first [`MAX_WITHDRAW_LISTED`] numbers withdrawn.
    pub numbers: Vec<String>,
    pub skipped: Vec<NotWithdrawn>,
}

impl Withdrawal {
    fn check(&self) -> Result<()> {
        let targeted = !self.ids.is_empty() || !self.numbers.is_empty();
        if !targeted && self.filter.country.is_none() && self.filter.did_type.is_none() {
            return Err(Error::bad_request(
                "missing_field",
                "name ids, numbers, a country or a type to withdraw",
            ));
        }
        if self.ids.len() + self.numbers.len() > MAX_WITHDRAW_LISTED {
            return Err(Error::bad_request(
                "too_many_numbers",
                "at most 1000 ids and numbers per request",
            ));
        }
        Ok(())
    }
}

/// Why a listed number was left as it is.
fn skip_reason(row: Option<&dids::DidRow>) -> String {
    match row {
        None => "not_found".to_owned(),
        Some(row) if row.status == "available" => "not_matching".to_owned(),
        Some(row) => row.status.clone(),
    }
}

impl Service {
    /// Takes the selected available numbers off sale in one transaction, with
    /// one audit row, and tells every instance to drop them from its shelf.
    pub async fn withdraw_as(
        &self,
        actor: Option<&Operator>,
        withdrawal: &Withdrawal,
    ) -> Result<Withdrawn> {
        withdrawal.check()?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut done = Withdrawn::default();
        let filter = &withdrawal.filter;
        if withdrawal.ids.is_empty() && withdrawal.numbers.is_empty() {
            let numbers = dids::withdraw_available(&mut *tx, filter, None, None, now).await?;
            done.numbers.extend(numbers);
        }
        for &id in &withdrawal.ids {
            let numbers = dids::withdraw_available(&mut *tx, filter, Some(id), None, now).await?;
            if numbers.is_empty() {
                let row = dids::find_by_id(&mut *tx, id).await?;
                done.skipped.push(NotWithdrawn {
                    id: Some(id),
                    number: row.as_ref().map(|r| r.number.clone()),
                    reason: skip_reason(row.as_ref()),
                });
            }
            done.numbers.extend(numbers);
        }
        for number in &withdrawal.numbers {
            let numbers =
                dids::withdraw_available(&mut *tx, filter, None, Some(number), now).await?;
            if numbers.is_empty() {
                let row = dids::find_by_number(&mut *tx, number).await?;
                done.skipped.push(NotWithdrawn {
                    id: row.as_ref().map(|r| r.id),
                    number: Some(number.clone()),
                    reason: skip_reason(row.as_ref()),
                });
            }
            done.numbers.extend(numbers);
        }
        done.withdrawn = done.numbers.len() as u64;
        if done.numbers.len() <= ANNOUNCE_EACH_UP_TO {
            for number in &done.numbers {
                self.announce(&mut tx, number).await?;
            }
        } else {
            self.announce(&mut tx, "inventory").await?;
        }
        done.numbers.truncate(MAX_WITHDRAW_LISTED);
        let after = serde_json::json!({
            "country": filter.country, "type": filter.did_type,
            "ids": withdrawal.ids, "requested_numbers": withdrawal.numbers,
            "withdrawn": done.withdrawn, "numbers": done.numbers,
        });
        let before = serde_json::json!({ "status": "available" });
        record(
            &mut tx,
            actor,
            "inventory.withdraw",
            "inventory",
            Some(before),
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        self.forget_withdrawn(&done).await?;
        Ok(done)
    }

    /// This process's shelf, after the commit (others follow the announcement).
    async fn forget_withdrawn(&self, done: &Withdrawn) -> Result<()> {
        if done.withdrawn as usize > done.numbers.len() {
            self.restock_shelf().await?;
            return Ok(());
        }
        for number in &done.numbers {
            // Removing cannot fail: there is no row to convert.
            let _ = self.shelf.update(number, None);
        }
        Ok(())
    }
}
