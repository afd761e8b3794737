//! Money over time: suspension for non-payment and what ends it, restore
//! after release, upcoming renewals, the low-balance threshold, statements,
//! zero prices. The clock jumps months; nothing sleeps.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use crate::support::sip_client::invite_over_udp;
use didhub::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DID_URI: &str = "sip:+33123456789@didhub.test";
const DAY: i64 = 86_400;

/// Credits `amount` through the admin money API (role billing).
async fn admin_credit(app: &TestApp, username: &str, amount: &str) -> Response {
    let key = app
        .service
        .create_operator_key(
            &format!("billing-{}-{amount}", app.service.now()),
            Role::Billing,
            None,
        )
        .await
        .expect("operator key");
    let id = app
        .service
        .account_by_username(username)
        .await
        .expect("account")
        .id;
    send(
        app.client
            .post(format!("{}/admin/v1/accounts/{id}/credits", app.base))
            .bearer_auth(key)
            .json(&json!({"amount": amount, "reason": "top-up"})),
    )
    .await
}

async fn my_numbers(app: &TestApp, username: &str) -> Vec<Value> {
    let token = app.login(username).await;
    let list = app.post("/api/did/list", &[("token", &token)]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["dids"].as_array().expect("dids").clone()
}

/// Alice buys FR_LANDLINE_1 (3.50) with `balance`, forwards it, and the clock
/// reaches its second anniversary: one renewal (2.50) paid if she could.
async fn alice_at_second_anniversary(app: &TestApp, balance: i64) -> String {
    standard_inventory(app).await;
    let token = app.account_with_balance("alice", balance).await;
    let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
    let forwarded = app.forward(&token, &did_id, "pstn", "+33612345678").await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);
    app.clock.advance(30 * DAY); // 2026-12-27: first renewal
    app.service.run_maintenance().await.expect("maintenance");
    app.clock.advance(31 * DAY); // 2027-01-27: second renewal
    app.service.run_maintenance().await.expect("maintenance");
    did_id
}

