//! A minimal SIP client for the tests: one INVITE, one answer.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// The parts of a SIP response the tests look at.
#[derive(Debug)]
pub struct SipAnswer {
    pub status: u16,
    pub raw: String,
}

impl SipAnswer {
    pub fn parse(raw: String) -> SipAnswer {
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a SIP response: {raw:?}"));
        SipAnswer { status, raw }
    }

    /// The values of every header named `name` (case-insensitive), in order.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.raw
            .lines()
            .filter_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
            .collect()
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

pub fn invite(uri: &str, local: SocketAddr, transport: &str, call: &str) -> String {
    format!(
        "INVITE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@example.org>;tag=caller-{call}\r\n\
         To: <{uri}>\r\n\
         Call-ID: {call}@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

pub async fn invite_over_udp(server: SocketAddr, uri: &str, call: &str) -> SipAnswer {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("udp socket");
    let local = socket.local_addr().expect("local address");
    socket
        .send_to(invite(uri, local, "UDP", call).as_bytes(), server)
        .await
        .expect("send");
    let mut buffer = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .expect("an answer within 5 s")
        .expect("receive");
    SipAnswer::parse(String::from_utf8_lossy(&buffer[..n]).into_owned())
}
