//! Hostile input (issue 15): control characters in any field, forwards that
//! reach back into the operator's own host, premium-rate destinations.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_refused(response: &Response, code: &str, what: &str) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        response.body
    );
    assert_eq!(response.code(), code, "{what}: {}", response.body);
}

/// The forwarding of `did_id` as `did/list` shows it.
async fn forwarding(app: &TestApp, token: &str, did_id: &str) -> Value {
    let list = app.post("/api/did/list", &[("token", token)]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["dids"]
        .as_array()
        .expect("dids")
        .iter()
        .find(|d| d["did_id"].as_i64().map(|id| id.to_string()).as_deref() == Some(did_id))
        .map(|d| d["forwarding"].clone())
        .expect("the DID is listed")
}

/// An account owning FR_LANDLINE_1: (token, did_id).
async fn owner(app: &TestApp) -> (String, String) {
    standard_inventory(app).await;
    let token = app.account_with_balance("alice", 100_00).await;
    let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
    (token, did_id)
}

on_both_backends! {
    async fn control_characters_in_any_field_are_a_400_naming_the_field_form_and_json() {
        let app = TestApp::spawn().await;
        let (token, did_id) = owner(&app).await;
        let balance = app.balance(&token).await;

        for (path, field, fields) in [
            ("/api/login", "username", vec![("username", "ali\0ce"), ("password", PASSWORD)]),
            ("/api/login", "password", vec![("username", "alice"), ("password", "pass\0word")]),
            ("/api/login", "username", vec![("username", "ali\u{7f}ce"), ("password", PASSWORD)]),
            ("/api/login", "username", vec![("username", "ali\u{85}ce"), ("password", PASSWORD)]),
            ("/api/balance", "token", vec![("token", "abc\0def")]),
            ("/api/did/available", "country", vec![("token", token.as_str()), ("country", "F\0R")]),
            ("/api/did/assign", "did_id", vec![("token", token.as_str()), ("did_id", "1\0")]),
            ("/api/did/forward", "destination", vec![
                ("token", token.as_str()), ("did_id", did_id.as_str()),
                ("type", "sip"), ("destination", "sip:a@example.com\0"),
            ]),
            ("/api/did/forward", "type", vec![
                ("token", token.as_str()), ("did_id", did_id.as_str()),
                ("type", "s\tip"), ("destination", "sip:a@example.com"),
            ]),
            ("/api/did/release", "did_id", vec![("token", token.as_str()), ("did_id", "\u{1b}[2J")]),
        ] {
            let what = format!("{path} {field} as a form");
            let form = app.post(path, &fields).await;
            assert_refused(&form, "invalid_characters", &what);
            let message = form.body["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(field), "{what}: {message}");

            let object: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            let as_json = app.post_json(path, None, Value::Object(object), &[]).await;
            assert_refused(&as_json, "invalid_characters", &format!("{path} {field} as JSON"));
        }

        let tab_in_bearer = app
            .post_json("/api/balance", None, json!({}), &[("authorization", "Bearer abc\tdef")])
            .await;
        assert_refused(&tab_in_bearer, "invalid_characters", "a tab in the bearer token");

        assert_eq!(forwarding(&app, &token, &did_id).await, Value::Null);
        assert_eq!(app.balance(&token).await, balance);
        assert_eq!(app.login("alice").await.len(), token.len());
    }

    async fn routing_lookups_refuse_control_characters_in_the_number_and_the_freeswitch_fields() {
        let app = TestApp::spawn().await;
        let (token, did_id) = owner(&app).await;
        app.forward(&token, &did_id, "pstn", "+33612345678").await;

        for path in [
            "/v1/routing/%2B33123456789%00",
            "/v1/routing/33123456789%0A",
            "/v1/routing/%2B33123456789%00/kamailio",
        ] {
            assert_refused(&app.get_routing(path).await, "invalid_characters", path);
        }
        assert_eq!(app.get_routing("/v1/routing/+33123456789").await.status, StatusCode::OK);

        for (field, value) in [
            ("Caller-Context", "public\"/><action application=\"x\u{1}"),
            ("Caller-Destination-Number", "+33123456789\0"),
        ] {
            let mut fields = vec![
                ("section", "dialplan"),
                ("Caller-Destination-Number", "+33123456789"),
                ("Caller-Context", "public"),
            ];
            fields.retain(|(name, _)| *name != field);
            fields.push((field, value));
            let response = send(
                app.client
                    .post(format!("{}/v1/routing/freeswitch", app.base))
                    .basic_auth("freeswitch", Some(ROUTING_KEY))
                    .form(&fields),
            )
            .await;
            assert_refused(&response, "invalid_characters", field);
        }
    }

    async fn ipv6_addresses_that_carry_a_loopback_ipv4_address_are_refused() {
        let app = TestApp::spawn().await;
        let (token, did_id) = owner(&app).await;

        for form in [
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "[::ffff:0:7f00:1]:5060",
        ] {
            assert_refused(
                &app.forward(&token, &did_id, "ip", form).await,
                "invalid_destination",
                &format!("ip {form}"),
            );
        }
        for uri in ["sip:a@[::127.0.0.1]", "sip:a@[64:ff9b::7f00:1]:5060", "sip:a@[2002:7f00:1::]"] {
            assert_refused(
                &app.forward(&token, &did_id, "sip", uri).await,
                "invalid_destination",
                uri,
            );
        }
        assert_eq!(forwarding(&app, &token, &did_id).await, Value::Null);

        let public = app.forward(&token, &did_id, "ip", "64:ff9b::203.0.113.5").await;
        assert_eq!(public.status, StatusCode::OK, "{}", public.body);
    }

    async fn sip_host_names_are_resolved_and_refused_when_they_name_a_loopback_address() {
        let app = TestApp::spawn().await;
        let (token, did_id) = owner(&app).await;

        // `vm` and `runsc` are 127.0.0.1 in this machine's /etc/hosts.
        for uri in ["sip:a@vm", "sip:a@VM:5060", "a@runsc;transport=tcp"] {
            let response = app.forward(&token, &did_id, "sip", uri).await;
            assert_refused(&response, "destination_not_allowed", uri);
            let message = response.body["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains("127.0.0.1"), "{uri}: {message}");
        }
        assert_refused(
            &app.forward(&token, &did_id, "sip", "sip:a@localhost").await,
            "invalid_destination",
            "localhost",
        );
        assert_refused(
            &app.forward(&token, &did_id, "sip", "sip:a@no-such-pbx.invalid").await,
            "destination_unresolvable",
            "a name that does not resolve",
        );
        assert_eq!(forwarding(&app, &token, &did_id).await, Value::Null);

        let ok = app.forward(&token, &did_id, "sip", "sip:a@pbx.example.com").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }

    async fn allow_local_targets_still_allows_names_and_embedded_loopback_addresses() {
        let app = TestApp::spawn_with(|c| c.service.forward_policy.allow_local_addresses = true).await;
        let (token, did_id) = owner(&app).await;

        for (kind, destination) in [("sip", "sip:a@vm:5070"), ("sip", "sip:a@no-such-pbx.invalid"), ("ip", "2002:7f00:1::")] {
            let response = app.forward(&token, &did_id, kind, destination).await;
            assert_eq!(response.status, StatusCode::OK, "{destination}: {}", response.body);
        }
    }

    async fn premium_rate_destinations_are_refused_by_the_built_in_list() {
        let app = TestApp::spawn().await;
        let (token, did_id) = owner(&app).await;

        for (kind, destination) in [
            ("pstn", "+1 900 234 5678"),
            ("pstn", "+44 901 234 5678"),
            ("pstn", "+49 900 1234567"),
            ("access_number", "979123"),
        ] {
            let response = app.forward(&token, &did_id, kind, destination).await;
            assert_refused(&response, "destination_not_allowed", destination);
        }
        assert_eq!(forwarding(&app, &token, &did_id).await, Value::Null);

        let ordinary = app.forward(&token, &did_id, "pstn", "+1 201 555 0123").await;
        assert_eq!(ordinary.status, StatusCode::OK, "{}", ordinary.body);
    }

    async fn the_operator_deny_list_replaces_the_built_in_one() {
        let app = TestApp::spawn_with(|c| {
            c.service.deny_destinations =
                didhub::domain::deny::DenyList::parse("# French mobiles only\n+336\n").expect("list");
        })
        .await;
        let (token, did_id) = owner(&app).await;

        assert_refused(
            &app.forward(&token, &did_id, "pstn", "06 12 34 56 78").await,
            "destination_not_allowed",
            "a French mobile",
        );
        let premium = app.forward(&token, &did_id, "pstn", "+1 900 234 5678").await;
        assert_eq!(premium.status, StatusCode::OK, "{}", premium.body);
    }
}
