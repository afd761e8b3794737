//! The operator's admin API (`/admin/v1/`) over real HTTP: keys and roles,
//! accounts, money, the audit log.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use crate::support::sip_client::invite_over_udp;
use didhub::domain::operator::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Makes a key with `role` named after it.
async fn key(app: &TestApp, role: Role) -> String {
    app.service
        .create_operator_key(&format!("{}-key", role.code()), role, None)
        .await
        .expect("operator key")
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

async fn get(app: &TestApp, key: &str, path: &str) -> Response {
    call(app, Method::GET, path, Some(key), None, &[]).await
}

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
    call(app, Method::POST, path, Some(key), Some(body), &[]).await
}

async fn patch(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
    call(app, Method::PATCH, path, Some(key), Some(body), &[]).await
}

fn ok(response: &Response, what: &str) {
    assert!(
        response.status.is_success(),
        "{what}: {} {}",
        response.status,
        response.body
    );
}

/// The id of the account named `username`.
async fn account_id(app: &TestApp, username: &str) -> i64 {
    app.service
        .account_by_username(username)
        .await
        .expect("account")
        .id
}

async fn upload(app: &TestApp, key: &str, csv: &str) -> Response {
    send(
        app.client
            .post(format!("{}/admin/v1/inventory", app.base))
            .bearer_auth(key)
            .header("content-type", "text/csv")
            .body(csv.to_owned()),
    )
    .await
}

/// Counts audit rows through the API (all pages).
async fn audit_rows(app: &TestApp, key: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut path = "/admin/v1/audit?limit=2".to_owned();
    loop {
        let page = get(app, key, &path).await;
        ok(&page, "audit page");
        rows.extend(
            page.body["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .cloned(),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/v1/audit?limit=2&cursor={cursor}"),
            None => return rows,
        }
    }
}

/// Every admin endpoint with the narrowest role that may call it.
fn endpoint_table(id: i64) -> Vec<(Method, String, Option<Value>, Role)> {
    let account = format!("/admin/v1/accounts/{id}");
    let credit = json!({"amount": "1.00", "reason": "table test"});
    vec![
        (
            Method::GET,
            "/admin/v1/accounts".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::POST,
            "/admin/v1/accounts".to_owned(),
            Some(json!({"username": "made-by-table"})),
            Role::Admin,
        ),
        (Method::GET, account.clone(), None, Role::Readonly),
        (
            Method::PATCH,
            account.clone(),
            Some(json!({"status": "active"})),
            Role::Support,
        ),
        (
            Method::POST,
            format!("{account}/password"),
            Some(json!({})),
            Role::Support,
        ),
        (
            Method::PATCH,
            format!("{account}/limits"),
            Some(json!({"max_calls": 10})),
            Role::Support,
        ),
        (
            Method::PATCH,
            "/admin/v1/numbers/+33123456789/limits".to_owned(),
            Some(json!({"max_calls": 2})),
            Role::Support,
        ),
        (
            Method::GET,
            format!("{account}/ledger"),
            None,
            Role::Readonly,
        ),
        (
            Method::POST,
            format!("{account}/credits"),
            Some(credit.clone()),
            Role::Billing,
        ),
        (
            Method::POST,
            format!("{account}/adjustments"),
            Some(credit),
            Role::Billing,
        ),
        (
            Method::GET,
            "/admin/v1/balances/audit".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::GET,
            "/admin/v1/audit".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::GET,
            "/admin/v1/inventory/counts".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::POST,
            "/admin/v1/inventory".to_owned(),
            None,
            Role::Admin,
        ),
        (
            Method::GET,
            "/admin/v1/numbers/+33123456789".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::GET,
            "/admin/v1/inventory/numbers".to_owned(),
            None,
            Role::Readonly,
        ),
        (
            Method::POST,
            "/admin/v1/inventory/reprice".to_owned(),
            Some(
                json!({"country": "US", "currency": "USD", "setup_fee": "0.50", "monthly_cost": "1.00"}),
            ),
            Role::Admin,
        ),
        (
            Method::POST,
            "/admin/v1/numbers/+33123456789/release".to_owned(),
            Some(json!({"reason": "table"})),
            Role::Admin,
        ),
        (
            Method::GET,
            "/admin/v1/stats?from=2026-11-01&to=2026-11-30".to_owned(),
            None,
            Role::Readonly,
        ),
        // Last: when allowed it is refused anyway (the account holds money).
        (Method::DELETE, account, None, Role::Admin),
    ]
}

