//! Unit tests of the parser, the number normaliser and `respond`.

use super::number::{Scratch, to_e164};
use super::parse::{
    Frame, Framer, Name, Scheme, StartError, UriError, classify, comma_values, headers,
    name_addr_params, params, parse_cseq, parse_request, parse_request_uri, parse_summarised,
    parse_via, summarise,
};
use super::response::write_unfolded;
use super::{Lookup, RouteSource, Transport, respond, respond_to, to_tag};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

const DID: &str = "+33123456789";
const UNFORWARDED: &str = "+33198765432";
const TARGET: &str = "sip:+33612345678@gw.example.net;user=phone";

struct Table(HashMap<String, Lookup>);

impl RouteSource for Table {
    fn lookup(&self, number: &str) -> Lookup {
        self.0.get(number).cloned().unwrap_or(Lookup::Unknown)
    }
}

fn table() -> Table {
    let mut map = HashMap::new();
    map.insert(
        DID.to_owned(),
        Lookup::Redirect {
            did: Arc::from(DID),
            contacts: Arc::from([Arc::from(TARGET)]),
        },
    );
    map.insert(UNFORWARDED.to_owned(), Lookup::NoForward);
    Table(map)
}

fn source() -> SocketAddr {
    "203.0.113.5:40000".parse().unwrap()
}

const INVITE: &str = "INVITE sip:+33123456789@didhub.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKnashds8\r\n\
Max-Forwards: 70\r\n\
To: <sip:+33123456789@didhub.example.com>\r\n\
From: \"Alice\" <sip:+14155550100@pbx.example.org>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.org\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@192.0.2.10>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

/// A request with this method, Request-URI and extra header lines.
fn request(method: &str, uri: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-{method}\r\n\
From: <sip:caller@pbx.example.org>;tag=abc\r\n\
To: <{uri}>\r\n\
Call-ID: call-{method}@pbx.example.org\r\n\
CSeq: 7 {method}\r\n\
{extra}Content-Length: 0\r\n\
\r\n"
    )
}

fn answer_on(text: &[u8], transport: Transport) -> Option<String> {
    let mut out = Vec::new();
    let answered = respond(text, transport, source(), &table(), &mut out);
    assert_eq!(
        answered,
        !out.is_empty(),
        "respond's flag matches its output"
    );
    answered.then(|| String::from_utf8(out).expect("responses are UTF-8 here"))
}

fn answer(text: &str) -> Option<String> {
    answer_on(text.as_bytes(), Transport::Udp)
}

fn status(response: &str) -> u16 {
    response
        .strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {response:?}"))
}

/// Values of the header `name` in a response we produced (full names only).
fn header_values<'r>(response: &'r str, name: &str) -> Vec<&'r str> {
    response
        .split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .collect()
}

fn e164(user: &str) -> Option<String> {
    let mut scratch = Scratch::default();
    to_e164(user.as_bytes(), &mut scratch).map(|c| c.into_owned())
}

// ---------------------------------------------------------------- parser

#[test]
fn the_request_line_is_split_into_method_uri_and_version() {
    let req = parse_request(INVITE.as_bytes()).unwrap();
    assert_eq!(req.method, b"INVITE");
    assert_eq!(req.uri, b"sip:+33123456789@didhub.example.com;user=phone");
    assert_eq!(req.version, b"SIP/2.0");
    assert!(req.complete);
    assert_eq!(req.body, b"v=0\n");
    assert!(req.head.starts_with(b"Via: "));
    assert!(req.head.ends_with(b"Content-Length: 4\r\n"));
}

#[test]
fn line_breaks_before_the_start_line_are_skipped_and_bare_lf_is_accepted() {
    let text = INVITE.replace("\r\n", "\n");
    let text = format!("\r\n\r\n{text}");
    let req = parse_request(text.as_bytes()).unwrap();
    assert_eq!(req.method, b"INVITE");
    assert!(req.complete);
    assert_eq!(req.body, b"v=0\n");
    assert_eq!(
        summarise(req.head).call_id,
        Some(&b"a84b4c76e66710@pc33.example.org"[..])
    );
}

#[test]
fn responses_keepalives_and_garbage_are_not_requests() {
    assert_eq!(
        parse_request(b"SIP/2.0 200 OK\r\n\r\n"),
        Err(StartError::Response)
    );
    assert_eq!(parse_request(b"\r\n\r\n"), Err(StartError::Empty));
    assert_eq!(parse_request(b""), Err(StartError::Empty));
    for garbage in [
        &b"hello"[..],
        b"INVITE sip:x@y\r\n\r\n",
        b"INVITE sip:x@y HTTP/1.1\r\n\r\n",
        b"INV\0ITE sip:x@y SIP/2.0\r\n\r\n",
        b"<html> x SIP/2.0\r\n",
        b"\xff\xfe SIP/2.0",
    ] {
        assert_eq!(
            parse_request(garbage),
            Err(StartError::Garbage),
            "{garbage:?}"
        );
    }
}

#[test]
fn compact_and_long_header_names_are_classified_case_insensitively() {
    for (names, expected) in [
        (&["Via", "v", "V", "VIA", "via"][..], Name::Via),
        (&["From", "f", "F", "fRoM"], Name::From),
        (&["To", "t", "T", "tO"], Name::To),
        (&["Call-ID", "i", "I", "call-id", "CALL-ID"], Name::CallId),
        (&["CSeq", "cseq", "CSEQ"], Name::CSeq),
        (&["Max-Forwards", "max-forwards"], Name::MaxForwards),
        (
            &["Content-Length", "l", "L", "content-length"],
            Name::ContentLength,
        ),
        (&["Require", "require"], Name::Require),
        (
            &["m", "Contact", "k", "s", "c", "Vias", "Tos", ""],
            Name::Other,
        ),
    ] {
        for name in names {
            assert_eq!(classify(name.as_bytes()), expected, "{name}");
        }
    }
}

#[test]
fn folded_header_values_are_joined_and_unfolded_for_output() {
    let head = b"Subject: I know you're there,\r\n     pick up the phone\r\n  and talk to me!\r\nTo: <sip:a@b>\r\n";
    let all: Vec<_> = headers(head).collect();
    assert_eq!(all.len(), 2);
    let subject = all[0].unwrap();
    assert_eq!(subject.name, b"Subject");
    assert_eq!(
        subject.value,
        &b"I know you're there,\r\n     pick up the phone\r\n  and talk to me!"[..]
    );
    let mut out = Vec::new();
    write_unfolded(&mut out, subject.value);
    assert_eq!(
        out,
        b"I know you're there, pick up the phone and talk to me!"
    );
    assert_eq!(all[1].unwrap().value, b"<sip:a@b>");
}

#[test]
fn white_space_before_the_colon_is_allowed_but_broken_lines_are_reported() {
    let head = b"Call-ID  :  abc \r\nnot a header\r\nBad Name: x\r\nX: a\0b\r\nY: a\rb\r\n";
    let all: Vec<_> = headers(head).collect();
    assert_eq!(
        all[0],
        Ok(super::parse::Header {
            name: b"Call-ID",
            value: b"abc"
        })
    );
    assert!(all[1..].iter().all(Result::is_err), "{all:?}");
    assert_eq!(all.len(), 5);
}

