//! The SIP redirect server over real sockets: UDP and TCP on 127.0.0.1.

use didhub::sip::{Lookup, RouteSource, SipConfig, SipServer, to_tag};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

const DID: &str = "+33123456789";
const UNFORWARDED: &str = "+33198765432";
const TARGET: &str = "sip:+33612345678@gw.example.net;user=phone";
/// How long to wait for an answer that must come.
const ANSWER: Duration = Duration::from_secs(5);
/// How long to wait to be sure no answer comes.
const SILENCE: Duration = Duration::from_millis(300);

struct Table(HashMap<String, Lookup>);

impl RouteSource for Table {
    fn lookup(&self, number: &str) -> Lookup {
        self.0.get(number).cloned().unwrap_or(Lookup::Unknown)
    }
}

struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: SipServer,
}

async fn start_with(config: SipConfig) -> Server {
    let mut routes = HashMap::new();
    routes.insert(
        DID.to_owned(),
        Lookup::Redirect {
            did: Arc::from(DID),
            contacts: Arc::from([Arc::from(TARGET)]),
        },
    );
    routes.insert(UNFORWARDED.to_owned(), Lookup::NoForward);
    let (stop, stopped) = watch::channel(false);
    let server = didhub::sip::start(config, Arc::new(Table(routes)), stopped)
        .await
        .expect("SIP server starts");
    Server {
        addr: server.local_addr,
        stop,
        server,
    }
}

async fn start() -> Server {
    start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SipConfig::default()
    })
    .await
}

/// A UDP client socket on loopback.
async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// A request from `via_host` (sent-by) with a `branch` derived from the
/// method and the given Call-ID; `extra` header lines go before
/// Content-Length.
fn request(method: &str, uri: &str, via: &str, call_id: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\n\
Via: {via}\r\n\
Max-Forwards: 70\r\n\
From: \"Caller\" <sip:+14155550100@pbx.example.org>;tag=f1\r\n\
To: <{uri}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 {method}\r\n\
{extra}Content-Length: 0\r\n\
\r\n"
    )
}

/// A Via naming the client's own address, as sipp and most UAs send.
fn via_of(socket: &UdpSocket, branch: &str) -> String {
    format!(
        "SIP/2.0/UDP {};branch=z9hG4bK{branch}",
        socket.local_addr().unwrap()
    )
}

async fn exchange(socket: &UdpSocket, to: SocketAddr, message: &[u8]) -> String {
    socket.send_to(message, to).await.unwrap();
    receive(socket).await
}

