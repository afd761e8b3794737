//! An owner's numbers: list, forward, release, the ledger, isolation between
//! accounts, and bad requests that must change nothing.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

/// A form POST answered as raw status and body text, for byte-for-byte comparisons.
async fn post_raw(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .form(fields)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// A POST with a body and content type of the test's choosing.
async fn post_body(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Response {
    let request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body);
    send(request).await
}

async fn release(app: &TestApp, token: &str, did_id: &str) -> Response {
    app.post("/api/did/release", &[("token", token), ("did_id", did_id)])
        .await
}

async fn list(app: &TestApp, token: &str) -> Value {
    let response = app.post("/api/did/list", &[("token", token)]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

/// The forwarding the owner sees in `did/list` for `did_id`.
async fn listed_forwarding(app: &TestApp, token: &str, did_id: &str) -> Value {
    let body = list(app, token).await;
    let did = body["dids"]
        .as_array()
        .expect("dids")
        .iter()
        .find(|d| d["did_id"].as_i64() == did_id.parse().ok())
        .unwrap_or_else(|| panic!("{did_id} not in list: {body}"))
        .clone();
    did.get("forwarding")
        .cloned()
        .expect("owned numbers always carry forwarding")
}

fn assert_error(response: &Response, status: StatusCode, code: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.body);
    assert_eq!(response.code(), code, "{what}: {}", response.body);
}

/// Forward type and destination as stored, read straight from the database.
async fn stored_forward(app: &TestApp, did_id: &str) -> (Option<String>, Option<String>, String) {
    let row =
        sqlx::query("SELECT forward_type, forward_destination, status FROM dids WHERE id = $1")
            .bind(did_id.parse::<i64>().expect("numeric id"))
            .fetch_one(app.service.store().pool())
            .await
            .expect("did row");
    (
        row.try_get("forward_type").expect("forward_type"),
        row.try_get("forward_destination")
            .expect("forward_destination"),
        row.try_get("status").expect("status"),
    )
}

// ── did/list ────────────────────────────────────────────────────────────────

// ── did/forward ─────────────────────────────────────────────────────────────

// ── did/release ─────────────────────────────────────────────────────────────

// ── isolation ───────────────────────────────────────────────────────────────

// ── bad input changes nothing ───────────────────────────────────────────────

/// Balance, list and available stock of an account, to compare before and after.
async fn snapshot(app: &TestApp, token: &str) -> (String, Value, usize) {
    (
        app.balance(token).await,
        list(app, token).await,
        app.available(token, "FR").await.len(),
    )
}

fn assert_json_error(response: &Response, what: &str) {
    assert!(
        response.status.is_client_error(),
        "{what}: {} {}",
        response.status,
        response.body
    );
    assert!(
        response.body["error"]["code"].is_string(),
        "{what}: {}",
        response.body
    );
    assert!(
        response.body["error"]["message"].is_string(),
        "{what}: {}",
        response.body
    );
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
}

// ── /api/ledger ─────────────────────────────────────────────────────────────

on_both_backends! {
    async fn list_shows_the_callers_numbers_with_null_forwarding_then_the_forward() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        assert_eq!(list(&app, &token).await, json!({"count": 0, "dids": []}));
        let mobile = app.buy(&token, "FR", FR_MOBILE).await;
        let landline = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let body = list(&app, &token).await;
        assert_eq!(body["count"], 2);
        let dids = body["dids"].as_array().expect("dids");
        assert_eq!(dids[0]["did_number"], FR_LANDLINE_1, "number order");
        assert_eq!(dids[1]["did_number"], FR_MOBILE);
        for did in dids {
            assert_eq!(did["status"], "assigned");
            assert_eq!(did.get("forwarding"), Some(&Value::Null), "{did}");
            assert_eq!(did["assigned_at"], "2026-11-27T00:00:00Z");
            assert_eq!(did["paid_through"], "2026-12-27T00:00:00Z");
        }

        let response = app.forward(&token, &landline, "pstn", "+33612345678").await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(
            listed_forwarding(&app, &token, &landline).await,
            json!({"type": "pstn", "destination": "+33612345678"})
        );
        assert_eq!(listed_forwarding(&app, &token, &mobile).await, Value::Null);
    }

    async fn a_national_pstn_destination_is_stored_in_e164_of_the_dids_country() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let response = app.forward(&token, &did_id, "pstn", "06 12 34 56 78").await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["did_id"].to_string(), did_id);
        assert_eq!(
            response.body["forwarding"],
            json!({"type": "pstn", "destination": "+33612345678"})
        );
        assert_eq!(
            listed_forwarding(&app, &token, &did_id).await,
            json!({"type": "pstn", "destination": "+33612345678"})
        );
    }

    async fn an_invalid_pstn_destination_answers_400_and_keeps_the_old_forward() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(
            app.forward(&token, &did_id, "pstn", "+33612345678")
                .await
                .status,
            StatusCode::OK
        );

        for bad in [
            "12",
            "+1 555",
            "not a number",
            "+33 6 12 34 56 78 90 12",
            "",
            "   ",
        ] {
            let response = app.forward(&token, &did_id, "pstn", bad).await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_destination",
                &format!("pstn {bad:?}"),
            );
        }

        assert_eq!(
            listed_forwarding(&app, &token, &did_id).await,
            json!({"type": "pstn", "destination": "+33612345678"})
        );
    }

    async fn a_sip_destination_is_accepted_and_hostile_ones_refused() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let ok = app.forward(&token, &did_id, "sip", "sip:alice@example.com:5080").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(
            ok.body["forwarding"],
            json!({"type": "sip", "destination": "sip:alice@example.com:5080"})
        );

        // Line breaks never reach the SIP URI rules: the input extractor refuses
        // control characters in every field.
        for hostile in ["sip:a@b.com\r\nX: y", "sip:a@b.com\nVia: evil"] {
            let response = app.forward(&token, &did_id, "sip", hostile).await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_characters",
                &format!("sip {hostile:?}"),
            );
        }
        for hostile in [
            "sip:a@127.0.0.1",
            "sip:a@localhost",
            "<sip:a@b.com>",
            "sip:a@b.com?X=y",
            "sip:a@b.com;maddr=10.0.0.1",
            "http://example.com",
            "sip:@b.com",
        ] {
            let response = app.forward(&token, &did_id, "sip", hostile).await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_destination",
                &format!("sip {hostile:?}"),
            );
        }
        assert_eq!(
            listed_forwarding(&app, &token, &did_id).await,
            json!({"type": "sip", "destination": "sip:alice@example.com:5080"})
        );
    }

    async fn a_sip_host_that_resolvers_read_as_a_loopback_address_is_refused() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        // inet_aton (and so getaddrinfo) reads each of these hosts as 127.0.0.1; no real
        // host name has an all-numeric top label.
        for hostile in [
            "sip:a@127.1",
            "sip:a@2130706433",
            "sip:a@0177.0.0.1",
            "sip:a@0x7f000001",
            "sip:a@127.0.0.01",
        ] {
            let response = app.forward(&token, &did_id, "sip", hostile).await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_destination",
                &format!("sip {hostile:?}"),
            );
        }
        assert_eq!(listed_forwarding(&app, &token, &did_id).await, Value::Null);
    }

    async fn an_ip_destination_is_accepted_and_local_addresses_refused() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let ok = app.forward(&token, &did_id, "ip", "203.0.113.10:5060").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(
            ok.body["forwarding"],
            json!({"type": "ip", "destination": "203.0.113.10:5060"})
        );

        for bad in [
            "127.0.0.1",
            "127.0.0.1:5060",
            "0.0.0.0",
            "169.254.1.1",
            "::1",
            "[::ffff:127.0.0.1]:5060",
            "203.0.113.10:0",
            "203.0.113.10:70000",
            "example.com",
        ] {
            let response = app.forward(&token, &did_id, "ip", bad).await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_destination",
                &format!("ip {bad:?}"),
            );
        }
    }

    async fn an_extension_forward_needs_a_pbx_host_on_the_account() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let refused = app.forward(&token, &did_id, "extension", "1001").await;
        assert_error(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "pbx_host_required",
            "no PBX host",
        );
        assert_eq!(listed_forwarding(&app, &token, &did_id).await, Value::Null);

        app.service
            .set_pbx_host("alice", Some("pbx.example.com"))
            .await
            .expect("PBX host set");
        let ok = app.forward(&token, &did_id, "extension", "1001").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(
            ok.body["forwarding"],
            json!({"type": "extension", "destination": "1001"})
        );

        let bad = app.forward(&token, &did_id, "extension", "10a1").await;
        assert_error(
            &bad,
            StatusCode::BAD_REQUEST,
            "invalid_destination",
            "extension 10a1",
        );
    }

    async fn an_access_number_forward_works_when_the_operator_has_a_disa_service() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let plain = app.forward(&token, &did_id, "access_number", "").await;
        assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
        assert_eq!(plain.body["forwarding"]["type"], "access_number");

        let profile = app.forward(&token, &did_id, "access_number", "42").await;
        assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
        assert_eq!(
            profile.body["forwarding"],
            json!({"type": "access_number", "destination": "42"})
        );

        let bad = app.forward(&token, &did_id, "access_number", "sip:x@y.com").await;
        assert_error(
            &bad,
            StatusCode::BAD_REQUEST,
            "invalid_destination",
            "access_number sip:x@y.com",
        );
    }

    async fn an_access_number_forward_without_a_disa_service_answers_422() {
        let app = TestApp::spawn_with(|c| c.service.routing.disa_uri = None).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let response = app.forward(&token, &did_id, "access_number", "").await;

        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "disa_not_configured",
            "no DISA",
        );
        assert_eq!(listed_forwarding(&app, &token, &did_id).await, Value::Null);
    }

    async fn an_unknown_forward_type_answers_400() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        for kind in ["fax", "email", "sip2"] {
            let response = app.forward(&token, &did_id, kind, "+33612345678").await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                "invalid_forward_type",
                kind,
            );
        }
        let missing = app
            .post(
                "/api/did/forward",
                &[
                    ("token", &token),
                    ("did_id", &did_id),
                    ("destination", "+33612345678"),
                ],
            )
            .await;
        assert_error(
            &missing,
            StatusCode::BAD_REQUEST,
            "missing_field",
            "no type",
        );
        assert_eq!(listed_forwarding(&app, &token, &did_id).await, Value::Null);
    }

    async fn the_forward_type_can_be_changed_at_any_time() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        for (kind, destination, stored) in [
            ("pstn", "06 12 34 56 78", "+33612345678"),
            (
                "sip",
                "sip:alice@example.com:5080",
                "sip:alice@example.com:5080",
            ),
            ("ip", "203.0.113.10:5060", "203.0.113.10:5060"),
            ("pstn", "+12015550199", "+12015550199"),
        ] {
            let response = app.forward(&token, &did_id, kind, destination).await;
            assert_eq!(response.status, StatusCode::OK, "{kind}: {}", response.body);
            assert_eq!(
                listed_forwarding(&app, &token, &did_id).await,
                json!({"type": kind, "destination": stored})
            );
        }
        assert_eq!(app.balance(&token).await, "96.50", "forwarding is free");
    }

    async fn release_removes_the_number_at_once_without_refund_and_clears_its_forward() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let other = app.buy(&token, "FR", FR_MOBILE).await;
        assert_eq!(
            app.forward(&token, &did_id, "sip", "sip:alice@example.com")
                .await
                .status,
            StatusCode::OK
        );
        let balance_before = app.balance(&token).await;
        assert_eq!(balance_before, "88.50");

        let response = release(&app, &token, &did_id).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["status"], "released");
        assert_eq!(response.body["did_id"].to_string(), did_id);
        assert_eq!(response.body["did_number"], FR_LANDLINE_1);
        // T0 is 2026-11-27T00:00:00Z; 90 days later:
        assert_eq!(response.body["aging_until"], "2027-02-25T00:00:00Z");
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(response.body["aging_until"].as_str().expect("text"))
                .expect("RFC 3339")
                .timestamp(),
            T0 + 90 * 86_400
        );

        let body = list(&app, &token).await;
        assert_eq!(body["count"], 1);
        assert_eq!(body["dids"][0]["did_id"].to_string(), other);
        assert_eq!(app.balance(&token).await, balance_before, "no refund");
        assert_eq!(
            stored_forward(&app, &did_id).await,
            (None, None, "aging".to_owned())
        );

        let again = release(&app, &token, &did_id).await;
        assert_error(
            &again,
            StatusCode::NOT_FOUND,
            "did_not_found",
            "second release",
        );
        let forward_after = app.forward(&token, &did_id, "pstn", "+33612345678").await;
        assert_error(
            &forward_after,
            StatusCode::NOT_FOUND,
            "did_not_found",
            "forward after release",
        );
        assert_eq!(app.balance(&token).await, balance_before);
        app.assert_ledger_invariant().await;
    }

    async fn aging_until_counts_from_the_moment_of_release() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        app.clock.advance(3600 + 5);
        let response = release(&app, &token, &did_id).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["aging_until"], "2027-02-25T01:00:05Z");
    }

    async fn a_released_number_cannot_be_bought_while_it_ages() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 100_00).await;
        let bob = app.account_with_balance("bob", 100_00).await;
        let did_id = app.buy(&alice, "FR", FR_LANDLINE_1).await;
        assert_eq!(release(&app, &alice, &did_id).await.status, StatusCode::OK);

        for token in [&alice, &bob] {
            let response = app.assign(token, &did_id).await;
            assert_error(
                &response,
                StatusCode::CONFLICT,
                "did_not_available",
                "assign while aging",
            );
        }
        assert_eq!(app.balance(&bob).await, "100.00");
    }

    async fn another_accounts_number_is_indistinguishable_from_a_missing_one() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 100_00).await;
        let bob = app.account_with_balance("bob", 100_00).await;
        let did_id = app.buy(&alice, "FR", FR_LANDLINE_1).await;
        assert_eq!(
            app.forward(&alice, &did_id, "pstn", "+33612345678")
                .await
                .status,
            StatusCode::OK
        );

        for (path, extra) in [
            (
                "/api/did/forward",
                vec![("type", "sip"), ("destination", "sip:bob@example.com")],
            ),
            ("/api/did/release", vec![]),
        ] {
            let mut theirs = vec![("token", bob.as_str()), ("did_id", did_id.as_str())];
            theirs.extend(extra.iter().copied());
            let mut missing = vec![("token", bob.as_str()), ("did_id", "999999")];
            missing.extend(extra.iter().copied());

            let (status_theirs, body_theirs) = post_raw(&app, path, &theirs).await;
            let (status_missing, body_missing) = post_raw(&app, path, &missing).await;

            assert_eq!(
                status_theirs,
                StatusCode::NOT_FOUND,
                "{path}: {body_theirs}"
            );
            assert_eq!(
                status_missing,
                StatusCode::NOT_FOUND,
                "{path}: {body_missing}"
            );
            assert_eq!(
                body_theirs, body_missing,
                "{path}: the answers must not tell the two apart"
            );
            let parsed: Value = serde_json::from_str(&body_theirs).expect("JSON");
            assert_eq!(parsed["error"]["code"], "did_not_found");
        }

        // Alice's number is untouched.
        assert_eq!(
            listed_forwarding(&app, &alice, &did_id).await,
            json!({"type": "pstn", "destination": "+33612345678"})
        );
        assert_eq!(stored_forward(&app, &did_id).await.2, "assigned");
    }

    async fn one_account_never_sees_or_buys_anothers_number() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 100_00).await;
        let bob = app.account_with_balance("bob", 100_00).await;
        let did_id = app.buy(&alice, "FR", FR_LANDLINE_1).await;

        assert_eq!(list(&app, &bob).await, json!({"count": 0, "dids": []}));
        let taken = app.assign(&bob, &did_id).await;
        assert_error(
            &taken,
            StatusCode::CONFLICT,
            "did_not_available",
            "bob buys alice's number",
        );
        assert_eq!(app.balance(&bob).await, "100.00");
        assert_eq!(list(&app, &alice).await["count"], 1);

        let bobs = app.buy(&bob, "FR", FR_LANDLINE_2).await;
        let alices_list = list(&app, &alice).await;
        assert!(
            alices_list["dids"]
                .as_array()
                .expect("dids")
                .iter()
                .all(|d| d["did_id"].as_i64() != bobs.parse().ok()),
            "{alices_list}"
        );
        app.assert_ledger_invariant().await;
    }

    async fn a_did_id_that_is_not_a_positive_integer_answers_400() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;

        for bad in [
            "abc",
            "-1",
            "0",
            "1.5",
            "1e3",
            "99999999999999999999",
            "0x10",
        ] {
            let forwarded = app.forward(&token, bad, "pstn", "+33612345678").await;
            assert_error(
                &forwarded,
                StatusCode::BAD_REQUEST,
                "invalid_did_id",
                &format!("forward {bad:?}"),
            );
            let released = release(&app, &token, bad).await;
            assert_error(
                &released,
                StatusCode::BAD_REQUEST,
                "invalid_did_id",
                &format!("release {bad:?}"),
            );
            let assigned = app.assign(&token, bad).await;
            assert_error(
                &assigned,
                StatusCode::BAD_REQUEST,
                "invalid_did_id",
                &format!("assign {bad:?}"),
            );
        }
        let missing = app.post("/api/did/release", &[("token", &token)]).await;
        assert_error(
            &missing,
            StatusCode::BAD_REQUEST,
            "missing_field",
            "release without did_id",
        );
        assert_eq!(app.balance(&token).await, "100.00");
    }

    async fn an_oversize_body_answers_413_and_changes_nothing() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let free = app.did_id_of(&token, "FR", FR_LANDLINE_2).await;
        let before = snapshot(&app, &token).await;

        let padding = "a".repeat(70 * 1024);
        let oversize_forward =
            format!("did_id={did_id}&type=pstn&destination=%2B33612345678&pad={padding}");
        let response = post_body(
            &app,
            "/api/did/forward",
            &token,
            "application/x-www-form-urlencoded",
            oversize_forward.into_bytes(),
        )
        .await;
        assert_json_error(&response, "oversize forward");
        assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.code(), "body_too_large");

        let oversize_assign =
            serde_json::to_vec(&json!({"did_id": free, "pad": padding})).expect("JSON");
        let response = post_body(
            &app,
            "/api/did/assign",
            &token,
            "application/json",
            oversize_assign,
        )
        .await;
        assert_json_error(&response, "oversize assign");
        assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.code(), "body_too_large");

        assert_eq!(snapshot(&app, &token).await, before);
        app.assert_ledger_invariant().await;
    }

    async fn malformed_json_and_unsupported_content_types_answer_400_and_change_nothing() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let free = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let before = snapshot(&app, &token).await;

        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "application/json",
                format!("{{\"did_id\": {free}").into_bytes(),
                "invalid_body",
            ),
            ("application/json", b"[1, 2]".to_vec(), "invalid_body"),
            ("application/json", b"\"did_id\"".to_vec(), "invalid_body"),
            (
                "application/json",
                b"{\"did_id\": [true]}".to_vec(),
                "invalid_field",
            ),
            // Several did_ids are a bulk order (issue 12): one number twice is refused.
            (
                "application/x-www-form-urlencoded",
                format!("did_id={free}&did_id={free}").into_bytes(),
                "duplicate_did_id",
            ),
            (
                "text/plain",
                format!("did_id={free}").into_bytes(),
                "unsupported_media_type",
            ),
            (
                "application/xml",
                format!("<did_id>{free}</did_id>").into_bytes(),
                "unsupported_media_type",
            ),
        ];
        for (content_type, body, code) in cases {
            let what = format!("{content_type} {}", String::from_utf8_lossy(&body));
            let response = post_body(&app, "/api/did/assign", &token, content_type, body).await;
            assert_json_error(&response, &what);
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{what}");
            assert_eq!(response.code(), code, "{what}");
        }

        assert_eq!(snapshot(&app, &token).await, before);
        app.assert_ledger_invariant().await;
    }

    async fn a_json_body_naming_a_field_twice_answers_400_like_a_form_does() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let first = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let second = app.did_id_of(&token, "FR", FR_LANDLINE_2).await;
        let before = snapshot(&app, &token).await;

        // (did_id itself may repeat: several are a bulk order, see orders.rs.)
        let form = post_body(
            &app,
            "/api/did/assign",
            &token,
            "application/x-www-form-urlencoded",
            format!("did_id={first}&idempotency_key=a&idempotency_key=b").into_bytes(),
        )
        .await;
        assert_json_error(&form, "form with idempotency_key twice");
        assert_eq!(form.code(), "invalid_body");

        // Which of the two would be bought depends on the parser: refuse, as the form path does.
        let json = post_body(
            &app,
            "/api/did/assign",
            &token,
            "application/json",
            format!("{{\"did_id\": {first}, \"did_id\": {second}}}").into_bytes(),
        )
        .await;
        assert_json_error(&json, "JSON with did_id twice");
        assert_eq!(json.status, StatusCode::BAD_REQUEST);
        assert_eq!(json.code(), "invalid_body");

        assert_eq!(snapshot(&app, &token).await, before);
    }

    async fn an_unknown_path_answers_404_json_and_a_get_answers_405_json() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let free = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let before = snapshot(&app, &token).await;

        for path in ["/api/did/buy", "/api/nothing", "/", "/api/did/assign/extra"] {
            let response = app
                .post(path, &[("token", &token), ("did_id", &free)])
                .await;
            assert_json_error(&response, path);
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(response.code(), "not_found", "{path}");
        }

        for path in [
            "/api/did/assign",
            "/api/balance",
            "/api/login",
            "/api/did/release",
        ] {
            let url = format!("{}{path}?token={token}&did_id={free}", app.base);
            let response = send(app.client.get(url)).await;
            assert_json_error(&response, &format!("GET {path}"));
            assert_eq!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "GET {path}"
            );
            assert_eq!(response.code(), "method_not_allowed", "GET {path}");
        }
        let deleted = send(app.client.delete(format!("{}/api/did/release", app.base))).await;
        assert_eq!(deleted.status, StatusCode::METHOD_NOT_ALLOWED);

        assert_eq!(snapshot(&app, &token).await, before);
    }

    async fn the_ledger_shows_every_money_movement_signed_and_newest_first() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        let response = app.post("/api/ledger", &[("token", &token)]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let body = &response.body;
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["balance"], "6.50");
        assert_eq!(body["next_cursor"], Value::Null);
        let entries = body["entries"].as_array().expect("entries");
        let summary: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().expect("type"),
                    e["amount"].as_str().expect("amount"),
                    e["balance_after"].as_str().expect("balance_after"),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("monthly_charge", "-2.50", "6.50"),
                ("setup_fee", "-1.00", "9.00"),
                ("credit", "10.00", "10.00"),
            ]
        );
        let ids: Vec<i64> = entries
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
        for charge in &entries[..2] {
            assert_eq!(charge["did_id"].to_string(), did_id);
            assert_eq!(charge["did_number"], FR_LANDLINE_1);
            assert_eq!(charge["created_at"], "2026-11-27T00:00:00Z");
        }
        assert_eq!(entries[2]["did_id"], Value::Null);
    }

    async fn the_ledger_pages_with_limit_and_cursor_and_refuses_bad_ones() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;

        let first = app
            .post("/api/ledger", &[("token", &token), ("limit", "2")])
            .await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let types: Vec<&str> = first.body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect();
        assert_eq!(types, ["monthly_charge", "setup_fee"]);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();

        let second = app
            .post(
                "/api/ledger",
                &[("token", &token), ("limit", "2"), ("cursor", &cursor)],
            )
            .await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.body);
        assert_eq!(second.body["entries"].as_array().expect("entries").len(), 1);
        assert_eq!(second.body["entries"][0]["type"], "credit");
        assert_eq!(second.body["next_cursor"], Value::Null);

        for (field, value, code) in [
            ("limit", "0", "invalid_limit"),
            ("limit", "1001", "invalid_limit"),
            ("limit", "x", "invalid_field"),
            ("cursor", "abc", "invalid_cursor"),
        ] {
            let response = app
                .post("/api/ledger", &[("token", &token), (field, value)])
                .await;
            assert_error(
                &response,
                StatusCode::BAD_REQUEST,
                code,
                &format!("{field}={value}"),
            );
        }
    }

    async fn the_ledger_shows_only_the_callers_entries() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 10_00).await;
        let bob = app.account_with_balance("bob", 20_00).await;
        app.buy(&alice, "FR", FR_LANDLINE_1).await;

        let response = app.post("/api/ledger", &[("token", &bob)]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let entries = response.body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["type"], "credit");
        assert_eq!(entries[0]["amount"], "20.00");
        assert_eq!(response.body["balance"], "20.00");
    }
}
