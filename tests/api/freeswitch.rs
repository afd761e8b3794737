//! FreeSWITCH: the exact request mod_xml_curl sends for a dialplan lookup,
//! and the answer read with an XML parser the way mod_dialplan_xml reads it.
//!
//! mod_xml_curl (src/mod/xml_int/mod_xml_curl/mod_xml_curl.c, `xml_url_fetch`)
//! POSTs `hostname=…&section=…&tag_name=…&key_name=…&key_value=…` followed by
//! every header of the REQUEST_PARAMS event, URL-encoded, as
//! `application/x-www-form-urlencoded` with `User-Agent: freeswitch-xml/1.0`
//! and the binding's credentials as HTTP Basic. For the dialplan,
//! mod_dialplan_xml (`dialplan_xml_locate`) fills that event with the
//! channel's data (`Caller-*`, `variable_*`) and the caller profile being
//! hunted as `Hunt-*`, and passes no tag, key or value. It then looks for
//! `document/section[name=dialplan]/context[name=<hunted context>]`, tries
//! each `extension`, and runs a `condition`'s `action`s when the condition's
//! `field` matches its `expression`.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

/// The body mod_xml_curl posts after a transfer: the channel came in for
/// `caller_number` in `public` and now hunts `hunted` in `hunt_context`.
fn xml_curl_body(caller_number: &str, hunted: &str, hunt_context: &str, req_user: &str) -> String {
    let event = [
        ("Event-Name", "REQUEST_PARAMS"),
        ("Core-UUID", "5b9c3c42-5f59-4c4d-9c52-3b8a1f6f0c11"),
        ("FreeSWITCH-Hostname", "fs1.operator.test"),
        ("FreeSWITCH-Switchname", "fs1"),
        ("Event-Calling-Function", "dialplan_xml_locate"),
        ("Channel-State", "CS_ROUTING"),
        ("Channel-Name", "sofia/external/+14155550100@192.0.2.20"),
        ("Unique-ID", "0f8b3c1e-8d2a-4b6e-9f0a-7c5d4e3b2a19"),
        ("Call-Direction", "inbound"),
        ("Answer-State", "ringing"),
        ("Caller-Direction", "inbound"),
        ("Caller-Username", "+14155550100"),
        ("Caller-Dialplan", "XML"),
        ("Caller-Caller-ID-Name", "Alice"),
        ("Caller-Caller-ID-Number", "+14155550100"),
        ("Caller-Network-Addr", "192.0.2.20"),
        ("Caller-ANI", "+14155550100"),
        ("Caller-Destination-Number", caller_number),
        ("Caller-Source", "mod_sofia"),
        ("Caller-Context", "public"),
        (
            "Caller-Channel-Name",
            "sofia/external/+14155550100@192.0.2.20",
        ),
        ("variable_sip_req_user", req_user),
        ("variable_sip_to_user", req_user),
        ("variable_sip_req_host", "sbc.operator.test"),
        ("Hunt-Username", "+14155550100"),
        ("Hunt-Dialplan", "XML"),
        ("Hunt-Caller-ID-Number", "+14155550100"),
        ("Hunt-Destination-Number", hunted),
        ("Hunt-Source", "mod_sofia"),
        ("Hunt-Context", hunt_context),
        (
            "Hunt-Channel-Name",
            "sofia/external/+14155550100@192.0.2.20",
        ),
    ];
    let mut body = "hostname=fs1&section=dialplan&tag_name=&key_name=&key_value=".to_owned();
    for (name, value) in event {
        body.push('&');
        body.push_str(&serde_urlencoded::to_string([(name, value)]).expect("encodes"));
    }
    body
}

async fn post_as_xml_curl(app: &TestApp, body: String) -> String {
    let response = app
        .client
        .post(format!("{}/v1/routing/freeswitch", app.base))
        .basic_auth("freeswitch", Some(ROUTING_KEY))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("User-Agent", "freeswitch-xml/1.0")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("xml")
}

/// What mod_dialplan_xml would run: the actions of the first extension of
/// `context` whose condition matches `destination_number`.
fn actions_run(xml: &str, context: &str, destination_number: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "document");
    assert_eq!(root.attribute("type"), Some("freeswitch/xml"));
    let section = root
        .children()
        .find(|n| n.has_tag_name("section") && n.attribute("name") == Some("dialplan"))
        .unwrap_or_else(|| panic!("no dialplan section: {xml}"));
    let found = section
        .children()
        .find(|n| n.has_tag_name("context") && n.attribute("name") == Some(context))
        .unwrap_or_else(|| panic!("no context {context}: {xml}"));
    for extension in found.children().filter(|n| n.has_tag_name("extension")) {
        assert!(extension.attribute("name").is_some_and(|n| !n.is_empty()));
        let condition = extension
            .children()
            .find(|n| n.has_tag_name("condition"))
            .expect("a condition");
        assert_eq!(condition.attribute("field"), Some("destination_number"));
        if literal_match(
            condition.attribute("expression").expect("an expression"),
            destination_number,
        ) {
            return condition
                .children()
                .filter(|n| n.has_tag_name("action"))
                .map(|a| {
                    (
                        a.attribute("application").expect("application").to_owned(),
                        a.attribute("data").unwrap_or("").to_owned(),
                    )
                })
                .collect();
        }
    }
    panic!("no extension matches {destination_number}: {xml}")
}