async fn receive(socket: &UdpSocket) -> String {
    let mut buf = vec![0u8; 70_000];
    let (n, _) = timeout(ANSWER, socket.recv_from(&mut buf))
        .await
        .expect("an answer within the time limit")
        .unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

async fn assert_silent(socket: &UdpSocket) {
    let mut buf = vec![0u8; 70_000];
    if let Ok(received) = timeout(SILENCE, socket.recv_from(&mut buf)).await {
        let (n, _) = received.unwrap();
        panic!("unexpected answer: {}", String::from_utf8_lossy(&buf[..n]));
    }
}

fn status(response: &str) -> u16 {
    response[8..11].parse().unwrap()
}

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

/// Asserts the server still answers a plain OPTIONS from a fresh socket.
async fn assert_alive(addr: SocketAddr) {
    let socket = client().await;
    let options = request(
        "OPTIONS",
        "sip:didhub",
        &via_of(&socket, "alive"),
        "alive@t",
        "",
    );
    assert_eq!(
        status(&exchange(&socket, addr, options.as_bytes()).await),
        200
    );
}

#[tokio::test]
async fn an_invite_over_udp_gets_a_302_with_contact_diversion_to_tag_and_rewritten_via() {
    let server = start().await;
    let socket = client().await;
    let port = socket.local_addr().unwrap().port();
    let invite = request(
        "INVITE",
        "sip:+33123456789@didhub.example.com;user=phone",
        "SIP/2.0/UDP pbx.example.org:5060;branch=z9hG4bK74bf9;rport",
        "3848276298220188511@pbx.example.org",
        "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKouter\r\n",
    );
    let response = exchange(&socket, server.addr, invite.as_bytes()).await;
    let tag = to_tag(
        b"3848276298220188511@pbx.example.org",
        b"1 INVITE",
        b"z9hG4bK74bf9",
    );
    let expected = format!(
        "SIP/2.0 302 Moved Temporarily\r\n\
Via: SIP/2.0/UDP pbx.example.org:5060;branch=z9hG4bK74bf9;rport={port};received=127.0.0.1\r\n\
Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKouter\r\n\
From: \"Caller\" <sip:+14155550100@pbx.example.org>;tag=f1\r\n\
To: <sip:+33123456789@didhub.example.com;user=phone>;tag={}\r\n\
Call-ID: 3848276298220188511@pbx.example.org\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+33612345678@gw.example.net;user=phone>\r\n\
Diversion: <sip:+33123456789@didhub.example.com>;reason=unconditional\r\n\
Server: didhub/{}\r\n\
Content-Length: 0\r\n\
\r\n",
        std::str::from_utf8(&tag).unwrap(),
        env!("CARGO_PKG_VERSION"),
    );
    assert_eq!(response, expected);
}

#[tokio::test]
async fn every_dialled_form_of_the_did_is_redirected_over_udp() {
    let server = start().await;
    let socket = client().await;
    for (i, uri) in [
        "sip:+33123456789@h",
        "sip:33123456789@h",
        "sip:0033123456789@h",
        "tel:+33123456789",
        "sip:+33123456789@h;user=phone",
        "sip:%2B33-1-23.45.67.89@h",
        "sip:+33(1)23456789@h",
    ]
    .into_iter()
    .enumerate()
    {
        let invite = request(
            "INVITE",
            uri,
            &via_of(&socket, &i.to_string()),
            "forms@t",
            "",
        );
        let response = exchange(&socket, server.addr, invite.as_bytes()).await;
        assert_eq!(status(&response), 302, "{uri}: {response}");
        assert_eq!(header_values(&response, "Contact"), [format!("<{TARGET}>")]);
    }
}

#[tokio::test]
async fn unknown_numbers_get_404_and_unforwarded_ones_480() {
    let server = start().await;
    let socket = client().await;
    let via = via_of(&socket, "a");
    let unknown = request("INVITE", "sip:+33999999999@h", &via, "unknown@t", "");
    let response = exchange(&socket, server.addr, unknown.as_bytes()).await;
    assert!(
        response.starts_with("SIP/2.0 404 Not Found\r\n"),
        "{response}"
    );
    let unforwarded = request("INVITE", "sip:+33198765432@h", &via, "unforwarded@t", "");
    let response = exchange(&socket, server.addr, unforwarded.as_bytes()).await;
    assert!(
        response.starts_with("SIP/2.0 480 Temporarily Unavailable\r\n"),
        "{response}"
    );
    assert!(header_values(&response, "Contact").is_empty());
}

#[tokio::test]
async fn max_forwards_zero_gets_483() {
    let server = start().await;
    let socket = client().await;
    let invite = request(
        "INVITE",
        "sip:+33123456789@h",
        &via_of(&socket, "mf"),
        "mf@t",
        "",
    )
    .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let response = exchange(&socket, server.addr, invite.as_bytes()).await;
    assert!(
        response.starts_with("SIP/2.0 483 Too Many Hops\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn options_gets_200_with_allow() {
    let server = start().await;
    let socket = client().await;
    let options = request(
        "OPTIONS",
        "sip:didhub.example.com",
        &via_of(&socket, "o"),
        "o@t",
        "",
    );
    let response = exchange(&socket, server.addr, options.as_bytes()).await;
    assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    assert_eq!(header_values(&response, "Allow"), ["INVITE, ACK, OPTIONS"]);
    assert_eq!(header_values(&response, "CSeq"), ["1 OPTIONS"]);
}

#[tokio::test]
async fn an_ack_gets_no_answer() {
    let server = start().await;
    let socket = client().await;
    let ack = request(
        "ACK",
        "sip:+33123456789@h",
        &via_of(&socket, "ack"),
        "ack@t",
        "",
    );
    socket.send_to(ack.as_bytes(), server.addr).await.unwrap();
    assert_silent(&socket).await;
    assert_alive(server.addr).await;
}

#[tokio::test]
async fn bye_register_and_other_methods_get_405_with_allow_and_cancel_gets_481() {
    let server = start().await;
    let socket = client().await;
    for method in ["BYE", "REGISTER", "SUBSCRIBE", "MESSAGE"] {
        let text = request(
            method,
            "sip:+33123456789@h",
            &via_of(&socket, method),
            "m@t",
            "",
        );
        let response = exchange(&socket, server.addr, text.as_bytes()).await;
        assert!(
            response.starts_with("SIP/2.0 405 Method Not Allowed\r\n"),
            "{response}"
        );
        assert_eq!(header_values(&response, "Allow"), ["INVITE, ACK, OPTIONS"]);
    }
    let cancel = request(
        "CANCEL",
        "sip:+33123456789@h",
        &via_of(&socket, "c"),
        "c@t",
        "",
    );
    let response = exchange(&socket, server.addr, cancel.as_bytes()).await;
    assert!(response.starts_with("SIP/2.0 481 "), "{response}");
}

#[tokio::test]
async fn a_retransmitted_invite_gets_a_byte_identical_answer() {
    let server = start().await;
    let socket = client().await;
    let invite = request(
        "INVITE",
        "sip:+33123456789@h",
        &via_of(&socket, "re"),
        "re@t",
        "",
    );
    let first = exchange(&socket, server.addr, invite.as_bytes()).await;
    let second = exchange(&socket, server.addr, invite.as_bytes()).await;
    assert_eq!(status(&first), 302);
    assert_eq!(first, second);
    assert!(header_values(&first, "To")[0].contains(";tag="));
}

#[tokio::test]
async fn without_rport_the_answer_goes_to_the_port_in_the_via() {
    let server = start().await;
    let sender = client().await;
    let listener = client().await;
    // Sent from one socket, naming another in its Via (RFC 3261 §18.2.2).
    let options = request("OPTIONS", "sip:h", &via_of(&listener, "p"), "port@t", "");
    sender
        .send_to(options.as_bytes(), server.addr)
        .await
        .unwrap();
    let response = receive(&listener).await;
    assert_eq!(status(&response), 200);
    assert_silent(&sender).await;
}

#[tokio::test]
async fn a_malformed_request_with_a_parseable_via_gets_400() {
    let server = start().await;
    let socket = client().await;
    let bad = request(
        "INVITE",
        "sip:+33123456789@h",
        &via_of(&socket, "bad"),
        "bad@t",
        "",
    )
    .replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let response = exchange(&socket, server.addr, bad.as_bytes()).await;
    assert!(
        response.starts_with("SIP/2.0 400 Bad Request\r\n"),
        "{response}"
    );
    assert_eq!(header_values(&response, "Call-ID"), ["bad@t"]);
    assert!(header_values(&response, "Warning")[0].contains("CSeq"));
}

#[tokio::test]
async fn garbage_gets_nothing_and_the_server_still_answers_the_next_request() {
    let server = start().await;
    let socket = client().await;
    for garbage in [
        &b"\x00\x01\x02\xff garbage"[..],
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"\r\n\r\n",
        b"INVITE sip:+33123456789@h SIP/2.0\r\nVia: broken\r\n\r\n",
    ] {
        socket.send_to(garbage, server.addr).await.unwrap();
    }
    assert_silent(&socket).await;
    let options = request("OPTIONS", "sip:h", &via_of(&socket, "next"), "next@t", "");
    assert_eq!(
        status(&exchange(&socket, server.addr, options.as_bytes()).await),
        200
    );
}

/// With an allow-list, a peer outside it gets nothing over UDP and its TCP
/// connection is closed; a listed peer is answered as usual.
#[tokio::test]
async fn only_peers_in_the_allow_list_are_answered() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow: didhub::sip::Allow::parse("127.0.0.2, 10.0.0.0/8").unwrap(),
        ..SipConfig::default()
    })
    .await;

    let outsider = client().await;
    let invite = |socket: &UdpSocket, id: &str| {
        request(
            "INVITE",
            "sip:+33123456789@h",
            &via_of(socket, id),
            &format!("{id}@t"),
            "",
        )
    };
    outsider
        .send_to(invite(&outsider, "outsider").as_bytes(), server.addr)
        .await
        .unwrap();
    assert_silent(&outsider).await;

    let listed = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let response = exchange(&listed, server.addr, invite(&listed, "listed").as_bytes()).await;
    assert_eq!(status(&response), 302, "{response}");

    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let options = request(
        "OPTIONS",
        "sip:h",
        "SIP/2.0/TCP h;branch=z9hG4bKtcp",
        "tcp@t",
        "",
    );
    // The write may fail or succeed depending on when the close lands; the
    // read must end without an answer either way.
    let _ = refused.write_all(options.as_bytes()).await;
    let mut buf = Vec::new();
    let read = timeout(ANSWER, refused.read_to_end(&mut buf))
        .await
        .expect("the connection is closed, not left open");
    assert!(
        read.is_err() || buf.is_empty(),
        "answered: {}",
        String::from_utf8_lossy(&buf)
    );

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut allowed = socket.connect(server.addr).await.unwrap();
    allowed.write_all(options.as_bytes()).await.unwrap();
    let answers = read_responses(&mut allowed, 1).await;
    assert_eq!(status(&answers[0]), 200);
}