#[test]
fn repeated_and_comma_separated_vias_come_out_in_order() {
    let head = b"v: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/TCP b.example:5070;branch=\"q,uoted\"\r\nVIA: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK3\r\n";
    let vias: Vec<&[u8]> = headers(head)
        .flatten()
        .filter(|h| classify(h.name) == Name::Via)
        .flat_map(|h| comma_values(h.value))
        .collect();
    assert_eq!(
        vias,
        [
            &b"SIP/2.0/UDP a.example;branch=z9hG4bK1"[..],
            b"SIP/2.0/TCP b.example:5070;branch=\"q,uoted\"",
            b"SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK3",
        ]
    );
    let third = parse_via(vias[2]).unwrap();
    assert_eq!(third.transport, b"UDP");
    assert_eq!(third.host, b"[2001:db8::1]");
    assert_eq!(third.port, Some(5062));
    let second = parse_via(vias[1]).unwrap();
    assert_eq!(
        params(second.params).find(b"branch").unwrap().value,
        Some(&b"\"q,uoted\""[..])
    );
}

#[test]
fn vias_with_white_space_inside_are_read_and_broken_ones_refused() {
    let via =
        parse_via(b"SIP / 2.0 / UDP  host.example : 5080 ; branch = z9hG4bKx ; rport").unwrap();
    assert_eq!(via.host, b"host.example");
    assert_eq!(via.port, Some(5080));
    let ps: Vec<_> = params(via.params).map(Result::unwrap).collect();
    assert_eq!(ps[0].name, b"branch");
    assert_eq!(ps[0].value, Some(&b"z9hG4bKx"[..]));
    assert_eq!(ps[0].raw, b"branch = z9hG4bKx");
    assert_eq!((ps[1].name, ps[1].value), (&b"rport"[..], None));
    for bad in [
        &b""[..],
        b"SIP/2.0/UDP",
        b"SIP/2.0/UDPhost",
        b"SIP/2.0 UDP host",
        b"SIP/2.0/UDP :5060",
        b"SIP/2.0/UDP host:0",
        b"SIP/2.0/UDP host:70000",
        b"SIP/2.0/UDP host:50x",
        b"SIP/2.0/UDP host junk",
        b"SIP/2.0/UDP [::1",
    ] {
        assert_eq!(parse_via(bad), None, "{}", String::from_utf8_lossy(bad));
    }
    // A readable sent-by with broken parameters: addressable, flagged.
    for bad in [
        &b"SIP/2.0/UDP host;branch="[..],
        b"SIP/2.0/UDP host;branch=\"open",
        b"SIP/2.0/UDP 192.0.2.15;;,;,,;",
        b"SIP/2.0/UDP host;branch",
    ] {
        let via = parse_via(bad).unwrap();
        assert!(via.malformed_params, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn from_and_to_header_parameters_are_found_outside_the_uri() {
    fn tag(v: &[u8]) -> Option<&[u8]> {
        name_addr_params(v)
            .and_then(|p| params(p).find(b"tag"))
            .and_then(|p| p.value)
    }
    assert_eq!(tag(b"<sip:a@b;tag=no>"), None);
    assert_eq!(tag(b"<sip:a@b;tag=no>;tag=yes"), Some(&b"yes"[..]));
    assert_eq!(tag(b"\"A <x>; y\" <sip:a@b> ;tag=q"), Some(&b"q"[..]));
    assert_eq!(tag(b"Bob <sip:a@b>"), None);
    assert_eq!(tag(b"sip:a@b;tag=t1"), Some(&b"t1"[..]));
    for bad in [
        &b""[..],
        b"<sip:a@b",
        b"\"open <sip:a@b>",
        b"<>",
        b";tag=x",
        b"sip:a>b",
    ] {
        assert_eq!(
            name_addr_params(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn cseq_needs_a_number_and_a_method() {
    assert_eq!(parse_cseq(b"314159 INVITE"), Some((314159, &b"INVITE"[..])));
    assert_eq!(parse_cseq(b"1\r\n INVITE"), Some((1, &b"INVITE"[..])));
    for bad in [
        &b""[..],
        b"INVITE",
        b"1INVITE",
        b"1 ",
        b"x 1",
        b"99999999999 INVITE",
        b"1 IN VITE",
    ] {
        assert_eq!(parse_cseq(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn request_uris_give_scheme_user_and_host() {
    let uri = parse_request_uri(b"sip:+33123456789@h.example:5060;user=phone?X=y@z").unwrap();
    assert_eq!(
        (uri.scheme, uri.user, uri.host),
        (Scheme::Sip, Some(&b"+33123456789"[..]), &b"h.example"[..])
    );
    let uri = parse_request_uri(b"SIPS:0033123456789:secret@[2001:db8::5]").unwrap();
    assert_eq!(
        (uri.scheme, uri.user, uri.host),
        (
            Scheme::Sips,
            Some(&b"0033123456789"[..]),
            &b"[2001:db8::5]"[..]
        )
    );
    let uri = parse_request_uri(b"tel:+33-1-23-45-67-89;phone-context=example.com").unwrap();
    assert_eq!(
        (uri.scheme, uri.user, uri.host),
        (
            Scheme::Tel,
            Some(&b"+33-1-23-45-67-89;phone-context=example.com"[..]),
            &b""[..]
        )
    );
    assert_eq!(parse_request_uri(b"sip:gw.example").unwrap().user, None);
    assert_eq!(
        parse_request_uri(b"http://x"),
        Err(UriError::UnsupportedScheme)
    );
    assert_eq!(
        parse_request_uri(b"urn:service:sos"),
        Err(UriError::UnsupportedScheme)
    );
    for bad in [
        &b""[..],
        b"nocolon",
        b"sip:",
        b"sip:@host",
        b"sip:u@",
        b"tel:",
        b"sip:u@h junk",
        b"1x:y",
        b"sip:u@h:0",
    ] {
        assert_eq!(
            parse_request_uri(bad),
            Err(UriError::Malformed),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn tcp_framing_splits_on_content_length() {
    let one = request("OPTIONS", "sip:didhub.example.com", "");
    let with_body = INVITE;
    let stream = format!("{one}{with_body}");
    let bytes = stream.as_bytes();
    let mut framer = Framer::default();
    assert_eq!(framer.next(bytes, 65536), Frame::Message(one.len()));
    assert_eq!(
        framer.next(&bytes[one.len()..], 65536),
        Frame::Message(with_body.len())
    );
    // Fed a byte at a time, the answer is "incomplete" until the last byte.
    let mut framer = Framer::default();
    for end in 1..with_body.len() {
        assert_eq!(
            framer.next(&with_body.as_bytes()[..end], 65536),
            Frame::Incomplete,
            "{end}"
        );
    }
    assert_eq!(
        framer.next(with_body.as_bytes(), 65536),
        Frame::Message(with_body.len())
    );
}

#[test]
fn tcp_framing_handles_keepalives_missing_lengths_and_oversized_messages() {
    let mut framer = Framer::default();
    assert_eq!(framer.next(b"\r\n\r\nINVITE", 100), Frame::Ping(4));
    assert_eq!(framer.next(b"\r\n", 100), Frame::Incomplete);
    assert_eq!(framer.next(b"\r\nINVITE", 100), Frame::Skip(1));
    let no_length = "OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\nrest";
    assert_eq!(
        Framer::default().next(no_length.as_bytes(), 1000),
        Frame::Unframed(no_length.len() - 4)
    );
    let bad_length = "OPTIONS sip:h SIP/2.0\r\nl: 1x\r\n\r\n";
    assert_eq!(
        Framer::default().next(bad_length.as_bytes(), 1000),
        Frame::Unframed(bad_length.len())
    );
    let conflicting = "OPTIONS sip:h SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(
        Framer::default().next(conflicting.as_bytes(), 1000),
        Frame::Unframed(conflicting.len())
    );
    assert_eq!(
        Framer::default().next(INVITE.as_bytes(), 100),
        Frame::TooLarge
    );
    let huge_body = "OPTIONS sip:h SIP/2.0\r\nl: 4000000000\r\n\r\n";
    assert_eq!(
        Framer::default().next(huge_body.as_bytes(), 65536),
        Frame::TooLarge
    );
    assert_eq!(Framer::default().next(&[b'x'; 200], 100), Frame::TooLarge);
}

// ---------------------------------------------------------------- numbers

#[test]
fn every_form_peers_send_normalises_to_the_same_e164_number() {
    for user in [
        "+33123456789",
        "33123456789",
        "0033123456789",
        "01133123456789",
        "%2B33123456789",
        "%2b33123456789",
        "+33-1-23-45-67-89",
        "+33.1.23.45.67.89",
        "+33(1)23456789",
        "+33 (0)1 23 45 67 89",
        "+33%20(0)1%2023%2045%2067%2089",
        "(+33)123456789",
        "+33123456789;npdi;rn=+33999",
        "%33%33%31%323456789",
    ] {
        assert_eq!(e164(user).as_deref(), Some(DID), "{user}");
    }
}

#[test]
fn local_numbers_read_in_their_phone_context() {
    for user in [
        "0123456789;phone-context=+33",
        "01-23-45-67-89;phone-context=+33",
        "0123456789;Phone-Context=%2B33",
        "23456789;phone-context=+331",
        "123456789;npdi;phone-context=+33",
        // A global number's context is irrelevant (RFC 3966 forbids it there).
        "+33123456789;phone-context=example.com",
    ] {
        assert_eq!(e164(user).as_deref(), Some(DID), "{user}");
    }
    // Unknown to libphonenumber: read as written, without a trunk prefix.
    assert_eq!(e164("123;phone-context=+999").as_deref(), Some("+999123"));
    for private in [
        // A domain context is a private numbering plan: no DID is in it.
        "0123456789;phone-context=pbx.example.com",
        "33123456789;phone-context=example.com",
        "1234;phone-context=+",
        "1234;phone-context=+0",
        "1234;phone-context=+33a",
        "0999999;phone-context=+999",
    ] {
        assert_eq!(e164(private), None, "{private}");
    }
}

#[test]
fn plain_forms_do_not_need_libphonenumber() {
    // Not a valid number for libphonenumber, still read as dialled.
    assert_eq!(e164("+999123").as_deref(), Some("+999123"));
    assert_eq!(e164("00999123").as_deref(), Some("+999123"));
}

#[test]
fn things_that_are_not_international_numbers_are_refused() {
    for user in [
        "",
        "alice",
        "+",
        "00",
        "011",
        "0123456789",
        "+0123456789",
        "1234567890123456",
        "+33 12a",
        "++33123456789",
        "33+123456789",
        "%2",
        "%zz33",
        "*21#",
        "+33123456789@x",
        "+33\u{0}1",
        "1#2",
    ] {
        assert_eq!(e164(user), None, "{user:?}");
    }
    assert_eq!(e164(&"1".repeat(65)), None);
}

// ---------------------------------------------------------------- respond

#[test]
fn an_invite_for_a_forwarded_did_gets_the_exact_302() {
    let response = answer(INVITE).expect("answered");
    let tag = to_tag(
        b"a84b4c76e66710@pc33.example.org",
        b"314159 INVITE",
        b"z9hG4bK776asdhds",
    );
    let tag = std::str::from_utf8(&tag).unwrap();
    let expected = format!(
        "SIP/2.0 302 Moved Temporarily\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=40000;received=203.0.113.5\r\n\
Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKnashds8\r\n\
From: \"Alice\" <sip:+14155550100@pbx.example.org>;tag=1928301774\r\n\
To: <sip:+33123456789@didhub.example.com>;tag={tag}\r\n\
Call-ID: a84b4c76e66710@pc33.example.org\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <{TARGET}>\r\n\
Diversion: <sip:+33123456789@didhub.example.com>;reason=unconditional\r\n\
Server: didhub/{}\r\n\
Content-Length: 0\r\n\
\r\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(response, expected);
    assert_eq!(tag.len(), 16);
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn a_retransmitted_invite_gets_a_byte_identical_answer() {
    let first = answer(INVITE).unwrap();
    assert_eq!(answer(INVITE).unwrap(), first);
    // A different transaction gets a different tag.
    let other = answer(&INVITE.replace("CSeq: 314159", "CSeq: 314160")).unwrap();
    assert_ne!(header_values(&other, "To"), header_values(&first, "To"));
}

#[test]
fn every_user_part_form_routes_to_the_same_did() {
    for uri in [
        "sip:+33123456789@h.example",
        "sip:33123456789@h.example",
        "sip:0033123456789@h.example",
        "sip:+33123456789@h.example;user=phone",
        "sip:%2B33-1-23.45.67.89@h.example:5060;user=phone",
        "sips:+33(1)23456789@h.example",
        "tel:+33123456789",
    ] {
        let response = answer(&request("INVITE", uri, "")).unwrap();
        assert_eq!(status(&response), 302, "{uri}");
        assert_eq!(
            header_values(&response, "Contact"),
            [format!("<{TARGET}>")],
            "{uri}"
        );
    }
}

#[test]
fn the_diversion_names_the_did_at_the_request_uri_host() {
    let response = answer(&request(
        "INVITE",
        "sip:0033123456789@[2001:db8::7]:5070;user=phone",
        "",
    ))
    .unwrap();
    assert_eq!(
        header_values(&response, "Diversion"),
        ["<sip:+33123456789@[2001:db8::7]>;reason=unconditional"]
    );
    let response = answer(&request("INVITE", "tel:+33-1-23-45-67-89", "")).unwrap();
    assert_eq!(
        header_values(&response, "Diversion"),
        ["<tel:+33123456789>;reason=unconditional"]
    );
}

#[test]
fn a_local_tel_or_sip_number_with_a_phone_context_is_redirected() {
    for uri in [
        "tel:0123456789;phone-context=+33",
        "sip:0123456789;phone-context=+33@h.example;user=phone",
    ] {
        let response = answer(&request("INVITE", uri, "")).unwrap();
        assert_eq!(status(&response), 302, "{uri}");
        assert_eq!(header_values(&response, "Contact"), [format!("<{TARGET}>")]);
    }
    let private = request("INVITE", "tel:0123456789;phone-context=pbx.example", "");
    assert_eq!(status(&answer(&private).unwrap()), 404);
}

#[test]
fn earlier_diversions_follow_ours_in_the_order_received() {
    let response = answer(&request(
        "INVITE",
        "sip:+33123456789@h.example",
        "Diversion: <sip:+14155550111@a.example>;reason=no-answer,\r\n \"Desk, 2\" <sip:+14155550122@b.example>;reason=busy\r\n\
Subject: x\r\n\
diversion: <tel:+14155550133>;reason=unconditional;counter=1\r\n",
    ))
    .unwrap();
    assert_eq!(
        header_values(&response, "Diversion"),
        [
            "<sip:+33123456789@h.example>;reason=unconditional",
            "<sip:+14155550111@a.example>;reason=no-answer",
            "\"Desk, 2\" <sip:+14155550122@b.example>;reason=busy",
            "<tel:+14155550133>;reason=unconditional;counter=1",
        ]
    );
    // Only a 302 carries them.
    let busy = answer(&request(
        "INVITE",
        "sip:+33198765432@h.example",
        "Diversion: <sip:+14155550111@a.example>;reason=no-answer\r\n",
    ))
    .unwrap();
    assert!(header_values(&busy, "Diversion").is_empty());
}

#[test]
fn unknown_and_unowned_numbers_get_404_and_unforwarded_ones_480() {
    for uri in [
        "sip:+33999999999@h",
        "sip:alice@h",
        "sip:h",
        "sip:0123456789@h",
    ] {
        let response = answer(&request("INVITE", uri, "")).unwrap();
        assert!(
            response.starts_with("SIP/2.0 404 Not Found\r\n"),
            "{uri}: {response}"
        );
        assert!(header_values(&response, "Contact").is_empty());
    }
    let response = answer(&request("INVITE", "sip:+33198765432@h", "")).unwrap();
    assert!(
        response.starts_with("SIP/2.0 480 Temporarily Unavailable\r\n"),
        "{response}"
    );
}

#[test]
fn max_forwards_zero_gets_483_but_options_still_gets_200() {
    let response = answer(&request(
        "INVITE",
        "sip:+33123456789@h",
        "Max-Forwards: 0\r\n",
    ))
    .unwrap();
    assert!(
        response.starts_with("SIP/2.0 483 Too Many Hops\r\n"),
        "{response}"
    );
    let response = answer(&request(
        "INVITE",
        "sip:+33123456789@h",
        "Max-Forwards: 1\r\n",
    ))
    .unwrap();
    assert_eq!(status(&response), 302);
    let response = answer(&request("OPTIONS", "sip:h", "Max-Forwards: 0\r\n")).unwrap();
    assert_eq!(status(&response), 200);
}

#[test]
fn options_gets_200_with_allow() {
    let response = answer(&request("OPTIONS", "sip:didhub.example.com", "")).unwrap();
    assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    assert_eq!(header_values(&response, "Allow"), ["INVITE, ACK, OPTIONS"]);
    assert_eq!(header_values(&response, "Content-Length"), ["0"]);
    assert_eq!(header_values(&response, "CSeq"), ["7 OPTIONS"]);
    let to = header_values(&response, "To");
    assert!(to[0].starts_with("<sip:didhub.example.com>;tag="), "{to:?}");
}

#[test]
fn ack_is_absorbed_even_when_malformed() {
    assert_eq!(answer(&request("ACK", "sip:+33123456789@h", "")), None);
    assert_eq!(answer("ACK sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n"), None);
}

#[test]
fn other_methods_get_405_with_allow_and_cancel_gets_481() {
    for method in ["BYE", "REGISTER", "SUBSCRIBE", "INFO", "MESSAGE", "invite"] {
        let response = answer(&request(method, "sip:+33123456789@h", "")).unwrap();
        assert!(
            response.starts_with("SIP/2.0 405 Method Not Allowed\r\n"),
            "{method}: {response}"
        );
        assert_eq!(
            header_values(&response, "Allow"),
            ["INVITE, ACK, OPTIONS"],
            "{method}"
        );
    }
    let response = answer(&request("CANCEL", "sip:+33123456789@h", "")).unwrap();
    assert!(
        response.starts_with("SIP/2.0 481 Call/Transaction Does Not Exist\r\n"),
        "{response}"
    );
}

#[test]
fn compact_folded_and_oddly_cased_requests_are_answered_with_full_names() {
    let text = "INVITE sip:+33123456789@h SIP/2.0\r\n\
v: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bKc1,\r\n SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKc2\r\n\
f: <sip:caller@pbx.example.org>\r\n  ;tag=ff\r\n\
t: \"The DID\"\r\n\t<sip:+33123456789@h>\r\n\
i: compact@pbx\r\n\
cseq: 2 INVITE\r\n\
MAX-FORWARDS: 9\r\n\
l: 0\r\n\
\r\n";
    let response = answer(text).unwrap();
    assert_eq!(status(&response), 302, "{response}");
    assert_eq!(
        header_values(&response, "Via"),
        [
            "SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bKc1",
            "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKc2"
        ]
    );
    assert_eq!(
        header_values(&response, "From"),
        ["<sip:caller@pbx.example.org> ;tag=ff"]
    );
    let to = header_values(&response, "To");
    assert!(
        to[0].starts_with("\"The DID\" <sip:+33123456789@h>;tag="),
        "{to:?}"
    );
    assert_eq!(header_values(&response, "Call-ID"), ["compact@pbx"]);
    assert_eq!(header_values(&response, "CSeq"), ["2 INVITE"]);
}

#[test]
fn an_existing_to_tag_is_kept() {
    let text = request("INVITE", "sip:+33123456789@h", "").replace(
        "To: <sip:+33123456789@h>",
        "To: <sip:+33123456789@h>;tag=theirs",
    );
    let response = answer(&text).unwrap();
    assert_eq!(
        header_values(&response, "To"),
        ["<sip:+33123456789@h>;tag=theirs"]
    );
}

#[test]
fn received_is_added_only_when_the_sent_by_is_not_the_source() {
    // Sent-by is the source address, no rport: the Via is echoed untouched.
    let response = answer(&request("OPTIONS", "sip:h", "")).unwrap();
    assert_eq!(
        header_values(&response, "Via"),
        ["SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-OPTIONS"]
    );
    // A host name, or another address: received is added (and a forged one replaced).
    for (sent_by, expected) in [
        (
            "pbx.example.org",
            "SIP/2.0/UDP pbx.example.org;branch=b1;received=203.0.113.5",
        ),
        (
            "192.0.2.1:5062",
            "SIP/2.0/UDP 192.0.2.1:5062;branch=b1;received=203.0.113.5",
        ),
        (
            "192.0.2.1;received=198.51.100.1",
            "SIP/2.0/UDP 192.0.2.1;branch=b1;received=203.0.113.5",
        ),
    ] {
        let (host, extra) = sent_by.split_once(';').unwrap_or((sent_by, ""));
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(";{extra}")
        };
        let text = request("OPTIONS", "sip:h", "").replace(
            "Via: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-OPTIONS",
            &format!("Via: SIP/2.0/UDP {host};branch=b1{extra}"),
        );
        let response = answer(&text).unwrap();
        assert_eq!(header_values(&response, "Via"), [expected], "{sent_by}");
    }
}

#[test]
fn udp_answers_go_where_rfc_3261_and_3581_say() {
    let destination = |via: &str, transport| {
        let text = request("OPTIONS", "sip:h", "")
            .replace("SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-OPTIONS", via);
        respond_to(
            text.as_bytes(),
            transport,
            source(),
            &table(),
            &mut Vec::new(),
        )
    };
    let at = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
    assert_eq!(
        destination("SIP/2.0/UDP 192.0.2.1:5070;branch=b;rport", Transport::Udp),
        at("203.0.113.5:40000")
    );
    assert_eq!(
        destination("SIP/2.0/UDP 192.0.2.1:5070;branch=b", Transport::Udp),
        at("203.0.113.5:5070")
    );
    assert_eq!(
        destination("SIP/2.0/UDP pbx.example;branch=b", Transport::Udp),
        at("203.0.113.5:5060")
    );
    assert_eq!(
        destination("SIP/2.0/UDP 192.0.2.1:5070;branch=b", Transport::Tcp),
        at("203.0.113.5:40000")
    );
}

#[test]
fn ipv6_and_ipv4_mapped_sources_are_compared_and_written_plainly() {
    let text = request("OPTIONS", "sip:h", "").replace(
        "SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-OPTIONS",
        "SIP/2.0/UDP [2001:db8::1]:5060;branch=b;rport",
    );
    let mut out = Vec::new();
    let v6: SocketAddr = "[2001:db8::1]:6000".parse().unwrap();
    respond(text.as_bytes(), Transport::Udp, v6, &table(), &mut out);
    let response = String::from_utf8(out.clone()).unwrap();
    assert_eq!(
        header_values(&response, "Via"),
        ["SIP/2.0/UDP [2001:db8::1]:5060;branch=b;rport=6000;received=2001:db8::1"]
    );
    let mapped: SocketAddr = "[::ffff:203.0.113.5]:40000".parse().unwrap();
    let text = request("OPTIONS", "sip:h", "");
    // The answer goes back to the address as received: a dual-stack socket
    // cannot send to a plain IPv4 address.
    assert_eq!(
        respond_to(text.as_bytes(), Transport::Udp, mapped, &table(), &mut out),
        Some(mapped)
    );
    let response = String::from_utf8(out).unwrap();
    assert_eq!(
        header_values(&response, "Via"),
        ["SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-OPTIONS"]
    );
}

#[test]
fn malformed_but_addressable_requests_get_400_with_a_reason() {
    let invite = request("INVITE", "sip:+33123456789@h", "");
    let cases = [
        (
            invite.replace("CSeq: 7 INVITE", "CSeq: 7 BYE"),
            "CSeq method does not match",
        ),
        (
            invite.replace("Content-Length: 0", "Content-Length: 10"),
            "Body shorter",
        ),
        (
            invite.replace("Content-Length: 0", "Content-Length: zero"),
            "Malformed Content-Length",
        ),
        (
            invite.replace(
                "Content-Length: 0",
                "Max-Forwards: many\r\nContent-Length: 0",
            ),
            "Malformed Max-Forwards",
        ),
        (
            invite.replace(
                "Content-Length: 0",
                "To: <sip:other@h>\r\nContent-Length: 0",
            ),
            "Duplicate To",
        ),
        (
            invite.replace("Content-Length: 0", "Call-ID: two\r\nContent-Length: 0"),
            "Duplicate Call-ID",
        ),
        (
            invite.replace("Content-Length: 0", "l: 1\r\nContent-Length: 0"),
            "Conflicting Content-Length",
        ),
        (
            invite.replace("Content-Length: 0", "Broken header\r\nContent-Length: 0"),
            "Malformed header line",
        ),
        (
            invite.replace("Content-Length: 0\r\n\r\n", "Content-Length: 0\r\n"),
            "not terminated",
        ),
        (
            invite.replace("sip:+33123456789@h SIP", "sip:+33123456789@ SIP"),
            "Malformed Request-URI",
        ),
        (
            invite.replace("sip:+33123456789@h SIP", "sip:a b SIP"),
            "Malformed Request-URI",
        ),
    ];
    for (text, reason) in cases {
        let response = answer(&text).unwrap_or_else(|| panic!("no answer to {text}"));
        assert!(
            response.starts_with("SIP/2.0 400 Bad Request\r\n"),
            "{reason}: {response}"
        );
        let warning = header_values(&response, "Warning");
        assert!(
            warning.len() == 1
                && warning[0].starts_with("399 didhub \"")
                && warning[0].contains(reason),
            "{reason}: {warning:?}"
        );
        assert_eq!(
            header_values(&response, "Call-ID"),
            ["call-INVITE@pbx.example.org"]
        );
    }
    // On TCP, Content-Length is mandatory.
    let response = answer_on(
        invite.replace("Content-Length: 0\r\n", "").as_bytes(),
        Transport::Tcp,
    )
    .unwrap();
    assert_eq!(status(&response), 400);
    assert!(header_values(&response, "Warning")[0].contains("Missing Content-Length"));
    let response = answer_on(
        invite.replace("Content-Length: 0\r\n", "").as_bytes(),
        Transport::Udp,
    )
    .unwrap();
    assert_eq!(status(&response), 302);
}

#[test]
fn requests_that_cannot_be_addressed_are_dropped() {
    let invite = request("INVITE", "sip:+33123456789@h", "");
    let via = "Via: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-INVITE\r\n";
    for broken in [
        invite.replace(via, ""),
        invite.replace(via, "Via: SIP/2.0/UDP\r\n"),
        invite.replace(via, "Via: \r\n"),
        invite.replace("From: <sip:caller@pbx.example.org>;tag=abc\r\n", ""),
        invite.replace("To: <sip:+33123456789@h>", "To: "),
        invite.replace("Call-ID: call-INVITE@pbx.example.org\r\n", ""),
        invite.replace("CSeq: 7 INVITE\r\n", ""),
        "SIP/2.0 200 OK\r\n\r\n".to_owned(),
        "\u{0}\u{1}garbage".to_owned(),
        String::new(),
    ] {
        assert_eq!(answer(&broken), None, "{broken}");
    }
}

#[test]
fn present_but_malformed_via_from_to_and_cseq_get_400_echoing_them() {
    let invite = request("INVITE", "sip:+33123456789@h", "");
    let via = "Via: SIP/2.0/UDP 203.0.113.5:40000;branch=z9hG4bK-INVITE\r\n";
    for (broken, warning) in [
        (
            invite.replace(via, "Via: SIP/2.0/UDP 203.0.113.5:40000;;,;,,;\r\n"),
            "Malformed Via parameters",
        ),
        (
            invite.replace("To: <sip:+33123456789@h>", "To: <sip:+33123456789@h"),
            "Malformed To",
        ),
        (
            invite.replace("To: <sip:+33123456789@h>", "To: <sip:x>;=x"),
            "Malformed To",
        ),
        (
            invite.replace("To: <sip:+33123456789@h>", "To: < sip:x@h >"),
            "Malformed To",
        ),
        (
            invite.replace(
                "From: <sip:caller@pbx.example.org>",
                "From: \"open <sip:c@p>",
            ),
            "Malformed From",
        ),
        (
            invite.replace("CSeq: 7 INVITE", "CSeq: seven INVITE"),
            "Malformed CSeq",
        ),
        (
            invite.replace("CSeq: 7 INVITE", "CSeq: 36893488147419103232 INVITE"),
            "Malformed CSeq",
        ),
    ] {
        let response = answer(&broken).unwrap_or_else(|| panic!("no answer to {broken}"));
        assert_eq!(status(&response), 400, "{response}");
        assert!(
            header_values(&response, "Warning")[0].contains(warning),
            "{warning}: {response}"
        );
    }
}

#[test]
fn options_is_refused_like_invite_for_schemes_and_required_extensions() {
    let response = answer(&request("OPTIONS", "nobodyKnowsThisScheme:opaque", "")).unwrap();
    assert!(
        response.starts_with("SIP/2.0 416 Unsupported URI Scheme\r\n"),
        "{response}"
    );
    let response = answer(&request(
        "OPTIONS",
        "sip:h",
        "Require: nothingSupportsThis\r\n",
    ))
    .unwrap();
    assert!(
        response.starts_with("SIP/2.0 420 Bad Extension\r\n"),
        "{response}"
    );
    assert_eq!(
        header_values(&response, "Unsupported"),
        ["nothingSupportsThis"]
    );
    // The method is looked at first: an unknown one is 405 whatever its URI.
    let response = answer(&request("FOO", "nobody:x", "Require: x\r\n")).unwrap();
    assert_eq!(status(&response), 405, "{response}");
}

#[test]
fn other_versions_schemes_and_required_extensions_are_refused() {
    let invite = request("INVITE", "sip:+33123456789@h", "");
    let response = answer(&invite.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1)).unwrap();
    assert!(
        response.starts_with("SIP/2.0 505 Version Not Supported\r\n"),
        "{response}"
    );
    let response = answer(&request("INVITE", "im:+33123456789@h", "")).unwrap();
    assert!(
        response.starts_with("SIP/2.0 416 Unsupported URI Scheme\r\n"),
        "{response}"
    );
    let response = answer(&request(
        "INVITE",
        "sip:+33123456789@h",
        "Require: 100rel, timer\r\nRequire: foo\r\n",
    ))
    .unwrap();
    assert!(
        response.starts_with("SIP/2.0 420 Bad Extension\r\n"),
        "{response}"
    );
    assert_eq!(
        header_values(&response, "Unsupported"),
        ["100rel, timer, foo"]
    );
}

#[test]
fn a_route_with_a_broken_contact_gets_500_not_a_broken_response() {
    struct Broken;
    impl RouteSource for Broken {
        fn lookup(&self, number: &str) -> Lookup {
            Lookup::Redirect {
                did: Arc::from(number),
                contacts: Arc::from([Arc::from("sip:x@y\r\nEvil: 1")]),
            }
        }
    }
    let mut out = Vec::new();
    let text = request("INVITE", "sip:+33123456789@h", "");
    assert!(respond(
        text.as_bytes(),
        Transport::Udp,
        source(),
        &Broken,
        &mut out
    ));
    assert!(out.starts_with(b"SIP/2.0 500 "));
    assert!(!out.windows(4).any(|w| w == b"Evil"));
}

#[test]
fn the_output_buffer_is_reused_and_cleared() {
    let mut out = b"stale".to_vec();
    assert!(respond(
        INVITE.as_bytes(),
        Transport::Udp,
        source(),
        &table(),
        &mut out
    ));
    assert!(out.starts_with(b"SIP/2.0 302"));
    assert!(!respond(
        b"garbage",
        Transport::Udp,
        source(),
        &table(),
        &mut out
    ));
    assert!(out.is_empty());
}

// ---------------------------------------------------------------- robustness

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\r\n\t ;:,<>\"\\%@=/+0123456789vVtfil\0\x7f\xff";

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(m.len() + 1);
        match rng.below(7) {
            0 => m.truncate(at),
            1 if at < m.len() => m[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => m.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 => {
                let end = (at + rng.below(16)).min(m.len());
                m.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(64)).min(m.len());
                let chunk = m[at..end].to_vec();
                let to = rng.below(m.len() + 1);
                m.splice(to..to, chunk);
            }
            5 if at < m.len() => m[at] = rng.next() as u8,
            _ => {
                let lines = [
                    &b"Via: SIP/2.0/UDP x;rport;branch=z9hG4bKz,SIP/2.0/TCP [::1]:1\r\n"[..],
                    b"To: \"q\\\"\" <sip:a@b;tag=1>;tag=2\r\n",
                    b"\r\n ",
                    b"l: 99\r\n",
                    b"Require: x\r\n",
                    b"Max-Forwards: 0\r\n",
                ];
                let line = lines[rng.below(lines.len())];
                m.splice(at..at, line.iter().copied());
            }
        }
    }
    m
}

/// Checks a response we produced is a well-formed SIP response.
fn assert_well_formed(response: &[u8], request: &[u8]) {
    let context = || String::from_utf8_lossy(request).into_owned();
    assert!(response.starts_with(b"SIP/2.0 "), "{}", context());
    assert!(
        response.ends_with(b"Content-Length: 0\r\n\r\n"),
        "{}",
        context()
    );
    let code = &response[8..11];
    assert!(code.iter().all(u8::is_ascii_digit), "{}", context());
    let head_start = response.iter().position(|&b| b == b'\n').unwrap() + 1;
    let head = &response[head_start..response.len() - 2];
    // Exactly one blank line, at the end, and every line a valid header.
    assert!(!head.windows(4).any(|w| w == b"\r\n\r\n"), "{}", context());
    let mut to = None;
    for h in headers(head) {
        let h = h.unwrap_or_else(|line| {
            panic!(
                "bad line {:?} for {}",
                String::from_utf8_lossy(line),
                context()
            )
        });
        assert!(!h.value.contains(&b'\n'), "{}", context());
        if h.name == b"To" {
            to = Some(h.value);
        }
    }
    let to = to.expect("a To header");
    let tag = name_addr_params(to).and_then(|p| params(p).find(b"tag"));
    // Only a To too broken to hold a tag goes without one.
    let broken_to = name_addr_params(to).is_none_or(|p| !params(p).valid());
    assert!(
        tag.is_some() || broken_to,
        "To without tag in answer to {}",
        context()
    );
    let s = summarise(head);
    assert!(
        s.via.is_some() && s.from.is_some() && s.call_id.is_some() && s.cseq.is_some(),
        "{}",
        context()
    );
    assert_eq!(s.problem, None, "{}", context());
}

#[test]
fn thousands_of_mutated_invites_never_panic_and_every_answer_is_well_formed() {
    let routes = table();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let bases = [
        INVITE.as_bytes().to_vec(),
        request("OPTIONS", "sip:h", "").into_bytes(),
        request("INVITE", "tel:+33-1-23-45-67-89", "Max-Forwards: 3\r\n").into_bytes(),
    ];
    let mut answered = 0;
    for i in 0..30_000 {
        let m = mutate(&mut rng, &bases[i % bases.len()]);
        // The one-pass hot path agrees with the two-step parse.
        let two_step = parse_request(&m).map(|r| (r, summarise(r.head)));
        assert_eq!(
            parse_summarised(&m),
            two_step,
            "{}",
            String::from_utf8_lossy(&m)
        );
        let _ = Framer::default().next(&m, 65536);
        for transport in [Transport::Udp, Transport::Tcp] {
            if respond(&m, transport, source(), &routes, &mut out) {
                answered += 1;
                assert_well_formed(&out, &m);
            } else {
                assert!(out.is_empty());
            }
        }
    }
    // The mutations are mild enough that most requests are still answered.
    assert!(answered > 10_000, "{answered}");
}

#[test]
fn no_truncation_of_an_invite_is_mistaken_for_the_whole_request() {
    let bytes = INVITE.as_bytes();
    let mut out = Vec::new();
    for end in 0..bytes.len() {
        let prefix = &bytes[..end];
        if respond(prefix, Transport::Udp, source(), &table(), &mut out) {
            assert_well_formed(&out, prefix);
            assert!(
                out.starts_with(b"SIP/2.0 400 "),
                "{end}: {}",
                String::from_utf8_lossy(&out)
            );
        }
        assert_eq!(
            Framer::default().next(prefix, 65536),
            Frame::Incomplete,
            "{end}"
        );
    }
    assert!(respond(bytes, Transport::Udp, source(), &table(), &mut out));
    assert!(out.starts_with(b"SIP/2.0 302 "));
}

// ------------------------------------------------------- RFC 4475 torture

/// The RFC 4475 §3.1 messages (plus the §3.3 ones whose answer the redirect
/// server decides), and the answer each gets over UDP: `None` is no answer.
/// The files are reconstructions (see tests/sip_torture/README.md).
const TORTURE: &[(&str, &[u8], Option<u16>)] = &[
    // §3.1.1 valid: INVITEs get the usual redirect logic (these users are no
    // numbers: 404), other methods their answers; responses are not answered.
    (
        "wsinv",
        include_bytes!("../../tests/sip_torture/wsinv.sip"),
        Some(404),
    ),
    (
        "intmeth",
        include_bytes!("../../tests/sip_torture/intmeth.sip"),
        Some(405),
    ),
    (
        "esc01",
        include_bytes!("../../tests/sip_torture/esc01.sip"),
        Some(404),
    ),
    (
        "escnull",
        include_bytes!("../../tests/sip_torture/escnull.sip"),
        Some(405),
    ),
    (
        "esc02",
        include_bytes!("../../tests/sip_torture/esc02.sip"),
        Some(405),
    ),
    (
        "lwsdisp",
        include_bytes!("../../tests/sip_torture/lwsdisp.sip"),
        Some(200),
    ),
    (
        "longreq",
        include_bytes!("../../tests/sip_torture/longreq.sip"),
        Some(404),
    ),
    (
        "dblreq",
        include_bytes!("../../tests/sip_torture/dblreq.sip"),
        Some(405),
    ),
    (
        "semiuri",
        include_bytes!("../../tests/sip_torture/semiuri.sip"),
        Some(200),
    ),
    (
        "transports",
        include_bytes!("../../tests/sip_torture/transports.sip"),
        Some(200),
    ),
    (
        "mpart01",
        include_bytes!("../../tests/sip_torture/mpart01.sip"),
        Some(405),
    ),
    (
        "unreason",
        include_bytes!("../../tests/sip_torture/unreason.sip"),
        None,
    ),
    (
        "noreason",
        include_bytes!("../../tests/sip_torture/noreason.sip"),
        None,
    ),
    // §3.4.1: RFC 2543 syntax (no branch, no Max-Forwards, no Content-Length).
    (
        "inv2543",
        include_bytes!("../../tests/sip_torture/inv2543.sip"),
        Some(404),
    ),
    // §3.1.2 invalid: 400 where the RFC asks for it of a UAS or proxy.
    (
        "badinv01",
        include_bytes!("../../tests/sip_torture/badinv01.sip"),
        Some(400),
    ),
    (
        "clerr",
        include_bytes!("../../tests/sip_torture/clerr.sip"),
        Some(400),
    ),
    (
        "ncl",
        include_bytes!("../../tests/sip_torture/ncl.sip"),
        Some(400),
    ),
    (
        "scalar02",
        include_bytes!("../../tests/sip_torture/scalar02.sip"),
        Some(400),
    ),
    (
        "scalarlg",
        include_bytes!("../../tests/sip_torture/scalarlg.sip"),
        None,
    ),
    (
        "quotbal",
        include_bytes!("../../tests/sip_torture/quotbal.sip"),
        Some(400),
    ),
    (
        "ltgtruri",
        include_bytes!("../../tests/sip_torture/ltgtruri.sip"),
        Some(400),
    ),
    (
        "lwsruri",
        include_bytes!("../../tests/sip_torture/lwsruri.sip"),
        Some(400),
    ),
    (
        "lwsstart",
        include_bytes!("../../tests/sip_torture/lwsstart.sip"),
        Some(400),
    ),
    // The RFC lets an element be liberal with these: we are.
    (
        "trws",
        include_bytes!("../../tests/sip_torture/trws.sip"),
        Some(200),
    ),
    (
        "escruri",
        include_bytes!("../../tests/sip_torture/escruri.sip"),
        Some(404),
    ),
    (
        "baddate",
        include_bytes!("../../tests/sip_torture/baddate.sip"),
        Some(404),
    ),
    (
        "regbadct",
        include_bytes!("../../tests/sip_torture/regbadct.sip"),
        Some(405),
    ),
    (
        "baddn",
        include_bytes!("../../tests/sip_torture/baddn.sip"),
        Some(200),
    ),
    (
        "badaspec",
        include_bytes!("../../tests/sip_torture/badaspec.sip"),
        Some(400),
    ),
    (
        "badvers",
        include_bytes!("../../tests/sip_torture/badvers.sip"),
        Some(505),
    ),
    (
        "mismatch01",
        include_bytes!("../../tests/sip_torture/mismatch01.sip"),
        Some(400),
    ),
    // An unknown method whose CSeq disagrees: the RFC takes 501 or 400.
    (
        "mismatch02",
        include_bytes!("../../tests/sip_torture/mismatch02.sip"),
        Some(400),
    ),
    (
        "bigcode",
        include_bytes!("../../tests/sip_torture/bigcode.sip"),
        None,
    ),
    // §3.3: unknown schemes get 416, unsupported Require 420, Max-Forwards 0
    // does not stop an OPTIONS meant for us.
    (
        "unkscm",
        include_bytes!("../../tests/sip_torture/unkscm.sip"),
        Some(416),
    ),
    (
        "novelsc",
        include_bytes!("../../tests/sip_torture/novelsc.sip"),
        Some(416),
    ),
    (
        "bext01",
        include_bytes!("../../tests/sip_torture/bext01.sip"),
        Some(420),
    ),
    (
        "zeromf",
        include_bytes!("../../tests/sip_torture/zeromf.sip"),
        Some(200),
    ),
];

fn torture(name: &str) -> &'static [u8] {
    TORTURE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, _)| *bytes)
        .unwrap_or_else(|| panic!("no torture message {name}"))
}

fn answer_bytes(request: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    respond(request, Transport::Udp, source(), &table(), &mut out).then(|| {
        assert_well_formed(&out, request);
        String::from_utf8_lossy(&out).into_owned()
    })
}

#[test]
fn every_rfc_4475_message_gets_the_answer_the_rfc_asks_for() {
    assert!(TORTURE.len() >= 37);
    for (name, bytes, expected) in TORTURE {
        // The files keep their CRLFs (see .gitattributes).
        assert!(bytes.windows(2).any(|w| w == b"\r\n"), "{name}");
        let got = answer_bytes(bytes).map(|r| status(&r));
        assert_eq!(got, *expected, "{name}: {:?}", answer_bytes(bytes));
    }
}

#[test]
fn rfc_4475_answers_echo_what_they_must() {
    let wsinv = answer_bytes(torture("wsinv")).unwrap();
    assert_eq!(header_values(&wsinv, "Via").len(), 3, "{wsinv}");
    assert!(header_values(&wsinv, "To")[0].ends_with("tag    = 1918181833n"));
    assert_eq!(header_values(&wsinv, "CSeq"), ["0009 INVITE"]);

    let intmeth = answer_bytes(torture("intmeth")).unwrap();
    assert_eq!(header_values(&intmeth, "Allow"), ["INVITE, ACK, OPTIONS"]);
    assert_eq!(
        header_values(&intmeth, "CSeq"),
        ["139122385 !interesting-Method0123456789_*+`.%indeed'~"]
    );
    assert!(header_values(&intmeth, "To")[0].contains("NUL:\\\0 DEL:\\\x7f"));

    let transports = answer_bytes(torture("transports")).unwrap();
    assert_eq!(header_values(&transports, "Via").len(), 5);
    // Only the first request of the datagram is read (RFC 3261 §18.3).
    let dblreq = answer_bytes(torture("dblreq")).unwrap();
    assert_eq!(
        header_values(&dblreq, "Call-ID"),
        ["dblreq.0ha0isndaksdj99sdfafnl3lk233412"]
    );
    let bext01 = answer_bytes(torture("bext01")).unwrap();
    assert_eq!(
        header_values(&bext01, "Unsupported"),
        ["nothingSupportsThis, nothingSupportsThisEither"]
    );
    let quotbal = answer_bytes(torture("quotbal")).unwrap();
    assert_eq!(
        header_values(&quotbal, "To"),
        ["\"Mr. J. User <sip:j.user@example.com>"]
    );
}

#[test]
fn a_quoted_pair_may_escape_control_characters_but_not_cr_or_lf() {
    let lines: Vec<_> = headers(b"To: \"a\\\x00\\\x07\\\x7f\" <sip:a@b>\r\n").collect();
    assert!(matches!(lines[..], [Ok(_)]), "{lines:?}");
    for bad in [
        &b"To: \"a\\\rb\" <sip:a@b>\r\n"[..],
        b"To: \"a\x00\" <sip:a@b>\r\n",
    ] {
        let lines: Vec<_> = headers(bad).collect();
        assert!(matches!(lines[..], [Err(_)]), "{lines:?}");
    }
}

#[test]
fn a_long_extension_method_is_answered_405_up_to_the_message_limit() {
    let method = "X".repeat(60_000);
    let response = answer(&request(&method, "sip:h", "")).unwrap();
    assert_eq!(status(&response), 405);
}

// ------------------------------------------- property-based run (stable)

/// The seeds `cargo fuzz` starts from, and the torture messages.
fn fuzz_seeds() -> Vec<&'static [u8]> {
    let mut seeds: Vec<&'static [u8]> = vec![
        include_bytes!("../../fuzz/seeds/ack_escaped"),
        include_bytes!("../../fuzz/seeds/invite_phone_context_diversion"),
        include_bytes!("../../fuzz/seeds/tcp_two_messages_and_ping"),
    ];
    seeds.extend(TORTURE.iter().map(|(_, bytes, _)| *bytes));
    seeds
}

/// What `fuzz/fuzz_targets/sip_parse.rs` does with one input, on stable.
fn exercise(data: &[u8]) {
    if let Ok(request) = parse_request(data) {
        let summary = summarise(request.head);
        if let Some(via) = summary.via {
            for value in comma_values(via) {
                let _ = parse_via(value);
            }
        }
        let _ = parse_request_uri(request.uri);
        assert_eq!(parse_summarised(data), Ok((request, summary)));
    }
    let whole = Framer::default().next(data, 65_536);
    let mut framer = Framer::default();
    if framer.next(&data[..data.len() / 2], 65_536) == Frame::Incomplete {
        assert_eq!(framer.next(data, 65_536), whole);
    }
    let routes = table();
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        if respond(data, transport, source(), &routes, &mut out) {
            assert_well_formed(&out, data);
        } else {
            assert!(out.is_empty());
        }
    }
}

/// One edit of a seed: where, what, and a byte (an interesting one half the
/// time).
fn apply(m: &mut Vec<u8>, (at, kind, byte, len): (usize, u8, u8, usize)) {
    let at = at % (m.len() + 1);
    let byte = if byte < 128 {
        INTERESTING[usize::from(byte) % INTERESTING.len()]
    } else {
        byte
    };
    match kind {
        0 if at < m.len() => m[at] = byte,
        1 => m.insert(at, byte),
        2 => {
            let end = (at + len).min(m.len());
            m.drain(at..end);
        }
        3 => {
            let end = (at + len).min(m.len());
            let chunk = m[at..end].to_vec();
            m.splice(at..at, chunk);
        }
        _ => m.truncate(at),
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Bounded to a few seconds of `cargo test`; failures are not written
        // to disk (the seed printed on failure reproduces them).
        #![proptest_config(ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn mutated_seeds_never_panic_and_every_answer_is_a_valid_response(
            seed in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<usize>(), 0u8..5, any::<u8>(), 0usize..64), 0..8),
        ) {
            let seeds = fuzz_seeds();
            let mut m = seeds[seed.index(seeds.len())].to_vec();
            for edit in edits {
                apply(&mut m, edit);
            }
            exercise(&m);
        }
    }
}
