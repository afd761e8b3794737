//! Bulk orders (`did/assign` with several numbers), orders by criteria
//! (`did/order`) and quotes (`dry_run`).

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn id(text: &str) -> i64 {
    text.parse().expect("did_id")
}

async fn assign_json(app: &TestApp, token: &str, body: Value) -> Response {
    app.post_json("/api/did/assign", Some(token), body, &[])
        .await
}

async fn order(app: &TestApp, token: &str, body: Value) -> Response {
    app.post_json("/api/did/order", Some(token), body, &[])
        .await
}

/// The three standard French numbers' ids: landline 1, landline 2, mobile.
async fn french_ids(app: &TestApp, token: &str) -> [i64; 3] {
    [
        id(&app.did_id_of(token, "FR", FR_LANDLINE_1).await),
        id(&app.did_id_of(token, "FR", FR_LANDLINE_2).await),
        id(&app.did_id_of(token, "FR", FR_MOBILE).await),
    ]
}

async fn ledger_len(app: &TestApp, token: &str) -> usize {
    let ledger = app.post("/api/ledger", &[("token", token)]).await;
    ledger.body["entries"].as_array().expect("entries").len()
}

async fn owned(app: &TestApp, token: &str) -> usize {
    let list = app.post("/api/did/list", &[("token", token)]).await;
    list.body["count"].as_u64().expect("count") as usize
}

