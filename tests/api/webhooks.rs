//! Webhooks (issue 14) end to end: a real receiver on 127.0.0.1 checks every
//! signature with the reference Python library; retries keep the event id and
//! a number's order; URLs to private addresses are refused at creation and,
//! after DNS changes, at delivery.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use crate::support::receiver::{Receiver, verify_with_python};
use didhub::domain::webhook::UrlPolicy;
use didhub::service::{HostResolver, Resolution, WebhookSettings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn delivering(allow_private: bool, allow_http: &[&str]) -> WebhookSettings {
    WebhookSettings {
        urls: UrlPolicy {
            allow_http_hosts: allow_http.iter().map(|h| (*h).to_owned()).collect(),
            allow_private,
        },
        poll_interval: Some(Duration::from_millis(20)),
        ..WebhookSettings::default()
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

async fn create(app: &TestApp, token: &str, url: &str, types: Value) -> Response {
    call(
        app,
        Method::POST,
        "/api/webhooks",
        token,
        Some(json!({"url": url, "event_types": types})),
    )
    .await
}

/// A number bought, forwarded twice and released: four events in this order.
async fn number_story(app: &TestApp, token: &str) {
    let did_id = app.buy(token, "FR", FR_LANDLINE_1).await;
    for destination in ["+33612345678", "+33612345679"] {
        assert_eq!(
            app.forward(token, &did_id, "pstn", destination)
                .await
                .status,
            StatusCode::OK
        );
    }
    let released = app
        .post("/api/did/release", &[("token", token), ("did_id", &did_id)])
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
}

/// Answers `public` for `rebind.test` until told to answer loopback.
#[derive(Debug, Default)]
struct RebindingDns {
    rebound: AtomicBool,
}

impl HostResolver for RebindingDns {
    fn resolve<'a>(&'a self, _host: &'a str) -> Resolution<'a> {
        let addr = if self.rebound.load(Ordering::SeqCst) {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::new(93, 184, 215, 14))
        };
        Box::pin(async move { Ok(vec![addr]) })
    }
}

on_both_backends! {
    async fn events_arrive_signed_in_order_with_the_same_id_on_retries() {
        let receiver = Receiver::start(2, 200, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &["127.0.0.1"])).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let created = create(&app, &token, &receiver.url(), json!(["number.assigned", "number.forwarded", "number.released"])).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let secret = created.body["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");

        number_story(&app, &token).await;
        receiver.wait_for(Some(&app.clock), 200, |r| r.accepted().len() == 4).await;

        let received = receiver.received();
        assert_eq!(received.len(), 12, "two 500s then a 200 for each of four events");
        verify_with_python(&secret, &received);
        let accepted = receiver.accepted();
        let types: Vec<Value> = accepted.iter().map(|r| r.json()["type"].clone()).collect();
        assert_eq!(types, ["number.assigned", "number.forwarded", "number.forwarded", "number.released"]);
        for (i, event) in accepted.iter().enumerate() {
            let attempts: Vec<_> = received.iter().filter(|r| r.id == event.id).collect();
            assert_eq!(attempts.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 200]);
            assert_eq!(event.json()["id"], event.id.as_str(), "the body names the webhook-id");
            // Nothing of the next event arrived before this one was accepted.
            let accepted_at = received.iter().position(|r| r.id == event.id && r.status == 200);
            if let Some(next) = accepted.get(i + 1) {
                let next_first = received.iter().position(|r| r.id == next.id);
                assert!(next_first > accepted_at, "event {} overtook {}", next.id, event.id);
            }
        }
        assert_eq!(accepted[1].json()["data"]["number"]["forward"]["destination"], "+33612345678");
        assert_eq!(receiver.overlaps(), 0);

        let id = created.body["webhook"]["id"].as_i64().expect("id");
        let log = call(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), &token, None).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let rows = log.body["deliveries"].as_array().expect("deliveries");
        assert_eq!(rows.len(), 12);
        assert_eq!((rows[0]["status"].as_str(), rows[0]["response_code"].as_i64()), (Some("delivered"), Some(200)));
        assert_eq!((rows[1]["status"].as_str(), rows[1]["response_code"].as_i64()), (Some("retrying"), Some(500)));
        assert!(rows[0]["latency_ms"].as_i64().is_some());

        let metrics = app.get_routing("/metrics").await;
        let text = metrics.body.as_str().expect("text").to_owned();
        for series in [format!("didhub_webhook_failures_total{{endpoint=\"{id}\"}}"),
                       "didhub_webhook_delivery_seconds_count".to_owned(),
                       "didhub_events_total{type=\"number.forwarded\"}".to_owned()] {
            assert!(text.contains(&series), "{series} missing from /metrics");
        }
    }

    async fn test_events_replays_rotation_and_deletion_work_through_the_api() {
        let receiver = Receiver::start(0, 200, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &["127.0.0.1"])).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 0).await;
        let created = create(&app, &token, &receiver.url(), json!([])).await;
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        let path = format!("/api/webhooks/{id}");
        assert_eq!(call(&app, Method::GET, &path, &bob, None).await.status, StatusCode::NOT_FOUND, "another account's");

        let rotated = call(&app, Method::POST, &format!("{path}/rotate-secret"), &token, None).await;
        let secret = rotated.body["secret"].as_str().expect("secret").to_owned();
        let test = call(&app, Method::POST, &format!("{path}/test"), &token, None).await;
        assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.body);
        receiver.wait_for(None, 0, |r| r.accepted().len() == 1).await;
        assert_eq!(receiver.accepted()[0].json()["type"], "webhook.test");

        app.buy(&token, "FR", FR_LANDLINE_1).await;
        receiver.wait_for(None, 0, |r| r.accepted().len() == 2).await;
        let assigned = receiver.accepted()[1].clone();
        let replay = call(&app, Method::POST, &format!("{path}/replay"), &token, Some(json!({"event_id": assigned.id}))).await;
        assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
        let range = call(&app, Method::POST, &format!("{path}/replay"), &token,
            Some(json!({"from": "2026-11-26T00:00:00Z", "until": "2026-11-28T00:00:00Z"}))).await;
        assert_eq!(range.body["queued"], 1, "the test event is not replayed: {}", range.body);
        receiver.wait_for(None, 0, |r| r.accepted().len() == 4).await;
        assert_eq!(receiver.accepted()[3].id, assigned.id, "a replay keeps the event id");
        verify_with_python(&secret, &receiver.received());

        assert_eq!(call(&app, Method::DELETE, &path, &token, None).await.status, StatusCode::NO_CONTENT);
        let list = call(&app, Method::GET, "/api/webhooks", &token, None).await;
        assert_eq!(list.body["webhooks"], json!([]));
    }

    async fn a_410_disables_the_endpoint_with_a_reason_its_owner_sees() {
        let receiver = Receiver::start(0, 410, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &["127.0.0.1"])).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let created = create(&app, &token, &receiver.url(), json!([])).await;
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        receiver.wait_for(None, 0, |r| !r.received().is_empty()).await;
        let path = format!("/api/webhooks/{id}");
        for _ in 0..100 {
            if call(&app, Method::GET, &path, &token, None).await.body["status"] == "disabled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let shown = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(shown.body["status"], "disabled", "{}", shown.body);
        assert!(shown.body["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{}", shown.body);
    }

    async fn an_endpoint_failing_for_24_hours_is_disabled() {
        let receiver = Receiver::start(usize::MAX, 200, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &["127.0.0.1"])).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let created = create(&app, &token, &receiver.url(), json!([])).await;
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let path = format!("/api/webhooks/{id}");
        let alice = app.service.account_by_username("alice").await.expect("alice").id;
        for _ in 0..300 {
            let endpoint = app.service.webhook(Some(alice), id).await.expect("endpoint");
            if endpoint.status == "disabled" {
                break;
            }
            app.clock.advance(3600);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let token = app.login("alice").await; // the first one expired meanwhile
        let shown = call(&app, Method::GET, &path, &token, None).await;
        assert_eq!(shown.body["status"], "disabled", "{}", shown.body);
        assert!(shown.body["disabled_reason"].as_str().is_some_and(|r| r.contains("24 h")), "{}", shown.body);
        assert!(receiver.received().len() >= 6, "retried with backoff before giving up");
    }

    async fn an_https_endpoint_is_spoken_to_over_tls() {
        // A plain-HTTP receiver behind an https URL: the attempt must fail in
        // the TLS handshake, which shows https is not sent in clear.
        let receiver = Receiver::start(0, 200, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &[])).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let url = format!("https://127.0.0.1:{}/hook", receiver.address.port());
        let created = create(&app, &token, &url, json!([])).await;
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let path = format!("/api/webhooks/{id}/deliveries");
        let mut rows = Value::Null;
        for _ in 0..100 {
            rows = call(&app, Method::GET, &path, &token, None).await.body["deliveries"].clone();
            if rows.as_array().is_some_and(|r| !r.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(rows[0]["error"].as_str().is_some_and(|e| e.contains("TLS")), "{rows}");
        assert!(receiver.accepted().is_empty());
    }

    async fn an_operator_endpoint_receives_every_accounts_events() {
        let receiver = Receiver::start(0, 200, Duration::ZERO).await;
        let app = TestApp::spawn_with(|c| c.service.webhooks = delivering(true, &["127.0.0.1"])).await;
        standard_inventory(&app).await;
        let key = app.service
            .create_operator_key("ops", didhub::domain::operator::Role::Admin, None)
            .await
            .expect("key");
        let created = call(&app, Method::POST, "/admin/v1/webhooks", &key,
            Some(json!({"url": receiver.url(), "event_types": ["number.assigned"]}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let secret = created.body["secret"].as_str().expect("secret").to_owned();
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        app.buy(&alice, "FR", FR_LANDLINE_1).await;
        app.buy(&bob, "FR", FR_LANDLINE_2).await;
        receiver.wait_for(None, 0, |r| r.accepted().len() == 2).await;
        let accounts: Vec<Value> = receiver.accepted().iter().map(|r| r.json()["account_id"].clone()).collect();
        assert_ne!(accounts[0], accounts[1], "both accounts' purchases: {accounts:?}");
        verify_with_python(&secret, &receiver.received());
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        let log = call(&app, Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries"), &key, None).await;
        assert_eq!(log.body["deliveries"].as_array().map(Vec::len), Some(2), "{}", log.body);
        assert_eq!(call(&app, Method::GET, &format!("/api/webhooks/{id}"), &alice, None).await.status,
            StatusCode::NOT_FOUND, "not a customer's endpoint");
        let removed = call(&app, Method::DELETE, &format!("/admin/v1/webhooks/{id}"), &key, None).await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT);
    }

    async fn private_and_loopback_urls_are_refused_at_creation() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 0).await;
        for url in ["https://127.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/latest",
                    "https://[::1]/hook", "https://localhost/hook"] {
            let refused = create(&app, &token, url, json!([])).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", refused.body);
            assert_eq!(refused.code(), "webhook_url_not_allowed", "{url}");
        }
        let plain = create(&app, &token, "http://hooks.example.com/x", json!([])).await;
        assert_eq!(plain.code(), "webhook_url_not_allowed");
        assert_eq!(create(&app, &token, "not a url", json!([])).await.code(), "invalid_webhook_url");
        assert_eq!(create(&app, &token, "https://hooks.example.com/x", json!(["number.bought"])).await.code(),
            "invalid_event_type");
        let fine = create(&app, &token, "https://hooks.example.com/x", json!(["number.assigned"])).await;
        assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
    }

    async fn a_name_that_rebinds_to_loopback_is_refused_at_delivery() {
        let receiver = Receiver::start(0, 200, Duration::ZERO).await;
        let dns = Arc::new(RebindingDns::default());
        let resolver = Arc::clone(&dns);
        let app = TestApp::spawn_with(|c| {
            c.service.webhooks = delivering(false, &["rebind.test"]);
            c.service.resolver = resolver;
        }).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let url = format!("http://rebind.test:{}/hook", receiver.address.port());
        let created = create(&app, &token, &url, json!([])).await;
        assert_eq!(created.status, StatusCode::CREATED, "public at creation: {}", created.body);
        dns.rebound.store(true, Ordering::SeqCst);

        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let id = created.body["webhook"]["id"].as_i64().expect("id");
        let path = format!("/api/webhooks/{id}/deliveries");
        let mut rows = Value::Null;
        for _ in 0..100 {
            rows = call(&app, Method::GET, &path, &token, None).await.body["deliveries"].clone();
            if rows.as_array().is_some_and(|r| !r.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rows[0]["status"], "retrying", "{rows}");
        assert!(rows[0]["error"].as_str().is_some_and(|e| e.contains("127.0.0.1")), "{rows}");
        assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    }
}