/// The batched receive and send carry IPv6 addresses too: the answer goes
/// back to the [::1] port it came from.
#[tokio::test]
async fn an_invite_over_udp_on_ipv6_gets_its_302() {
    let Ok(socket) = UdpSocket::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback on this machine; nothing to test");
        return;
    };
    let server = start_with(SipConfig {
        listen: "[::1]:0".parse().unwrap(),
        ..SipConfig::default()
    })
    .await;
    let invite = request(
        "INVITE",
        "sip:+33123456789@h",
        &format!(
            "SIP/2.0/UDP {};branch=z9hG4bKv6;rport",
            socket.local_addr().unwrap()
        ),
        "v6@t",
        "",
    );
    let response = exchange(&socket, server.addr, invite.as_bytes()).await;
    assert_eq!(status(&response), 302, "{response}");
    assert_eq!(header_values(&response, "Contact"), [format!("<{TARGET}>")]);
    let port = socket.local_addr().unwrap().port();
    assert!(
        header_values(&response, "Via")[0].contains(&format!(";rport={port}")),
        "{response}"
    );
}

/// Requests that queue up while the server is busy are taken in batches
/// (recvmmsg) and answered in batches (sendmmsg): each answer must still be
/// the one for its own request.
#[tokio::test]
async fn a_burst_of_queued_invites_gets_one_matching_answer_each() {
    let server = start().await;
    let socket = client().await;
    // Rounds small enough for both sockets' default receive buffers, even
    // when the machine is busy and a reader is late.
    let (rounds, per_round) = (10, 40);
    let mut answered = std::collections::HashSet::new();
    for round in 0..rounds {
        for i in round * per_round..(round + 1) * per_round {
            let (uri, call_id) = if i % 3 == 0 {
                ("sip:+33999999999@h", format!("unknown-{i}@t"))
            } else {
                ("sip:+33123456789@h", format!("routed-{i}@t"))
            };
            let via = via_of(&socket, &format!("burst{i}"));
            let invite = request("INVITE", uri, &via, &call_id, "");
            socket
                .send_to(invite.as_bytes(), server.addr)
                .await
                .unwrap();
        }
        for _ in 0..per_round {
            let response = receive(&socket).await;
            let call_id = header_values(&response, "Call-ID")[0].to_owned();
            let expected = if call_id.starts_with("unknown-") {
                404
            } else {
                302
            };
            assert_eq!(status(&response), expected, "{response}");
            if expected == 302 {
                assert_eq!(header_values(&response, "Contact"), [format!("<{TARGET}>")]);
            }
            let i = &call_id[call_id.find('-').unwrap() + 1..call_id.find('@').unwrap()];
            let branch = format!("branch=z9hG4bKburst{i}");
            assert!(
                header_values(&response, "Via")[0]
                    .split(';')
                    .any(|p| p == branch),
                "{response}"
            );
            assert!(answered.insert(call_id), "answered twice: {response}");
        }
    }
    let calls = rounds * per_round;
    assert_eq!(answered.len(), calls);
    assert_silent(&socket).await;
}

