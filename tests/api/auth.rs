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
}
