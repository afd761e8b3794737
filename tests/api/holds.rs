//! `did/hold`, `did/unhold`, `did/holds`: numbers kept for one account a while.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn hold(app: &TestApp, token: &str, body: Value) -> Response {
    app.post_json("/api/did/hold", Some(token), body, &[]).await
}

fn id(text: &str) -> i64 {
    text.parse().expect("did_id")
}

async fn visible(app: &TestApp, token: &str, number: &str) -> bool {
    app.available(token, "FR")
        .await
        .iter()
        .any(|d| d["did_number"] == number)
}

/// `count` French landlines at 0.10 + 0.20, numbered from +33140000000.
async fn many_numbers(app: &TestApp, count: usize) -> Vec<i64> {
    let rows: Vec<String> = (0..count)
        .map(|i| format!("+3314000{i:04},FR,landline,0.10,0.20"))
        .collect();
    app.import(&rows.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let token = app.account_with_balance("inventory-reader", 0).await;
    let mut ids = Vec::new();
    for i in 0..count {
        let number = format!("+3314000{i:04}");
        ids.push(id(&app.did_id_of(&token, "FR", &number).await));
    }
    ids
}

on_both_backends! {
    async fn a_held_number_is_hidden_from_others_and_refused_to_them_until_the_hold_ends() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let did_id = app.did_id_of(&alice, "FR", FR_LANDLINE_1).await;

        let held = hold(&app, &alice, json!({"did_id": [id(&did_id)]})).await;

        assert_eq!(held.status, StatusCode::OK, "{}", held.body);
        assert_eq!(held.body["count"], 1);
        assert_eq!(held.body["holds"][0]["did_number"], FR_LANDLINE_1);
        assert_eq!(held.body["holds"][0]["held_until"], "2026-11-27T00:10:00Z");
        assert!(!visible(&app, &bob, FR_LANDLINE_1).await, "hidden from bob");
        assert!(visible(&app, &alice, FR_LANDLINE_1).await, "the holder still sees it");
        let bought = app.assign(&bob, &did_id).await;
        assert_eq!(bought.status, StatusCode::CONFLICT, "{}", bought.body);
        assert_eq!(bought.code(), "did_held");
        let held_again = hold(&app, &bob, json!({"did_id": id(&did_id)})).await;
        assert_eq!(held_again.status, StatusCode::CONFLICT);
        assert_eq!(held_again.code(), "did_held");
        assert_eq!(app.balance(&bob).await, "10.00");

        // No job runs: the clock alone ends the hold.
        app.clock.advance(599);
        assert!(!visible(&app, &bob, FR_LANDLINE_1).await, "still held at 9:59");
        app.clock.advance(1);
        assert!(visible(&app, &bob, FR_LANDLINE_1).await, "back on sale at 10:00");
        let bought = app.assign(&bob, &did_id).await;
        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        assert_eq!(app.balance(&bob).await, "6.50");
        app.assert_ledger_invariant().await;
    }

    async fn the_holder_buys_its_held_number_and_the_hold_ends_with_the_sale() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let did_id = app.did_id_of(&alice, "FR", FR_LANDLINE_1).await;
        let held = app
            .post("/api/did/hold", &[("token", &alice), ("did_id", &did_id), ("ttl_seconds", "60")])
            .await;
        assert_eq!(held.status, StatusCode::OK, "{}", held.body);
        assert_eq!(held.body["holds"][0]["held_until"], "2026-11-27T00:01:00Z");

        let bought = app.assign(&alice, &did_id).await;

        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        assert_eq!(bought.body["total_charged"], "3.50");
        let holds = app.post("/api/did/holds", &[("token", &alice)]).await;
        assert_eq!(holds.body["count"], 0, "{}", holds.body);
        app.assert_ledger_invariant().await;
    }

    async fn holds_are_listed_by_get_and_lifted_by_unhold() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let first = id(&app.did_id_of(&alice, "FR", FR_LANDLINE_1).await);
        let second = id(&app.did_id_of(&alice, "FR", FR_LANDLINE_2).await);
        let held = hold(&app, &alice, json!({"did_id": [first, second], "ttl_seconds": 1800})).await;
        assert_eq!(held.status, StatusCode::OK, "{}", held.body);

        let listed = send(app.client.get(format!("{}/api/did/holds", app.base)).bearer_auth(&alice)).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["count"], 2);
        assert_eq!(listed.body["holds"][1]["held_until"], "2026-11-27T00:30:00Z");

        let lifted = app
            .post_json("/api/did/unhold", Some(&alice), json!({"did_id": [first]}), &[])
            .await;
        assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
        assert_eq!(lifted.body["unheld"], json!([first]));
        assert!(visible(&app, &bob, FR_LANDLINE_1).await);
        assert!(!visible(&app, &bob, FR_LANDLINE_2).await);
        let not_mine = app
            .post_json("/api/did/unhold", Some(&bob), json!({"did_id": [second]}), &[])
            .await;
        assert_eq!(not_mine.body["count"], 0, "bob cannot lift alice's hold");
        assert!(!visible(&app, &bob, FR_LANDLINE_2).await);
        app.assert_ledger_invariant().await;
    }

    async fn hold_requests_out_of_bounds_are_refused_and_hold_nothing() {
        let app = TestApp::spawn().await;
        let ids = many_numbers(&app, 22).await;
        let alice = app.account_with_balance("alice", 0).await;
        let cases = [
            (json!({"did_id": [ids[0]], "ttl_seconds": 59}), StatusCode::BAD_REQUEST, "invalid_ttl"),
            (json!({"did_id": [ids[0]], "ttl_seconds": 1801}), StatusCode::BAD_REQUEST, "invalid_ttl"),
            (json!({"did_id": ids[..11]}), StatusCode::BAD_REQUEST, "too_many_numbers"),
            (json!({"did_id": [ids[0], ids[0]]}), StatusCode::BAD_REQUEST, "duplicate_did_id"),
            (json!({"did_id": []}), StatusCode::BAD_REQUEST, "missing_field"),
            (json!({"did_id": [ids[0], 987_654]}), StatusCode::NOT_FOUND, "did_not_found"),
        ];
        for (body, status, code) in cases {
            let answer = hold(&app, &alice, body.clone()).await;
            assert_eq!((answer.status, answer.code()), (status, code), "{body}: {}", answer.body);
        }
        let unknown = hold(&app, &alice, json!({"did_id": [987_654]})).await;
        assert!(unknown.body["error"]["message"].as_str().unwrap_or("").contains("987654"));
        let listed = app.post("/api/did/holds", &[("token", &alice)]).await;
        assert_eq!(listed.body["count"], 0, "a refused request holds nothing");

        for chunk in ids[..20].chunks(10) {
            let answer = hold(&app, &alice, json!({"did_id": chunk})).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        }
        let over = hold(&app, &alice, json!({"did_id": [ids[20], ids[21]]})).await;
        assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", over.body);
        assert_eq!(over.code(), "hold_limit_exceeded");
        // Renewing a hold it already has does not count twice.
        let renewed = hold(&app, &alice, json!({"did_id": [ids[0]]})).await;
        assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
        app.clock.advance(600);
        let after_expiry = hold(&app, &alice, json!({"did_id": [ids[20], ids[21]]})).await;
        assert_eq!(after_expiry.status, StatusCode::OK, "expired holds do not count: {}", after_expiry.body);
        app.assert_ledger_invariant().await;
    }

    async fn maintenance_clears_expired_holds_without_changing_what_anyone_sees() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let did_id = id(&app.did_id_of(&alice, "FR", FR_LANDLINE_1).await);
        assert_eq!(hold(&app, &alice, json!({"did_id": [did_id]})).await.status, StatusCode::OK);
        assert_eq!(app.service.expire_holds().await.expect("sweep"), 0, "nothing expired yet");
        assert!(!visible(&app, &bob, FR_LANDLINE_1).await);
        app.clock.advance(601);
        assert_eq!(app.service.expire_holds().await.expect("sweep"), 1);
        assert!(visible(&app, &bob, FR_LANDLINE_1).await);
        let holds = app.post("/api/did/holds", &[("token", &alice)]).await;
        assert_eq!(holds.body["count"], 0);
        app.assert_ledger_invariant().await;
    }
}
