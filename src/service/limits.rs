//! Capacity limits: how many calls a number, or all of an account's numbers,
//! may carry at once. The redirect server cannot count calls (it forgets each
//! INVITE once answered), so didhub only keeps the limits and hands them to
//! the operator's SBC with every lookup; the SBC counts and refuses.

use super::admin::record;
use super::{Error, Operator, Result, Service};
use crate::domain::E164;
use crate::store::{accounts, dids};
use serde_json::json;

/// The largest limit accepted: far above any real trunk, low enough that a
/// typo (an extra digit or three) is caught.
const MAX_LIMIT: i64 = 1_000_000;

impl Service {
    /// Sets (`None`: removes) the limit of concurrent calls to `number`.
    pub async fn set_number_max_calls(&self, number: &str, max_calls: Option<i64>) -> Result<()> {
        self.set_number_max_calls_as(None, number, max_calls).await
    }

    /// [`Service::set_number_max_calls`]; an operator's change is audited.
    pub async fn set_number_max_calls_as(
        &self,
        actor: Option<&Operator>,
        number: &str,
        max_calls: Option<i64>,
    ) -> Result<()> {
        check_max_calls(max_calls)?;
        let number = E164::parse(number, None)
            .map_err(|e| Error::bad_request("invalid_number", e.to_string()))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let before = dids::find_by_number(&mut *tx, number.as_str())
            .await?
            .ok_or(Error::DidNotFound)?
            .max_calls;
        dids::set_max_calls(&mut *tx, number.as_str(), max_calls, now)
            .await?
            .ok_or(Error::DidNotFound)?;
        self.announce(&mut tx, number.as_str()).await?;
        let target = format!("number:{}", number.as_str());
        record(
            &mut tx,
            actor,
            "number.limit",
            &target,
            Some(json!({ "max_calls": before })),
            Some(json!({ "max_calls": max_calls })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.refresh_number(number.as_str()).await
    }

    /// Sets (`None`: removes) the limit of concurrent calls to all of the
    /// account's numbers together.
    pub async fn set_account_max_calls(
        &self,
        username: &str,
        max_calls: Option<i64>,
    ) -> Result<()> {
        let account = self.account_by_username(username).await?;
        self.set_account_max_calls_as(None, account.id, max_calls)
            .await
    }

    /// [`Service::set_account_max_calls`] by id; an operator's change is audited.
    pub async fn set_account_max_calls_as(
        &self,
        actor: Option<&Operator>,
        account_id: i64,
        max_calls: Option<i64>,
    ) -> Result<()> {
        check_max_calls(max_calls)?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let before = accounts::max_calls(&mut *tx, account_id).await?;
        if !accounts::set_max_calls(&mut *tx, account_id, max_calls).await? {
            return Err(Error::NotFound(format!("no account {account_id}")));
        }
        let target = format!("account:{account_id}");
        self.announce(&mut tx, &target).await?;
        record(
            &mut tx,
            actor,
            "account.limit",
            &target,
            Some(json!({ "max_calls": before })),
            Some(json!({ "max_calls": max_calls })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.refresh_account_routes(account_id).await
    }
}

fn check_max_calls(max_calls: Option<i64>) -> Result<()> {
    match max_calls {
        Some(n) if !(0..=MAX_LIMIT).contains(&n) => Err(Error::bad_request(
            "invalid_max_calls",
            format!("max_calls must be an integer from 0 to {MAX_LIMIT}, or null for no limit"),
        )),
        _ => Ok(()),
    }
}
