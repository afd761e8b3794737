//! `did/type-list` and `did/available`: what is on sale, filtered and paged.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

async fn search(app: &TestApp, token: &str, filters: &[(&str, &str)]) -> Response {
    let mut fields = vec![("token", token)];
    fields.extend_from_slice(filters);
    app.post("/api/did/available", &fields).await
}

/// The numbers of a successful search, in the order answered.
async fn numbers(app: &TestApp, token: &str, filters: &[(&str, &str)]) -> Vec<String> {
    let response = search(app, token, filters).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{filters:?}: {}",
        response.body
    );
    numbers_of(&response.body)
}

fn numbers_of(body: &Value) -> Vec<String> {
    body["dids"]
        .as_array()
        .expect("dids")
        .iter()
        .map(|d| d["did_number"].as_str().expect("did_number").to_owned())
        .collect()
}

fn assert_bad_request(response: &Response, code: &str, what: &str) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        response.body
    );
    assert_eq!(response.code(), code, "{what}: {}", response.body);
    assert!(
        response.body["error"]["message"].is_string(),
        "{what}: {}",
        response.body
    );
}

/// 25 valid French landlines, +33 1 23 45 00 00 to +33 1 23 45 00 24.
fn paging_numbers() -> Vec<String> {
    (0..25).map(|i| format!("+331234500{i:02}")).collect()
}

