//! Logins, tokens, expiry, logout and throttling.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

/// Every endpoint that needs a token, with fields that would otherwise be valid.
const AUTHENTICATED: &[&str] = &[
    "/api/balance",
    "/api/did/type-list",
    "/api/did/available",
    "/api/did/assign",
    "/api/did/list",
    "/api/did/forward",
    "/api/did/release",
    "/api/ledger",
    "/api/logout",
];

fn other_fields(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/api/did/available" => vec![("country", "FR")],
        "/api/did/assign" | "/api/did/release" => vec![("did_id", "1")],
        "/api/did/forward" => vec![
            ("did_id", "1"),
            ("type", "pstn"),
            ("destination", "+33612345678"),
        ],
        _ => vec![],
    }
}

/// Posts `path` with `token` as the form field, plus fields that make the request otherwise valid.
async fn call_with_token(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let mut fields = other_fields(path);
    if let Some(token) = token {
        fields.push(("token", token));
    }
    app.post(path, &fields).await
}

fn assert_unauthorized(response: &Response, what: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        response.body
    );
    assert_eq!(response.code(), "unauthorized", "{what}: {}", response.body);
}

async fn login_with(app: &TestApp, username: &str, password: &str) -> Response {
    app.post(
        "/api/login",
        &[("username", username), ("password", password)],
    )
    .await
}

async fn login_from(app: &TestApp, address: &str, username: &str, password: &str) -> Response {
    app.post_from(
        address,
        "/api/login",
        &[("username", username), ("password", password)],
    )
    .await
}

fn retry_after(response: &Response) -> i64 {
    response
        .headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .expect("ASCII")
        .parse::<i64>()
        .expect("seconds")
}

fn assert_throttled(response: &Response, what: &str) {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        response.body
    );
    assert_eq!(response.code(), "too_many_attempts", "{what}");
    assert!(retry_after(response) > 0, "{what}");
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

