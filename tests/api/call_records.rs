//! Call records: the SBC reports calls (`POST /v1/calls`, routing key), the
//! owner lists them (`/api/did/calls`) and sees counts in `did/list`, the
//! operator sees totals, and maintenance forgets them after the retention.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use didhub::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A Kamailio acc_json record of an INVITE's final answer (acc extras `did`, `src_user`).
fn acc(call_id: &str, code: u16, time: i64) -> Value {
    json!({
        "method": "INVITE", "from_tag": "ft", "to_tag": "tt", "callid": call_id,
        "sip_code": code.to_string(), "sip_reason": "reason", "time": time,
        "did": FR_LANDLINE_1, "src_user": "+33999000111",
    })
}

/// A Kamailio acc_json CDR at dialog end (cdr extras `callid`, `did`, `src_user`).
fn cdr(call_id: &str, start: i64, seconds: i64) -> Value {
    json!({
        "start_time": format!("{start}.000"), "end_time": format!("{}.000", start + seconds),
        "duration": format!("{seconds}.000"), "callid": call_id, "did": "33123456789",
        "src_user": "+33999000111",
    })
}

async fn report(app: &TestApp, body: Value) -> Response {
    app.post_json("/v1/calls", Some(ROUTING_KEY), body, &[])
        .await
}

async fn calls(app: &TestApp, fields: &[(&str, &str)]) -> Response {
    app.post("/api/did/calls", fields).await
}

fn listed(response: &Response) -> Vec<Value> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["calls"].as_array().expect("calls").clone()
}