/// An answer sent to a closed port comes back as an ICMP error, which Linux
/// reports on the server's next receive; the server must carry on.
#[tokio::test]
async fn an_answer_to_a_closed_port_does_not_stop_the_server() {
    let server = start().await;
    let closed = client().await;
    let closed_via = via_of(&closed, "closed");
    drop(closed);
    let socket = client().await;
    for i in 0..5 {
        let options = request(
            "OPTIONS",
            "sip:h",
            &closed_via,
            &format!("closed-{i}@t"),
            "",
        );
        socket
            .send_to(options.as_bytes(), server.addr)
            .await
            .unwrap();
        sleep(Duration::from_millis(20)).await;
    }
    assert_silent(&socket).await;
    assert_alive(server.addr).await;
}

/// A valid INVITE padded (with an extra header) to exactly `size` bytes.
fn padded_invite(socket: &UdpSocket, size: usize) -> Vec<u8> {
    let base = request(
        "INVITE",
        "sip:+33123456789@h",
        &via_of(socket, "big"),
        "big@t",
        "",
    );
    let overhead = "X-Pad: \r\n".len();
    let pad = "p".repeat(size - base.len() - overhead);
    let text = base.replace(
        "Content-Length: 0",
        &format!("X-Pad: {pad}\r\nContent-Length: 0"),
    );
    assert_eq!(text.len(), size);
    text.into_bytes()
}

