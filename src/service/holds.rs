//! `did/hold`, `did/unhold`, `did/holds`: numbers reserved for one account for
//! a while. A hold is a pair of columns on the number's row, judged against
//! the clock by every reader (search, purchase, quote): it ends by itself at
//! `held_until`, and the maintenance sweep only tidies up.

use super::purchase::did_held;
use super::{Error, Result, Service};
use crate::domain::event::EventType;
use crate::store::holds;
use std::collections::HashSet;

/// Hold length when the request names none, and the bounds of `ttl_seconds`.
pub const DEFAULT_HOLD_SECS: i64 = 600;
pub const MIN_HOLD_SECS: i64 = 60;
pub const MAX_HOLD_SECS: i64 = 1800;
/// Numbers one request may hold, and one account may hold at once.
pub const MAX_HOLD_PER_REQUEST: usize = 10;
pub const MAX_HOLDS_PER_ACCOUNT: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub did_id: i64,
    pub number: String,
    pub held_until: i64,
}

impl From<holds::HoldRow> for Hold {
    fn from(row: holds::HoldRow) -> Hold {
        Hold {
            did_id: row.did_id,
            number: row.number,
            held_until: row.held_until,
        }
    }
}

/// Refuses an empty list, more than `max` ids, or an id given twice.
pub(super) fn check_ids(did_ids: &[i64], max: usize) -> Result<()> {
    if did_ids.is_empty() {
        return Err(Error::bad_request("missing_field", "did_id is required"));
    }
    if did_ids.len() > max {
        return Err(Error::bad_request(
            "too_many_numbers",
            format!("at most {max} did_id values per request"),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = did_ids.iter().find(|id| !seen.insert(**id)) {
        return Err(Error::bad_request(
            "duplicate_did_id",
            format!("did_id {twice} is given more than once"),
        ));
    }
    Ok(())
}

impl Service {
    /// Holds every number of `did_ids` for the account, or none of them.
    pub async fn hold(
        &self,
        account_id: i64,
        did_ids: &[i64],
        ttl_secs: Option<i64>,
    ) -> Result<Vec<Hold>> {
        check_ids(did_ids, MAX_HOLD_PER_REQUEST)?;
        let ttl = ttl_secs.unwrap_or(DEFAULT_HOLD_SECS);
        if !(MIN_HOLD_SECS..=MAX_HOLD_SECS).contains(&ttl) {
            return Err(Error::bad_request(
                "invalid_ttl",
                format!("ttl_seconds must be between {MIN_HOLD_SECS} and {MAX_HOLD_SECS}"),
            ));
        }
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        holds::lock_account(&mut *tx, account_id).await?;
        let mut placed = Vec::with_capacity(did_ids.len());
        for &did_id in did_ids {
            match holds::place(&mut *tx, did_id, account_id, now + ttl, now).await? {
                Some(row) => placed.push(Hold::from(row)),
                None => return Err(self.why_not_held(&mut tx, did_id, account_id, now).await?),
            }
        }
        let held = holds::of_account(&mut *tx, account_id, now).await?.len();
        if held > MAX_HOLDS_PER_ACCOUNT {
            return Err(Error::unprocessable(
                "hold_limit_exceeded",
                format!("an account may hold at most {MAX_HOLDS_PER_ACCOUNT} numbers at once"),
            ));
        }
        for hold in &placed {
            self.number_event(&mut tx, EventType::NumberHeld, account_id, hold.did_id)
                .await?;
            self.announce(&mut tx, &hold.number).await?;
        }
        tx.commit().await?;
        for hold in &placed {
            self.shelf
                .set_hold(&hold.number, Some((account_id, hold.held_until)));
        }
        Ok(placed)
    }

    async fn why_not_held(
        &self,
        tx: &mut crate::store::Tx,
        did_id: i64,
        account_id: i64,
        now: i64,
    ) -> Result<Error> {
        Ok(
            match holds::offer(&mut **tx, did_id, account_id, now).await? {
                None => Error::UnknownDid(did_id),
                Some(offer) if offer.status == "available" && offer.held_by_other => {
                    did_held(&offer.number)
                }
                Some(_) => Error::DidNotAvailable,
            },
        )
    }

    /// Lifts the account's holds on `did_ids`; returns the ids it held.
    pub async fn unhold(&self, account_id: i64, did_ids: &[i64]) -> Result<Vec<i64>> {
        check_ids(did_ids, MAX_HOLDS_PER_ACCOUNT)?;
        let mut tx = self.store.begin_write().await?;
        let mut lifted = Vec::new();
        for &did_id in did_ids {
            if let Some(number) = holds::lift(&mut *tx, did_id, account_id).await? {
                self.announce(&mut tx, &number).await?;
                lifted.push((did_id, number));
            }
        }
        tx.commit().await?;
        for (_, number) in &lifted {
            self.shelf.set_hold(number, None);
        }
        Ok(lifted.into_iter().map(|(id, _)| id).collect())
    }

    /// The account's running holds.
    pub async fn holds(&self, account_id: i64) -> Result<Vec<Hold>> {
        let rows = holds::of_account(self.store.pool(), account_id, self.now()).await?;
        Ok(rows.into_iter().map(Hold::from).collect())
    }

    /// Clears the holds that have run out (maintenance). Nothing depends on
    /// it: every reader already ignores an expired hold.
    pub async fn expire_holds(&self) -> Result<usize> {
        let mut tx = self.store.begin_write().await?;
        let expired = holds::clear_expired(&mut tx, self.now()).await?;
        for hold in &expired {
            self.number_event(
                &mut tx,
                EventType::NumberHoldExpired,
                hold.account_id,
                hold.did_id,
            )
            .await?;
            self.announce(&mut tx, &hold.number).await?;
        }
        tx.commit().await?;
        for hold in &expired {
            self.shelf.set_hold(&hold.number, None);
        }
        Ok(expired.len())
    }

    /// Re-reads the hold on one number into the shelf.
    pub(super) async fn refresh_hold(&self, number: &str) -> Result<()> {
        let hold = holds::find_by_number(self.store.pool(), number).await?;
        self.shelf
            .set_hold(number, hold.map(|h| (h.account_id, h.held_until)));
        Ok(())
    }

    /// Reloads every running hold into the shelf.
    pub(super) async fn reload_holds(&self) -> Result<()> {
        let running = holds::active(self.store.pool(), self.now()).await?;
        self.shelf.replace_holds(
            running
                .into_iter()
                .map(|h| (h.number, h.account_id, h.held_until)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<()>) -> &'static str {
        match result {
            Err(Error::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn id_lists_must_be_non_empty_short_and_without_repeats() {
        assert!(check_ids(&[1, 2, 3], 3).is_ok());
        assert_eq!(code(check_ids(&[], 3)), "missing_field");
        assert_eq!(code(check_ids(&[1, 2, 3, 4], 3)), "too_many_numbers");
        assert_eq!(code(check_ids(&[1, 2, 1], 3)), "duplicate_did_id");
    }
}