fn allows(role: Role, needed: Role) -> bool {
    role == Role::Admin || needed == Role::Readonly || role == needed
}

on_both_backends! {
    async fn only_live_operator_keys_open_the_admin_api_and_never_the_customer_api() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 10_00).await;
        let admin = key(&app, Role::Admin).await;
        assert!(admin.starts_with("dhop_") && admin.len() == 5 + 64, "{admin}");

        let missing = call(&app, Method::GET, "/admin/v1/accounts", None, None, &[]).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.code(), "unauthorized");
        let customer = get(&app, &token, "/admin/v1/accounts").await;
        assert_eq!(customer.status, StatusCode::UNAUTHORIZED, "a customer token on the admin API");
        ok(&get(&app, &admin, "/admin/v1/accounts").await, "admin key");

        let on_customer_api = app.post_json("/api/balance", Some(&admin), json!({}), &[]).await;
        assert_eq!(on_customer_api.status, StatusCode::UNAUTHORIZED, "an operator key on the customer API");

        // Expiry follows the injected clock; revocation takes effect at once.
        let short = app.service.create_operator_key("short", Role::Readonly, Some(60)).await.expect("key");
        ok(&get(&app, &short, "/admin/v1/accounts").await, "fresh key");
        app.clock.advance(61);
        assert_eq!(get(&app, &short, "/admin/v1/accounts").await.status, StatusCode::UNAUTHORIZED);
        app.service.revoke_operator_key("admin-key").await.expect("revoke");
        assert_eq!(get(&app, &admin, "/admin/v1/accounts").await.status, StatusCode::UNAUTHORIZED);
        let names: Vec<String> = app.service.list_operator_keys().await.expect("keys")
            .into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["admin-key", "short"]);
    }

    async fn a_key_beyond_its_role_gets_403_naming_the_role_it_needs() {
        let app = TestApp::spawn().await;
        app.account_with_balance("alice", 0).await;
        let id = account_id(&app, "alice").await;
        let readonly = key(&app, Role::Readonly).await;
        let support = key(&app, Role::Support).await;
        let credit = post(&app, &readonly, &format!("/admin/v1/accounts/{id}/credits"),
            json!({"amount": "1.00", "reason": "x"})).await;
        assert_eq!(credit.status, StatusCode::FORBIDDEN);
        assert_eq!(credit.code(), "forbidden");
        assert!(credit.body["error"]["message"].as_str().is_some_and(|m| m.contains("billing")), "{}", credit.body);
        let create = post(&app, &support, "/admin/v1/accounts", json!({"username": "bob"})).await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        assert!(create.body["error"]["message"].as_str().is_some_and(|m| m.contains("admin")), "{}", create.body);
        assert_eq!(app.service.list_accounts().await.expect("accounts").len(), 1, "nothing created");
    }

    async fn failed_key_attempts_are_throttled_per_source_address() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        for _ in 0..10 {
            let wrong = get(&app, "dhop_0000", "/admin/v1/accounts").await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        }
        let throttled = get(&app, &admin, "/admin/v1/accounts").await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
        assert!(throttled.headers.contains_key("retry-after"));
        app.clock.advance(61);
        ok(&get(&app, &admin, "/admin/v1/accounts").await, "after the window");
    }

    async fn accounts_are_created_listed_searched_paged_and_shown() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let created = post(&app, &admin, "/admin/v1/accounts",
            json!({"username": "alice", "currency": "EUR", "initial_balance": "12.50"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["account"]["balance"], "12.50");
        assert_eq!(created.body["account"]["currency"], "EUR");
        assert_eq!(created.body["account"]["status"], "active");
        // The generated password is shown once and works.
        let password = created.body["password"].as_str().expect("generated password").to_owned();
        let login = app.post("/api/login", &[("username", "alice"), ("password", &password)]).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);

        for name in ["bob", "bobby", "carol"] {
            let made = post(&app, &admin, "/admin/v1/accounts",
                json!({"username": name, "password": PASSWORD})).await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
            assert!(made.body.get("password").is_none(), "a given password is not echoed");
        }
        let again = post(&app, &admin, "/admin/v1/accounts", json!({"username": "bob", "password": PASSWORD})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let bad = post(&app, &admin, "/admin/v1/accounts",
            json!({"username": "dave", "initial_balance": "1.001"})).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_amount"));

        let found = get(&app, &admin, "/admin/v1/accounts?search=BOB").await;
        let names: Vec<&str> = found.body["accounts"].as_array().expect("accounts").iter()
            .filter_map(|a| a["username"].as_str()).collect();
        assert_eq!(names, ["bob", "bobby"]);

        let first = get(&app, &admin, "/admin/v1/accounts?limit=3").await;
        assert_eq!(first.body["accounts"].as_array().map(Vec::len), Some(3));
        let cursor = first.body["next_cursor"].as_str().expect("a full page has a cursor");
        let second = get(&app, &admin, &format!("/admin/v1/accounts?limit=3&cursor={cursor}")).await;
        let rest: Vec<&str> = second.body["accounts"].as_array().expect("accounts").iter()
            .filter_map(|a| a["username"].as_str()).collect();
        assert_eq!(rest, ["carol"]);
        assert!(second.body["next_cursor"].is_null());
        let too_many = get(&app, &admin, "/admin/v1/accounts?limit=501").await;
        assert_eq!((too_many.status, too_many.code()), (StatusCode::BAD_REQUEST, "invalid_limit"));

        let id = account_id(&app, "alice").await;
        let shown = get(&app, &admin, &format!("/admin/v1/accounts/{id}")).await;
        assert_eq!(shown.body["numbers"], 0, "{}", shown.body);
        assert_eq!(shown.body["balance"], "12.50");
        assert_eq!(get(&app, &admin, "/admin/v1/accounts/99999").await.status, StatusCode::NOT_FOUND);
        app.assert_ledger_invariant().await;
    }

    async fn unknown_fields_are_refused_by_name_and_change_nothing() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let body = post(&app, &admin, "/admin/v1/accounts",
            json!({"username": "alice", "pasword": "typo in the name"})).await;
        assert_eq!((body.status, body.code()), (StatusCode::BAD_REQUEST, "unknown_field"));
        assert!(body.body["error"]["message"].as_str().is_some_and(|m| m.contains("pasword")), "{}", body.body);
        let params = get(&app, &admin, "/admin/v1/accounts?serch=bob").await;
        assert_eq!((params.status, params.code()), (StatusCode::BAD_REQUEST, "unknown_field"));
        assert!(params.body["error"]["message"].as_str().is_some_and(|m| m.contains("serch")));
        let put = call(&app, Method::PUT, "/admin/v1/accounts", Some(&admin), Some(json!({})), &[]).await;
        assert_eq!((put.status, put.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
        assert!(!put.body["error"]["message"].as_str().unwrap_or("").contains("POST"));
        let not_json = call(&app, Method::POST, "/admin/v1/accounts", Some(&admin), None, &[]).await;
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST, "{}", not_json.body);
        assert!(app.service.list_accounts().await.expect("accounts").is_empty());
        assert!(audit_rows(&app, &admin).await.is_empty());
    }

    async fn control_characters_are_refused_in_bodies_and_queries_before_the_database() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let nul = post(&app, &admin, "/admin/v1/accounts",
            json!({"username": "a\u{0}b", "password": "long enough password"})).await;
        assert_eq!((nul.status, nul.code()), (StatusCode::BAD_REQUEST, "invalid_characters"), "{}", nul.body);
        let search = get(&app, &admin, "/admin/v1/accounts?search=a%00b").await;
        assert_eq!((search.status, search.code()), (StatusCode::BAD_REQUEST, "invalid_characters"), "{}", search.body);
        assert!(app.service.list_accounts().await.expect("accounts").is_empty());
        assert!(audit_rows(&app, &admin).await.is_empty());
    }

    async fn suspension_stops_logins_and_calls_and_unsuspending_restores_them() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        ok(&app.forward(&token, &did_id, "pstn", "+33612345678").await, "forward");
        let uri = "sip:+33123456789@didhub.test";
        assert_eq!(invite_over_udp(app.sip, uri, "s1").await.status, 302);
        let support = key(&app, Role::Support).await;
        let id = account_id(&app, "alice").await;
        let path = format!("/admin/v1/accounts/{id}");

        let suspended = patch(&app, &support, &path, json!({"status": "suspended"})).await;
        ok(&suspended, "suspend");
        assert_eq!(suspended.body["status"], "suspended");
        assert_eq!(invite_over_udp(app.sip, uri, "s2").await.status, 480, "numbers answer as unavailable");
        assert_eq!(app.post("/api/balance", &[("token", &token)]).await.status, StatusCode::UNAUTHORIZED);
        let login = app.post("/api/login", &[("username", "alice"), ("password", PASSWORD)]).await;
        assert_eq!((login.status, login.code()), (StatusCode::FORBIDDEN, "account_suspended"));

        let wrong = patch(&app, &support, &path, json!({"status": "closed"})).await;
        assert_eq!((wrong.status, wrong.code()), (StatusCode::BAD_REQUEST, "invalid_status"));
        ok(&patch(&app, &support, &path, json!({"status": "active", "pbx_host": "pbx.alice.test"})).await, "unsuspend");
        assert_eq!(invite_over_udp(app.sip, uri, "s3").await.status, 302);
        app.login("alice").await;
        let shown = get(&app, &support, &path).await;
        assert_eq!(shown.body["pbx_host"], "pbx.alice.test");
        assert_eq!(shown.body["numbers"], 1);
        let cleared = patch(&app, &support, &path, json!({"pbx_host": null})).await;
        assert!(cleared.body["pbx_host"].is_null(), "{}", cleared.body);
        let empty = patch(&app, &support, &path, json!({})).await;
        assert_eq!((empty.status, empty.code()), (StatusCode::BAD_REQUEST, "nothing_to_change"));
        let bad = patch(&app, &support, &path, json!({"pbx_host": "bad host;x"})).await;
        assert_eq!(bad.code(), "invalid_pbx_host");
        app.assert_ledger_invariant().await;
    }

    async fn a_password_reset_revokes_tokens_and_delete_needs_an_empty_account() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let admin = key(&app, Role::Admin).await;
        let id = account_id(&app, "alice").await;

        let reset = post(&app, &admin, &format!("/admin/v1/accounts/{id}/password"), json!({})).await;
        ok(&reset, "reset");
        let password = reset.body["password"].as_str().expect("generated").to_owned();
        assert_eq!(app.post("/api/balance", &[("token", &token)]).await.status, StatusCode::UNAUTHORIZED);
        let login = app.post("/api/login", &[("username", "alice"), ("password", &password)]).await;
        assert_eq!(login.status, StatusCode::OK);
        let token = login.body["account_token"].as_str().expect("token").to_owned();

        let path = format!("/admin/v1/accounts/{id}");
        let refused = call(&app, Method::DELETE, &path, Some(&admin), None, &[]).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "account_not_empty"));
        ok(&app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await, "release");
        let still_money = call(&app, Method::DELETE, &path, Some(&admin), None, &[]).await;
        assert_eq!(still_money.code(), "account_not_empty", "balance is not zero");
        let balance = get(&app, &admin, &path).await.body["balance"].as_str().expect("balance").to_owned();
        ok(&post(&app, &admin, &format!("{path}/adjustments"),
            json!({"amount": format!("-{balance}"), "reason": "refund on closing"})).await, "refund");
        let deleted = call(&app, Method::DELETE, &path, Some(&admin), None, &[]).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        assert_eq!(get(&app, &admin, &path).await.body["status"], "closed");
        assert_eq!(app.post("/api/balance", &[("token", &token)]).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&admin), None, &[]).await.status, StatusCode::NOT_FOUND);
        let credit = post(&app, &admin, &format!("{path}/credits"), json!({"amount": "1.00", "reason": "x"})).await;
        assert_eq!(credit.status, StatusCode::CONFLICT, "a closed account takes no money");
        app.assert_ledger_invariant().await;
    }

    async fn credits_are_idempotent_and_adjustments_refuse_negative_balances() {
        let app = TestApp::spawn().await;
        app.account_with_balance("alice", 5_00).await;
        let id = account_id(&app, "alice").await;
        let billing = key(&app, Role::Billing).await;
        let credits = format!("/admin/v1/accounts/{id}/credits");
        let body = json!({"amount": "20.00", "reason": "bank transfer", "reference": "PAY-1"});
        let first = call(&app, Method::POST, &credits, Some(&billing), Some(body.clone()), &[("Idempotency-Key", "k1")]).await;
        ok(&first, "credit");
        assert_eq!(first.body["balance"], "25.00");
        assert_eq!(first.body["entry"]["description"], "bank transfer (ref PAY-1)");
        assert_eq!(first.body["replayed"], false);
        let retry = call(&app, Method::POST, &credits, Some(&billing), Some(body), &[("Idempotency-Key", "k1")]).await;
        ok(&retry, "retry");
        assert_eq!(retry.body["replayed"], true);
        assert_eq!(retry.body["entry"]["id"], first.body["entry"]["id"]);
        assert_eq!(retry.body["balance"], "25.00", "credited once");
        let reused = call(&app, Method::POST, &credits, Some(&billing),
            Some(json!({"amount": "99.00", "reason": "other"})), &[("Idempotency-Key", "k1")]).await;
        assert_eq!((reused.status, reused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));

        for (bad, code) in [
            (json!({"amount": "-1.00", "reason": "x"}), "invalid_amount"),
            (json!({"amount": "1.001", "reason": "x"}), "invalid_amount"),
            (json!({"amount": "1.00", "reason": " "}), "invalid_reason"),
            (json!({"amount": "1.00"}), "invalid_body"),
        ] {
            let refused = post(&app, &billing, &credits, bad.clone()).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{bad}");
        }

        let adjustments = format!("/admin/v1/accounts/{id}/adjustments");
        let below = post(&app, &billing, &adjustments, json!({"amount": "-30.00", "reason": "chargeback"})).await;
        assert_eq!((below.status, below.code()), (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance"));
        let allowed = post(&app, &billing, &adjustments,
            json!({"amount": "-30.00", "reason": "chargeback", "allow_negative": true})).await;
        ok(&allowed, "negative allowed");
        assert_eq!(allowed.body["balance"], "-5.00");
        ok(&post(&app, &billing, &credits, json!({"amount": "5.00", "reason": "settled"})).await, "settle");

        let audit = get(&app, &billing, "/admin/v1/balances/audit").await;
        ok(&audit, "balances audit");
        assert_eq!(audit.body["mismatches"], 0);
        assert_eq!(audit.body["accounts"][0]["ledger_sum"], "0.00");

        // Ledger paging: opening, credit, chargeback, settle = 4 entries.
        let page = get(&app, &billing, &format!("/admin/v1/accounts/{id}/ledger?limit=3")).await;
        assert_eq!(page.body["entries"].as_array().map(Vec::len), Some(3));
        assert_eq!(page.body["entries"][0]["description"], "settled");
        let cursor = page.body["next_cursor"].as_str().expect("cursor");
        let last = get(&app, &billing, &format!("/admin/v1/accounts/{id}/ledger?limit=3&cursor={cursor}")).await;
        assert_eq!(last.body["entries"].as_array().map(Vec::len), Some(1));
        assert_eq!(last.body["entries"][0]["description"], "opening balance");
        app.assert_ledger_invariant().await;
    }

    async fn every_admin_write_leaves_exactly_one_audit_row_that_nothing_can_change() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let mut writes = 0;
        let made = post(&app, &admin, "/admin/v1/accounts", json!({"username": "alice", "password": PASSWORD})).await;
        ok(&made, "create");
        writes += 1;
        let id = made.body["account"]["id"].as_i64().expect("id");
        let path = format!("/admin/v1/accounts/{id}");
        for (method, suffix, body) in [
            (Method::PATCH, "", json!({"pbx_host": "pbx.test"})),
            (Method::PATCH, "", json!({"status": "suspended"})),
            (Method::POST, "/password", json!({"password": "another password"})),
            (Method::POST, "/credits", json!({"amount": "3.00", "reason": "gift"})),
            (Method::POST, "/adjustments", json!({"amount": "-3.00", "reason": "gift back"})),
            (Method::DELETE, "", Value::Null),
        ] {
            let body = (!body.is_null()).then_some(body);
            ok(&call(&app, method, &format!("{path}{suffix}"), Some(&admin), body, &[]).await, suffix);
            writes += 1;
        }
        // Refused writes and reads leave no row.
        post(&app, &admin, &format!("{path}/credits"), json!({"amount": "0", "reason": "x"})).await;
        get(&app, &admin, &path).await;

        let rows = audit_rows(&app, &admin).await;
        assert_eq!(rows.len(), writes);
        let actions: Vec<&str> = rows.iter().rev().filter_map(|r| r["action"].as_str()).collect();
        assert_eq!(actions, ["account.create", "account.update", "account.update",
            "account.reset_password", "money.credit", "money.adjustment", "account.delete"]);
        assert!(rows.iter().all(|r| r["actor"] == "admin-key" && r["target"] == format!("account:{id}")));
        let suspend = &rows[4];
        assert_eq!(suspend["before"]["status"], "active");
        assert_eq!(suspend["after"]["status"], "suspended");
        assert_eq!(rows[2]["after"]["balance"], "3.00");

        let filtered = get(&app, &admin, "/admin/v1/audit?action=money.credit").await;
        assert_eq!(filtered.body["entries"].as_array().map(Vec::len), Some(1));
        let nobody = get(&app, &admin, "/admin/v1/audit?actor=someone-else").await;
        assert_eq!(nobody.body["entries"].as_array().map(Vec::len), Some(0));
        let later = get(&app, &admin, "/admin/v1/audit?since=2030-01-01T00:00:00Z").await;
        assert_eq!(later.body["entries"].as_array().map(Vec::len), Some(0));
        let bad_time = get(&app, &admin, "/admin/v1/audit?since=yesterday").await;
        assert_eq!(bad_time.code(), "invalid_time");

        // Not even the database lets the log be rewritten.
        let pool = app.service.store().pool();
        assert!(sqlx::query("UPDATE audit_log SET actor = 'x'").execute(pool).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log").execute(pool).await.is_err());
        assert_eq!(audit_rows(&app, &admin).await.len(), writes);
        app.assert_ledger_invariant().await;
    }

    async fn each_role_reaches_exactly_the_endpoints_of_its_role() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let id = account_id(&app, "alice").await;
        let table = endpoint_table(id);

        // The table covers every admin endpoint of the OpenAPI document.
        let document = didhub::http::openapi_document();
        let paths = document["paths"].as_object().expect("paths");
        let documented: std::collections::BTreeSet<String> = paths
            .iter()
            .filter(|(path, _)| path.starts_with("/admin/"))
            .flat_map(|(path, item)| {
                ["get", "post", "patch", "delete", "put"]
                    .into_iter()
                    .filter(|m| item.get(*m).is_some())
                    .map(move |m| {
                        let path = path
                            .replace("{id}", &id.to_string())
                            .replace("{number}", "+33123456789");
                        let query = if path.ends_with("/stats") {
                            "?from=2026-11-01&to=2026-11-30"
                        } else {
                            ""
                        };
                        format!("{} {path}{query}", m.to_uppercase())
                    })
            })
            .collect();
        let tested: std::collections::BTreeSet<String> =
            table.iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
        assert_eq!(documented, tested);

        for role in Role::ALL {
            let key = key(&app, role).await;
            for (method, path, body, needed) in &table {
                let body = body.clone().map(|mut b| {
                    if b.get("username").is_some() {
                        b["username"] = json!(format!("made-by-{}", role.code()));
                    }
                    b
                });
                let answer = if path.ends_with("/inventory") {
                    upload(&app, &key, "number,country,type,setup_fee,monthly_cost\n+33123456789,FR,landline,1.00,2.50\n").await
                } else {
                    call(&app, method.clone(), path, Some(&key), body, &[]).await
                };
                let what = format!("{} {method} {path}: {} {}", role.code(), answer.status, answer.body);
                assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
                if allows(role, *needed) {
                    assert_ne!(answer.status, StatusCode::FORBIDDEN, "{what}");
                    // Reads succeed; an allowed write may still be refused by a rule
                    // (a second release, a delete of an account holding money).
                    assert!(answer.status.is_success() || *method != Method::GET, "{what}");
                } else {
                    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}");
                    let message = answer.body["error"]["message"].as_str().unwrap_or("");
                    assert!(message.contains(needed.code()), "{what}");
                }
            }
        }
        app.assert_ledger_invariant().await;
    }
    async fn a_csv_upload_reports_each_rejected_line_and_counts_follow() {
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let csv = "number,country,type,setup_fee,monthly_cost\n\
                   +33123456789,FR,landline,1.00,2.50\n\
                   +33123456789,FR,landline,1.00,2.50\n\
                   +33612345670,FR,mobile_voice,3.00,5.00\n\
                   +33612345671,XX,mobile_voice,3.00,5.00\n\
                   +12015550123,US,landline,0.501,1.00\n";
        let report = upload(&app, &admin, csv).await;
        ok(&report, "upload");
        assert_eq!(report.body["accepted"], 2, "{}", report.body);
        assert_eq!(report.body["inserted"], 2);
        let lines: Vec<i64> = report.body["rejected"].as_array().expect("rejected").iter()
            .filter_map(|r| r["line"].as_i64()).collect();
        assert_eq!(lines, [3, 5, 6]);
        assert!(report.body["rejected"][0]["reason"].as_str().is_some_and(|r| r.contains("earlier")));
        let again = upload(&app, &admin, csv).await;
        assert_eq!((again.body["inserted"].as_i64(), again.body["unchanged"].as_i64()), (Some(0), Some(2)));

        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", "+33123456789").await;
        let counts = get(&app, &admin, "/admin/v1/inventory/counts").await;
        ok(&counts, "counts");
        assert_eq!(counts.body["counts"], json!([
            {"country": "FR", "type": "landline", "status": "assigned", "count": 1},
            {"country": "FR", "type": "mobile_voice", "status": "available", "count": 1},
        ]));

        let form = call(&app, Method::POST, "/admin/v1/inventory", Some(&admin), Some(json!({})), &[]).await;
        assert_eq!((form.status, form.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
        let audit = get(&app, &admin, "/admin/v1/audit?action=inventory.import").await;
        assert_eq!(audit.body["entries"].as_array().map(Vec::len), Some(2), "one batch per upload");
        app.assert_ledger_invariant().await;
    }

    async fn an_upload_declared_over_100_mb_is_refused_with_413_before_it_is_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = TestApp::spawn().await;
        let admin = key(&app, Role::Admin).await;
        let address = app.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        let request = format!(
            "POST /admin/v1/inventory HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            100 * 1024 * 1024 + 1
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buffer))
                .await.expect("an answer within 5 s").expect("read");
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert_eq!(app.service.inventory_size().await.expect("size"), 0);
    }

    async fn a_number_is_shown_with_its_owner_and_force_released_without_refund() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        ok(&app.forward(&token, &did_id, "pstn", "+33612345678").await, "forward");
        let admin = key(&app, Role::Admin).await;
        let path = "/admin/v1/numbers/+33123456789";

        let shown = get(&app, &admin, path).await;
        ok(&shown, "show");
        assert_eq!(shown.body["owner"]["username"], "alice");
        assert_eq!(shown.body["number"]["status"], "assigned");
        assert_eq!(shown.body["number"]["forwarding"]["destination"], "+33612345678");
        assert!(shown.body["number"]["paid_through"].is_string());
        let kinds: Vec<&str> = shown.body["charges"].as_array().expect("charges").iter()
            .filter_map(|c| c["type"].as_str()).collect();
        assert_eq!(kinds, ["monthly_charge", "setup_fee"]);
        assert_eq!(get(&app, &admin, "/admin/v1/numbers/+33999999999").await.status, StatusCode::NOT_FOUND);

        let balance = app.balance(&token).await;
        let no_reason = post(&app, &admin, &format!("{path}/release"), json!({"reason": ""})).await;
        assert_eq!(no_reason.code(), "invalid_reason");
        let released = post(&app, &admin, &format!("{path}/release"), json!({"reason": "fraud report"})).await;
        ok(&released, "force release");
        assert_eq!(released.body["status"], "aging");
        assert_eq!(app.balance(&token).await, balance, "no refund");
        assert_eq!(invite_over_udp(app.sip, "sip:+33123456789@didhub.test", "r1").await.status, 404);
        let again = post(&app, &admin, &format!("{path}/release"), json!({"reason": "again"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let shown = get(&app, &admin, path).await;
        assert!(shown.body["owner"].is_null());
        assert!(shown.body["aging_until"].is_string());
        let audit = get(&app, &admin, "/admin/v1/audit?target=number:%2B33123456789").await;
        assert_eq!(audit.body["entries"][0]["after"]["reason"], "fraud report", "{}", audit.body);
        app.assert_ledger_invariant().await;
    }

    async fn stats_count_numbers_per_country_and_sales_per_day() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.clock.advance(86_400);
        let token = app.login("alice").await;
        app.buy(&token, "FR", FR_MOBILE).await;
        let readonly = key(&app, Role::Readonly).await;
        let stats = get(&app, &readonly, "/admin/v1/stats?from=2026-11-27&to=2026-11-28").await;
        ok(&stats, "stats");
        assert_eq!(stats.body["numbers"], json!([
            {"country": "FR", "on_sale": 1, "owned": 2, "aging": 0},
            {"country": "US", "on_sale": 1, "owned": 0, "aging": 0},
        ]));
        assert_eq!(stats.body["days"], json!([
            {"date": "2026-11-27", "currency": "USD", "sales": 1, "revenue": "3.50"},
            {"date": "2026-11-28", "currency": "USD", "sales": 1, "revenue": "8.00"},
        ]));
        let one_day = get(&app, &readonly, "/admin/v1/stats?from=2026-11-28&to=2026-11-28").await;
        assert_eq!(one_day.body["days"].as_array().map(Vec::len), Some(1));
        for bad in ["from=2026-11-28&to=2026-11-27", "from=2026-01-01&to=2027-12-31", "from=x&to=2026-11-27", "from=2026-11-27"] {
            let refused = get(&app, &readonly, &format!("/admin/v1/stats?{bad}")).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}: {}", refused.body);
        }
    }


    async fn numbers_are_listed_by_filter_and_repriced_only_while_available() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let admin = key(&app, Role::Admin).await;
        let id = account_id(&app, "alice").await;
        let numbers = |page: &Response| -> Vec<String> {
            page.body["numbers"].as_array().expect("numbers").iter()
                .filter_map(|n| n["did_number"].as_str().map(str::to_owned)).collect()
        };

        let fr = get(&app, &admin, "/admin/v1/inventory/numbers?country=fr&limit=2").await;
        ok(&fr, "list");
        assert_eq!(numbers(&fr), [FR_LANDLINE_1, FR_LANDLINE_2]);
        let cursor = fr.body["next_cursor"].as_str().expect("cursor");
        let rest = get(&app, &admin, &format!("/admin/v1/inventory/numbers?country=FR&limit=2&cursor=%2B{}", &cursor[1..])).await;
        assert_eq!(numbers(&rest), [FR_MOBILE]);
        let owned = get(&app, &admin, &format!("/admin/v1/inventory/numbers?account={id}")).await;
        assert_eq!(numbers(&owned), [FR_LANDLINE_1]);
        let available = get(&app, &admin, "/admin/v1/inventory/numbers?status=available&type=landline").await;
        assert_eq!(numbers(&available), [US_LANDLINE, FR_LANDLINE_2]);
        let bad = get(&app, &admin, "/admin/v1/inventory/numbers?status=sold").await;
        assert_eq!(bad.code(), "invalid_status");

        let repriced = post(&app, &admin, "/admin/v1/inventory/reprice", json!({
            "country": "FR", "type": "landline", "currency": "USD", "setup_fee": "0.00", "monthly_cost": "9.99"
        })).await;
        ok(&repriced, "reprice");
        assert_eq!(repriced.body["changed"], 1, "the sold landline keeps its terms");
        let sold = get(&app, &admin, &format!("/admin/v1/numbers/{FR_LANDLINE_1}")).await;
        assert_eq!(sold.body["number"]["monthly_cost"], "2.50");
        let on_sale = app.available(&token, "FR").await;
        let landline = on_sale.iter().find(|d| d["did_number"] == FR_LANDLINE_2).expect("on sale");
        assert_eq!((landline["setup_fee"].as_str(), landline["monthly_cost"].as_str()), (Some("0.00"), Some("9.99")));

        let one = post(&app, &admin, "/admin/v1/inventory/reprice", json!({
            "numbers": [FR_MOBILE, FR_LANDLINE_1], "currency": "USD", "setup_fee": "1.00", "monthly_cost": "1.00"
        })).await;
        assert_eq!(one.body["changed"], 1);
        let nothing_named = post(&app, &admin, "/admin/v1/inventory/reprice", json!({
            "currency": "USD", "setup_fee": "1.00", "monthly_cost": "1.00"
        })).await;
        assert_eq!(nothing_named.code(), "missing_field");
        let audit = get(&app, &admin, "/admin/v1/audit?action=inventory.reprice").await;
        assert_eq!(audit.body["entries"].as_array().map(Vec::len), Some(2));
    }

}