#[tokio::test]
async fn a_datagram_over_the_size_limit_is_dropped() {
    // UDP over IPv4 carries at most 65,507 bytes, so a datagram over the
    // default 64 KiB limit cannot exist: exercise the limit with a smaller one.
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_message_bytes: 8 * 1024,
        ..SipConfig::default()
    })
    .await;
    let socket = client().await;
    socket
        .send_to(&padded_invite(&socket, 8 * 1024 + 1), server.addr)
        .await
        .unwrap();
    assert_silent(&socket).await;
    let response = exchange(&socket, server.addr, &padded_invite(&socket, 8 * 1024)).await;
    assert_eq!(status(&response), 302);
}

#[tokio::test]
async fn the_largest_possible_datagram_is_within_the_default_limit() {
    let server = start().await;
    let socket = client().await;
    let response = exchange(&socket, server.addr, &padded_invite(&socket, 65_507)).await;
    assert_eq!(status(&response), 302);
}

// ------------------------------------------------------------------- TCP

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.addr).await.unwrap()
}

fn tcp_request(stream: &TcpStream, method: &str, uri: &str, call_id: &str) -> String {
    let via = format!(
        "SIP/2.0/TCP {};branch=z9hG4bK{call_id}",
        stream.local_addr().unwrap()
    );
    request(method, uri, &via, call_id, "")
}

/// Reads until `count` complete responses (each ending in a blank line, as
/// all ours have Content-Length: 0) have arrived.
async fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8(received.clone()).unwrap();
        let responses: Vec<String> = text
            .split_inclusive("\r\n\r\n")
            .filter(|r| r.ends_with("\r\n\r\n"))
            .map(str::to_owned)
            .collect();
        if responses.len() >= count {
            return responses;
        }
        let n = timeout(ANSWER, stream.read(&mut buf))
            .await
            .expect("answers within the time limit")
            .unwrap();
        assert!(n > 0, "connection closed after {text:?}");
        received.extend_from_slice(&buf[..n]);
    }
}

/// Asserts the server closes the connection (after any bytes it still sends).
async fn assert_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let read = timeout(ANSWER, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection");
    // Closing with unread bytes in its buffer makes the server's side send a reset.
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    rest
}

