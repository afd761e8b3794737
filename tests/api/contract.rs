//! What schemathesis found where the server and its OpenAPI document disagreed
//! (see tests/contract/schemathesis.sh), and the document's promises themselves.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends! {
    async fn fields_no_operation_reads_are_ignored_whatever_their_shape() {
        let app = TestApp::spawn().await;
        let token = app.account_with_balance("alice", 10_00).await;

        let repeated = app
            .post("/api/balance", &[("token", &token), ("x", "1"), ("x", "2")])
            .await;
        let long_name = "n".repeat(100);
        let long = app
            .post("/api/balance", &[("token", &token), (&long_name, "1")])
            .await;
        let shaped = app
            .post_json(
                "/api/balance",
                Some(&token),
                json!({"extra": [1, {"a": true}], "other": {"b": null}, "flag": false}),
                &[],
            )
            .await;

        for response in [repeated, long, shaped] {
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            assert_eq!(response.body["balance"], "10.00");
        }
    }

    async fn a_whole_json_number_reads_as_the_integer_it_is() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let did_id: i64 = app
            .did_id_of(&token, "FR", FR_LANDLINE_1)
            .await
            .parse()
            .expect("numeric id");

        let ledger = app
            .post_json("/api/ledger", Some(&token), json!({"limit": 2.0}), &[])
            .await;
        let bought = app
            .post_json("/api/did/assign", Some(&token), json!({"did_id": did_id as f64}), &[])
            .await;
        let fraction = app
            .post_json("/api/ledger", Some(&token), json!({"limit": 2.5}), &[])
            .await;

        assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.body);
        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        assert_eq!(bought.body["did_number"], FR_LANDLINE_1);
        assert_eq!(fraction.status, StatusCode::BAD_REQUEST, "{}", fraction.body);
        assert_eq!(fraction.code(), "invalid_field");
    }

    async fn json_text_fields_take_strings_only() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;

        for body in [
            json!({"country": "FR", "contains": 1}),
            json!({"country": "FR", "prefix": 331}),
            json!({"country": "FR", "type": true}),
            json!({"country": "FR", "limit": false}),
        ] {
            let response = app
                .post_json("/api/did/available", Some(&token), body.clone(), &[])
                .await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}: {}", response.body);
            assert_eq!(response.code(), "invalid_field", "{body}");
        }
        let strings = app
            .post_json(
                "/api/did/available",
                Some(&token),
                json!({"country": "FR", "contains": "1", "limit": "5"}),
                &[],
            )
            .await;
        assert_eq!(strings.status, StatusCode::OK, "{}", strings.body);
    }

    async fn the_served_document_lists_the_common_answers_of_every_operation() {
        let app = TestApp::spawn().await;
        let document: serde_json::Value = app
            .client
            .get(format!("{}/openapi.json", app.base))
            .send()
            .await
            .expect("served")
            .json()
            .await
            .expect("JSON");

        let paths = document["paths"].as_object().expect("paths");
        let seed_api: Vec<_> = paths.iter().filter(|(p, _)| p.starts_with("/api/")).collect();
        assert_eq!(seed_api.len(), 11);
        for (path, item) in seed_api {
            let operation = &item["post"];
            for status in ["200", "400", "401", "413", "503"] {
                assert!(operation["responses"][status].is_object(), "{path} lacks {status}");
            }
            let content = &operation["requestBody"]["content"];
            assert!(content["application/json"].is_object(), "{path}: JSON body");
            assert!(
                content["application/x-www-form-urlencoded"].is_object(),
                "{path}: form body"
            );
        }
        assert!(document["components"]["securitySchemes"]["account_token"].is_object());
        assert!(document["paths"]["/api/login"]["post"]["responses"]["429"]["headers"]["Retry-After"].is_object());
    }

    async fn a_cursor_past_the_prefix_gives_an_empty_page_not_a_dropped_connection() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;

        for cursor in ["+4", "+332", "+34"] {
            let response = app
                .post(
                    "/api/did/available",
                    &[("token", &token), ("country", "FR"), ("prefix", "+331"), ("cursor", cursor)],
                )
                .await;
            assert_eq!(response.status, StatusCode::OK, "{cursor}: {}", response.body);
            assert_eq!(response.body["count"], 0, "{cursor}");
        }
    }
}
