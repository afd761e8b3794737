//! An owner's numbers: list, forward, release. Another account's number is
//! indistinguishable from a missing one (404), so ids leak nothing.

use super::admin::record;
use super::{Did, Error, Operator, Result, Service, views};
use crate::domain::failover::{self, Destination, FailoverError, MAX_DESTINATIONS, RingTimeout};
use crate::domain::forward::{ForwardError, check_resolved};
use crate::domain::{CountryCode, ForwardTarget, ForwardType};
use crate::store::{accounts, dids};
use serde::Serialize;

fn ring_timeout(seconds: i64) -> Result<RingTimeout> {
    RingTimeout::parse(seconds)
        .ok_or_else(|| Error::bad_request("invalid_timeout", FailoverError::BadTimeout.to_string()))
}

/// One destination as the customer sent it, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    pub kind: String,
    pub destination: String,
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Released {
    pub did: Did,
    pub aging_until: i64,
}

impl Service {
    pub async fn list_numbers(&self, account_id: i64) -> Result<Vec<Did>> {
        let mut owned = views::dids(dids::list_owned(self.store.pool(), account_id).await?)?;
        let account_max_calls = accounts::max_calls(self.store.pool(), account_id).await?;
        for did in &mut owned {
            did.account_max_calls = account_max_calls;
        }
        Ok(owned)
    }

    pub async fn owned_number(&self, account_id: i64, did_id: i64) -> Result<Did> {
        match dids::find_by_id(self.store.pool(), did_id).await? {
            Some(row) if row.account_id == Some(account_id) => Did::try_from(row),
            _ => Err(Error::DidNotFound),
        }
    }

    /// Replaces a number's forward with `requests`, tried in order; an empty
    /// list, or a single `type=none`, removes it (calls then get 480).
    pub async fn set_forward(
        &self,
        account_id: i64,
        did_id: i64,
        requests: &[ForwardRequest],
    ) -> Result<Did> {
        let did = self.owned_number(account_id, did_id).await?;
        let list = self.validate_forwards(account_id, &did, requests).await?;
        let first = list
            .first()
            .map(|d| (d.target.kind().code(), d.target.destination()));
        let mut tx = self.store.begin_write().await?;
        let row = dids::set_forward(
            &mut *tx,
            did_id,
            account_id,
            first.as_ref().map(|(kind, dest)| (*kind, dest.as_str())),
            failover::encode(&list).as_deref(),
            self.now(),
        )
        .await?
        .ok_or(Error::DidNotFound)?;
        self.announce(&mut tx, &row.number).await?;
        if list.is_empty() {
            // event: number.forward_removed
        }
        tx.commit().await?;
        self.refresh_number(&row.number).await?;
        tracing::info!(
            account = account_id,
            did = did_id,
            destinations = list.len(),
            "forward set"
        );
        let mut did = Did::try_from(row)?;
        did.account_max_calls = accounts::max_calls(self.store.pool(), account_id).await?;
        Ok(did)
    }

    /// Each request checked as a single forward is, in order; `none` alone
    /// (or nothing) is the empty list.
    async fn validate_forwards(
        &self,
        account_id: i64,
        did: &Did,
        requests: &[ForwardRequest],
    ) -> Result<Vec<Destination>> {
        let timeouts = requests
            .iter()
            .map(|r| r.timeout_seconds.map(ring_timeout).transpose())
            .collect::<Result<Vec<_>>>()?;
        if let [only] = requests
            && only.kind.trim().eq_ignore_ascii_case("none")
        {
            return Ok(Vec::new());
        }
        if requests.len() > MAX_DESTINATIONS {
            return Err(Error::bad_request(
                "too_many_forwards",
                FailoverError::TooMany.to_string(),
            ));
        }
        let country = CountryCode::parse(&did.country).ok_or_else(|| {
            Error::Internal(format!("did {} has country {}", did.id, did.country))
        })?;
        let mut list = Vec::with_capacity(requests.len());
        for (request, timeout) in requests.iter().zip(timeouts) {
            let target = self.validate_target(account_id, &country, request).await?;
            list.push(Destination { target, timeout });
        }
        Ok(list)
    }

