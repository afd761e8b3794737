//! Ordered failover and capacity limits: what the customer sets through
//! `did/forward`, what the operator sets through the service (as the CLI
//! does), and what every routing answer then says: the JSON lookup, the
//! rtjson document, the FreeSWITCH dialplan and a 302 over a real socket.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use crate::support::sip_client::invite_over_udp;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DID_URI: &str = "sip:+33123456789@didhub.test";
const ROUTE: &str = "/v1/routing/+33123456789";

/// A number bought by alice: (app, token, did_id).
async fn owned_number() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    standard_inventory(&app).await;
    let token = app.account_with_balance("alice", 10_00).await;
    let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
    (app, token, did_id)
}

async fn forward_json(app: &TestApp, token: &str, did_id: &str, forwards: Value) -> Response {
    let did_id: i64 = did_id.parse().expect("numeric id");
    app.post_json(
        "/api/did/forward",
        Some(token),
        json!({"did_id": did_id, "forwards": forwards}),
        &[],
    )
    .await
}

async fn listed(app: &TestApp, token: &str) -> Value {
    let list = app.post("/api/did/list", &[("token", token)]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["dids"][0].clone()
}

async fn freeswitch_xml(app: &TestApp, number: &str) -> String {
    let response = app
        .client
        .post(format!("{}/v1/routing/freeswitch", app.base))
        .basic_auth("freeswitch", Some(ROUTING_KEY))
        .form(&[
            ("section", "dialplan"),
            ("Hunt-Destination-Number", number),
            ("Hunt-Context", "public"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("xml")
}

on_both_backends! {
    async fn a_failover_list_is_tried_in_order_by_every_routing_answer() {
        let (app, token, did_id) = owned_number().await;
        let set = forward_json(&app, &token, &did_id, json!([
            {"type": "sip", "destination": "sip:desk@pbx.example.com", "timeout_seconds": 20},
            {"type": "pstn", "destination": "06 12 34 56 78"},
            {"type": "ip", "destination": "203.0.113.5:5062", "timeout_seconds": 5},
        ])).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.body["forwarding"]["destination"], "sip:desk@pbx.example.com");

        let did = listed(&app, &token).await;
        assert_eq!(did["forwarding"], json!({"type": "sip", "destination": "sip:desk@pbx.example.com", "timeout_seconds": 20}));
        assert_eq!(did["forwards"], json!([
            {"type": "sip", "destination": "sip:desk@pbx.example.com", "timeout_seconds": 20},
            {"type": "pstn", "destination": "+33612345678"},
            {"type": "ip", "destination": "203.0.113.5:5062", "timeout_seconds": 5},
        ]));

        let lookup = app.get_routing(ROUTE).await;
        assert_eq!(lookup.status, StatusCode::OK);
        assert_eq!(lookup.body["status"], "forwarded");
        assert_eq!(lookup.body["type"], "sip");
        assert_eq!(lookup.body["target"], "sip:desk@pbx.example.com");
        assert_eq!(lookup.body["forwards"], json!([
            {"type": "sip", "target": "sip:desk@pbx.example.com", "timeout_seconds": 20},
            {"type": "pstn", "target": "tel:+33612345678", "timeout_seconds": null},
            {"type": "ip", "target": "sip:+33123456789@203.0.113.5:5062", "timeout_seconds": 5},
        ]));

        let rtjson = app.get_routing(&format!("{ROUTE}/kamailio")).await;
        assert_eq!(rtjson.status, StatusCode::OK);
        assert_eq!(rtjson.body["routing"], "serial");
        let routes = rtjson.body["routes"].as_array().expect("routes");
        let uris: Vec<&str> = routes.iter().map(|r| r["uri"].as_str().expect("uri")).collect();
        assert_eq!(uris, ["sip:desk@pbx.example.com", "tel:+33612345678", "sip:+33123456789@203.0.113.5:5062"]);
        assert_eq!((routes[0]["fr_timer"].clone(), routes[0]["fr_inv_timer"].clone()), (json!(20000), json!(20000)));
        assert!(routes[1].get("fr_inv_timer").is_none(), "{}", routes[1]);
        assert_eq!(routes[2]["fr_inv_timer"], 5000);
        for route in routes {
            assert_eq!(route["headers"]["extra"], "Diversion: <sip:+33123456789@didhub.invalid>;reason=unconditional\r\n");
        }
        assert_eq!(rtjson.body["didhub"]["status"], "forwarded");
        assert_eq!(rtjson.body["didhub"]["did"], "+33123456789");

        let redirected = invite_over_udp(app.sip, DID_URI, "failover").await;
        assert_eq!(redirected.status, 302, "{}", redirected.raw);
        assert_eq!(redirected.headers("Contact"), [
            "<sip:desk@pbx.example.com>;q=1.0",
            "<tel:+33612345678>;q=0.9",
            "<sip:+33123456789@203.0.113.5:5062>;q=0.8",
        ]);
        assert_eq!(redirected.headers("Diversion").len(), 1, "{}", redirected.raw);

        let dialplan = freeswitch_xml(&app, "+33123456789").await;
        assert!(
            dialplan.contains("data=\"[leg_timeout=20]sofia/external/sip:desk@pbx.example.com|loopback/+33612345678/public|[leg_timeout=5]sofia/external/sip:+33123456789@203.0.113.5:5062\""),
            "{dialplan}"
        );
    }

    async fn a_form_repeats_type_destination_and_timeout_in_order() {
        let (app, token, did_id) = owned_number().await;
        let form = [
            ("token", token.as_str()),
            ("did_id", did_id.as_str()),
            ("type", "sip"),
            ("destination", "sip:desk@pbx.example.com"),
            ("timeout_seconds", "25"),
            ("type", "sip"),
            ("destination", "sip:mobile@pbx.example.com"),
            ("timeout_seconds", ""),
        ];
        let set = app.post("/api/did/forward", &form).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.body["forwards"][0]["timeout_seconds"], 25);
        assert_eq!(set.body["forwards"][1]["destination"], "sip:mobile@pbx.example.com");
        assert!(set.body["forwards"][1].get("timeout_seconds").is_none(), "{}", set.body);

        let uneven = app.post("/api/did/forward", &form[..7]).await;
        assert_eq!(uneven.status, StatusCode::BAD_REQUEST);
        assert_eq!(uneven.code(), "invalid_body");

        // The single-destination form with a timeout.
        let single = app.post("/api/did/forward", &[
            ("token", token.as_str()), ("did_id", did_id.as_str()),
            ("type", "pstn"), ("destination", "+33612345678"), ("timeout_seconds", "30"),
        ]).await;
        assert_eq!(single.status, StatusCode::OK, "{}", single.body);
        assert_eq!(single.body["forwards"], json!([{"type": "pstn", "destination": "+33612345678", "timeout_seconds": 30}]));
    }

    async fn a_bad_list_is_refused_whole_and_the_previous_forward_stays() {
        let (app, token, did_id) = owned_number().await;
        assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
        let one = json!({"type": "sip", "destination": "sip:desk@pbx.example.com"});
        for (forwards, code) in [
            (json!([one, one, one, one, one, one]), "too_many_forwards"),
            (json!([{"type": "sip", "destination": "sip:a@pbx.example.com", "timeout_seconds": 4}]), "invalid_timeout"),
            (json!([{"type": "sip", "destination": "sip:a@pbx.example.com", "timeout_seconds": 121}]), "invalid_timeout"),
            (json!([one, {"type": "sip", "destination": "sip:a,b@pbx.example.com"}]), "invalid_destination"),
            (json!([one, {"type": "carrier-pigeon", "destination": "x"}]), "invalid_forward_type"),
            (json!([one, {"type": "none"}]), "invalid_forward_type"),
        ] {
            let refused = forward_json(&app, &token, &did_id, forwards.clone()).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{forwards}: {}", refused.body);
            assert_eq!(refused.code(), code, "{forwards}");
        }
        let did_number: i64 = did_id.parse().expect("id");
        for (body, code) in [
            // The flat fields and the list are alternatives.
            (json!({"did_id": did_number, "forwards": [], "timeout_seconds": 0}), "invalid_body"),
            (json!({"did_id": did_number, "forwards": [one], "type": "sip"}), "invalid_body"),
            // A removal with a timeout out of range is still malformed.
            (json!({"did_id": did_number, "type": "none", "timeout_seconds": 0}), "invalid_timeout"),
        ] {
            let refused = app.post_json("/api/did/forward", Some(&token), body.clone(), &[]).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{body}");
        }
        let did = listed(&app, &token).await;
        assert_eq!(did["forwards"], json!([{"type": "sip", "destination": "sip:desk@pbx.example.com"}]));
    }

    async fn removing_the_forward_answers_480_and_says_not_forwarded() {
        let (app, token, did_id) = owned_number().await;
        for removal in ["none", "empty list"] {
            assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
            assert_eq!(invite_over_udp(app.sip, DID_URI, "before").await.status, 302);
            let removed = if removal == "none" {
                app.forward(&token, &did_id, "none", "").await
            } else {
                forward_json(&app, &token, &did_id, json!([])).await
            };
            assert_eq!(removed.status, StatusCode::OK, "{removal}: {}", removed.body);
            assert_eq!(removed.body["forwarding"], Value::Null, "{removal}");
            assert_eq!(removed.body["forwards"], json!([]), "{removal}");

            assert_eq!(invite_over_udp(app.sip, DID_URI, "after").await.status, 480, "{removal}");
            let lookup = app.get_routing(ROUTE).await;
            assert_eq!((lookup.status, lookup.body["status"].clone()), (StatusCode::OK, json!("not_forwarded")));
            assert_eq!(lookup.body["forwards"], json!([]));
            let rtjson = app.get_routing(&format!("{ROUTE}/kamailio")).await;
            assert_eq!(rtjson.status, StatusCode::OK, "{removal}: {}", rtjson.body);
            assert_eq!(rtjson.body["routes"], json!([]));
            assert_eq!(rtjson.body["didhub"]["status"], "not_forwarded");
            assert!(freeswitch_xml(&app, "+33123456789").await.contains("not found"));
        }
        for path in ["/v1/routing/+33999999999", "/v1/routing/+33999999999/kamailio"] {
            let unknown = app.get_routing(path).await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(unknown.code(), "did_not_found", "{path}");
        }
    }

    async fn operator_limits_reach_the_customer_and_every_routing_answer() {
        let (app, token, did_id) = owned_number().await;
        assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
        assert_eq!(listed(&app, &token).await["limits"], json!({"number_max_calls": null, "account_max_calls": null}));
        assert_eq!(app.get_routing(ROUTE).await.body["limits"], json!({"number_max_calls": null, "account_max_calls": null}));
        assert!(!freeswitch_xml(&app, "+33123456789").await.contains("application=\"limit\""));

        app.service.set_number_max_calls("+33123456789", Some(2)).await.expect("number limit");
        app.service.set_account_max_calls("alice", Some(10)).await.expect("account limit");
        let limits = json!({"number_max_calls": 2, "account_max_calls": 10});
        assert_eq!(listed(&app, &token).await["limits"], limits);
        assert_eq!(app.get_routing(ROUTE).await.body["limits"], limits);
        let rtjson = app.get_routing(&format!("{ROUTE}/kamailio")).await;
        assert_eq!(rtjson.body["didhub"]["number_max_calls"], 2);
        assert_eq!(rtjson.body["didhub"]["account_max_calls"], 10);
        assert_eq!(rtjson.body["didhub"]["account_id"], app.get_routing(ROUTE).await.body["account"]["id"]);
        let dialplan = freeswitch_xml(&app, "+33123456789").await;
        assert!(dialplan.contains("<action application=\"limit\" data=\"hash didhub number_33123456789 2 !USER_BUSY\"/>"), "{dialplan}");
        assert!(dialplan.contains("account_"), "{dialplan}");

        app.service.set_number_max_calls("+33123456789", None).await.expect("limit removed");
        assert_eq!(app.get_routing(ROUTE).await.body["limits"]["number_max_calls"], Value::Null);
        assert!(app.service.set_number_max_calls("+33999999999", Some(1)).await.is_err());
        assert!(app.service.set_account_max_calls("nobody", Some(1)).await.is_err());
        assert!(app.service.set_number_max_calls("+33123456789", Some(-1)).await.is_err());
    }

    async fn pstn_forwards_need_a_gateway_when_the_operator_requires_one() {
        let app = TestApp::spawn_with(|c| c.service.routing.require_pstn_gateway = true).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let refused = app.forward(&token, &did_id, "pstn", "+33612345678").await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.code(), "pstn_gateway_required");
        assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
    }

    async fn the_sip_domain_names_the_diversion_host_in_302s_and_lookups() {
        let app = TestApp::spawn_with(|c| c.service.routing.sip_domain = Some("sip.operator.test".to_owned())).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
        let diversion = "<sip:+33123456789@sip.operator.test>;reason=unconditional";
        let redirected = invite_over_udp(app.sip, DID_URI, "domain").await;
        assert_eq!(redirected.header("Diversion"), Some(diversion), "{}", redirected.raw);
        let rtjson = app.get_routing(&format!("{ROUTE}/kamailio")).await;
        assert_eq!(rtjson.body["routes"][0]["headers"]["extra"], format!("Diversion: {diversion}\r\n"));
        assert!(freeswitch_xml(&app, "+33123456789").await.contains("sip_h_Diversion=&lt;sip:+33123456789@sip.operator.test&gt;"));
    }
}

mod admin {
    use super::*;
    use didhub::domain::operator::Role;

    async fn patch_limits(app: &TestApp, key: &str, path: &str, body: Value) -> Response {
        send(
            app.client
                .patch(format!("{}{path}", app.base))
                .bearer_auth(key)
                .json(&body),
        )
        .await
    }

    on_both_backends! {
        async fn support_sets_limits_through_the_admin_api_and_the_audit_log_keeps_them() {
            let (app, token, did_id) = owned_number().await;
            assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);
            let support = app.service.create_operator_key("support-key", Role::Support, None).await.expect("key");
            let readonly = app.service.create_operator_key("readonly-key", Role::Readonly, None).await.expect("key");
            let account_id = app.get_routing(ROUTE).await.body["account"]["id"].clone();
            let number_path = "/admin/v1/numbers/+33123456789/limits";
            let account_path = format!("/admin/v1/accounts/{account_id}/limits");

            let denied = patch_limits(&app, &readonly, number_path, json!({"max_calls": 1})).await;
            assert_eq!(denied.status, StatusCode::FORBIDDEN);
            for (body, code) in [
                (json!({}), "invalid_body"),
                (json!({"max_calls": -1}), "invalid_max_calls"),
                (json!({"max_calls": 2, "colour": "red"}), "unknown_field"),
            ] {
                let refused = patch_limits(&app, &support, number_path, body.clone()).await;
                assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, code), "{body}");
            }
            let unknown = patch_limits(&app, &support, "/admin/v1/numbers/+33999999999/limits", json!({"max_calls": 1})).await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND);
            assert_eq!(app.get_routing(ROUTE).await.body["limits"], json!({"number_max_calls": null, "account_max_calls": null}));

            let set = patch_limits(&app, &support, number_path, json!({"max_calls": 2})).await;
            assert_eq!(set.status, StatusCode::OK, "{}", set.body);
            let set = patch_limits(&app, &support, &account_path, json!({"max_calls": 8})).await;
            assert_eq!(set.status, StatusCode::OK, "{}", set.body);
            assert_eq!(app.get_routing(ROUTE).await.body["limits"], json!({"number_max_calls": 2, "account_max_calls": 8}));
            let lifted = patch_limits(&app, &support, number_path, json!({"max_calls": null})).await;
            assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
            assert_eq!(app.get_routing(ROUTE).await.body["limits"]["number_max_calls"], Value::Null);

            let audit = send(app.client.get(format!("{}/admin/v1/audit", app.base)).bearer_auth(&support)).await;
            assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
            let actions: Vec<&str> = audit.body["entries"].as_array().expect("entries").iter()
                .filter_map(|e| e["action"].as_str()).collect();
            assert_eq!(actions.iter().filter(|a| **a == "number.limit").count(), 2, "{actions:?}");
            assert_eq!(actions.iter().filter(|a| **a == "account.limit").count(), 1, "{actions:?}");
        }
    }
}