#[tokio::test]
async fn two_messages_in_one_tcp_write_get_two_answers_in_order() {
    let server = start().await;
    let mut stream = connect(&server).await;
    let both = format!(
        "{}{}",
        tcp_request(&stream, "INVITE", "sip:+33123456789@h", "one"),
        tcp_request(&stream, "INVITE", "sip:+33999999999@h", "two")
    );
    stream.write_all(both.as_bytes()).await.unwrap();
    let responses = read_responses(&mut stream, 2).await;
    assert_eq!(responses.len(), 2);
    assert_eq!(status(&responses[0]), 302);
    assert_eq!(header_values(&responses[0], "Call-ID"), ["one"]);
    assert_eq!(status(&responses[1]), 404);
    assert_eq!(header_values(&responses[1], "Call-ID"), ["two"]);
    // Over TCP the Via gets no received (sent-by is the source) and no rport.
    let port = stream.local_addr().unwrap().port();
    assert_eq!(
        header_values(&responses[0], "Via"),
        [format!("SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bKone")]
    );
}

#[tokio::test]
async fn one_tcp_message_split_over_three_writes_gets_one_answer() {
    let server = start().await;
    let mut stream = connect(&server).await;
    let invite = tcp_request(&stream, "INVITE", "sip:+33123456789@h", "split").replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Length: 10\r\n\r\nv=0\r\no=x\r\n",
    );
    let bytes = invite.as_bytes();
    let (a, rest) = bytes.split_at(30);
    let (b, c) = rest.split_at(rest.len() - 6);
    for part in [a, b, c] {
        stream.write_all(part).await.unwrap();
        stream.flush().await.unwrap();
        sleep(Duration::from_millis(100)).await;
    }
    let responses = read_responses(&mut stream, 1).await;
    assert_eq!(responses.len(), 1);
    assert_eq!(status(&responses[0]), 302);
    // Nothing else follows, and the connection stays usable.
    let options = tcp_request(&stream, "OPTIONS", "sip:h", "after");
    stream.write_all(options.as_bytes()).await.unwrap();
    let responses = read_responses(&mut stream, 1).await;
    assert_eq!(header_values(&responses[0], "Call-ID"), ["after"]);
}

#[tokio::test]
async fn a_tcp_message_without_content_length_gets_400_and_the_connection_is_closed() {
    let server = start().await;
    let mut stream = connect(&server).await;
    let invite = tcp_request(&stream, "INVITE", "sip:+33123456789@h", "nolen")
        .replace("Content-Length: 0\r\n", "");
    stream.write_all(invite.as_bytes()).await.unwrap();
    let rest = String::from_utf8(assert_closed(&mut stream).await).unwrap();
    assert!(rest.starts_with("SIP/2.0 400 Bad Request\r\n"), "{rest}");
    assert!(header_values(&rest, "Warning")[0].contains("Missing Content-Length"));
}

#[tokio::test]
async fn a_tcp_keepalive_ping_gets_a_pong() {
    let server = start().await;
    let mut stream = connect(&server).await;
    stream.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    timeout(ANSWER, stream.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
}

#[tokio::test]
async fn a_tcp_message_over_the_size_limit_closes_the_connection() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_message_bytes: 4096,
        ..SipConfig::default()
    })
    .await;
    let mut stream = connect(&server).await;
    // Headers that never end: the server stops buffering and closes.
    stream
        .write_all(b"INVITE sip:+33123456789@h SIP/2.0\r\n")
        .await
        .unwrap();
    let line = format!("X-Filler: {}\r\n", "f".repeat(100));
    let mut closed = false;
    for _ in 0..200 {
        if stream.write_all(line.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        assert!(assert_closed(&mut stream).await.is_empty());
    }
}

