//! Buying numbers: money, races and idempotent retries.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends! {
    async fn assign_charges_setup_fee_and_first_month_and_records_both() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;

        let response = app.assign(&token, &did_id).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let body = &response.body;
        assert_eq!(body["status"], "assigned");
        assert_eq!(body["did_number"], FR_LANDLINE_1);
        assert_eq!(body["total_charged"], "3.50");
        assert_eq!(body["balance"], "6.50");
        assert_eq!(body["charges"][0]["type"], "setup_fee");
        assert_eq!(body["charges"][0]["amount"], "1.00");
        assert_eq!(body["charges"][1]["type"], "monthly_charge");
        assert_eq!(body["charges"][1]["amount"], "2.50");
        assert_eq!(body["assigned_at"], "2026-11-27T00:00:00Z");
        assert_eq!(body["paid_through"], "2026-12-27T00:00:00Z");
        assert_eq!(app.balance(&token).await, "6.50");
        app.assert_ledger_invariant().await;
    }

    async fn assign_without_enough_balance_answers_402_and_changes_nothing() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 3_49).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;

        let response = app.assign(&token, &did_id).await;

        assert_eq!(response.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(response.code(), "insufficient_balance");
        assert_eq!(app.balance(&token).await, "3.49");
        let still_there = app.available(&token, "FR").await;
        assert!(still_there.iter().any(|d| d["did_number"] == FR_LANDLINE_1));
        let list = app.post("/api/did/list", &[("token", &token)]).await;
        assert_eq!(list.body["dids"], json!([]));
        app.assert_ledger_invariant().await;
    }

    async fn a_number_already_sold_answers_409_and_an_unknown_one_404() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let did_id = app.did_id_of(&alice, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.assign(&alice, &did_id).await.status, StatusCode::OK);

        let again = app.assign(&bob, &did_id).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.code(), "did_not_available");
        assert_eq!(app.balance(&bob).await, "10.00");

        let unknown = app.assign(&bob, "987654").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.code(), "did_not_found");
        app.assert_ledger_invariant().await;
    }

    async fn fifty_concurrent_buyers_of_one_number_yield_exactly_one_sale() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let mut tokens = Vec::new();
        for i in 0..50 {
            tokens.push(app.account_with_balance(&format!("buyer{i:02}"), 10_00).await);
        }
        let did_id = app.did_id_of(&tokens[0], "FR", FR_LANDLINE_1).await;

        let answers = join_all(tokens.iter().map(|t| app.assign(t, &did_id))).await;

        let winners: Vec<usize> = (0..50).filter(|&i| answers[i].status == StatusCode::OK).collect();
        assert_eq!(winners.len(), 1, "exactly one buyer wins");
        for (i, answer) in answers.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
                assert_eq!(answer.code(), "did_not_available");
            }
        }
        let mut charged = 0;
        for token in &tokens {
            match app.balance(token).await.as_str() {
                "10.00" => {}
                "6.50" => charged += 1,
                other => panic!("unexpected balance {other}"),
            }
        }
        assert_eq!(charged, 1, "only the winner is charged");
        let owner_list = app.post("/api/did/list", &[("token", &tokens[winners[0]])]).await;
        assert_eq!(owner_list.body["dids"][0]["did_number"], FR_LANDLINE_1);
        app.assert_ledger_invariant().await;
    }

    async fn concurrent_purchases_keep_every_balance_equal_to_its_ledger() {
        let app = TestApp::spawn().await;
        let rows: Vec<String> = (0..40)
            .map(|i| format!("+3312345{:04},FR,landline,0.25,0.75", 6000 + i))
            .collect();
        app.import(&rows.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let mut tokens = Vec::new();
        for i in 0..10 {
            // 5.00 buys five numbers at 1.00 each: everyone runs out of money part way.
            tokens.push(app.account_with_balance(&format!("racer{i}"), 5_00).await);
        }
        let ids: Vec<String> = app
            .available(&tokens[0], "FR")
            .await
            .iter()
            .map(|d| d["did_id"].to_string())
            .collect();
        assert_eq!(ids.len(), 40);

        let attempts = tokens
            .iter()
            .enumerate()
            .flat_map(|(i, t)| ids.iter().skip(i % 3).step_by(2).map(move |id| (t, id)));
        let app_ref = &app;
        let answers = join_all(attempts.map(|(t, id)| async move { (t, app_ref.assign(t, id).await) })).await;

        let mut won_by_token = std::collections::HashMap::<&String, i64>::new();
        for (token, answer) in &answers {
            match answer.status {
                StatusCode::OK => *won_by_token.entry(token).or_default() += 1,
                StatusCode::CONFLICT => assert_eq!(answer.code(), "did_not_available"),
                StatusCode::PAYMENT_REQUIRED => assert_eq!(answer.code(), "insufficient_balance"),
                other => panic!("unexpected {other}: {}", answer.body),
            }
        }
        let mut owned_total = 0;
        for token in &tokens {
            let won = won_by_token.get(token).copied().unwrap_or(0);
            let list = app.post("/api/did/list", &[("token", token)]).await;
            let owned = list.body["dids"].as_array().expect("dids").len() as i64;
            assert_eq!(owned, won, "every success is owned, nothing else");
            let expected_balance = 5_00 - won * 1_00;
            assert_eq!(app.balance(token).await, format!("{}.{:02}", expected_balance / 100, expected_balance % 100));
            owned_total += owned;
        }
        assert!(owned_total <= 40);
        app.assert_ledger_invariant().await;
    }

    async fn a_retry_with_the_same_idempotency_key_replays_the_first_answer_without_charging_again() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id: i64 = app.did_id_of(&token, "FR", FR_LANDLINE_1).await.parse().expect("id");

        let first = app
            .post_json("/api/did/assign", Some(&token), json!({"did_id": did_id}), &[("Idempotency-Key", "order-1")])
            .await;
        let retry = app
            .post_json("/api/did/assign", Some(&token), json!({"did_id": did_id}), &[("Idempotency-Key", "order-1")])
            .await;
        let as_field = app
            .post(
                "/api/did/assign",
                &[("token", &token), ("did_id", &did_id.to_string()), ("idempotency_key", "order-1")],
            )
            .await;

        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
        assert_eq!(retry.body, first.body);
        assert_eq!(as_field.body, first.body);
        assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert!(first.headers.get("idempotent-replayed").is_none());
        assert_eq!(app.balance(&token).await, "6.50");
        app.assert_ledger_invariant().await;
    }

    async fn the_same_idempotency_key_for_another_number_is_refused() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        let first_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let second_id = app.did_id_of(&token, "FR", FR_LANDLINE_2).await;
        let key = [("Idempotency-Key", "order-7")];

        let first = app.post_json("/api/did/assign", Some(&token), json!({"did_id": first_id}), &key).await;
        let other = app.post_json("/api/did/assign", Some(&token), json!({"did_id": second_id}), &key).await;

        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(other.code(), "idempotency_key_reused");
        assert_eq!(app.balance(&token).await, "16.50");
    }

    async fn concurrent_retries_with_one_key_buy_once_and_all_see_the_same_answer() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.did_id_of(&token, "FR", FR_MOBILE).await;

        let answers = join_all((0..10).map(|_| {
            app.post_json("/api/did/assign", Some(&token), json!({"did_id": did_id}), &[("Idempotency-Key", "k")])
        }))
        .await;

        for answer in &answers {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert_eq!(answer.body, answers[0].body);
        }
        assert_eq!(app.balance(&token).await, "2.00");
        app.assert_ledger_invariant().await;
    }

    async fn a_failed_keyed_request_can_be_retried_after_topping_up() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 1_00).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let key = [("Idempotency-Key", "retry-me")];

        let poor = app.post_json("/api/did/assign", Some(&token), json!({"did_id": did_id}), &key).await;
        assert_eq!(poor.status, StatusCode::PAYMENT_REQUIRED);
        app.service
            .post_to_balance("alice", "credit", 5_00, "top-up")
            .await
            .expect("credit");
        let rich = app.post_json("/api/did/assign", Some(&token), json!({"did_id": did_id}), &key).await;

        assert_eq!(rich.status, StatusCode::OK, "{}", rich.body);
        assert_eq!(app.balance(&token).await, "2.50");
    }

    async fn a_number_priced_in_another_currency_cannot_be_bought() {
        let app = TestApp::spawn().await;
        let csv = "number,country,type,setup_fee,monthly_cost,currency\n+33123456789,FR,landline,1.00,2.00,EUR\n";
        let report = app.service.import_inventory(csv).await.expect("import");
        assert!(report.problems.is_empty());
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;

        let response = app.assign(&token, &did_id).await;

        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.code(), "currency_mismatch");
        assert_eq!(app.balance(&token).await, "10.00");
        assert_eq!(app.available(&token, "FR").await.len(), 1);
    }

    async fn monthly_renewal_charges_on_the_anniversary_and_reclaims_unpaid_numbers_after_grace() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        // 3.50 to buy, then 2.50 for one renewal, then nothing left.
        let token = app.account_with_balance("alice", 6_00).await;
        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.assign(&token, &did_id).await.status, StatusCode::OK);

        app.clock.advance(29 * 86_400);
        let early = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(early.renewals.renewed, 0);

        app.clock.advance(86_400); // 2026-12-27: the anniversary
        let due = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(due.renewals.renewed, 1);
        let token = app.login("alice").await; // the first token expired long ago
        assert_eq!(app.balance(&token).await, "0.00");
        let list = app.post("/api/did/list", &[("token", &token)]).await;
        assert_eq!(list.body["dids"][0]["paid_through"], "2027-01-27T00:00:00Z");

        app.clock.advance(31 * 86_400); // next anniversary, nothing to pay with
        let unpaid = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(unpaid.renewals.unpaid, 1);
        let token = app.login("alice").await;
        assert_eq!(app.post("/api/did/list", &[("token", &token)]).await.body["count"], 1);

        app.clock.advance(7 * 86_400); // grace over
        let reclaimed = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(reclaimed.renewals.reclaimed, 1);
        let token = app.login("alice").await;
        assert_eq!(app.post("/api/did/list", &[("token", &token)]).await.body["count"], 0);
        app.assert_ledger_invariant().await;
    }
}
