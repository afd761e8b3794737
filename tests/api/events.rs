//! The event outbox (issue 14) and a number's history for operators: an event
//! exists if and only if its change committed.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use didhub::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn history(app: &TestApp, key: &str, number: &str, query: &str) -> Response {
    let path = format!("{}/admin/v1/numbers/{number}/history{query}", app.base);
    send(app.client.get(path).bearer_auth(key)).await
}

/// The types of a number's events, newest first.
async fn types(app: &TestApp, key: &str, number: &str) -> Vec<String> {
    let page = history(app, key, number, "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

async fn event_count(app: &TestApp) -> i64 {
    didhub::store::events::count(app.service.store().pool())
        .await
        .expect("count")
}

async fn readonly_key(app: &TestApp) -> String {
    app.service
        .create_operator_key("viewer", Role::Readonly, None)
        .await
        .expect("key")
}

on_both_backends! {
    async fn a_numbers_history_lists_assigned_forwarded_released_newest_first() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let key = readonly_key(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let forwarded = app.forward(&token, &did_id, "pstn", "+33612345678").await;
        assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);
        let released = app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(released.status, StatusCode::OK, "{}", released.body);

        assert_eq!(types(&app, &key, FR_LANDLINE_1).await,
            ["number.released", "number.forwarded", "number.assigned"]);
        let page = history(&app, &key, FR_LANDLINE_1, "").await;
        let newest = &page.body["events"][0];
        assert!(newest["id"].as_str().is_some_and(|id| id.starts_with("evt_")), "{newest}");
        assert_eq!(newest["timestamp"], "2026-11-27T00:00:00Z");
        assert_eq!(newest["data"]["number"]["status"], "aging");
        assert_eq!(page.body["events"][1]["data"]["number"]["forward"]["destination"], "+33612345678");
        assert_eq!(page.body["events"][2]["data"]["account_id"], newest["account_id"]);
        assert_eq!(types(&app, &key, FR_LANDLINE_2).await, Vec::<String>::new());
    }

    async fn history_pages_with_a_cursor_and_needs_an_operator_key() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let key = readonly_key(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        for destination in ["+33612345678", "+33612345679"] {
            assert_eq!(app.forward(&token, &did_id, "pstn", destination).await.status, StatusCode::OK);
        }
        let first = history(&app, &key, FR_LANDLINE_1, "?limit=2").await;
        assert_eq!(first.body["events"].as_array().map(Vec::len), Some(2));
        let cursor = first.body["next_cursor"].as_str().expect("a cursor after a full page");
        let second = history(&app, &key, FR_LANDLINE_1, &format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(second.body["events"][0]["type"], "number.assigned");
        assert_eq!(second.body["next_cursor"], Value::Null);
        assert_eq!(history(&app, &token, FR_LANDLINE_1, "").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(history(&app, &key, FR_LANDLINE_1, "?limit=0").await.code(), "invalid_limit");
    }

    async fn a_failing_purchase_or_credit_records_no_event() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let key = readonly_key(&app).await;
        let token = app.account_with_balance("alice", 1_00).await;
        let before = event_count(&app).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.assign(&token, &did_id).await.status, StatusCode::PAYMENT_REQUIRED);
        let refused = app.service.post_to_balance("alice", "adjustment", -5_00, "too much").await;
        assert!(refused.is_err(), "an adjustment below zero is refused");
        assert_eq!(event_count(&app).await, before);
        assert_eq!(types(&app, &key, FR_LANDLINE_1).await, Vec::<String>::new());

        app.service.post_to_balance("alice", "credit", 5_00, "top-up").await.expect("credit");
        assert_eq!(event_count(&app).await, before + 1);
    }

    async fn renewals_and_reclaims_of_unpaid_numbers_are_events() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let key = readonly_key(&app).await;
        let token = app.account_with_balance("alice", 6_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.clock.advance(30 * 86_400);
        app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(types(&app, &key, FR_LANDLINE_1).await, ["number.renewed", "number.assigned"]);
        let page = history(&app, &key, FR_LANDLINE_1, "").await;
        assert_eq!(page.body["events"][0]["data"]["number"]["paid_through"], json!(T0 + 61 * 86_400));

        app.clock.advance(38 * 86_400); // unpaid, then the grace period is over
        app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(types(&app, &key, FR_LANDLINE_1).await[0], "number.reclaimed");
    }
}
