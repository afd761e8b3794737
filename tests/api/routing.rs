//! Routing lookups for the operator's SBC: JSON, Kamailio rtjson, FreeSWITCH XML.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;

const ROUTE: &str = "/v1/routing/+33123456789";

on_both_backends! {
    async fn routing_lookups_need_the_operator_key_not_a_customer_token() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;

        let anonymous = send(app.client.get(format!("{}{ROUTE}", app.base))).await;
        let customer = send(app.client.get(format!("{}{ROUTE}", app.base)).bearer_auth(&token)).await;
        let wrong = send(app.client.get(format!("{}{ROUTE}", app.base)).bearer_auth("nope")).await;
        let basic = send(
            app.client
                .get(format!("{}{ROUTE}", app.base))
                .basic_auth("freeswitch", Some(ROUTING_KEY)),
        )
        .await;
        let header = send(app.client.get(format!("{}{ROUTE}", app.base)).header("X-Routing-Key", ROUTING_KEY)).await;

        for denied in [&anonymous, &customer, &wrong] {
            assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
            assert_eq!(denied.code(), "unauthorized");
        }
        assert_eq!(basic.status, StatusCode::OK, "{}", basic.body);
        assert_eq!(header.status, StatusCode::OK, "{}", header.body);
    }

    async fn routing_lookups_are_off_without_a_configured_key() {
        let app = TestApp::spawn_with(|c| c.http.routing_key = None).await;
        let response = app.get_routing(ROUTE).await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.code(), "routing_api_disabled");
    }

    async fn a_lookup_follows_the_number_through_assign_forward_and_release() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;

        let unsold = app.get_routing(ROUTE).await;
        assert_eq!(unsold.status, StatusCode::NOT_FOUND);
        assert_eq!(unsold.code(), "did_not_found");

        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let bought = app.get_routing(ROUTE).await;
        assert_eq!(bought.status, StatusCode::OK);
        assert_eq!(bought.body["status"], "not_forwarded");
        assert_eq!(bought.body["target"], serde_json::Value::Null);
        assert_eq!(bought.body["account"]["username"], "alice");
        assert_eq!(bought.body["did_id"].to_string(), did_id);

        assert_eq!(app.forward(&token, &did_id, "pstn", "06 12 34 56 78").await.status, StatusCode::OK);
        let forwarded = app.get_routing(ROUTE).await;
        assert_eq!(forwarded.body["status"], "forwarded");
        assert_eq!(forwarded.body["type"], "pstn");
        assert_eq!(forwarded.body["target"], "tel:+33612345678");
        assert_eq!(forwarded.body["did"], "+33123456789");

        assert_eq!(app.forward(&token, &did_id, "sip", "alice@example.com").await.status, StatusCode::OK);
        assert_eq!(app.get_routing(ROUTE).await.body["target"], "sip:alice@example.com");

        let released = app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(released.status, StatusCode::OK);
        assert_eq!(app.get_routing(ROUTE).await.status, StatusCode::NOT_FOUND);
    }

    async fn every_forward_type_routes_to_its_exact_target() {
        let app = TestApp::spawn_with(|c| {
            c.service.routing.pstn_gateway = Some("gw.operator.test:5080".to_owned());
            c.service.routing.disa_uri = Some("sip:disa-{did}@disa.operator.test".to_owned());
        })
        .await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        app.service.set_pbx_host("alice", Some("pbx.alice.test")).await.expect("pbx host");
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        for (kind, destination, target) in [
            ("pstn", "+33612345678", "sip:+33612345678@gw.operator.test:5080;user=phone"),
            ("sip", "sip:bob@example.com:5070;transport=tcp", "sip:bob@example.com:5070;transport=tcp"),
            ("ip", "203.0.113.7:5062", "sip:+33123456789@203.0.113.7:5062"),
            ("ip", "[2001:db8::7]", "sip:+33123456789@[2001:db8::7]"),
            ("extension", "1001", "sip:1001@pbx.alice.test"),
            ("access_number", "", "sip:disa-+33123456789@disa.operator.test"),
        ] {
            let set = app.forward(&token, &did_id, kind, destination).await;
            assert_eq!(set.status, StatusCode::OK, "{kind} {destination}: {}", set.body);
            let route = app.get_routing(ROUTE).await;
            assert_eq!(route.body["type"], kind);
            assert_eq!(route.body["target"], target, "{kind} {destination}");
        }
    }

    async fn a_new_pbx_host_moves_every_extension_route_of_the_account_at_once() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 20_00).await;
        app.service.set_pbx_host("alice", Some("old-pbx.test")).await.expect("pbx");
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.forward(&token, &did_id, "extension", "200").await.status, StatusCode::OK);
        assert_eq!(app.get_routing(ROUTE).await.body["target"], "sip:200@old-pbx.test");

        app.service.set_pbx_host("alice", Some("new-pbx.test:5070")).await.expect("pbx");

        assert_eq!(app.get_routing(ROUTE).await.body["target"], "sip:200@new-pbx.test:5070");
    }

    async fn the_number_in_a_lookup_may_be_written_as_peers_write_it() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        for form in ["+33123456789", "33123456789", "0033123456789", "%2B33%201%2023%2045%2067%2089"] {
            let route = app.get_routing(&format!("/v1/routing/{form}")).await;
            assert_eq!(route.status, StatusCode::OK, "{form}");
            assert_eq!(route.body["did"], "+33123456789");
        }
        assert_eq!(app.get_routing("/v1/routing/not-a-number").await.status, StatusCode::NOT_FOUND);
    }

    async fn kamailio_gets_an_rtjson_document_with_the_diversion() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        // Owned but not forwarded is an answer (480), not an unknown number (404).
        let unforwarded = app.get_routing(&format!("{ROUTE}/kamailio")).await;
        assert_eq!(unforwarded.status, StatusCode::OK);
        assert_eq!(unforwarded.body["routes"], serde_json::json!([]));
        assert_eq!(unforwarded.body["didhub"]["status"], "not_forwarded");

        app.forward(&token, &did_id, "sip", "sip:alice@pbx.example.com").await;
        let doc = app.get_routing(&format!("{ROUTE}/kamailio")).await;
        assert_eq!(doc.status, StatusCode::OK);
        assert_eq!(doc.body["version"], "1.0");
        assert_eq!(doc.body["routing"], "serial");
        assert_eq!(doc.body["routes"][0]["uri"], "sip:alice@pbx.example.com");
        assert_eq!(
            doc.body["routes"][0]["headers"]["extra"],
            "Diversion: <sip:+33123456789@didhub.invalid>;reason=unconditional\r\n"
        );
    }

    async fn freeswitch_gets_a_dialplan_that_bridges_to_the_target() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        let ask = |number: &'static str| {
            let request = app
                .client
                .post(format!("{}/v1/routing/freeswitch", app.base))
                .basic_auth("freeswitch", Some(ROUTING_KEY))
                .form(&[("section", "dialplan"), ("Caller-Destination-Number", number), ("Caller-Context", "public")]);
            async move {
                let response = request.send().await.expect("answer");
                assert_eq!(response.status(), StatusCode::OK);
                response.text().await.expect("xml")
            }
        };

        let unforwarded = ask("+33123456789").await;
        assert!(unforwarded.contains("<result status=\"not found\"/>"), "{unforwarded}");

        app.forward(&token, &did_id, "sip", "sip:alice@pbx.example.com:5080").await;
        let bridged = ask("33123456789").await;
        assert!(bridged.contains("<context name=\"public\">"), "{bridged}");
        assert!(
            bridged.contains("<action application=\"bridge\" data=\"sofia/external/sip:alice@pbx.example.com:5080\"/>"),
            "{bridged}"
        );
        assert!(bridged.contains("sip_h_Diversion=&lt;sip:+33123456789@didhub.invalid&gt;"), "{bridged}");

        // A tel: destination goes back through the dialplan, in the request's
        // context, as a leg of the bridge (so that it can fail over too).
        app.forward(&token, &did_id, "pstn", "+33612345678").await;
        let looped = ask("+33123456789").await;
        assert!(
            looped.contains("<action application=\"bridge\" data=\"loopback/+33612345678/public\"/>"),
            "{looped}"
        );
        let unknown = ask("+33999999999").await;
        assert!(unknown.contains("not found"), "{unknown}");
    }
}