#[tokio::test]
async fn tcp_connections_beyond_the_limit_are_closed_at_once() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_tcp_connections: 2,
        ..SipConfig::default()
    })
    .await;
    let mut first = connect(&server).await;
    let mut second = connect(&server).await;
    // Both are served (so both have been accepted) before the third comes.
    for (stream, id) in [(&mut first, "first"), (&mut second, "second")] {
        let options = tcp_request(stream, "OPTIONS", "sip:h", id);
        stream.write_all(options.as_bytes()).await.unwrap();
        assert_eq!(status(&read_responses(stream, 1).await[0]), 200);
    }
    let mut third = connect(&server).await;
    assert!(assert_closed(&mut third).await.is_empty());
    // Once one closes, a new connection is accepted again (as soon as the
    // server has noticed the close).
    drop(first);
    let began = std::time::Instant::now();
    loop {
        let mut fourth = connect(&server).await;
        let options = tcp_request(&fourth, "OPTIONS", "sip:h", "fourth");
        let _ = fourth.write_all(options.as_bytes()).await;
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = timeout(Duration::from_millis(200), fourth.read(&mut buf)).await
            && n > 0
        {
            assert!(buf.starts_with(b"SIP/2.0 200 OK\r\n"));
            break;
        }
        assert!(
            began.elapsed() < ANSWER,
            "no connection accepted after one closed"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_idle_tcp_connection_is_closed() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tcp_idle: Duration::from_millis(300),
        ..SipConfig::default()
    })
    .await;
    let mut stream = connect(&server).await;
    let began = std::time::Instant::now();
    assert!(assert_closed(&mut stream).await.is_empty());
    assert!(began.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn udp_and_tcp_share_the_port_and_stop_ends_everything() {
    let server = start().await;
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr.port(), 0);
    assert_alive(server.addr).await;
    let mut stream = connect(&server).await;
    let options = tcp_request(&stream, "OPTIONS", "sip:h", "tcp-alive");
    stream.write_all(options.as_bytes()).await.unwrap();
    assert_eq!(status(&read_responses(&mut stream, 1).await[0]), 200);

    server.stop.send(true).unwrap();
    timeout(ANSWER, server.server.wait())
        .await
        .expect("the server stops promptly");
    assert!(assert_closed(&mut stream).await.is_empty());
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn a_busy_port_is_reported_not_ignored() {
    let server = start().await;
    let (_stop, stopped) = watch::channel(false);
    let routes: Arc<dyn RouteSource> = Arc::new(Table(HashMap::new()));
    let taken = SipConfig {
        listen: server.addr,
        ..SipConfig::default()
    };
    let error = didhub::sip::start(taken, routes, stopped)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
}

// ------------------------------------------------- hostile TCP peers

/// A TCP connection to the server from `from` (any loopback address: the
/// whole 127.0.0.0/8 reaches the server, each address a different peer).
async fn connect_from(server: &Server, from: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server.addr).await.unwrap()
}

#[tokio::test]
async fn one_peer_holding_a_thousand_slow_connections_does_not_lock_out_another() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        // Long enough that nothing times out during the test: only the
        // per-peer limit keeps slots free.
        tcp_message_timeout: Duration::from_secs(60),
        tcp_idle: Duration::from_secs(60),
        ..SipConfig::default()
    })
    .await;
    assert_eq!(SipConfig::default().max_tcp_connections, 1024);
    // 1,024 connections from 127.0.0.1, each with the first byte of a
    // message that never completes (the server may already have closed the
    // ones over its per-peer limit, so writes may fail).
    let mut slow = Vec::with_capacity(1024);
    for _ in 0..1024 {
        let mut stream = connect_from(&server, "127.0.0.1").await;
        let _ = stream.write_all(b"I").await;
        slow.push(stream);
    }
    // Dribble one more byte on each, as the attacker would to stay active.
    for stream in &mut slow {
        let _ = stream.write_all(b"N").await;
    }
    let began = std::time::Instant::now();
    let mut stream = connect_from(&server, "127.0.0.2").await;
    let invite = tcp_request(&stream, "INVITE", "sip:+33123456789@h", "other-peer");
    stream.write_all(invite.as_bytes()).await.unwrap();
    let responses = read_responses(&mut stream, 1).await;
    assert_eq!(status(&responses[0]), 302);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    // 127.0.0.1 holds no more than its share: most of its connections were
    // closed at once.
    let mut open = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        if let Err(_elapsed) = timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
            open += 1;
        }
    }
    let per_peer = SipConfig::default().max_tcp_per_peer;
    assert!(
        open <= per_peer,
        "{open} connections from one peer still open"
    );
}

