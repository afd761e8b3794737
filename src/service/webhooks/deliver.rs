//! The delivery loop of one instance: claim due deliveries under a lease, post
//! each in its own task (a slow endpoint holds only its own tasks, at most
//! `per_endpoint` of them), and settle the outcome: 2xx delivered, 410 disables
//! the endpoint, anything else retried with backoff until the endpoint has
//! failed for 24 h, when it is disabled with the reason shown to its owner.

use super::post::{self, Outcome};
use super::{Event, Service, event_body};
use crate::domain::webhook::{GIVE_UP_AFTER_SECS, retry_delay_secs};
use crate::store::webhooks::{self, AttemptRow, ClaimRequest, Claimed, Settle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

const CLAIM_BATCH: i64 = 32;
/// How often the pending-deliveries gauge is counted again.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

struct Deliverer {
    service: Service,
    /// This process's name on its leases.
    owner: String,
    /// Attempts in flight per endpoint.
    in_flight: Mutex<HashMap<i64, usize>>,
    /// Woken when an attempt ends, so that the next one is claimed at once.
    finished: Notify,
}

/// Starts the delivery loop when the settings ask for one.
pub fn start_delivery(service: Service, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let interval = service.settings().webhooks.poll_interval?;
    let mut id = [0u8; 8];
    rand::fill(&mut id);
    let deliverer = Arc::new(Deliverer {
        service,
        owner: format!("{}-{}", std::process::id(), hex::encode(id)),
        in_flight: Mutex::new(HashMap::new()),
        finished: Notify::new(),
    });
    Some(tokio::spawn(async move {
        let mut gauge_refreshed: Option<Instant> = None;
        loop {
            if gauge_refreshed.is_none_or(|at| at.elapsed() >= GAUGE_EVERY) {
                gauge_refreshed = Some(Instant::now());
                deliverer.refresh_pending_gauge().await;
            }
            if let Err(error) = deliverer.claim_and_start().await {
                tracing::warn!(%error, "webhook claim failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = deliverer.finished.notified() => {}
                _ = stop.changed() => break,
            }
        }
    }))
}

impl Deliverer {
    async fn refresh_pending_gauge(&self) {
        match self.service.webhook_deliveries_pending().await {
            Ok(n) => metrics::gauge!("didhub_webhook_deliveries_pending").set(n as f64),
            Err(error) => tracing::debug!(%error, "counting pending deliveries"),
        }
    }

    fn busy_endpoints(&self) -> Vec<i64> {
        let limit = self.service.settings().webhooks.per_endpoint;
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight
            .iter()
            .filter(|(_, n)| **n >= limit)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Takes a slot for the endpoint, or says it is full.
    fn enter(&self, endpoint_id: i64) -> bool {
        let limit = self.service.settings().webhooks.per_endpoint;
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(endpoint_id).or_insert(0);
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, endpoint_id: i64) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&endpoint_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.remove(&endpoint_id);
            }
        }
        self.finished.notify_one();
    }

    async fn claim_and_start(self: &Arc<Self>) -> crate::service::Result<()> {
        let busy = self.busy_endpoints();
        let request = ClaimRequest {
            owner: &self.owner,
            now: self.service.now(),
            wall_now: chrono::Utc::now().timestamp(),
            lease_secs: self.service.settings().webhooks.lease_secs,
            limit: CLAIM_BATCH,
            busy_endpoints: &busy,
        };
        for claimed in webhooks::claim(self.service.store(), &request).await? {
            if !self.enter(claimed.endpoint_id) {
                webhooks::release_lease(
                    self.service.store().pool(),
                    claimed.delivery_id,
                    &self.owner,
                )
                .await?;
                continue;
            }
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let endpoint_id = claimed.endpoint_id;
                if let Err(error) = this.deliver(claimed).await {
                    tracing::warn!(%error, endpoint = endpoint_id, "webhook attempt not recorded");
                }
                this.leave(endpoint_id);
            });
        }
        Ok(())
    }

    async fn deliver(&self, claimed: Claimed) -> crate::service::Result<()> {
        let event = Event::try_from(claimed.event.clone())?;
        let body = event_body(&event).to_string();
        let settings = self.service.settings();
        let request = post::Request {
            url: &claimed.url,
            secret: &claimed.secret,
            event_id: &event.id,
            body: &body,
        };
        let outcome = post::post(
            settings.resolver.as_ref(),
            &settings.webhooks.urls,
            &request,
        )
        .await;
        metrics::histogram!("didhub_webhook_delivery_seconds")
            .record(outcome.latency_ms as f64 / 1000.0);
        self.settle(&claimed, &event, &outcome).await
    }

    async fn settle(
        &self,
        claimed: &Claimed,
        event: &Event,
        outcome: &Outcome,
    ) -> crate::service::Result<()> {
        let now = self.service.now();
        let endpoint = claimed.endpoint_id;
        let mut tx = self.service.store().begin_write().await?;
        let (settle, outcome_name, disable) = verdict(&mut tx, claimed, outcome, now).await?;
        let attempt = AttemptRow {
            id: 0,
            delivery_id: claimed.delivery_id,
            endpoint_id: endpoint,
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            outcome: outcome_name.to_owned(),
            status_code: outcome.status.map(i64::from),
            latency_ms: outcome.latency_ms,
            error: outcome.error.clone(),
            attempted_at: now,
        };
        webhooks::insert_attempt(&mut *tx, &attempt).await?;
        let status = outcome.status.map(i64::from);
        webhooks::settle(
            &mut *tx,
            claimed.delivery_id,
            &self.owner,
            &settle,
            status,
            now,
        )
        .await?;
        if let Some(reason) = &disable {
            webhooks::set_endpoint_status(&mut *tx, endpoint, "disabled", Some(reason)).await?;
            webhooks::fail_pending(&mut *tx, endpoint, reason, now).await?;
            tracing::warn!(endpoint, reason, "webhook endpoint disabled");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// What an attempt means for its delivery: the settlement, the attempt's
/// outcome as shown to the owner, and the reason to disable the endpoint, if any.
async fn verdict(
    tx: &mut crate::store::Tx,
    claimed: &Claimed,
    outcome: &Outcome,
    now: i64,
) -> crate::service::Result<(Settle<'static>, &'static str, Option<String>)> {
    let endpoint = claimed.endpoint_id;
    Ok(match outcome.status {
        Some(code) if (200..300).contains(&code) => {
            webhooks::note_success(&mut **tx, endpoint).await?;
            (Settle::Delivered, "delivered", None)
        }
        Some(410) => (
            Settle::Failed("410 Gone"),
            "failed",
            Some("the endpoint answered 410 Gone".to_owned()),
        ),
        _ => {
            metrics::counter!("didhub_webhook_failures_total", "endpoint" => endpoint.to_string())
                .increment(1);
            let since = webhooks::note_failure(&mut **tx, endpoint, now).await?;
            if now - since >= GIVE_UP_AFTER_SECS {
                let why = failure_text(outcome);
                let reason = format!("failing for 24 h; last attempt: {why}");
                (Settle::Failed("endpoint disabled"), "failed", Some(reason))
            } else {
                let jitter = 0.8 + 0.4 * rand::random::<f64>();
                let delay = retry_delay_secs(claimed.attempts + 1, jitter);
                (Settle::RetryAt(now + delay), "retrying", None)
            }
        }
    })
}

fn failure_text(outcome: &Outcome) -> String {
    match (&outcome.status, &outcome.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".to_owned(),
    }
}
