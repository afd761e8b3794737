//! One request in, one response out: the redirect server's whole logic, pure
//! and allocation-free on the common paths (the response goes into a buffer
//! the caller reuses).

use super::number::{Scratch, to_e164};
use super::parse::{
    Name, Problem, Request, RequestUri, Scheme, Summary, UriError, Via, comma_values, list_values,
    name_addr_params, params, parse_cseq, parse_length, parse_request_uri, parse_summarised,
    parse_u32, parse_via,
};
use super::{Lookup, RouteSource, Transport};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

macro_rules! allow {
    () => {
        "INVITE, ACK, OPTIONS"
    };
}

/// The methods the redirect server handles, for `Allow`.
pub const ALLOW: &str = allow!();
/// The `Server` header's value.
pub const SERVER: &str = concat!("didhub/", env!("CARGO_PKG_VERSION"));

/// The `To` tag the server adds to its answers when the request's `To` has
/// none: 16 hex digits derived from `Call-ID`, `CSeq` and the top Via's
/// `branch` (each value as written), so a retransmission of a request gets
/// the same tag without the server keeping state.
pub fn to_tag(call_id: &[u8], cseq: &[u8], branch: &[u8]) -> [u8; 16] {
    // FNV-1a over the three fields (with separators), then a SplitMix64
    // finaliser to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for field in [call_id, cseq, branch] {
        for &b in field.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let mut tag = [0u8; 16];
    for (i, t) in tag.iter_mut().enumerate() {
        let nibble = (h >> (60 - 4 * i)) & 0xf;
        *t = b"0123456789abcdef"[nibble as usize];
    }
    tag
}

/// [`decide`], counted in [`super::stats`]: the one place every request's
/// answer is known, whichever transport it came on.
pub fn respond_to(
    request: &[u8],
    transport: Transport,
    source: SocketAddr,
    routes: &dyn RouteSource,
    out: &mut Vec<u8>,
) -> Option<SocketAddr> {
    let destination = decide(request, transport, source, routes, out);
    super::stats::count(request, destination.map(|_| out.as_slice()));
    destination
}

/// Like [`respond`](super::respond), but also says where the answer goes:
/// over TCP, back on the connection (`source`); over UDP, per RFC 3261
/// §18.2.2 and RFC 3581, to the source address, at the source port if the top
/// Via asked with `rport`, else at the Via's sent-by port (default 5060).
/// `None` means no answer (ACK, responses, garbage, unaddressable requests);
/// `out` is cleared either way.
///
/// The steps, in RFC 3261's order: find what every answer echoes
/// ([`echo_of`]), check the version and the message's shape
/// ([`malformation`]), then Max-Forwards, the method, the Request-URI's
/// scheme and `Require` ([`refusal`]), and finally answer OPTIONS or look the
/// INVITE's number up ([`answer_invite`]).
fn decide(
    request: &[u8],
    transport: Transport,
    source: SocketAddr,
    routes: &dyn RouteSource,
    out: &mut Vec<u8>,
) -> Option<SocketAddr> {
    out.clear();
    let (req, s) = parse_summarised(request).ok()?;
    // ACK is never answered (RFC 3261 §17.2.1), whatever its shape.
    if req.method == b"ACK" {
        return None;
    }
    let top = comma_values(s.via?).find(|v| !v.is_empty())?;
    let via = parse_via(top)?;
    let ctx = echo_of(&s, &via, source)?;
    let destination = reply_address(transport, source, &via)?;

    if !req.version.eq_ignore_ascii_case(b"SIP/2.0") {
        ctx.simple(out, "505 Version Not Supported");
        return Some(destination);
    }
    let uri = parse_request_uri(req.uri);
    let max_forwards = match malformation(&req, &s, &via, transport, uri.as_ref().err()) {
        Err(problem) => {
            ctx.start(out, "400 Bad Request");
            out.extend_from_slice(b"Warning: 399 didhub \"");
            out.extend_from_slice(problem.text().as_bytes());
            out.extend_from_slice(b"\"\r\n");
            ctx.finish(out);
            return Some(destination);
        }
        Ok(max_forwards) => max_forwards,
    };
    if refusal(&ctx, &req, &s, max_forwards, uri.is_ok(), out) {
        return Some(destination);
    }
    match uri {
        Ok(uri) if req.method == b"INVITE" => answer_invite(&ctx, &uri, &s, routes, out),
        _ => {
            ctx.start(out, "200 OK");
            out.extend_from_slice(
                concat!("Allow: ", allow!(), "\r\nAccept: application/sdp\r\n").as_bytes(),
            );
            ctx.finish(out);
        }
    }
    Some(destination)
}

