//! Capacity limits: how many calls a number, or all of an account's numbers,
//! may carry at once. The redirect server cannot count calls (it forgets each
//! INVITE once answered), so didhub only keeps the limits and hands them to
//! the operator's SBC with every lookup; the SBC counts and refuses.

use super::{Error, Result, Service};
use crate::domain::E164;
use crate::store::{accounts, dids};

impl Service {
    /// Sets (`None`: removes) the limit of concurrent calls to `number`.
    pub async fn set_number_max_calls(&self, number: &str, max_calls: Option<i64>) -> Result<()> {
        check_max_calls(max_calls)?;
        let number = E164::parse(number, None)
            .map_err(|e| Error::bad_request("invalid_number", e.to_string()))?;
        let mut tx = self.store.begin_write().await?;
        dids::set_max_calls(&mut *tx, number.as_str(), max_calls, self.now())
            .await?
            .ok_or(Error::DidNotFound)?;
        self.announce(&mut tx, number.as_str()).await?;
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
        check_max_calls(max_calls)?;
        let account = self.account_by_username(username).await?;
        let mut tx = self.store.begin_write().await?;
        if !accounts::set_max_calls(&mut *tx, account.id, max_calls).await? {
            return Err(Error::NotFound(format!("no account named {username}")));
        }
        self.announce(&mut tx, &format!("account:{}", account.id))
            .await?;
        tx.commit().await?;
        self.refresh_account_routes(account.id).await
    }
}

fn check_max_calls(max_calls: Option<i64>) -> Result<()> {
    match max_calls {
        Some(n) if !(0..=1_000_000).contains(&n) => Err(Error::bad_request(
            "invalid_max_calls",
            "max_calls must be an integer from 0 to 1000000, or none",
        )),
        _ => Ok(()),
    }
}