/// Whether an anchored expression of escaped literal characters (what
/// didhub writes) matches `text` exactly.
fn literal_match(expression: &str, text: &str) -> bool {
    let inner = expression
        .strip_prefix('^')
        .and_then(|e| e.strip_suffix('$'))
        .unwrap_or_else(|| panic!("{expression} is not anchored"));
    let mut unescaped = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unescaped.push(chars.next().expect("escaped character")),
            c if c.is_ascii_alphanumeric() => unescaped.push(c),
            other => panic!("unescaped {other:?} in {expression}"),
        }
    }
    unescaped == text
}

fn bridge_legs(actions: &[(String, String)]) -> Vec<String> {
    let bridges: Vec<&(String, String)> =
        actions.iter().filter(|(app, _)| app == "bridge").collect();
    assert_eq!(bridges.len(), 1, "{actions:?}");
    bridges[0].1.split('|').map(str::to_owned).collect()
}

on_both_backends! {
    async fn the_hunted_number_and_context_after_a_transfer_choose_the_answer() {
        let app = TestApp::spawn_with(|c| c.service.routing.freeswitch_profile = Some("carrier".to_owned())).await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id: i64 = app.buy(&token, "FR", FR_LANDLINE_1).await.parse().expect("id");
        let set = app.post_json("/api/did/forward", Some(&token), json!({"did_id": did_id, "forwards": [
            {"type": "sip", "destination": "sip:desk@pbx.example.com", "timeout_seconds": 15},
            {"type": "pstn", "destination": "+33612345678"},
        ]}), &[]).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        app.service.set_account_max_calls("alice", Some(4)).await.expect("limit");

        // Transferred from an unknown number in `public` to the DID in `didhub_in`.
        let xml = post_as_xml_curl(&app, xml_curl_body("+33999999999", "+33123456789", "didhub_in", "+33999999999")).await;
        let actions = actions_run(&xml, "didhub_in", "+33123456789");
        assert_eq!(actions[0], ("set".to_owned(), "sip_h_Diversion=<sip:+33123456789@didhub.invalid>;reason=unconditional".to_owned()));
        let limits: Vec<&str> = actions.iter().filter(|(a, _)| a == "limit").map(|(_, d)| d.as_str()).collect();
        assert_eq!(limits.len(), 1, "{actions:?}");
        assert!(limits[0].starts_with("hash didhub account_") && limits[0].ends_with(" 4 !USER_BUSY"), "{limits:?}");
        assert_eq!(bridge_legs(&actions), [
            "[leg_timeout=15]sofia/carrier/sip:desk@pbx.example.com",
            "loopback/+33612345678/didhub_in",
        ]);
    }

    async fn a_national_destination_is_found_through_the_request_uri() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(app.forward(&token, &did_id, "sip", "sip:desk@pbx.example.com").await.status, StatusCode::OK);

        // The carrier's national form, with the E.164 number in the Request-URI.
        let xml = post_as_xml_curl(&app, xml_curl_body("0123456789", "0123456789", "public", "+33123456789")).await;
        let actions = actions_run(&xml, "public", "0123456789");
        assert_eq!(bridge_legs(&actions), ["sofia/external/sip:desk@pbx.example.com"]);

        // The national number written with its country's trunk prefix in brackets.
        let xml = post_as_xml_curl(&app, xml_curl_body("+33 (0)1 23 45 67 89", "+33 (0)1 23 45 67 89", "public", "x")).await;
        let actions = actions_run(&xml, "public", "+33 (0)1 23 45 67 89");
        assert_eq!(bridge_legs(&actions).len(), 1);
    }

    async fn other_sections_and_unknown_numbers_get_a_not_found_result() {
        let app = TestApp::spawn().await;
        let body = xml_curl_body("+33999999999", "+33999999999", "public", "+33999999999");
        for body in [body.replace("section=dialplan", "section=directory"), body] {
            let xml = post_as_xml_curl(&app, body).await;
            let doc = roxmltree::Document::parse(&xml).expect("xml");
            let result = doc
                .descendants()
                .find(|n| n.has_tag_name("result"))
                .unwrap_or_else(|| panic!("{xml}"));
            assert_eq!(result.attribute("status"), Some("not found"));
            assert_eq!(result.parent().and_then(|p| p.attribute("name")), Some("result"));
        }
    }
}
