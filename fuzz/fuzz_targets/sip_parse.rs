//! Arbitrary bytes into the SIP parser, the TCP framer and the whole
//! request-to-response function: nothing may panic, and every answer must be
//! a SIP response ending its header section with `Content-Length: 0`.
//!
//! Run with `cargo +nightly fuzz run sip_parse fuzz/corpus/sip_parse fuzz/seeds
//! tests/sip_torture` from the repository root (`fuzz/seeds` holds a few real
//! messages to start from: compact and folded headers, phone-context,
//! Diversion, TCP framing; `tests/sip_torture` the RFC 4475 messages). The
//! same checks run on stable, over mutations of the same seeds, in
//! `src/sip/tests.rs` (`property`).

#![no_main]

use didhub::sip::parse::{self, Framer};
use didhub::sip::{Lookup, RouteSource, Transport, respond};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::sync::Arc;

/// Routes every number somewhere, so the 302 path (with a failover list of
/// two Contacts) is exercised too; one number is owned but not forwarded,
/// one suspended.
struct Everything;

impl RouteSource for Everything {
    fn lookup(&self, number: &str) -> Lookup {
        match number {
            "+33123456789" => Lookup::NoForward,
            "+33123456780" => Lookup::Suspended {
                reason: "number suspended for non-payment",
            },
            _ => Lookup::Redirect {
                did: Arc::from(number),
                contacts: Arc::from([
                    Arc::<str>::from("sip:target@gw.example.net;user=phone"),
                    Arc::<str>::from("tel:+33612345678"),
                ]),
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse::parse_request(data) {
        let summary = parse::summarise(request.head);
        if let Some(via) = summary.via {
            for value in parse::comma_values(via) {
                let _ = parse::parse_via(value);
            }
        }
        let _ = parse::parse_request_uri(request.uri);
    }
    let mut framer = Framer::default();
    // Framing a stream in two pieces must agree with framing it whole.
    let whole = framer.next(data, 65_536);
    let mut framer = Framer::default();
    let split = data.len() / 2;
    if framer.next(&data[..split], 65_536) == parse::Frame::Incomplete {
        assert_eq!(framer.next(data, 65_536), whole);
    }

    let source: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        if respond(data, transport, source, &Everything, &mut out) {
            assert!(out.starts_with(b"SIP/2.0 "));
            assert!(out.ends_with(b"\r\nContent-Length: 0\r\n\r\n"));
        } else {
            assert!(out.is_empty());
        }
    }
});