on_both_backends! {
    async fn type_list_names_the_four_types_on_sale() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 0).await;

        let response = app.post("/api/did/type-list", &[("token", &token)]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let types = response.body["types"].as_array().expect("types");
        let codes: Vec<&str> = types
            .iter()
            .map(|t| t["code"].as_str().expect("code"))
            .collect();
        assert_eq!(
            codes,
            ["landline", "mobile_voice", "mobile_sms", "voice_sms"]
        );
        let names: HashSet<&str> = types
            .iter()
            .map(|t| t["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names.len(), 4, "names must be distinct: {names:?}");
        assert!(names.iter().all(|n| !n.trim().is_empty()));
        for t in types {
            assert!(
                t["capabilities"].as_array().is_some_and(|c| !c.is_empty()),
                "{t}"
            );
        }
    }

    async fn available_lists_exactly_the_countrys_numbers_in_number_order_with_prices() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let response = search(&app, &token, &[("country", "FR")]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let body = &response.body;
        assert_eq!(body["country"], "FR");
        assert_eq!(body["count"], 3);
        assert_eq!(numbers_of(body), [FR_LANDLINE_1, FR_LANDLINE_2, FR_MOBILE]);
        let dids = body["dids"].as_array().expect("dids");
        for did in &dids[..2] {
            assert!(did["did_id"].as_i64().is_some_and(|id| id > 0), "{did}");
            assert_eq!(did["monthly_cost"], "2.50");
            assert_eq!(did["setup_fee"], "1.00");
            assert_eq!(did["currency"], "USD");
            assert_eq!(did["country"], "FR");
            assert_eq!(did["type"], "landline");
            assert_eq!(did["status"], "available");
            assert!(
                did.get("forwarding").is_none(),
                "unowned numbers carry no forwarding: {did}"
            );
        }
        let mobile = &dids[2];
        assert_eq!(mobile["type"], "mobile_voice");
        assert_eq!(mobile["monthly_cost"], "5.00");
        assert_eq!(mobile["setup_fee"], "3.00");
        let ids: HashSet<i64> = dids
            .iter()
            .map(|d| d["did_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(body["next_cursor"], Value::Null);
    }

    async fn the_country_code_is_case_insensitive() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let lower = search(&app, &token, &[("country", "fr")]).await;

        assert_eq!(lower.status, StatusCode::OK, "{}", lower.body);
        assert_eq!(lower.body["country"], "FR");
        assert_eq!(
            numbers_of(&lower.body),
            [FR_LANDLINE_1, FR_LANDLINE_2, FR_MOBILE]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "us")]).await,
            [US_LANDLINE]
        );
    }

    async fn an_unknown_or_missing_country_answers_400() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        assert_bad_request(
            &search(&app, &token, &[("country", "ZZ")]).await,
            "unknown_country",
            "ZZ",
        );
        assert_bad_request(
            &search(&app, &token, &[("country", "FRA")]).await,
            "unknown_country",
            "FRA",
        );
        assert_bad_request(
            &search(&app, &token, &[]).await,
            "missing_field",
            "no country",
        );
        assert_bad_request(
            &search(&app, &token, &[("country", "")]).await,
            "missing_field",
            "empty country",
        );
    }

    async fn a_known_country_without_stock_answers_an_empty_list() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let response = search(&app, &token, &[("country", "DE")]).await;

        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["country"], "DE");
        assert_eq!(response.body["dids"], serde_json::json!([]));
        assert_eq!(response.body["count"], 0);
        assert_eq!(response.body["next_cursor"], Value::Null);
    }

    async fn the_type_filter_keeps_only_that_type() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("type", "landline")]).await,
            [FR_LANDLINE_1, FR_LANDLINE_2]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("type", "mobile_voice")]).await,
            [FR_MOBILE]
        );
        assert!(
            numbers(&app, &token, &[("country", "FR"), ("type", "voice_sms")])
                .await
                .is_empty()
        );
        assert_bad_request(
            &search(&app, &token, &[("country", "FR"), ("type", "fax")]).await,
            "invalid_type",
            "type fax",
        );
    }

    async fn the_prefix_filter_accepts_the_prefix_with_or_without_plus() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("prefix", "+3361")]).await,
            [FR_MOBILE]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("prefix", "3361")]).await,
            [FR_MOBILE]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("prefix", "+331")]).await,
            [FR_LANDLINE_1, FR_LANDLINE_2]
        );
        assert_eq!(
            numbers(
                &app,
                &token,
                &[("country", "FR"), ("prefix", "+3312345679")]
            )
            .await,
            [FR_LANDLINE_2]
        );
        assert!(
            numbers(&app, &token, &[("country", "FR"), ("prefix", "+3399")])
                .await
                .is_empty()
        );
        assert_bad_request(
            &search(&app, &token, &[("country", "FR"), ("prefix", "+33a")]).await,
            "invalid_filter",
            "prefix +33a",
        );
    }

    async fn the_area_code_filter_reads_the_national_trunk_prefix() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let landlines = numbers(&app, &token, &[("country", "FR"), ("area_code", "01")]).await;

        assert_eq!(landlines, [FR_LANDLINE_1, FR_LANDLINE_2]);
        assert!(landlines.iter().all(|n| n.starts_with("+331")));
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("area_code", "06")]).await,
            [FR_MOBILE]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "US"), ("area_code", "201")]).await,
            [US_LANDLINE]
        );
        assert_bad_request(
            &search(
                &app,
                &token,
                &[("country", "FR"), ("area_code", "01"), ("prefix", "+331")],
            )
            .await,
            "invalid_filter",
            "both prefix and area_code",
        );
    }

    async fn the_contains_filter_matches_digits_anywhere_in_the_number() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("contains", "6790")]).await,
            [FR_LANDLINE_2]
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("contains", "4567")]).await,
            [FR_LANDLINE_1, FR_LANDLINE_2, FR_MOBILE]
        );
        assert!(
            numbers(&app, &token, &[("country", "FR"), ("contains", "999")])
                .await
                .is_empty()
        );
        // LIKE wildcards are not digits and must not widen the match.
        assert_bad_request(
            &search(&app, &token, &[("country", "FR"), ("contains", "%")]).await,
            "invalid_filter",
            "contains %",
        );
        assert_bad_request(
            &search(&app, &token, &[("country", "FR"), ("contains", "1_3")]).await,
            "invalid_filter",
            "contains 1_3",
        );
    }

    async fn paging_with_limit_and_cursor_walks_every_number_exactly_once() {
        let app = TestApp::spawn().await;
        let rows: Vec<String> = paging_numbers()
            .iter()
            .map(|n| format!("{n},FR,landline,1.00,2.50"))
            .collect();
        // Imported in reverse so that the answer's order is the API's, not the insert order.
        let mut reversed: Vec<&str> = rows.iter().map(String::as_str).collect();
        reversed.reverse();
        app.import(&reversed).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut filters = vec![("country", "FR"), ("limit", "10")];
            if let Some(c) = &cursor {
                filters.push(("cursor", c.as_str()));
            }
            let response = search(&app, &token, &filters).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            let page = numbers_of(&response.body);
            assert!(page.len() <= 10);
            seen.extend(page);
            pages += 1;
            assert!(pages <= 10, "paging does not end");
            match response.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }

        let mut expected = paging_numbers();
        expected.extend([FR_LANDLINE_1, FR_LANDLINE_2, FR_MOBILE].map(str::to_owned));
        expected.sort();
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 28);
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 28, "duplicates across pages");
        assert_eq!(seen, expected);
    }

    async fn paging_combines_with_filters() {
        let app = TestApp::spawn().await;
        let rows: Vec<String> = paging_numbers()
            .iter()
            .map(|n| format!("{n},FR,landline,1.00,2.50"))
            .collect();
        app.import(&rows.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        let first = search(
            &app,
            &token,
            &[("country", "FR"), ("prefix", "+33123450"), ("limit", "20")],
        )
        .await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(numbers_of(&first.body), paging_numbers()[..20]);
        let cursor = first.body["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();

        let second = search(
            &app,
            &token,
            &[
                ("country", "FR"),
                ("prefix", "+33123450"),
                ("limit", "20"),
                ("cursor", &cursor),
            ],
        )
        .await;
        assert_eq!(numbers_of(&second.body), paging_numbers()[20..]);
        assert_eq!(second.body["next_cursor"], Value::Null);
    }

    async fn a_limit_outside_1_to_500_or_not_a_number_answers_400() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        for (limit, code) in [
            ("0", "invalid_limit"),
            ("-1", "invalid_limit"),
            ("501", "invalid_limit"),
            ("abc", "invalid_field"),
            ("1.5", "invalid_field"),
        ] {
            let response = search(&app, &token, &[("country", "FR"), ("limit", limit)]).await;
            assert_bad_request(&response, code, &format!("limit {limit}"));
        }
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("limit", "500")])
                .await
                .len(),
            3
        );
        assert_eq!(
            numbers(&app, &token, &[("country", "FR"), ("limit", "1")]).await,
            [FR_LANDLINE_1]
        );
    }

    async fn a_cursor_this_api_did_not_return_answers_400() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 0).await;

        for cursor in [
            "garbage",
            "+33abc",
            "33123456789",
            "+12345678901234567890",
            "' OR 1=1 --",
        ] {
            let response = search(&app, &token, &[("country", "FR"), ("cursor", cursor)]).await;
            assert_bad_request(&response, "invalid_cursor", &format!("cursor {cursor:?}"));
        }
    }

    async fn assigned_and_aging_numbers_are_not_listed_until_aging_ends() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let kept = app.did_id_of(&token, "FR", FR_LANDLINE_1).await;
        let released = app.did_id_of(&token, "FR", FR_LANDLINE_2).await;
        assert_eq!(app.assign(&token, &kept).await.status, StatusCode::OK);
        assert_eq!(app.assign(&token, &released).await.status, StatusCode::OK);
        let release = app
            .post(
                "/api/did/release",
                &[("token", &token), ("did_id", &released)],
            )
            .await;
        assert_eq!(release.status, StatusCode::OK, "{}", release.body);

        assert_eq!(
            numbers(&app, &token, &[("country", "FR")]).await,
            [FR_MOBILE]
        );
        assert!(
            numbers(&app, &token, &[("country", "FR"), ("contains", "6790")])
                .await
                .is_empty()
        );
        assert!(
            numbers(&app, &token, &[("country", "FR"), ("type", "landline")])
                .await
                .is_empty()
        );

        // One second before the 90 days are up, maintenance leaves it aging.
        // Tokens live a day: log in again after the clock jumps.
        app.clock.advance(90 * 86_400 - 1);
        app.service.run_maintenance().await.expect("maintenance");
        let token = app.login("alice").await;
        assert_eq!(
            numbers(&app, &token, &[("country", "FR")]).await,
            [FR_MOBILE]
        );

        app.clock.advance(2);
        let report = app.service.run_maintenance().await.expect("maintenance");
        assert_eq!(report.aging_ended, 1);
        let token = app.login("alice").await;
        assert_eq!(
            numbers(&app, &token, &[("country", "FR")]).await,
            [FR_LANDLINE_2, FR_MOBILE]
        );
        let back = app.available(&token, "FR").await;
        assert_eq!(back[0]["did_id"].to_string(), released, "same row, same id");
        assert_eq!(back[0]["status"], "available");
        app.assert_ledger_invariant().await;
    }
}
