//! Webhook subscriptions (issue 14): customers' endpoints (`/api/webhooks`)
//! and the operator's (CLI), which receive every account's events. Delivery
//! itself is in `deliver.rs` (the claim loop) and `post.rs` (one HTTP attempt).

mod deliver;
mod post;

pub use deliver::start_delivery;

use super::{Error, Event, Result, Service};
use crate::domain::event::{EventType, subscription_text, subscription_types};
use crate::domain::webhook::{
    UrlError, UrlPolicy, WebhookUrl, check_addresses, format_secret, parse_url,
};
use crate::store::events::{self, NewEvent};
use crate::store::webhooks::{self, AttemptRow, EndpointRow, NewEndpoint};
use std::time::Duration;

/// The operator's webhook settings (`--webhook-*` flags).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub urls: UrlPolicy,
    /// How often an idle instance looks for due deliveries; `None`: never
    /// (the instance records events but posts none).
    pub poll_interval: Option<Duration>,
    /// How long a claimed delivery is this instance's; a crashed instance's
    /// claims are taken over after it.
    pub lease_secs: i64,
    /// Attempts in flight to one endpoint from one instance.
    pub per_endpoint: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            urls: UrlPolicy::default(),
            poll_interval: Some(Duration::from_millis(500)),
            lease_secs: 60,
            per_endpoint: 4,
        }
    }
}

/// Attempts and settled deliveries are kept this long.
pub const RETENTION_SECS: i64 = 30 * 86_400;
/// Most events one range replay queues.
const MAX_REPLAY: i64 = 10_000;

/// An endpoint as its owner sees it; the secret only when just made.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub account_id: Option<i64>,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
}

impl From<EndpointRow> for Endpoint {
    fn from(row: EndpointRow) -> Endpoint {
        Endpoint {
            id: row.id,
            account_id: row.account_id,
            url: row.url,
            event_types: subscription_types(&row.event_types),
            status: row.status,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
        }
    }
}

fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::fill(&mut key);
    format_secret(&key)
}

fn url_error(error: UrlError) -> Error {
    match error {
        UrlError::Malformed(_) => Error::bad_request("invalid_webhook_url", error.to_string()),
        _ => Error::unprocessable("webhook_url_not_allowed", error.to_string()),
    }
}

/// Reads event type codes; an empty list subscribes to every type.
pub fn parse_event_types(codes: &[String]) -> Result<Vec<EventType>> {
    codes
        .iter()
        .map(|c| {
            EventType::parse(c.trim())
                .filter(|t| *t != EventType::WebhookTest)
                .ok_or_else(|| {
                    Error::bad_request("invalid_event_type", format!("no event type {c:?}"))
                })
        })
        .collect()
}

impl Service {
    /// The URL rules, DNS included: every address the name has must be allowed.
    pub(crate) async fn check_webhook_url(&self, text: &str) -> Result<WebhookUrl> {
        let policy = &self.settings().webhooks.urls;
        let url = parse_url(text, policy).map_err(url_error)?;
        if let Some(host) = url
            .host_to_resolve
            .as_deref()
            .filter(|_| !policy.allow_private)
        {
            let addrs = self
                .settings()
                .resolver
                .resolve(host)
                .await
                .map_err(|e| Error::unprocessable("webhook_url_unresolvable", e.to_string()))?;
            check_addresses(host, &addrs, policy).map_err(url_error)?;
        }
        Ok(url)
    }

    /// Makes an endpoint for an account (`None`: the operator's); returns it and its secret.
    pub async fn create_webhook(
        &self,
        owner: Option<i64>,
        url: &str,
        types: &[EventType],
    ) -> Result<(Endpoint, String)> {
        let checked = self.check_webhook_url(url).await?;
        let secret = new_secret();
        let endpoint = NewEndpoint {
            account_id: owner,
            url: checked.url.as_str(),
            secret: &secret,
            event_types: &subscription_text(types),
            created_at: self.now(),
        };
        let id = webhooks::insert_endpoint(self.store.pool(), &endpoint).await?;
        Ok((self.webhook(owner, id).await?, secret))
    }

    pub async fn list_webhooks(&self, owner: Option<i64>) -> Result<Vec<Endpoint>> {
        let rows = webhooks::list_endpoints(self.store.pool(), owner).await?;
        Ok(rows.into_iter().map(Endpoint::from).collect())
    }

    /// One endpoint of `owner`; another owner's is indistinguishable from none.
    pub async fn webhook(&self, owner: Option<i64>, id: i64) -> Result<Endpoint> {
        Ok(self.owned_endpoint(owner, id).await?.into())
    }

    async fn owned_endpoint(&self, owner: Option<i64>, id: i64) -> Result<EndpointRow> {
        self.owned_endpoint_row(owner, id, false).await
    }