on_both_backends! {
    async fn reports_of_one_call_merge_into_one_record_with_its_duration() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let first = report(&app, acc("c1@sbc", 200, T0)).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["status"], "recorded");
        let cdr_report = report(&app, cdr("c1@sbc", T0, 42)).await;
        assert_eq!(cdr_report.body["status"], "merged");
        let retried = report(&app, cdr("c1@sbc", T0, 42)).await;
        assert_eq!(retried.body["status"], "merged");

        let calls = listed(&calls(&app, &[("token", &token)]).await);
        assert_eq!(calls.len(), 1, "one call, whatever the reports: {calls:?}");
        let call = &calls[0];
        assert_eq!(call["call_id"], "c1@sbc");
        assert_eq!(call["did_id"].to_string(), did_id);
        assert_eq!(call["did_number"], FR_LANDLINE_1);
        assert_eq!(call["from"], "+33999000111");
        assert_eq!(call["status"], "answered");
        assert_eq!(call["sip_code"], 200);
        assert_eq!(call["duration_seconds"], 42);
        assert_eq!(call["started_at"], "2026-11-27T00:00:00Z");
        assert_eq!(call["ended_at"], "2026-11-27T00:00:42Z");

        let list = app.post("/api/did/list", &[("token", &token)]).await;
        assert_eq!(list.body["dids"][0]["calls"], json!({"total": 1, "answered": 1, "missed": 0, "failed": 0}));
    }

    async fn a_freeswitch_json_cdr_posted_as_a_form_is_recorded() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        // mod_json_cdr's default: `cdr=<URL-encoded JSON>` with URL-encoded variable values.
        let document = json!({
            "core-uuid": "9a7b", "switchname": "fs1",
            "channel_data": {"state": "CS_REPORTING", "direction": "inbound"},
            "variables": {
                "uuid": "5f1c", "sip_call_id": "fs-1%40pbx", "start_epoch": T0.to_string(),
                "answer_epoch": "0", "end_epoch": (T0 + 20).to_string(), "billsec": "0",
                "hangup_cause": "NO_ANSWER", "sip_req_user": "%2B33123456789",
            },
            "callflow": [{"caller_profile": {"caller_id_number": "bob", "destination_number": "%2B33123456789"}}],
        });
        let response = send(
            app.client
                .post(format!("{}/v1/calls?uuid=5f1c", app.base))
                .basic_auth("freeswitch", Some(ROUTING_KEY))
                .form(&[("cdr", document.to_string())]),
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["status"], "recorded");

        let missed = listed(&calls(&app, &[("token", &token), ("status", "missed")]).await);
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0]["call_id"], "fs-1@pbx");
        assert_eq!(missed[0]["from"], "bob");
        assert_eq!(missed[0]["duration_seconds"], 0);
        assert!(listed(&calls(&app, &[("token", &token), ("status", "answered")]).await).is_empty());
        assert_eq!(listed(&calls(&app, &[("token", &token), ("from", "bob")]).await).len(), 1);
        assert!(listed(&calls(&app, &[("token", &token), ("from", "eve")]).await).is_empty());
    }

    async fn a_freeswitch_json_cdr_in_base64_and_an_answered_one_in_plain_json_are_read() {
        use base64::Engine;
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let document = |call_id: &str, answered: bool| json!({
            "variables": {
                "sip_call_id": call_id, "start_epoch": T0.to_string(),
                "answer_epoch": if answered { (T0 + 5).to_string() } else { "0".to_owned() },
                "end_epoch": (T0 + 65).to_string(), "billsec": if answered { "60" } else { "0" },
                "sip_term_status": if answered { "200" } else { "503" },
                "sip_req_user": "33123456789",
            },
            "callflow": {"caller_profile": {"caller_id_number": "bob"}},
        });
        let encoded = base64::engine::general_purpose::STANDARD.encode(document("b64@pbx", false).to_string());
        let base64_form = send(
            app.client
                .post(format!("{}/v1/calls", app.base))
                .bearer_auth(ROUTING_KEY)
                .header("content-type", "application/x-www-form-base64-encoded")
                .body(format!("cdr={encoded}")),
        )
        .await;
        assert_eq!(base64_form.status, StatusCode::OK, "{}", base64_form.body);
        let plain = report(&app, document("plain@pbx", true)).await;
        assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);

        let calls = listed(&calls(&app, &[("token", &token)]).await);
        let by_id = |id: &str| calls.iter().find(|c| c["call_id"] == id).cloned().expect("listed");
        assert_eq!(by_id("b64@pbx")["status"], "failed");
        assert_eq!(by_id("b64@pbx")["sip_code"], 503);
        assert_eq!(by_id("plain@pbx")["status"], "answered");
        assert_eq!(by_id("plain@pbx")["duration_seconds"], 60);
        assert_eq!(by_id("plain@pbx")["answered_at"], "2026-11-27T00:00:05Z");
    }

    async fn reports_need_the_routing_key_and_a_readable_record() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;

        let customer = app.post_json("/v1/calls", Some(&token), acc("x@sbc", 200, T0), &[]).await;
        assert_eq!(customer.status, StatusCode::UNAUTHORIZED);
        for bad in [json!([1, 2]), json!({"callid": "x"}), json!({"callid": "x", "time": T0, "sip_code": "abc", "did": FR_LANDLINE_1})] {
            let refused = report(&app, bad.clone()).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}: {}", refused.body);
            assert_eq!(refused.code(), "invalid_call_record");
        }
        let mut unsold = acc("y@sbc", 404, T0);
        unsold["did"] = json!(FR_LANDLINE_2);
        assert_eq!(report(&app, unsold).await.body["status"], "ignored");
        assert!(listed(&calls(&app, &[("token", &token)]).await).is_empty());
    }

    async fn another_accounts_calls_stay_hidden_and_its_number_is_404() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 10_00).await;
        let alices = app.buy(&alice, "FR", FR_LANDLINE_1).await;
        let bobs = app.buy(&bob, "FR", FR_LANDLINE_2).await;
        report(&app, acc("a@sbc", 486, T0)).await;
        let mut to_bob = acc("b@sbc", 503, T0);
        to_bob["did"] = json!(FR_LANDLINE_2);
        report(&app, to_bob).await;

        let hidden = calls(&app, &[("token", &alice), ("did_id", &bobs)]).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        assert_eq!(hidden.code(), "did_not_found");
        let own = listed(&calls(&app, &[("token", &alice), ("did_id", &alices)]).await);
        assert_eq!(own.iter().map(|c| c["call_id"].clone()).collect::<Vec<_>>(), vec![json!("a@sbc")]);
        assert_eq!(own[0]["status"], "missed");
        let bobs_calls = listed(&calls(&app, &[("token", &bob)]).await);
        assert_eq!(bobs_calls.len(), 1);
        assert_eq!(bobs_calls[0]["status"], "failed");
        let anonymous = calls(&app, &[]).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }

    async fn calls_page_newest_first_and_filter_by_start_time() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        for i in 0..5 {
            report(&app, acc(&format!("p{i}@sbc"), 200, T0 + i * 60)).await;
        }
        let first = calls(&app, &[("token", &token), ("limit", "2")]).await;
        let page = listed(&first);
        assert_eq!(page.iter().map(|c| c["call_id"].clone()).collect::<Vec<_>>(), vec![json!("p4@sbc"), json!("p3@sbc")]);
        let cursor = first.body["next_cursor"].as_str().expect("a cursor").to_owned();
        let second = listed(&calls(&app, &[("token", &token), ("limit", "2"), ("cursor", &cursor)]).await);
        assert_eq!(second.iter().map(|c| c["call_id"].clone()).collect::<Vec<_>>(), vec![json!("p2@sbc"), json!("p1@sbc")]);
        let since = (T0 + 120).to_string();
        let until = (T0 + 240).to_string();
        let window = listed(&calls(&app, &[("token", &token), ("since", &since), ("until", &until)]).await);
        assert_eq!(window.len(), 2);
        for bad in [("status", "busy"), ("cursor", "x"), ("limit", "0"), ("since", "-1")] {
            let refused = calls(&app, &[("token", &token), bad]).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", refused.body);
        }
    }

    async fn maintenance_forgets_calls_after_the_retention_and_operators_see_totals() {
        let app = TestApp::spawn_with(|c| c.service.call_retention_secs = 30 * 86_400).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        report(&app, acc("old@sbc", 200, T0)).await;
        report(&app, cdr("old@sbc", T0, 30)).await;
        report(&app, acc("new@sbc", 480, T0 + 20 * 86_400)).await;

        let readonly = app.service.create_operator_key("stats", Role::Readonly, None).await.expect("key");
        let stats = send(app.client.get(format!("{}/admin/v1/stats?from=2026-11-27&to=2026-12-31", app.base)).bearer_auth(&readonly)).await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
        assert_eq!(stats.body["calls"], json!({"total": 2, "answered": 1, "missed": 1, "failed": 0, "seconds": 30}));

        app.clock.advance(30 * 86_400 + 1);
        let report = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(report.calls_purged, 1);
        let kept = listed(&calls(&app, &[("token", &app.login("alice").await)]).await);
        assert_eq!(kept.iter().map(|c| c["call_id"].clone()).collect::<Vec<_>>(), vec![json!("new@sbc")]);
    }
}