#[tokio::test]
async fn a_tcp_message_dribbled_slower_than_the_message_timeout_is_cut_off() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tcp_message_timeout: Duration::from_millis(500),
        tcp_idle: Duration::from_secs(30),
        ..SipConfig::default()
    })
    .await;
    let stream = connect(&server).await;
    let invite = tcp_request(&stream, "INVITE", "sip:+33123456789@h", "dribble");
    let (mut read, mut write) = stream.into_split();
    // A byte every 100 ms keeps the connection from ever being idle.
    let dribbler = tokio::spawn(async move {
        for byte in invite.bytes() {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            sleep(Duration::from_millis(100)).await;
        }
    });
    let began = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = timeout(Duration::from_secs(5), read.read_to_end(&mut rest)).await;
    let elapsed = began.elapsed();
    dribbler.abort();
    assert!(closed.is_ok(), "still open after {elapsed:?}");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn messages_arriving_in_time_are_not_cut_off_by_the_message_timeout() {
    let server = start_with(SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tcp_message_timeout: Duration::from_millis(500),
        ..SipConfig::default()
    })
    .await;
    let mut stream = connect(&server).await;
    // Three messages 300 ms apart, each sent in two halves 200 ms apart:
    // more than the timeout in total, less for each message.
    for i in 0..3 {
        let options = tcp_request(&stream, "OPTIONS", "sip:h", &format!("timely{i}"));
        let (a, b) = options.as_bytes().split_at(40);
        stream.write_all(a).await.unwrap();
        sleep(Duration::from_millis(200)).await;
        stream.write_all(b).await.unwrap();
        let responses = read_responses(&mut stream, 1).await;
        assert_eq!(status(&responses[0]), 200);
        sleep(Duration::from_millis(300)).await;
    }
}

// ---------------------------------------------- RFC 4475 over real sockets

#[tokio::test]
async fn rfc_4475_torture_messages_over_udp_get_their_answers() {
    let server = start().await;
    // Each top Via gains `rport` so that the answer comes back to this
    // socket rather than to the Via's host at port 5060.
    let cases: [(&[u8], &str, &str, Option<u16>); 7] = [
        (
            include_bytes!("sip_torture/intmeth.sip"),
            "branch=z9hG4bK-.!%66*_+`'~",
            "branch=z9hG4bK-.!%66*_+`'~;rport",
            Some(405),
        ),
        (include_bytes!("sip_torture/esc02.sip"), "", "", Some(405)),
        (
            include_bytes!("sip_torture/wsinv.sip"),
            "branch=390skdjuw",
            "branch=390skdjuw;rport",
            Some(404),
        ),
        (
            include_bytes!("sip_torture/unkscm.sip"),
            "branch=z9hG4bKkdjuw39234",
            "branch=z9hG4bKkdjuw39234;rport",
            Some(416),
        ),
        (
            include_bytes!("sip_torture/bext01.sip"),
            "branch=z9hG4bKkdjuw39234",
            "branch=z9hG4bKkdjuw39234;rport",
            Some(420),
        ),
        (
            include_bytes!("sip_torture/badinv01.sip"),
            "192.0.2.15;;",
            "192.0.2.15;rport;;",
            Some(400),
        ),
        (include_bytes!("sip_torture/unreason.sip"), "", "", None),
    ];
    let socket = client().await;
    for (bytes, from, to, expected) in cases {
        let message = String::from_utf8_lossy(bytes).replacen(from, to, 1);
        assert!(from.is_empty() || message.contains(to));
        socket
            .send_to(message.as_bytes(), server.addr)
            .await
            .unwrap();
        match expected {
            Some(code) => assert_eq!(status(&receive(&socket).await), code, "{message}"),
            None => assert_silent(&socket).await,
        }
    }
}

#[tokio::test]
async fn a_long_extension_method_over_tcp_gets_405() {
    let server = start().await;
    let mut stream = connect(&server).await;
    let intmeth = include_bytes!("sip_torture/intmeth.sip");
    stream.write_all(intmeth).await.unwrap();
    let responses = read_responses(&mut stream, 1).await;
    assert_eq!(status(&responses[0]), 405);
    assert_eq!(
        header_values(&responses[0], "CSeq"),
        ["139122385 !interesting-Method0123456789_*+`.%indeed'~"]
    );
}