on_both_backends! {
    async fn an_unpaid_renewal_suspends_the_number_at_once_and_a_credit_pays_it_and_it_rings_again() {
        let app = TestApp::spawn().await;
        // 3.50 to buy, 2.50 for the first renewal, nothing for the second.
        let did_id = alice_at_second_anniversary(&app, 6_00).await;

        let listed = &my_numbers(&app, "alice").await[0];
        assert_eq!(listed["status"], "suspended", "{listed}");
        assert_eq!(listed["suspended_at"], "2027-01-27T00:00:00Z");
        assert_eq!(listed["reclaim_at"], "2027-02-03T00:00:00Z");
        assert_eq!(listed["next_renewal_at"], "2027-01-27T00:00:00Z");
        assert_eq!(listed["next_renewal_amount"], "2.50");
        let lookup = app.get_routing("/v1/routing/+33123456789").await;
        assert_eq!(lookup.body["status"], "suspended", "{}", lookup.body);
        assert!(lookup.body["target"].is_null());
        let kamailio = app.get_routing("/v1/routing/+33123456789/kamailio").await;
        // Owned: 200, no routes, and the status for the SBC script (reply 480).
        assert_eq!(kamailio.status, StatusCode::OK, "{}", kamailio.body);
        assert_eq!(kamailio.body["didhub"]["status"], "suspended", "{}", kamailio.body);
        assert_eq!(kamailio.body["routes"], serde_json::json!([]));
        let freeswitch = send(
            app.client
                .post(format!("{}/v1/routing/freeswitch", app.base))
                .bearer_auth(ROUTING_KEY)
                .form(&[("section", "dialplan"), ("Caller-Destination-Number", "+33123456789")]),
        )
        .await;
        let dialplan = freeswitch.body.as_str().unwrap_or_default();
        assert!(dialplan.contains("didhub_status=suspended") && dialplan.contains("respond\" data=\"480"), "{dialplan}");
        let refused = invite_over_udp(app.sip, DID_URI, "s1").await;
        assert_eq!(refused.status, 480, "{}", refused.raw);
        assert!(refused.header("Reason").is_some_and(|r| r.contains("non-payment")), "{}", refused.raw);
        assert!(refused.header("Warning").is_some_and(|w| w.contains("non-payment")), "{}", refused.raw);

        // Forwarding can still be edited while suspended.
        let token = app.login("alice").await;
        let edited = app.forward(&token, &did_id, "sip", "bob@example.com").await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
        assert_eq!(invite_over_udp(app.sip, DID_URI, "s2").await.status, 480);

        let credit = admin_credit(&app, "alice", "3.00").await;
        assert_eq!(credit.status, StatusCode::OK, "{}", credit.body);
        let listed = &my_numbers(&app, "alice").await[0];
        assert_eq!(listed["status"], "assigned", "{listed}");
        assert_eq!(listed["paid_through"], "2027-02-27T00:00:00Z");
        assert!(listed.get("suspended_at").is_none(), "{listed}");
        let token = app.login("alice").await;
        assert_eq!(app.balance(&token).await, "0.50");
        let redirected = invite_over_udp(app.sip, DID_URI, "s3").await;
        assert_eq!(redirected.status, 302, "{}", redirected.raw);
        assert_eq!(redirected.header("Contact"), Some("<sip:bob@example.com>"));
        assert_eq!(app.get_routing("/v1/routing/+33123456789").await.body["status"], "forwarded");
        app.assert_ledger_invariant().await;
    }

    async fn a_credit_too_small_leaves_the_number_suspended_and_grace_ends_in_reclaim() {
        let app = TestApp::spawn().await;
        alice_at_second_anniversary(&app, 6_00).await;
        let credit = app.service.post_to_balance("alice", "credit", 2_49, "cli top-up").await;
        assert_eq!(credit.expect("credit").balance_minor, 2_49, "2.49 does not pay 2.50: nothing taken");
        assert_eq!(my_numbers(&app, "alice").await[0]["status"], "suspended");

        app.clock.advance(7 * DAY);
        let report = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(report.renewals.reclaimed, 1);
        assert!(my_numbers(&app, "alice").await.is_empty());
        assert_eq!(invite_over_udp(app.sip, DID_URI, "r1").await.status, 404);
        app.assert_ledger_invariant().await;
    }

    async fn a_credit_pays_the_longest_overdue_numbers_first_as_far_as_it_goes() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        // Both landlines: 7.00 to buy; renewals 2.50 each.
        let token = app.account_with_balance("alice", 7_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.clock.advance(12 * 3600);
        app.buy(&token, "FR", FR_LANDLINE_2).await;
        app.clock.advance(31 * DAY);
        let report = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(report.renewals.unpaid, 2);

        app.service.post_to_balance("alice", "credit", 3_00, "one of two").await.expect("credit");
        let numbers = my_numbers(&app, "alice").await;
        let status = |n: &str| numbers.iter().find(|d| d["did_number"] == n).map(|d| d["status"].clone());
        assert_eq!(status(FR_LANDLINE_1), Some(json!("assigned")), "the older one is paid first");
        assert_eq!(status(FR_LANDLINE_2), Some(json!("suspended")));
        app.assert_ledger_invariant().await;
    }

    async fn an_account_suspended_by_the_operator_answers_suspended_in_the_lookups() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.forward(&token, &did_id, "pstn", "+33612345678").await.status, StatusCode::OK);
        let account = app.service.account_by_username("alice").await.expect("account");
        app.service
            .update_account_as(None, account.id, &didhub::service::AccountUpdate { status: Some("suspended".into()), pbx_host: None })
            .await
            .expect("suspend");

        let lookup = app.get_routing("/v1/routing/+33123456789").await;
        assert_eq!(lookup.body["status"], "suspended", "{}", lookup.body);
        assert!(lookup.body["reason"].as_str().is_some_and(|r| r.contains("account")), "{}", lookup.body);
        let refused = invite_over_udp(app.sip, DID_URI, "a1").await;
        assert_eq!(refused.status, 480);
        assert!(refused.header("Warning").is_some_and(|w| w.contains("account suspended")), "{}", refused.raw);
    }

    async fn with_a_suspended_uri_calls_to_unpaid_numbers_go_to_the_announcement() {
        let app = TestApp::spawn_with(|c| c.service.suspended_uri = Some("sip:unpaid@announce.operator.test".into())).await;
        alice_at_second_anniversary(&app, 6_00).await;
        let answer = invite_over_udp(app.sip, DID_URI, "u1").await;
        assert_eq!(answer.status, 302, "{}", answer.raw);
        assert_eq!(answer.header("Contact"), Some("<sip:unpaid@announce.operator.test>"));
        let kamailio = app.get_routing("/v1/routing/+33123456789/kamailio").await;
        assert_eq!(kamailio.status, StatusCode::OK, "{}", kamailio.body);
        assert_eq!(kamailio.body["routes"][0]["uri"], "sip:unpaid@announce.operator.test");
    }

    async fn a_released_number_is_restored_with_its_forwarding_within_the_window_only() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        let bob = app.account_with_balance("bob", 20_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.forward(&token, &did_id, "pstn", "+33612345678").await.status, StatusCode::OK);
        let released = app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(released.status, StatusCode::OK);
        assert_eq!(app.assign(&bob, &did_id).await.status, StatusCode::CONFLICT, "nobody else buys it");
        let stranger = app.post("/api/did/restore", &[("token", &bob), ("did_id", &did_id)]).await;
        assert_eq!(stranger.status, StatusCode::NOT_FOUND);

        app.clock.advance(5 * DAY); // still paid until 2026-12-27: no charge
        let token = app.login("alice").await;
        let restored = app.post_json("/api/did/restore", Some(&token), json!({"did_id": did_id.parse::<i64>().expect("id")}), &[]).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
        assert_eq!(restored.body["charged"], "0.00");
        assert_eq!(restored.body["did"]["forwarding"]["destination"], "+33612345678");
        assert_eq!(restored.body["did"]["paid_through"], "2026-12-27T00:00:00Z");
        assert_eq!(invite_over_udp(app.sip, DID_URI, "r1").await.status, 302);

        // Released again; restored after its paid period ended: a new anniversary.
        app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        app.clock.advance(9 * DAY); // 2026-12-11
        let token = app.login("alice").await;
        let again = app.post("/api/did/restore", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(again.body["charged"], "0.00");
        app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        app.clock.advance(20 * DAY); // 2026-12-31: paid period over, window (10 days) closed
        let token = app.login("alice").await;
        let late = app.post("/api/did/restore", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "restore_window_closed"));
        app.assert_ledger_invariant().await;
    }

    async fn a_number_the_operator_took_back_cannot_be_restored_by_its_former_owner() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let admin = app.service.create_operator_key("admin", Role::Admin, None).await.expect("key");
        let taken = send(
            app.client
                .post(format!("{}/admin/v1/numbers/{FR_LANDLINE_1}/release", app.base))
                .bearer_auth(admin)
                .json(&json!({"reason": "abuse"})),
        )
        .await;
        assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
        let restore = app.post("/api/did/restore", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!((restore.status, restore.code()), (StatusCode::NOT_FOUND, "did_not_found"));
    }

    async fn a_restore_after_the_paid_period_charges_a_new_first_month_from_that_day() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.clock.advance(29 * DAY); // 2026-12-26
        let token = app.login("alice").await;
        app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        app.clock.advance(3 * DAY); // 2026-12-29
        let token = app.login("alice").await;
        let restored = app.post("/api/did/restore", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
        assert_eq!(restored.body["charged"], "2.50");
        assert_eq!(restored.body["balance"], "14.00");
        assert_eq!(restored.body["did"]["assigned_at"], "2026-12-29T00:00:00Z");
        assert_eq!(restored.body["did"]["paid_through"], "2027-01-29T00:00:00Z");
        app.assert_ledger_invariant().await;
    }

    async fn upcoming_lists_renewals_their_total_and_when_the_balance_runs_out() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        // 3.50 + 8.00 to buy; 7.50 a month after; 12.00 left pays one month.
        let token = app.account_with_balance("alice", 23_50).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.buy(&token, "FR", FR_MOBILE).await;

        let response = send(app.client.get(format!("{}/api/billing/upcoming?days=31", app.base)).bearer_auth(&token)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let body = &response.body;
        assert_eq!(body["renewals"].as_array().map(Vec::len), Some(2), "{body}");
        assert_eq!(body["renewals"][0]["due_at"], "2026-12-27T00:00:00Z");
        assert_eq!(body["total"], "7.50");
        assert_eq!(body["balance"], "12.00");
        // 12.00 pays 2.50 and 5.00 on Dec 27, then 2.50 on Jan 27, not 5.00.
        assert_eq!(body["runs_out_at"], "2027-01-27T00:00:00Z");
        assert!(body["low_balance_threshold"].is_null());

        let set = app.post("/api/billing/settings", &[("token", &token), ("low_balance_threshold", "5.00")]).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!((set.body["low_balance_threshold"].as_str(), set.body["below_threshold"].as_bool()), (Some("5.00"), Some(false)));
        let up = app.post("/api/billing/upcoming", &[("token", &token)]).await;
        assert_eq!(up.body["threshold_crossed_at"], "2026-12-27T00:00:00Z", "{}", up.body);
        let bad = app.post("/api/billing/upcoming", &[("token", &token), ("days", "0")]).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_days"));

        app.clock.advance(30 * DAY);
        app.service.run_maintenance().await.expect("maintenance");
        let token = app.login("alice").await;
        let balance = app.post("/api/balance", &[("token", &token)]).await;
        assert_eq!(balance.body["balance"], "4.50");
        assert_eq!(balance.body["below_threshold"], true, "{}", balance.body);
        let read = send(app.client.get(format!("{}/api/billing/settings", app.base)).bearer_auth(&token)).await;
        assert_eq!(read.body["below_threshold"], true, "{}", read.body);
    }

    async fn a_statement_reconciles_opening_entries_and_closing_in_json_and_csv() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await; // 2026-11-27
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.clock.advance(30 * DAY); // 2026-12-27: renewal
        app.service.run_maintenance().await.expect("maintenance");
        app.service.post_to_balance("alice", "credit", 1_00, "december top-up").await.expect("credit");
        let token = app.login("alice").await;

        let november = app.post("/api/billing/statement", &[("token", &token), ("month", "2026-11")]).await;
        assert_eq!(november.status, StatusCode::OK, "{}", november.body);
        assert_eq!(november.body["opening_balance"], "0.00");
        assert_eq!(november.body["closing_balance"], "6.50");
        assert_eq!(november.body["entries"].as_array().map(Vec::len), Some(3));
        assert_eq!(november.body["totals"]["credit"], "10.00");
        assert_eq!(november.body["totals"]["setup_fee"], "-1.00");

        let december = send(app.client.get(format!("{}/api/billing/statement?month=2026-12", app.base)).bearer_auth(&token)).await;
        assert_eq!(december.body["opening_balance"], "6.50", "{}", december.body);
        assert_eq!(december.body["totals"]["monthly_charge"], "-2.50");
        assert_eq!(december.body["closing_balance"], "5.00");

        let csv = send(app.client.get(format!("{}/api/billing/statement?month=2026-12&format=csv", app.base)).bearer_auth(&token)).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        let text = csv.body.as_str().expect("csv text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "date,entry_id,type,did_number,description,amount,balance_after");
        assert!(lines[1].contains("opening") && lines[1].ends_with(",6.50"), "{text}");
        assert!(lines.iter().any(|l| l.contains("monthly_charge") && l.contains("-2.50")), "{text}");
        assert!(lines.iter().any(|l| l.contains("closing") && l.ends_with(",5.00")), "{text}");

        let bad = app.post("/api/billing/statement", &[("token", &token), ("month", "2026-13")]).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_month"));
    }

    async fn the_operator_reads_any_accounts_statement_with_a_billing_key() {
        let app = TestApp::spawn().await;
        app.account_with_balance("alice", 10_00).await;
        let id = app.service.account_by_username("alice").await.expect("account").id;
        let path = format!("{}/admin/v1/accounts/{id}/statement?month=2026-11", app.base);
        let billing = app.service.create_operator_key("billing", Role::Billing, None).await.expect("key");
        let readonly = app.service.create_operator_key("readonly", Role::Readonly, None).await.expect("key");

        let statement = send(app.client.get(&path).bearer_auth(&billing)).await;
        assert_eq!(statement.status, StatusCode::OK, "{}", statement.body);
        assert_eq!(statement.body["closing_balance"], "10.00");
        assert_eq!(statement.body["totals"]["credit"], "10.00");
        let csv = send(app.client.get(format!("{path}&format=csv")).bearer_auth(&billing)).await;
        assert!(csv.body.as_str().is_some_and(|t| t.contains("closing balance,,10.00")), "{}", csv.body);
        let refused = send(app.client.get(&path).bearer_auth(&readonly)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }

    async fn numbers_priced_zero_are_bought_renewed_and_released_without_zero_entries() {
        let app = TestApp::spawn().await;
        app.import(&["+33123456789,FR,landline,0.00,0.00", "+33123456790,FR,landline,0.00,1.00"]).await;
        let token = app.account_with_balance("alice", 0).await;
        let free = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let bought = app.assign(&token, &app.did_id_of(&token, "FR", FR_LANDLINE_2).await).await;
        assert_eq!(bought.status, StatusCode::PAYMENT_REQUIRED, "0.00 setup but 1.00 a month");

        for month in 1..=3 {
            app.clock.advance(31 * DAY);
            app.service.run_maintenance().await.expect("maintenance");
            let listed = &my_numbers(&app, "alice").await[0];
            assert_eq!(listed["status"], "assigned", "month {month}: {listed}");
        }
        let listed = &my_numbers(&app, "alice").await[0];
        assert_eq!(listed["paid_through"], "2027-03-27T00:00:00Z");
        let token = app.login("alice").await;
        let ledger = app.post("/api/ledger", &[("token", &token)]).await;
        assert_eq!(ledger.body["entries"].as_array().map(Vec::len), Some(0), "{}", ledger.body);
        let released = app.post("/api/did/release", &[("token", &token), ("did_id", &free)]).await;
        assert_eq!(released.status, StatusCode::OK);
        app.assert_ledger_invariant().await;
    }
}