    async fn owned_endpoint_row(
        &self,
        owner: Option<i64>,
        id: i64,
        include_deleted: bool,
    ) -> Result<EndpointRow> {
        match webhooks::find_endpoint(self.store.pool(), id, include_deleted).await? {
            Some(row) if row.account_id == owner => Ok(row),
            _ => Err(Error::NotFound(format!("no webhook {id}"))),
        }
    }

    /// Deletes an endpoint; its undelivered events are dropped.
    pub async fn delete_webhook(&self, owner: Option<i64>, id: i64) -> Result<()> {
        self.owned_endpoint(owner, id).await?;
        let mut tx = self.store.begin_write().await?;
        webhooks::set_endpoint_status(&mut *tx, id, "deleted", None).await?;
        webhooks::fail_pending(&mut *tx, id, "endpoint deleted", self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new secret, effective for the next attempt.
    pub async fn rotate_webhook_secret(&self, owner: Option<i64>, id: i64) -> Result<String> {
        self.owned_endpoint(owner, id).await?;
        let secret = new_secret();
        webhooks::set_secret(self.store.pool(), id, &secret).await?;
        Ok(secret)
    }

    /// Queues a `webhook.test` event for this endpoint only; returns its id.
    pub async fn send_test_event(&self, owner: Option<i64>, id: i64) -> Result<String> {
        let endpoint = self.owned_endpoint(owner, id).await?;
        let now = self.now();
        let event_id = super::events::new_event_id(now);
        let data = serde_json::json!({ "webhook_id": id, "url": endpoint.url }).to_string();
        let key = format!("webhook:{id}");
        let event = NewEvent {
            id: &event_id,
            event_type: EventType::WebhookTest.code(),
            account_id: owner,
            ordering_key: &key,
            data_json: &data,
            created_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        events::insert_unrouted(&mut *tx, &event).await?;
        let row = events::find(&mut *tx, &event_id)
            .await?
            .ok_or_else(|| Error::Internal("test event vanished".into()))?;
        webhooks::enqueue(&mut *tx, id, &row, now).await?;
        tx.commit().await?;
        Ok(event_id)
    }

    /// An endpoint's delivery attempts, newest first.
    pub async fn webhook_attempts(
        &self,
        owner: Option<i64>,
        id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AttemptRow>> {
        self.owned_endpoint_row(owner, id, true).await?;
        let before = before_id.unwrap_or(i64::MAX);
        Ok(webhooks::list_attempts(self.store.pool(), id, before, limit.clamp(1, 500)).await?)
    }

    /// Sends one event again to this endpoint (whatever happened to it before).
    pub async fn replay_event(&self, owner: Option<i64>, id: i64, event_id: &str) -> Result<u64> {
        self.owned_endpoint(owner, id).await?;
        let event = events::find(self.store.pool(), event_id)
            .await?
            .filter(|e| owner.is_none() || e.account_id == owner)
            .ok_or_else(|| Error::NotFound(format!("no event {event_id}")))?;
        webhooks::enqueue(self.store.pool(), id, &event, self.now()).await?;
        Ok(1)
    }

    /// Sends again every event of `[from, until)` this endpoint subscribes to.
    pub async fn replay_range(
        &self,
        owner: Option<i64>,
        id: i64,
        from: i64,
        until: i64,
    ) -> Result<u64> {
        let endpoint = Endpoint::from(self.owned_endpoint(owner, id).await?);
        let rows = events::list_between(self.store.pool(), owner, from, until, MAX_REPLAY).await?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut queued = 0;
        for row in rows.iter().filter(|r| wanted(&endpoint, &r.event_type)) {
            webhooks::enqueue(&mut *tx, id, row, now).await?;
            queued += 1;
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// Forgets attempts and settled deliveries past retention (maintenance).
    pub async fn purge_webhook_history(&self) -> Result<()> {
        let before = self.now() - RETENTION_SECS;
        Ok(webhooks::purge_older_than(self.store.pool(), before).await?)
    }

    /// Deliveries not yet settled (a gauge).
    pub async fn webhook_deliveries_pending(&self) -> Result<i64> {
        Ok(webhooks::count_pending(self.store.pool()).await?)
    }
}

fn wanted(endpoint: &Endpoint, event_type: &str) -> bool {
    event_type != EventType::WebhookTest.code()
        && (endpoint.event_types.is_empty()
            || endpoint.event_types.iter().any(|t| t.code() == event_type))
}

/// The body posted for an event (Standard Webhooks' `type`, `timestamp`, `data`).
pub fn event_body(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "type": event.event_type,
        "timestamp": crate::domain::billing::rfc3339(event.created_at),
        "account_id": event.account_id,
        "data": event.data,
    })
}