on_both_backends! {
    async fn login_returns_a_prefixed_random_token_and_its_expiry_a_day_later() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let first = login_with(&app, "alice", PASSWORD).await;
        let second = login_with(&app, "alice", PASSWORD).await;

        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let token = first.body["account_token"].as_str().expect("token");
        let hex = token.strip_prefix("dh_").expect("dh_ prefix");
        assert_eq!(hex.len(), 64, "{token}");
        assert!(is_lower_hex(hex), "{token}");
        assert_eq!(first.body["token_type"], "Bearer");
        assert_eq!(first.body["username"], "alice");
        assert_eq!(first.body["expires_at"], "2026-11-28T00:00:00Z");
        assert_ne!(first.body["account_token"], second.body["account_token"]);
    }

    async fn login_with_a_wrong_password_answers_401_like_an_unknown_user() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let wrong_password = login_with(&app, "alice", "not the password").await;
        let unknown_user = login_with(&app, "mallory", "not the password").await;

        assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong_password.code(), "invalid_credentials");
        assert_eq!(unknown_user.status, wrong_password.status);
        assert_eq!(unknown_user.body, wrong_password.body);
        assert_eq!(
            unknown_user.headers.get("www-authenticate"),
            wrong_password.headers.get("www-authenticate")
        );
        assert!(wrong_password.body.get("account_token").is_none());
    }

    async fn login_without_a_password_answers_400_missing_credentials() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for fields in [
            vec![("username", "alice")],
            vec![("username", "alice"), ("password", "")],
        ] {
            let response = app.post("/api/login", &fields).await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{fields:?}: {}",
                response.body
            );
            assert_eq!(response.code(), "missing_credentials", "{fields:?}");
        }
    }

    async fn login_without_a_username_answers_400_missing_credentials() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for fields in [
            vec![("password", PASSWORD)],
            vec![("username", ""), ("password", PASSWORD)],
            vec![("username", "   "), ("password", PASSWORD)],
            vec![],
        ] {
            let response = app.post("/api/login", &fields).await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{fields:?}: {}",
                response.body
            );
            assert_eq!(
                response.code(),
                "missing_credentials",
                "{fields:?}: {}",
                response.body
            );
        }
    }

    async fn login_accepts_a_json_body_too() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let response = app
            .post_json(
                "/api/login",
                None,
                json!({"username": "alice", "password": PASSWORD}),
                &[],
            )
            .await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(
            response.body["account_token"]
                .as_str()
                .is_some_and(|t| t.starts_with("dh_"))
        );
    }

    async fn the_token_works_as_a_form_field_and_as_a_bearer_header_with_json() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 12_34).await;

        let form = app.post("/api/balance", &[("token", &token)]).await;
        let bearer = app
            .post_json("/api/balance", Some(&token), json!({}), &[])
            .await;

        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        assert_eq!(form.body["balance"], "12.34");
        assert_eq!(form.body["currency"], "USD");
        assert_eq!(bearer.status, StatusCode::OK, "{}", bearer.body);
        assert_eq!(bearer.body, form.body);

        standard_inventory(&app).await;
        let search = app
            .post_json(
                "/api/did/available",
                Some(&token),
                json!({"country": "US"}),
                &[],
            )
            .await;
        assert_eq!(search.status, StatusCode::OK, "{}", search.body);
        assert_eq!(search.body["dids"][0]["did_number"], US_LANDLINE);
    }

    async fn a_missing_or_garbage_token_answers_401_on_every_authenticated_endpoint() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let real = app.account_with_balance("alice", 100_00).await;
        let forged = format!("dh_{}", "0".repeat(64));
        // A real token with one character changed.
        let tampered = format!(
            "{}{}",
            &real[..real.len() - 1],
            if real.ends_with('0') { '1' } else { '0' }
        );

        for path in AUTHENTICATED {
            assert_unauthorized(
                &call_with_token(&app, path, None).await,
                &format!("{path} without token"),
            );
            for bad in ["garbage", "", forged.as_str(), tampered.as_str()] {
                let response = call_with_token(&app, path, Some(bad)).await;
                assert_unauthorized(&response, &format!("{path} with token {bad:?}"));
            }
            let bearer = app
                .post_json(
                    path,
                    Some("garbage"),
                    json!({"country": "FR", "did_id": 1}),
                    &[],
                )
                .await;
            assert_unauthorized(&bearer, &format!("{path} with a garbage bearer"));
            assert_eq!(
                bearer
                    .headers
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap_or("")),
                Some("Bearer"),
                "{path}"
            );
        }

        // Nothing was bought, and the real token still works.
        assert_eq!(app.balance(&real).await, "100.00");
        assert_eq!(app.available(&real, "FR").await.len(), 3);
    }

    async fn a_token_lives_24_hours_and_is_refused_after() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 5_00).await;

        app.clock.advance(24 * 3600 - 1);
        assert_eq!(app.balance(&token).await, "5.00");

        app.clock.advance(2);
        for path in AUTHENTICATED {
            let response = call_with_token(&app, path, Some(&token)).await;
            assert_unauthorized(&response, &format!("{path} with an expired token"));
        }

        // A new login gives a fresh token.
        let fresh = app.login("alice").await;
        assert_eq!(app.balance(&fresh).await, "5.00");
    }

    async fn logout_revokes_the_token_used_and_no_other() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 5_00).await;
        let other = app.login("alice").await;

        let response = app.post("/api/logout", &[("token", &token)]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["status"], "logged_out");
        for path in AUTHENTICATED {
            let response = call_with_token(&app, path, Some(&token)).await;
            assert_unauthorized(&response, &format!("{path} after logout"));
        }
        assert_eq!(app.balance(&other).await, "5.00");
    }

    async fn logout_with_a_bearer_header_revokes_that_token() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 5_00).await;

        let response = app
            .post_json("/api/logout", Some(&token), json!({}), &[])
            .await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let after = app
            .post_json("/api/balance", Some(&token), json!({}), &[])
            .await;
        assert_unauthorized(&after, "balance after bearer logout");
    }

    async fn five_failed_logins_throttle_the_username_for_300_seconds() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");
        app.service
            .create_account("bob", PASSWORD, None, 0)
            .await
            .expect("account");

        for attempt in 1..=5 {
            let response = login_with(&app, "alice", "wrong password").await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}: {}",
                response.body
            );
            assert_eq!(response.code(), "invalid_credentials");
        }

        let throttled = login_with(&app, "alice", PASSWORD).await;
        assert_eq!(
            throttled.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            throttled.body
        );
        assert_eq!(throttled.code(), "too_many_attempts");
        assert!(throttled.body.get("account_token").is_none());
        let retry_after = throttled
            .headers
            .get("retry-after")
            .expect("Retry-After header")
            .to_str()
            .expect("ASCII")
            .parse::<i64>()
            .expect("seconds");
        assert_eq!(retry_after, 300);

        // Another username is not affected.
        assert_eq!(
            login_with(&app, "bob", PASSWORD).await.status,
            StatusCode::OK
        );

        // One second before the window ends: still throttled, and Retry-After counts down.
        app.clock.advance(299);
        let still = login_with(&app, "alice", PASSWORD).await;
        assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            still
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("")),
            Some("1")
        );

        app.clock.advance(2);
        let after = login_with(&app, "alice", PASSWORD).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
        assert!(after.body["account_token"].as_str().is_some());
    }

    async fn throttling_applies_to_unknown_usernames_as_well() {
        let app = TestApp::spawn().await;

        for _ in 0..5 {
            assert_eq!(
                login_with(&app, "ghost", "whatever1").await.status,
                StatusCode::UNAUTHORIZED
            );
        }

        let sixth = login_with(&app, "ghost", "whatever1").await;
        assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(sixth.code(), "too_many_attempts");
        assert!(sixth.headers.contains_key("retry-after"));
    }

    async fn a_successful_login_resets_the_failure_count() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for _ in 0..4 {
            assert_eq!(
                login_with(&app, "alice", "wrong password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login_with(&app, "alice", PASSWORD).await.status,
            StatusCode::OK
        );
        for _ in 0..4 {
            assert_eq!(
                login_with(&app, "alice", "wrong password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }

        assert_eq!(
            login_with(&app, "alice", PASSWORD).await.status,
            StatusCode::OK
        );
    }

    async fn the_password_hash_never_appears_in_any_answer() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let hash: String = sqlx::query("SELECT password_hash FROM accounts WHERE username = 'alice'")
            .fetch_one(app.service.store().pool())
            .await
            .expect("account row")
            .try_get("password_hash")
            .expect("hash column");
        assert!(hash.starts_with("$argon2"), "{hash}");

        let did_id = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let mut answers: Vec<Value> = Vec::new();
        answers.push(login_with(&app, "alice", PASSWORD).await.body);
        answers.push(login_with(&app, "alice", "wrong password").await.body);
        answers.push(app.assign(&token, &did_id).await.body);
        for path in AUTHENTICATED {
            answers.push(call_with_token(&app, path, Some(&token)).await.body);
        }

        for answer in answers {
            let text = answer.to_string();
            assert!(!text.contains(&hash), "hash leaked in {text}");
            assert!(!text.contains("argon2"), "hash leaked in {text}");
            assert!(!text.contains("password_hash"), "hash field in {text}");
        }
    }

    async fn tokens_are_stored_only_as_hashes() {
        let app = TestApp::spawn().await;
        let first = app.account_with_balance("alice", 0).await;
        let second = app.login("alice").await;

        let rows = sqlx::query("SELECT token_hash FROM api_tokens")
            .fetch_all(app.service.store().pool())
            .await
            .expect("token rows");
        let stored: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("token_hash").expect("token_hash"))
            .collect();

        assert_eq!(stored.len(), 2);
        for hash in &stored {
            assert_eq!(hash.len(), 64, "{hash}");
            assert!(is_lower_hex(hash), "{hash}");
            for token in [&first, &second] {
                assert_ne!(hash, token);
                assert!(!hash.contains(&token[3..]), "raw token stored");
                assert!(
                    !token.contains(hash.as_str()),
                    "stored value is part of the token"
                );
            }
        }
        assert_ne!(stored[0], stored[1]);
    }

    async fn concurrent_failed_logins_get_no_more_guesses_than_the_limit() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let attempts = (0..20).map(|i| {
            let app = &app;
            async move {
                login_with(app, "alice", &format!("guess number {i}"))
                    .await
                    .status
            }
        });
        let statuses = futures::future::join_all(attempts).await;

        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(checked + throttled, 20, "{statuses:?}");
        assert!(
            checked <= 5,
            "{checked} passwords were checked against the account in one burst; the limit is 5"
        );
    }

    async fn a_strangers_failures_do_not_lock_out_the_customer_from_another_address() {
        let app = TestApp::spawn().await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for attempt in 1..=5 {
            let response = login_from(&app, "127.0.0.2", "alice", "guess").await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}: {}",
                response.body
            );
        }
        assert_throttled(
            &login_from(&app, "127.0.0.2", "alice", "guess").await,
            "the stranger's sixth guess",
        );
        // Even the right password from the stranger's address waits.
        assert_throttled(
            &login_from(&app, "127.0.0.2", "alice", PASSWORD).await,
            "the right password from the failing address",
        );

        let customer = login_from(&app, "127.0.0.1", "alice", PASSWORD).await;
        assert_eq!(customer.status, StatusCode::OK, "{}", customer.body);
        assert!(customer.body["account_token"].as_str().is_some());
    }

    async fn one_address_cannot_push_a_username_over_its_ceiling() {
        let app = TestApp::spawn_with(|config| config.service.login_max_failures_per_user = 8).await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(login_from(&app, "127.0.0.2", "alice", "guess").await.status);
        }
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!(checked, 5, "{statuses:?}");

        let customer = login_from(&app, "127.0.0.1", "alice", PASSWORD).await;
        assert_eq!(customer.status, StatusCode::OK, "{}", customer.body);
    }

    async fn the_per_username_ceiling_holds_across_addresses_for_one_window() {
        let app = TestApp::spawn_with(|config| config.service.login_max_failures_per_user = 6).await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for address in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
            for _ in 0..2 {
                let response = login_from(&app, address, "alice", "guess").await;
                assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{address}");
            }
        }
        app.clock.advance(100);
        // Six failures from three addresses: the username's ceiling is reached
        // and a seventh attempt, from anywhere, waits for the window to end.
        let seventh = login_from(&app, "127.0.0.5", "alice", PASSWORD).await;
        assert_throttled(&seventh, "over the username's ceiling");
        assert_eq!(retry_after(&seventh), 200);

        app.clock.advance(199);
        assert_throttled(
            &login_from(&app, "127.0.0.1", "alice", PASSWORD).await,
            "one second before the window ends",
        );
        app.clock.advance(1);
        let after = login_from(&app, "127.0.0.1", "alice", PASSWORD).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    }

    async fn one_address_guessing_across_usernames_is_throttled_with_retry_after() {
        let app =
            TestApp::spawn_with(|config| config.service.auth_max_failures_per_address = 10).await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for i in 0..10 {
            let response = login_from(&app, "127.0.0.2", &format!("user{i}"), "guess").await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "user{i}");
        }
        let eleventh = login_from(&app, "127.0.0.2", "user10", "guess").await;
        assert_throttled(&eleventh, "the address's eleventh failure");
        assert_eq!(retry_after(&eleventh), 300);
        assert_throttled(
            &login_from(&app, "127.0.0.2", "alice", PASSWORD).await,
            "any login from that address",
        );

        // Other addresses are not affected.
        let elsewhere = login_from(&app, "127.0.0.3", "user10", "guess").await;
        assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            login_from(&app, "127.0.0.1", "alice", PASSWORD).await.status,
            StatusCode::OK
        );

        app.clock.advance(300);
        let next_window = login_from(&app, "127.0.0.2", "alice", PASSWORD).await;
        assert_eq!(next_window.status, StatusCode::OK, "{}", next_window.body);
    }

    async fn bad_tokens_count_as_failures_of_the_address() {
        let app =
            TestApp::spawn_with(|config| config.service.auth_max_failures_per_address = 3).await;
        let token = app.account_with_balance("alice", 5_00).await;
        let forged = format!("dh_{}", "0".repeat(64));

        for bad in ["garbage", forged.as_str(), "dh_short"] {
            let response = app
                .post_from("127.0.0.2", "/api/balance", &[("token", bad)])
                .await;
            assert_unauthorized(&response, bad);
        }
        let fourth = app
            .post_from("127.0.0.2", "/api/balance", &[("token", &forged)])
            .await;
        assert_throttled(&fourth, "the fourth bad token");
        assert_throttled(
            &login_from(&app, "127.0.0.2", "alice", PASSWORD).await,
            "a login from the same address",
        );

        // A good token keeps working, from that address and others.
        let good = app
            .post_from("127.0.0.2", "/api/balance", &[("token", &token)])
            .await;
        assert_eq!(good.status, StatusCode::OK, "{}", good.body);
        assert_eq!(app.balance(&token).await, "5.00");

        // An expired token counts too.
        app.clock.advance(24 * 3600 + 1);
        let expired = app
            .post_from("127.0.0.3", "/api/balance", &[("token", &token)])
            .await;
        assert_unauthorized(&expired, "expired token");
    }

    async fn login_attempts_per_address_are_limited_even_when_right() {
        let app = TestApp::spawn_with(|config| config.service.login_max_per_address = 3).await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        for i in 1..=3 {
            let response = login_from(&app, "127.0.0.2", "alice", PASSWORD).await;
            assert_eq!(response.status, StatusCode::OK, "login {i}: {}", response.body);
        }
        assert_throttled(
            &login_from(&app, "127.0.0.2", "alice", PASSWORD).await,
            "the fourth login from one address",
        );
        let elsewhere = login_from(&app, "127.0.0.3", "alice", PASSWORD).await;
        assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.body);
    }

    async fn a_full_password_pool_answers_503_busy_with_retry_after() {
        let app = TestApp::spawn_with(|config| {
            config.service.password_workers = 1;
            config.service.password_queue = 1;
        })
        .await;
        app.service
            .create_account("alice", PASSWORD, None, 0)
            .await
            .expect("account");

        let attempts = (0..24).map(|i| {
            let app = &app;
            async move { login_with(app, &format!("flood{i}"), "guess").await }
        });
        let answers = futures::future::join_all(attempts).await;

        let busy: Vec<&Response> = answers
            .iter()
            .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
            .collect();
        let checked = answers
            .iter()
            .filter(|r| r.status == StatusCode::UNAUTHORIZED)
            .count();
        assert_eq!(busy.len() + checked, 24, "unexpected answers");
        assert!(!busy.is_empty(), "one worker and a queue of one took 24 logins at once");
        assert!(checked >= 1, "no login was checked at all");
        for response in busy {
            assert_eq!(response.code(), "busy", "{}", response.body);
            assert_eq!(retry_after(response), 1);
        }

        // The flood passed: the customer logs in, and a refused attempt
        // counted against nobody.
        let after = login_with(&app, "alice", PASSWORD).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    }
}