/// Everything a response must echo, or `None` when something is missing and
/// the request is dropped, as there is no one to address a 400 to. Fields
/// present but malformed are echoed as written in a 400 (RFC 4475 §3.1.2).
fn echo_of<'a>(s: &Summary<'a>, via: &'a Via<'a>, source: SocketAddr) -> Option<Echo<'a>> {
    let to = s.to.filter(|v| !v.is_empty())?;
    let to_params = name_addr_params(to).filter(|p| params(p).valid());
    let to_has_tag = to_params.is_some_and(|p| params(p).find(b"tag").is_some());
    let call_id = s.call_id.filter(|v| !v.is_empty())?;
    let cseq = s.cseq.filter(|v| !v.is_empty())?;
    Some(Echo {
        vias: s.vias,
        via,
        source,
        from: s.from.filter(|v| !v.is_empty())?,
        to,
        // A To too broken to say whether it has a tag gets none added.
        to_tag: (to_params.is_some() && !to_has_tag)
            .then(|| to_tag(call_id, cseq, via.branch.unwrap_or_default())),
        call_id,
        cseq,
    })
}

/// Where a UDP answer goes (see [`decide`]); `None` for an unusable `rport`.
fn reply_address(transport: Transport, source: SocketAddr, via: &Via<'_>) -> Option<SocketAddr> {
    match transport {
        Transport::Tcp => Some(source),
        Transport::Udp => {
            let port = match via.rport {
                Some(None) => source.port(),
                Some(Some(v)) => parse_u32(v)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| p != 0)?,
                None => via.port.unwrap_or(5060),
            };
            // The address as received (an IPv4-mapped one stays mapped, as the
            // socket it goes out on may be IPv6).
            Some(SocketAddr::new(source.ip(), port))
        }
    }
}

/// The first reason to answer 400, if any; otherwise the Max-Forwards value.
fn malformation(
    req: &Request<'_>,
    s: &Summary<'_>,
    via: &Via<'_>,
    transport: Transport,
    uri_error: Option<&UriError>,
) -> Result<Option<u32>, Problem> {
    let mut problem = s.problem;
    if via.malformed_params {
        problem.get_or_insert(Problem::BadVia);
    }
    if s.from.and_then(name_addr_params).is_none() {
        problem.get_or_insert(Problem::BadFrom);
    }
    if s.to
        .and_then(name_addr_params)
        .filter(|p| params(p).valid())
        .is_none()
    {
        problem.get_or_insert(Problem::BadTo);
    }
    if !req.complete {
        problem.get_or_insert(Problem::NoBlankLine);
    }
    match s.content_length.map(parse_length) {
        None if transport == Transport::Tcp => {
            problem.get_or_insert(Problem::MissingContentLength);
        }
        Some(None) => {
            problem.get_or_insert(Problem::BadContentLength);
        }
        Some(Some(n)) if n > req.body.len() => {
            problem.get_or_insert(Problem::TruncatedBody);
        }
        _ => {}
    }
    match s.cseq.and_then(parse_cseq).map(|(_, method)| method) {
        None => {
            problem.get_or_insert(Problem::BadCSeq);
        }
        Some(method) if method != req.method => {
            problem.get_or_insert(Problem::CSeqMethodMismatch);
        }
        Some(_) => {}
    }
    let max_forwards = s.max_forwards.map(parse_u32);
    if max_forwards == Some(None) {
        problem.get_or_insert(Problem::BadMaxForwards);
    }
    if uri_error == Some(&UriError::Malformed) {
        problem.get_or_insert(Problem::BadRequestUri);
    }
    match problem {
        Some(problem) => Err(problem),
        None => Ok(max_forwards.flatten()),
    }
}