/// Ten French landlines at 1.00 + 2.00 (+3315000000x) and five mobiles at 3.00 + 5.00.
async fn paris_inventory(app: &TestApp) {
    let mut rows: Vec<String> = (0..10)
        .map(|i| format!("+3315000000{i},FR,landline,1.00,2.00"))
        .collect();
    rows.extend((0..5).map(|i| format!("+3361200000{i},FR,mobile_voice,3.00,5.00")));
    app.import(&rows.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
}

on_both_backends! {
    async fn several_did_ids_in_a_form_buy_every_number_in_one_order() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        let [a, b, m] = french_ids(&app, &alice).await;

        let response = app
            .post(
                "/api/did/assign",
                &[("token", &alice), ("did_id", &a.to_string()), ("did_id", &b.to_string()), ("did_id", &m.to_string())],
            )
            .await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["count"], 3);
        assert_eq!(response.body["total_charged"], "15.00");
        assert_eq!(response.body["balance"], "5.00");
        assert_eq!(response.body["failed"], json!([]));
        assert_eq!(response.body["dids"][2]["did_number"], FR_MOBILE);
        assert_eq!(response.body["dids"][2]["total_charged"], "8.00");
        assert_eq!(response.body["dids"][2]["charges"][1]["type"], "monthly_charge");
        assert_eq!(app.balance(&alice).await, "5.00");
        assert_eq!(owned(&app, &alice).await, 3);
        assert_eq!(ledger_len(&app, &alice).await, 7, "credit + two entries per number");
        app.assert_ledger_invariant().await;
    }

    async fn an_order_the_balance_cannot_pay_in_full_charges_nothing_and_sells_nothing() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 14_99).await;
        let [a, b, m] = french_ids(&app, &alice).await;

        let response = assign_json(&app, &alice, json!({"did_id": [a, b, m]})).await;

        assert_eq!(response.status, StatusCode::PAYMENT_REQUIRED, "{}", response.body);
        assert_eq!(response.code(), "insufficient_balance");
        assert_eq!(app.balance(&alice).await, "14.99");
        assert_eq!(owned(&app, &alice).await, 0);
        assert_eq!(ledger_len(&app, &alice).await, 1);
        assert_eq!(app.available(&alice, "FR").await.len(), 3, "all three still on sale");
        app.assert_ledger_invariant().await;
    }

    async fn an_unknown_did_id_refuses_the_whole_order_naming_it() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        let [a, ..] = french_ids(&app, &alice).await;

        let response = assign_json(&app, &alice, json!({"did_id": [a, 987_654]})).await;

        assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
        assert_eq!(response.code(), "did_not_found");
        assert!(response.body["error"]["message"].as_str().unwrap_or("").contains("987654"));
        assert_eq!(app.balance(&alice).await, "20.00");
        assert_eq!(owned(&app, &alice).await, 0);
        app.assert_ledger_invariant().await;
    }

    async fn duplicates_and_oversized_orders_are_bad_requests() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        let [a, b, _] = french_ids(&app, &alice).await;

        let twice = app
            .post("/api/did/assign", &[("token", &alice), ("did_id", &a.to_string()), ("did_id", &b.to_string()), ("did_id", &a.to_string())])
            .await;
        assert_eq!((twice.status, twice.code()), (StatusCode::BAD_REQUEST, "duplicate_did_id"), "{}", twice.body);
        let ids: Vec<i64> = (1..=101).collect();
        let too_many = assign_json(&app, &alice, json!({"did_id": ids})).await;
        assert_eq!((too_many.status, too_many.code()), (StatusCode::BAD_REQUEST, "too_many_numbers"));
        let release_two = app
            .post("/api/did/release", &[("token", &alice), ("did_id", &a.to_string()), ("did_id", &b.to_string())])
            .await;
        assert_eq!((release_two.status, release_two.code()), (StatusCode::BAD_REQUEST, "invalid_did_id"));
        let padded = app
            .post("/api/did/assign", &[("token", &alice), ("did_id", &a.to_string()), ("did_id", &format!(" 0{b}"))])
            .await;
        assert_eq!((padded.status, padded.code()), (StatusCode::BAD_REQUEST, "invalid_did_id"), "several ids are plain digits");
        assert_eq!(app.balance(&alice).await, "20.00");
        app.assert_ledger_invariant().await;
    }

    async fn a_partial_order_buys_what_it_can_and_reports_each_refusal() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let [a, b, m] = french_ids(&app, &alice).await;
        assert_eq!(app.assign(&bob, &a.to_string()).await.status, StatusCode::OK);

        // a: sold to bob; b: bought (3.50); 987654: unknown; m: 8.00 > 6.50 left.
        let response = assign_json(&app, &alice, json!({"did_id": [a, b, 987_654, m], "partial": true})).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["count"], 1);
        assert_eq!(response.body["dids"][0]["did_number"], FR_LANDLINE_2);
        assert_eq!(response.body["total_charged"], "3.50");
        assert_eq!(response.body["balance"], "6.50");
        let failed: Vec<(i64, String)> = response.body["failed"]
            .as_array()
            .expect("failed")
            .iter()
            .map(|f| (f["did_id"].as_i64().expect("id"), f["error"]["code"].as_str().expect("code").to_owned()))
            .collect();
        assert_eq!(
            failed,
            [
                (a, "did_not_available".to_owned()),
                (987_654, "did_not_found".to_owned()),
                (m, "insufficient_balance".to_owned()),
            ]
        );
        assert_eq!(app.balance(&alice).await, "6.50");
        assert_eq!(owned(&app, &alice).await, 1);
        assert!(app.available(&alice, "FR").await.iter().any(|d| d["did_number"] == FR_MOBILE));
        app.assert_ledger_invariant().await;
    }

    async fn one_idempotency_key_covers_the_whole_order() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        let [a, b, m] = french_ids(&app, &alice).await;
        let key = [("Idempotency-Key", "bulk-1")];

        let first = app.post_json("/api/did/assign", Some(&alice), json!({"did_id": [a, b]}), &key).await;
        let retry = app.post_json("/api/did/assign", Some(&alice), json!({"did_id": [a, b]}), &key).await;
        let other = app.post_json("/api/did/assign", Some(&alice), json!({"did_id": [a, m]}), &key).await;
        let by_criteria = app
            .post_json("/api/did/order", Some(&alice), json!({"country": "FR", "quantity": 1}), &key)
            .await;

        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert_eq!((other.status, other.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
        assert_eq!(by_criteria.code(), "idempotency_key_reused");
        assert_eq!(app.balance(&alice).await, "13.00");
        assert_eq!(owned(&app, &alice).await, 2);
        app.assert_ledger_invariant().await;
    }

    async fn an_order_by_criteria_buys_the_quantity_asked_or_nothing() {
        let app = TestApp::spawn().await;
        paris_inventory(&app).await;
        let alice = app.account_with_balance("alice", 100_00).await;

        let bought = order(&app, &alice, json!({"country": "fr", "type": "landline", "prefix": "+331500", "quantity": 4})).await;

        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        assert_eq!(bought.body["count"], 4);
        assert_eq!(bought.body["total_charged"], "12.00");
        assert_eq!(bought.body["balance"], "88.00");
        assert_eq!(bought.body["dids"][0]["did_number"], "+33150000000");
        let too_many = order(&app, &alice, json!({"country": "FR", "type": "mobile_voice", "quantity": 6})).await;
        assert_eq!((too_many.status, too_many.code()), (StatusCode::CONFLICT, "not_enough_numbers"), "{}", too_many.body);
        let form = app
            .post("/api/did/order", &[("token", &alice), ("country", "FR"), ("area_code", "01"), ("quantity", "6")])
            .await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        assert_eq!(form.body["count"], 6);
        let none_left = order(&app, &alice, json!({"country": "FR", "type": "landline", "quantity": 1})).await;
        assert_eq!(none_left.code(), "not_enough_numbers");
        for (body, code) in [
            (json!({"country": "FR", "quantity": 0}), "invalid_quantity"),
            (json!({"country": "FR", "quantity": 101}), "invalid_quantity"),
            (json!({"country": "FR"}), "missing_field"),
            (json!({"country": "ZZ", "quantity": 1}), "unknown_country"),
        ] {
            let refused = order(&app, &alice, body.clone()).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{body}");
        }
        assert_eq!(app.balance(&alice).await, "70.00");
        assert_eq!(owned(&app, &alice).await, 10);
        app.assert_ledger_invariant().await;
    }

    async fn an_order_by_criteria_the_balance_cannot_pay_buys_nothing() {
        let app = TestApp::spawn().await;
        paris_inventory(&app).await;
        let alice = app.account_with_balance("alice", 8_99).await;

        let response = order(&app, &alice, json!({"country": "FR", "type": "landline", "quantity": 3})).await;

        assert_eq!((response.status, response.code()), (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"));
        assert_eq!(app.balance(&alice).await, "8.99");
        assert_eq!(owned(&app, &alice).await, 0);
        assert_eq!(app.available(&alice, "FR").await.len(), 15);
        app.assert_ledger_invariant().await;
    }

    async fn an_order_by_criteria_skips_numbers_held_by_others() {
        let app = TestApp::spawn().await;
        paris_inventory(&app).await;
        let alice = app.account_with_balance("alice", 100_00).await;
        let bob = app.account_with_balance("bob", 100_00).await;
        let first = app.did_id_of(&alice, "FR", "+33150000000").await;
        let held = app.post("/api/did/hold", &[("token", &bob), ("did_id", &first)]).await;
        assert_eq!(held.status, StatusCode::OK, "{}", held.body);

        let bought = order(&app, &alice, json!({"country": "FR", "type": "landline", "quantity": 2})).await;

        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        assert_eq!(bought.body["dids"][0]["did_number"], "+33150000001");
        assert_eq!(bought.body["dids"][1]["did_number"], "+33150000002");
        app.assert_ledger_invariant().await;
    }

    async fn a_dry_run_quotes_exactly_and_changes_nothing() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let [a, b, m] = french_ids(&app, &alice).await;
        let on_sale_before = app.available(&alice, "FR").await;

        let quote = assign_json(&app, &alice, json!({"did_id": [a, m], "dry_run": true})).await;
        let short = assign_json(&app, &alice, json!({"did_id": [a, b, m], "dry_run": "true"})).await;
        let single = app
            .post("/api/did/assign", &[("token", &alice), ("did_id", &b.to_string()), ("dry_run", "1")])
            .await;
        let by_criteria = order(&app, &alice, json!({"country": "FR", "quantity": 3, "dry_run": true})).await;

        assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
        assert_eq!(quote.body["dry_run"], true);
        assert_eq!(quote.body["dids"][1]["setup_fee"], "3.00");
        assert_eq!(quote.body["dids"][1]["first_month"], "5.00");
        assert_eq!(quote.body["dids"][1]["total"], "8.00");
        assert_eq!(quote.body["total"], "11.50");
        assert_eq!(quote.body["balance"], "10.00");
        assert_eq!(quote.body["covered"], false);
        assert_eq!(quote.body["balance_after"], Value::Null);
        assert_eq!(short.body["total"], "15.00");
        assert_eq!(single.body["total"], "3.50");
        assert_eq!(single.body["covered"], true);
        assert_eq!(single.body["balance_after"], "6.50");
        assert_eq!(by_criteria.status, StatusCode::OK, "{}", by_criteria.body);
        assert_eq!(by_criteria.body["count"], 3);
        assert_eq!(by_criteria.body["total"], "15.00");

        assert_eq!(app.balance(&alice).await, "10.00");
        assert_eq!(ledger_len(&app, &alice).await, 1);
        assert_eq!(owned(&app, &alice).await, 0);
        assert_eq!(app.available(&alice, "FR").await, on_sale_before);
        app.assert_ledger_invariant().await;
    }

    async fn a_quote_refuses_what_the_order_would_refuse() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let [a, b, _] = french_ids(&app, &alice).await;
        assert_eq!(app.post("/api/did/hold", &[("token", &bob), ("did_id", &a.to_string())]).await.status, StatusCode::OK);

        let held = assign_json(&app, &alice, json!({"did_id": [a, b], "dry_run": true})).await;
        let partial = assign_json(&app, &alice, json!({"did_id": [a, b], "dry_run": true, "partial": true})).await;
        let unknown = assign_json(&app, &alice, json!({"did_id": [987_654], "dry_run": true})).await;

        assert_eq!((held.status, held.code()), (StatusCode::CONFLICT, "did_held"));
        assert_eq!(partial.status, StatusCode::OK, "{}", partial.body);
        assert_eq!(partial.body["total"], "3.50");
        assert_eq!(partial.body["failed"][0]["error"]["code"], "did_held");
        assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "did_not_found"));
        assert_eq!(app.balance(&alice).await, "10.00");
        app.assert_ledger_invariant().await;
    }
}