    async fn validate_target(
        &self,
        account_id: i64,
        country: &CountryCode,
        request: &ForwardRequest,
    ) -> Result<ForwardTarget> {
        let kind = ForwardType::parse(&request.kind).ok_or_else(|| {
            Error::bad_request(
                "invalid_forward_type",
                ForwardError::UnknownType.to_string(),
            )
        })?;
        let target = ForwardTarget::parse(
            kind,
            &request.destination,
            country,
            self.settings().forward_policy,
        )
        .map_err(|e| Error::bad_request("invalid_destination", e.to_string()))?;
        self.settings()
            .deny_destinations
            .check(&target)
            .map_err(|e| Error::bad_request("destination_not_allowed", e.to_string()))?;
        self.check_target_host(&target).await?;
        self.check_operator_setup(account_id, kind).await?;
        Ok(target)
    }

    /// Refuses a type whose calls would need something not configured.
    async fn check_operator_setup(&self, account_id: i64, kind: ForwardType) -> Result<()> {
        match kind {
            ForwardType::Extension => {
                let account = accounts::find_by_id(self.store.pool(), account_id)
                    .await?
                    .ok_or(Error::Unauthorized)?;
                if account.pbx_host.is_none() {
                    return Err(Error::unprocessable(
                        "pbx_host_required",
                        "extension forwards need a PBX host on the account; ask the operator to set one",
                    ));
                }
            }
            ForwardType::Pstn
                if self.settings().routing.require_pstn_gateway
                    && self.settings().routing.pstn_gateway.is_none() =>
            {
                return Err(Error::unprocessable(
                    "pstn_gateway_required",
                    "this operator has no PSTN gateway, so pstn forwards are refused; forward to a sip URI instead",
                ));
            }
            ForwardType::AccessNumber if self.settings().routing.disa_uri.is_none() => {
                return Err(Error::unprocessable(
                    "disa_not_configured",
                    "this operator has no DISA service for access_number forwards",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Resolves a `sip` target's host name, at forward time, and refuses it when
    /// any address it names is one an address target could not use.
    async fn check_target_host(&self, target: &ForwardTarget) -> Result<()> {
        let policy = self.settings().forward_policy;
        let Some(host) = target.host_name().filter(|_| !policy.allow_local_addresses) else {
            return Ok(());
        };
        let addrs = self
            .settings()
            .resolver
            .resolve(host)
            .await
            .map_err(|e| Error::bad_request("destination_unresolvable", e.to_string()))?;
        check_resolved(host, &addrs, policy)
            .map_err(|e| Error::bad_request("destination_not_allowed", e.to_string()))
    }

    /// Gives a number up at once: no refund, forwarding cleared, quarantined.
    pub async fn release(&self, account_id: i64, did_id: i64) -> Result<Released> {
        self.release_as(None, account_id, did_id, "").await
    }

    /// [`Service::release`]; when an operator forces it, the reason and the
    /// number's state before are recorded in the audit log.
    pub async fn release_as(
        &self,
        actor: Option<&Operator>,
        account_id: i64,
        did_id: i64,
        reason: &str,
    ) -> Result<Released> {
        let now = self.now();
        let aging_until = now + self.settings().aging_secs;
        let mut tx = self.store.begin_write().await?;
        let row = dids::release(&mut *tx, did_id, account_id, now, aging_until)
            .await?
            .ok_or(Error::DidNotFound)?;
        self.announce(&mut tx, &row.number).await?;
        let before = serde_json::json!({ "status": "assigned", "account_id": account_id });
        let after =
            serde_json::json!({ "status": "aging", "aging_until": aging_until, "reason": reason });
        let target = format!("number:{}", row.number);
        record(
            &mut tx,
            actor,
            "number.release",
            &target,
            Some(before),
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        self.refresh_number(&row.number).await?;
        tracing::info!(account = account_id, did = did_id, "number released");
        Ok(Released {
            did: Did::try_from(row)?,
            aging_until,
        })
    }
}