/// Writes the refusal of a well-formed request that will not be routed, if
/// it is one: 483, then (RFC 3261 §8.2) the method (405, or 481 for CANCEL),
/// the Request-URI's scheme (416), `Require` (420). `true` when written.
fn refusal(
    ctx: &Echo<'_>,
    req: &Request<'_>,
    s: &Summary<'_>,
    max_forwards: Option<u32>,
    uri_usable: bool,
    out: &mut Vec<u8>,
) -> bool {
    // OPTIONS: we are its final recipient, even at Max-Forwards 0 (§16.3).
    let options = req.method == b"OPTIONS";
    if max_forwards == Some(0) && !options {
        ctx.simple(out, "483 Too Many Hops");
        return true;
    }
    match req.method {
        b"INVITE" | b"OPTIONS" => {}
        // Every INVITE is answered at once with a final response, so there is
        // never a pending INVITE transaction to cancel (RFC 3261 §9.2).
        b"CANCEL" => {
            ctx.simple(out, "481 Call/Transaction Does Not Exist");
            return true;
        }
        _ => {
            ctx.start(out, "405 Method Not Allowed");
            out.extend_from_slice(concat!("Allow: ", allow!(), "\r\n").as_bytes());
            ctx.finish(out);
            return true;
        }
    }
    if !uri_usable {
        ctx.simple(out, "416 Unsupported URI Scheme");
        return true;
    }
    // No extension is supported, so any option tag in Require is refused
    // (RFC 3261 §8.2.2.3).
    if s.require {
        ctx.start(out, "420 Bad Extension");
        out.extend_from_slice(b"Unsupported: ");
        for (i, tag) in list_values(req.head, Name::Require).enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            write_unfolded(out, tag);
        }
        out.extend_from_slice(b"\r\n");
        ctx.finish(out);
        return true;
    }
    false
}

/// The `q` of each Contact of a multi-Contact 302, first choice first: the
/// caller tries them in descending `q` order (RFC 3261 §8.1.3.4, §16.6 step
/// 1), one at a time since no two are equal.
const Q_VALUES: [&str; super::MAX_CONTACTS] = ["1.0", "0.9", "0.8", "0.7", "0.6"];

