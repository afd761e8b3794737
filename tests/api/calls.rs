//! Calls: a forward set through the API is what the SIP redirect server answers
//! at once, over real UDP and TCP sockets.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use crate::support::sip_client::{SipAnswer, invite, invite_over_udp};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn invite_over_tcp(server: SocketAddr, uri: &str, call: &str) -> SipAnswer {
    let mut stream = TcpStream::connect(server).await.expect("tcp connect");
    let local = stream.local_addr().expect("local address");
    stream
        .write_all(invite(uri, local, "TCP", call).as_bytes())
        .await
        .expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(n > 0, "connection closed without an answer");
        answer.extend_from_slice(&buffer[..n]);
    }
    SipAnswer::parse(String::from_utf8_lossy(&answer).into_owned())
}

const DID_URI: &str = "sip:+33123456789@didhub.test";

on_both_backends! {
    async fn an_invite_follows_the_number_from_sale_to_forward_to_release() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;

        assert_eq!(invite_over_udp(app.sip, DID_URI, "c1").await.status, 404);
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        assert_eq!(invite_over_udp(app.sip, DID_URI, "c2").await.status, 480);

        assert_eq!(app.forward(&token, &did_id, "pstn", "06 12 34 56 78").await.status.as_u16(), 200);
        let redirected = invite_over_udp(app.sip, DID_URI, "c3").await;
        assert_eq!(redirected.status, 302, "{}", redirected.raw);
        assert_eq!(redirected.header("Contact"), Some("<tel:+33612345678>"));
        assert!(
            redirected.header("Diversion").is_some_and(|d| d.contains("+33123456789")),
            "{}",
            redirected.raw
        );
        assert_eq!(redirected.header("Call-ID"), Some("c3@test"));

        let released = app.post("/api/did/release", &[("token", &token), ("did_id", &did_id)]).await;
        assert_eq!(released.status.as_u16(), 200);
        assert_eq!(invite_over_udp(app.sip, DID_URI, "c4").await.status, 404);
    }

    async fn each_forward_type_redirects_to_its_exact_contact_over_udp_and_tcp() {
        let app = TestApp::spawn_with(|c| {
            c.service.routing.pstn_gateway = Some("gw.operator.test".to_owned());
            c.service.routing.disa_uri = Some("sip:disa@disa.operator.test;did={did}".to_owned());
        })
        .await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        app.service.set_pbx_host("alice", Some("pbx.alice.test:5080")).await.expect("pbx");
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;

        for (i, (kind, destination, contact)) in [
            ("pstn", "+33612345678", "<sip:+33612345678@gw.operator.test;user=phone>"),
            ("sip", "bob@example.com", "<sip:bob@example.com>"),
            ("ip", "203.0.113.9:5070", "<sip:+33123456789@203.0.113.9:5070>"),
            ("extension", "4321", "<sip:4321@pbx.alice.test:5080>"),
            ("access_number", "", "<sip:disa@disa.operator.test;did=+33123456789>"),
        ]
        .into_iter()
        .enumerate()
        {
            let set = app.forward(&token, &did_id, kind, destination).await;
            assert_eq!(set.status.as_u16(), 200, "{}", set.body);
            // The very next call sees the change, on both transports.
            let udp = invite_over_udp(app.sip, DID_URI, &format!("u{i}")).await;
            assert_eq!((udp.status, udp.header("Contact")), (302, Some(contact)), "{kind}: {}", udp.raw);
            let tcp = invite_over_tcp(app.sip, DID_URI, &format!("t{i}")).await;
            assert_eq!((tcp.status, tcp.header("Contact")), (302, Some(contact)), "{kind}: {}", tcp.raw);
        }
    }

    async fn the_forms_peers_dial_all_reach_the_same_did() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 10_00).await;
        let did_id = app.buy(&token, "FR", FR_LANDLINE_1).await;
        app.forward(&token, &did_id, "sip", "sip:alice@pbx.example.com").await;

        for (i, uri) in [
            "sip:+33123456789@didhub.test",
            "sip:33123456789@didhub.test",
            "sip:0033123456789@didhub.test",
            "tel:+33123456789",
            "sip:+33123456789@didhub.test;user=phone",
            "sip:+33-1-23-45-67-89@didhub.test",
        ]
        .into_iter()
        .enumerate()
        {
            let answer = invite_over_udp(app.sip, uri, &format!("form{i}")).await;
            assert_eq!(answer.status, 302, "{uri}: {}", answer.raw);
            assert_eq!(answer.header("Contact"), Some("<sip:alice@pbx.example.com>"), "{uri}");
        }
    }
}