/// 404 for a number nobody owns, 480 for one forwarded nowhere, else a 302
/// with one `Contact` per destination and our `Diversion` ahead of earlier ones.
fn answer_invite(
    ctx: &Echo<'_>,
    uri: &RequestUri<'_>,
    s: &Summary<'_>,
    routes: &dyn RouteSource,
    out: &mut Vec<u8>,
) {
    let mut scratch: Scratch = Default::default();
    let lookup = match uri.user.and_then(|u| to_e164(u, &mut scratch)) {
        Some(number) => routes.lookup(&number),
        None => Lookup::Unknown,
    };
    let (did, contacts) = match lookup {
        Lookup::Unknown => return ctx.simple(out, "404 Not Found"),
        Lookup::NoForward => return ctx.simple(out, "480 Temporarily Unavailable"),
        Lookup::Redirect { did, contacts } => (did, contacts),
    };
    let clean = |s: &str| !s.is_empty() && !s.bytes().any(|b| b < 0x20 || b == 0x7f);
    if !clean(&did) || contacts.is_empty() || !contacts.iter().all(|c| clean(c)) {
        tracing::error!(did = %did.escape_debug(), "route with an unusable DID or contact");
        return ctx.simple(out, "500 Server Internal Error");
    }
    ctx.start(out, "302 Moved Temporarily");
    let several = contacts.len() > 1;
    for (contact, q) in contacts.iter().zip(Q_VALUES) {
        out.extend_from_slice(b"Contact: <");
        out.extend_from_slice(contact.as_bytes());
        out.push(b'>');
        if several {
            out.extend_from_slice(b";q=");
            out.extend_from_slice(q.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Diversion: <");
    write_diversion_uri(out, uri, &did, routes.diversion_host());
    out.extend_from_slice(b">;reason=unconditional\r\n");
    write_earlier_diversions(out, s.diversions);
    ctx.finish(out);
}

/// The diversions the call went through before reaching us follow ours, in
/// the order the request listed them: RFC 5806 keeps the history with the
/// call, most recent first, so the next hop sees every redirection.
fn write_earlier_diversions(out: &mut Vec<u8>, lines: &[u8]) {
    for entry in list_values(lines, Name::Diversion) {
        out.extend_from_slice(b"Diversion: ");
        write_unfolded(out, entry);
        out.extend_from_slice(b"\r\n");
    }
}

/// Our `Diversion` URI: the DID at `--sip-domain` when set, else at the host
/// the request was addressed to (a `tel:` request has none: `tel:` it stays).
fn write_diversion_uri(out: &mut Vec<u8>, uri: &RequestUri<'_>, did: &str, host: Option<&str>) {
    let scheme: &[u8] = match uri.scheme {
        Scheme::Sip => b"sip:",
        Scheme::Sips => b"sips:",
        Scheme::Tel => b"tel:",
    };
    out.extend_from_slice(scheme);
    out.extend_from_slice(did.as_bytes());
    if uri.scheme != Scheme::Tel {
        out.push(b'@');
        out.extend_from_slice(host.map_or(uri.host, str::as_bytes));
    }
}

/// IPv4-mapped IPv6 sources (from a dual-stack socket) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The parts of the request every response echoes.
struct Echo<'a> {
    /// The header lines holding every Via (see [`Summary::vias`]).
    vias: &'a [u8],
    via: &'a Via<'a>,
    source: SocketAddr,
    from: &'a [u8],
    to: &'a [u8],
    to_tag: Option<[u8; 16]>,
    call_id: &'a [u8],
    cseq: &'a [u8],
}

impl Echo<'_> {
    fn simple(&self, out: &mut Vec<u8>, status: &str) {
        self.start(out, status);
        self.finish(out);
    }

    /// Status line (`status` is "code reason"), Vias, From, To, Call-ID, CSeq.
    fn start(&self, out: &mut Vec<u8>, status: &str) {
        out.extend_from_slice(b"SIP/2.0 ");
        out.extend_from_slice(status.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (i, v) in list_values(self.vias, Name::Via).enumerate() {
            out.extend_from_slice(b"Via: ");
            if i == 0 {
                self.write_top_via(out, v);
            } else {
                write_unfolded(out, v);
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"From: ");
        write_unfolded(out, self.from);
        out.extend_from_slice(b"\r\nTo: ");
        write_unfolded(out, self.to);
        if let Some(tag) = &self.to_tag {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(tag);
        }
        out.extend_from_slice(b"\r\nCall-ID: ");
        write_unfolded(out, self.call_id);
        out.extend_from_slice(b"\r\nCSeq: ");
        write_unfolded(out, self.cseq);
        out.extend_from_slice(b"\r\n");
    }

    fn finish(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            concat!(
                "Server: didhub/",
                env!("CARGO_PKG_VERSION"),
                "\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        );
    }

    /// The top Via with `received` (RFC 3261 §18.2.1: when sent-by is not the
    /// packet's source address; RFC 3581 §4: always when `rport` is asked
    /// for) and the asked-for `rport` filled in.
    fn write_top_via(&self, out: &mut Vec<u8>, written: &[u8]) {
        let via = self.via;
        let source_ip = canonical(self.source.ip());
        let rport_asked = via.rport == Some(None);
        if !rport_asked && same_host(via.host, source_ip) {
            // Nothing to change (the usual case when the peer names its own
            // address): copy it as written.
            write_unfolded(out, written);
            return;
        }
        write_unfolded(out, via.sent);
        for p in params(via.params).flatten() {
            if p.name.eq_ignore_ascii_case(b"received") {
                continue;
            }
            out.push(b';');
            if p.name.eq_ignore_ascii_case(b"rport") && p.value.is_none() {
                out.extend_from_slice(b"rport=");
                write_decimal(out, self.source.port());
            } else {
                write_unfolded(out, p.raw);
            }
        }
        out.extend_from_slice(b";received=");
        match source_ip {
            IpAddr::V4(ip) => {
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    write_decimal(out, u16::from(octet));
                }
            }
            IpAddr::V6(ip) => {
                let _ = write!(out, "{ip}");
            }
        }
    }
}

fn write_decimal(out: &mut Vec<u8>, n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Whether a Via sent-by host is this IP address.
fn same_host(host: &[u8], ip: IpAddr) -> bool {
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|h| canonical(h) == ip)
}

/// Copies a header value, replacing each folding line break (and the white
/// space around it) with one space.
pub fn write_unfolded(out: &mut Vec<u8>, value: &[u8]) {
    if !value.contains(&b'\n') {
        out.extend_from_slice(value);
        return;
    }
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\r' | b'\n' => {
                while out.last().is_some_and(|&b| b == b' ' || b == b'\t') {
                    out.pop();
                }
                while i < value.len() && matches!(value[i], b'\r' | b'\n' | b' ' | b'\t') {
                    i += 1;
                }
                out.push(b' ');
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}
