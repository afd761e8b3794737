//! Where calls to a DID go: the five destination types of `did/forward`, each
//! validated so that what is stored can be handed to the routing plane as is.

use super::phone::{CountryCode, E164, PhoneError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardType {
    Extension,
    Pstn,
    Sip,
    AccessNumber,
    Ip,
}

impl ForwardType {
    pub const ALL: [ForwardType; 5] = [
        ForwardType::Extension,
        ForwardType::Pstn,
        ForwardType::Sip,
        ForwardType::AccessNumber,
        ForwardType::Ip,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ForwardType::Extension => "extension",
            ForwardType::Pstn => "pstn",
            ForwardType::Sip => "sip",
            ForwardType::AccessNumber => "access_number",
            ForwardType::Ip => "ip",
        }
    }

    pub fn parse(text: &str) -> Option<ForwardType> {
        let normalised = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match normalised.as_str() {
            "extension" | "ext" => Some(ForwardType::Extension),
            "pstn" | "phone" => Some(ForwardType::Pstn),
            "sip" | "sip_uri" => Some(ForwardType::Sip),
            "access_number" | "disa" => Some(ForwardType::AccessNumber),
            "ip" | "direct_ip" => Some(ForwardType::Ip),
            _ => None,
        }
    }
}

/// A validated forwarding destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    Extension(String),
    Pstn(E164),
    /// Normalised `sip:`/`sips:` URI.
    Sip(String),
    /// The operator's DISA service; the optional code selects a DISA profile.
    AccessNumber(Option<String>),
    Ip {
        addr: IpAddr,
        port: Option<u16>,
    },
}

/// Operator choices that change what a forward may point at.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardPolicy {
    /// Allows loopback, unspecified, multicast and link-local addresses as targets,
    /// which are refused by default because they point back into the operator's
    /// own network or nowhere.
    pub allow_local_addresses: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("forward type must be one of extension, pstn, sip, access_number, ip")]
    UnknownType,
    #[error("destination is required")]
    MissingDestination,
    #[error("extension must be 1 to 16 digits")]
    BadExtension,
    #[error("pstn destination {0}")]
    BadPstn(PhoneError),
    #[error("sip destination must look like sip:user@host[:port]: {0}")]
    BadSipUri(&'static str),
    #[error("ip destination must be an IPv4 or IPv6 address with an optional port")]
    BadIp,
    #[error("ip destination {0} is a loopback, unspecified, multicast or link-local address")]
    LocalAddress(IpAddr),
    #[error("access_number destination must be empty or 1 to 16 digits (a DISA profile code)")]
    BadAccessCode,
    #[error("destinations starting {0} (premium-rate or satellite) are refused by the operator")]
    DeniedDestination(String),
    #[error(
        "sip host {host} resolves to {addr}, a loopback, unspecified, multicast or link-local address"
    )]
    HostResolvesLocal { host: String, addr: IpAddr },
}

const MAX_DESTINATION_LEN: usize = 256;

impl ForwardTarget {
    /// Validates a destination; national PSTN numbers are read relative to the DID's country.
    pub fn parse(
        kind: ForwardType,
        destination: &str,
        did_country: &CountryCode,
        policy: ForwardPolicy,
    ) -> Result<ForwardTarget, ForwardError> {
        let destination = destination.trim();
        if destination.len() > MAX_DESTINATION_LEN {
            return Err(match kind {
                ForwardType::Sip => ForwardError::BadSipUri("too long"),
                ForwardType::Ip => ForwardError::BadIp,
                ForwardType::Extension => ForwardError::BadExtension,
                ForwardType::AccessNumber => ForwardError::BadAccessCode,
                ForwardType::Pstn => ForwardError::BadPstn(PhoneError::Unparsable(
                    destination.chars().take(32).collect(),
                )),
            });
        }
        if destination.is_empty() && kind != ForwardType::AccessNumber {
            return Err(ForwardError::MissingDestination);
        }
        match kind {
            ForwardType::Extension => {
                if is_short_digit_string(destination) {
                    Ok(ForwardTarget::Extension(destination.to_owned()))
                } else {
                    Err(ForwardError::BadExtension)
                }
            }
            ForwardType::Pstn => E164::parse(destination, Some(did_country))
                .map(ForwardTarget::Pstn)
                .map_err(ForwardError::BadPstn),
            ForwardType::Sip => parse_sip_uri(destination, policy).map(ForwardTarget::Sip),
            ForwardType::AccessNumber => {
                if destination.is_empty() {
                    Ok(ForwardTarget::AccessNumber(None))
                } else if is_short_digit_string(destination) {
                    Ok(ForwardTarget::AccessNumber(Some(destination.to_owned())))
                } else {
                    Err(ForwardError::BadAccessCode)
                }
            }
            ForwardType::Ip => parse_ip_target(destination, policy),
        }
    }

    pub fn kind(&self) -> ForwardType {
        match self {
            ForwardTarget::Extension(_) => ForwardType::Extension,
            ForwardTarget::Pstn(_) => ForwardType::Pstn,
            ForwardTarget::Sip(_) => ForwardType::Sip,
            ForwardTarget::AccessNumber(_) => ForwardType::AccessNumber,
            ForwardTarget::Ip { .. } => ForwardType::Ip,
        }
    }

    /// The canonical text stored and shown back to the customer.
    pub fn destination(&self) -> String {
        match self {
            ForwardTarget::Extension(ext) => ext.clone(),
            ForwardTarget::Pstn(number) => number.as_str().to_owned(),
            ForwardTarget::Sip(uri) => uri.clone(),
            ForwardTarget::AccessNumber(code) => code.clone().unwrap_or_default(),
            ForwardTarget::Ip { addr, port } => match (addr, port) {
                (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
                (IpAddr::V4(v4), None) => v4.to_string(),
                (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
                (IpAddr::V6(v6), None) => v6.to_string(),
            },
        }
    }

    /// The DNS name a `sip` target points at: a name, unlike an address,
    /// can only be judged once resolved (see [`check_resolved`]).
    pub fn host_name(&self) -> Option<&str> {
        let ForwardTarget::Sip(uri) = self else {
            return None;
        };
        let (_, host_port) = uri.split(';').next()?.rsplit_once('@')?;
        let host = split_host_port(host_port).map_or(host_port, |(host, _)| host);
        (!host_port.starts_with('[') && host.parse::<IpAddr>().is_err()).then_some(host)
    }

    /// Rebuilds a target from what [`ForwardTarget::destination`] stored.
    pub fn from_stored(kind: ForwardType, destination: &str) -> Option<ForwardTarget> {
        let permissive = ForwardPolicy {
            allow_local_addresses: true,
        };
        match kind {
            ForwardType::Pstn => Some(ForwardTarget::Pstn(E164::from_trusted(
                destination.to_owned(),
            ))),
            ForwardType::Extension => Some(ForwardTarget::Extension(destination.to_owned())),
            ForwardType::Sip => Some(ForwardTarget::Sip(destination.to_owned())),
            ForwardType::AccessNumber => Some(ForwardTarget::AccessNumber(
                Some(destination.to_owned()).filter(|d| !d.is_empty()),
            )),
            ForwardType::Ip => parse_ip_target(destination, permissive).ok(),
        }
    }
}

fn is_short_digit_string(text: &str) -> bool {
    (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Loopback, unspecified ("this network", 0.0.0.0/8: Linux connects 0.0.0.0
/// to the local host), multicast, link-local and broadcast.
fn is_local_ipv4(v4: Ipv4Addr) -> bool {
    v4.is_loopback()
        || v4.octets()[0] == 0
        || v4.is_multicast()
        || v4.is_link_local()
        || v4.is_broadcast()
}

/// Whether a call sent to `addr` would land in the operator's own host or
/// network, or nowhere. IPv6 addresses that carry an IPv4 address (see
/// [`embedded_ipv4`]) are judged by every IPv4 address they carry too, since
/// translators, relays and dual-stack hosts deliver them to that address.
pub fn is_local_address(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => is_local_ipv4(v4),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || embedded_ipv4(v6).into_iter().any(is_local_ipv4)
        }
    }
}

/// The IPv4 address at bit `offset` of the address with bits 64..72 (the
/// RFC 6052 "u" octet) taken out: where RFC 6052 puts the IPv4 address of a
/// NAT64 prefix of length `offset` (32 to 64; offset 88 is the /96 case).
fn rfc6052_ipv4(v6: Ipv6Addr, offset: u32) -> Ipv4Addr {
    let bits = u128::from(v6);
    let without_u = ((bits >> 64) << 56) | (bits & ((1 << 56) - 1));
    // `without_u` holds 120 meaningful bits, right-aligned.
    let shifted = without_u >> (120 - offset - 32);
    Ipv4Addr::from((shifted & u128::from(u32::MAX)) as u32)
}

/// Every IPv4 address an IPv6 address carries, by the forms that deliver to it:
/// IPv4-mapped (`::ffff:0:0/96`), IPv4-translated (`::ffff:0:0:0/96`),
/// IPv4-compatible (`::/96`), NAT64 (`64:ff9b::/96`, and `64:ff9b:1::/48` at
/// each RFC 6052 prefix length it may be used with), 6to4 (`2002::/16`),
/// Teredo (`2001::/32`: server, and client stored inverted in the last 32 bits)
/// and ISATAP interface identifiers (`…:0:5efe:a.b.c.d`, `…:200:5efe:a.b.c.d`).
pub fn embedded_ipv4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let last32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let mut found = Vec::new();
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _]
        | [0, 0, 0, 0, 0, 0, _, _] => found.push(last32),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => found.push(last32),
        [0x64, 0xff9b, 1, ..] => {
            found.extend([48, 56, 64, 88].map(|offset| rfc6052_ipv4(v6, offset)))
        }
        [0x2002, high, low, ..] => {
            found.push(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
        }
        [0x2001, 0, server_high, server_low, ..] => {
            found.push(Ipv4Addr::from(
                (u32::from(server_high) << 16) | u32::from(server_low),
            ));
            found.push(Ipv4Addr::from(!u32::from(last32)));
        }
        _ => {}
    }
    if (s[4] == 0 || s[4] == 0x0200) && s[5] == 0x5efe {
        found.push(last32);
    }
    found
}

/// Judges what a target's host name resolved to: one refused address is
/// enough to refuse the name, since the caller's SBC may pick any of them.
pub fn check_resolved(
    host: &str,
    addrs: &[IpAddr],
    policy: ForwardPolicy,
) -> Result<(), ForwardError> {
    if policy.allow_local_addresses {
        return Ok(());
    }
    match addrs.iter().find(|addr| is_local_address(**addr)) {
        Some(addr) => Err(ForwardError::HostResolvesLocal {
            host: host.to_owned(),
            addr: *addr,
        }),
        None => Ok(()),
    }
}

fn check_address(addr: IpAddr, policy: ForwardPolicy) -> Result<IpAddr, ForwardError> {
    if !policy.allow_local_addresses && is_local_address(addr) {
        return Err(ForwardError::LocalAddress(addr));
    }
    Ok(addr)
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Splits "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address has no port.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(parse_port(after.strip_prefix(':')?)?))),
        };
    }
    match text.matches(':').count() {
        0 => Some((text, None)),
        1 => {
            let (host, port) = text.split_once(':')?;
            Some((host, Some(parse_port(port)?)))
        }
        _ => Some((text, None)), // bare IPv6
    }
}

fn parse_ip_target(text: &str, policy: ForwardPolicy) -> Result<ForwardTarget, ForwardError> {
    let (host, port) = split_host_port(text).ok_or(ForwardError::BadIp)?;
    let addr: IpAddr = host.parse().map_err(|_| ForwardError::BadIp)?;
    if text.starts_with('[') != addr.is_ipv6() && port.is_some() {
        return Err(ForwardError::BadIp);
    }
    Ok(ForwardTarget::Ip {
        addr: check_address(addr, policy)?,
        port,
    })
}

fn is_user_char(c: char) -> bool {
    // RFC 3261 `user`: unreserved / escaped / user-unreserved, less ";?/" so the
    // user part can never smuggle URI parameters or headers.
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,%".contains(c)
}

/// A DNS name. A numeric last label is refused: no top-level domain is numeric
/// (RFC 3696 §2), and resolvers read `127.1`, `2130706433` or `0x7f000001` as
/// IPv4 addresses, which would slip loopback past the address checks.
fn is_hostname(host: &str) -> bool {
    let last_label = host.rsplit('.').next().unwrap_or("");
    let numeric_tld = last_label.bytes().all(|b| b.is_ascii_digit())
        || last_label.to_ascii_lowercase().starts_with("0x");
    !host.is_empty()
        && !numeric_tld
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Accepts `sip:user@host[:port][;transport=udp|tcp|tls|sctp]`, `sips:` likewise,
/// and the scheme-less `user@host` customers type, and returns the normalised URI.
fn parse_sip_uri(text: &str, policy: ForwardPolicy) -> Result<String, ForwardError> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ForwardError::BadSipUri(
            "spaces and control characters are not allowed",
        ));
    }
    let lower = text.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("sips:") {
        ("sips", &text[5..])
    } else if lower.starts_with("sip:") {
        ("sip", &text[4..])
    } else if text.contains(':') && !text.contains('@') {
        return Err(ForwardError::BadSipUri(
            "only sip: and sips: URIs are accepted",
        ));
    } else {
        ("sip", text)
    };
    let (user_host, params) = match rest.split_once(';') {
        Some((uh, p)) => (uh, Some(p)),
        None => (rest, None),
    };
    if user_host.contains(['?', '<', '>', '"']) {
        return Err(ForwardError::BadSipUri(
            "headers and angle brackets are not allowed",
        ));
    }
    // SIP allows a comma in the user part, but FreeSWITCH's `bridge` splits
    // destinations on it (and on `|`): such a target would ring strangers.
    if user_host.contains([',', '|']) {
        return Err(ForwardError::BadSipUri(
            "commas are not allowed (they separate destinations in FreeSWITCH)",
        ));
    }
    let (user, host_port) = user_host
        .rsplit_once('@')
        .ok_or(ForwardError::BadSipUri("a user part is required"))?;
    if user.is_empty() || user.len() > 64 || !user.chars().all(is_user_char) {
        return Err(ForwardError::BadSipUri(
            "the user part has characters SIP does not allow",
        ));
    }
    if !valid_escapes(user) {
        return Err(ForwardError::BadSipUri("bad %-escape in the user part"));
    }
    let (host, port) =
        split_host_port(host_port).ok_or(ForwardError::BadSipUri("bad host or port"))?;
    let host_text = match host.parse::<IpAddr>() {
        Ok(addr) => {
            if addr.is_ipv6() != host_port.starts_with('[') {
                return Err(ForwardError::BadSipUri("IPv6 hosts must be in brackets"));
            }
            check_address(addr, policy)?;
            match addr {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            }
        }
        Err(_) if is_hostname(host) => {
            if !policy.allow_local_addresses && host.eq_ignore_ascii_case("localhost") {
                return Err(ForwardError::BadSipUri(
                    "localhost is not a reachable destination",
                ));
            }
            host.to_ascii_lowercase()
        }
        Err(_) => return Err(ForwardError::BadSipUri("bad host")),
    };
    let transport = match params {
        None => None,
        Some(p) => {
            let lower = p.to_ascii_lowercase();
            let value = lower
                .strip_prefix("transport=")
                .ok_or(ForwardError::BadSipUri(
                    "only the transport parameter is accepted",
                ))?;
            if !["udp", "tcp", "tls", "sctp"].contains(&value) {
                return Err(ForwardError::BadSipUri(
                    "transport must be udp, tcp, tls or sctp",
                ));
            }
            Some(value.to_owned())
        }
    };
    let mut uri = format!("{scheme}:{user}@{host_text}");
    if let Some(port) = port {
        uri.push_str(&format!(":{port}"));
    }
    if let Some(transport) = transport {
        uri.push_str(&format!(";transport={transport}"));
    }
    Ok(uri)
}

fn valid_escapes(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr() -> CountryCode {
        CountryCode::parse("FR").expect("FR is a known region")
    }

    fn parse(kind: ForwardType, dest: &str) -> Result<ForwardTarget, ForwardError> {
        ForwardTarget::parse(kind, dest, &fr(), ForwardPolicy::default())
    }

    #[test]
    fn pstn_numbers_are_stored_as_e164() {
        let t = parse(ForwardType::Pstn, "06 12 34 56 78").expect("valid");
        assert_eq!(t.destination(), "+33612345678");
        assert!(parse(ForwardType::Pstn, "+1 555").is_err());
    }

    #[test]
    fn sip_uris_are_normalised_and_hostile_ones_refused() {
        assert_eq!(
            parse(ForwardType::Sip, "alice@Example.COM").map(|t| t.destination()),
            Ok("sip:alice@example.com".to_owned())
        );
        assert_eq!(
            parse(ForwardType::Sip, "SIP:bob@10.1.2.3:5080;transport=TCP").map(|t| t.destination()),
            Ok("sip:bob@10.1.2.3:5080;transport=tcp".to_owned())
        );
        assert_eq!(
            parse(ForwardType::Sip, "sips:+3312@[2001:db8::1]:5061").map(|t| t.destination()),
            Ok("sips:+3312@[2001:db8::1]:5061".to_owned())
        );
        for bad in [
            "sip:alice@example.com\r\nX-Evil: 1",
            "sip:alice example@x.com",
            "sip:@example.com",
            "sip:example.com",
            "http://example.com",
            "sip:alice@example.com?Subject=x",
            "sip:alice@127.0.0.1",
            "sip:alice@localhost",
            "sip:alice@exa_mple.com",
            "sip:alice@127.1",
            "sip:alice@2130706433",
            "sip:alice@0x7f000001",
            "sip:alice@127.0.0.01",
            "sip:alice@example.com:0",
            "sip:alice@example.com:70000",
            "sip:alice@example.com;lr",
            "sip:al%zzice@example.com",
            "<sip:alice@example.com>",
            "sip:a,b@example.com",
            "sip:a%2Cb,c@example.com:5060",
        ] {
            assert!(
                parse(ForwardType::Sip, bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn ip_targets_accept_ports_and_refuse_local_addresses() {
        assert_eq!(
            parse(ForwardType::Ip, "203.0.113.5:5080").map(|t| t.destination()),
            Ok("203.0.113.5:5080".to_owned())
        );
        assert_eq!(
            parse(ForwardType::Ip, "2001:db8::1").map(|t| t.destination()),
            Ok("2001:db8::1".to_owned())
        );
        assert_eq!(
            parse(ForwardType::Ip, "[2001:db8::1]:5060").map(|t| t.destination()),
            Ok("[2001:db8::1]:5060".to_owned())
        );
        for bad in [
            "127.0.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(
                matches!(
                    parse(ForwardType::Ip, bad),
                    Err(ForwardError::LocalAddress(_))
                ),
                "{bad}"
            );
        }
        for bad in [
            "example.com",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "1.2.3",
            "[1.2.3.4]:5060",
        ] {
            assert!(parse(ForwardType::Ip, bad).is_err(), "{bad}");
        }
        let lenient = ForwardPolicy {
            allow_local_addresses: true,
        };
        assert!(ForwardTarget::parse(ForwardType::Ip, "127.0.0.1:5070", &fr(), lenient).is_ok());
    }

    #[test]
    fn every_ipv6_form_carrying_a_refused_ipv4_is_refused() {
        for (form, refused) in [
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:0:127.0.0.1", "IPv4-translated"),
            ("::ffff:0:7f00:1", "IPv4-translated, hex"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::7f00:1", "IPv4-compatible, hex"),
            ("::169.254.0.1", "IPv4-compatible link-local"),
            ("64:ff9b::7f00:1", "NAT64 well-known prefix"),
            ("64:ff9b::224.0.0.1", "NAT64 multicast"),
            ("64:ff9b:1:7f00:0:100::", "NAT64 local-use /48"),
            ("64:ff9b:1:7f:0:1::", "NAT64 local-use /56"),
            ("64:ff9b:1::7f:0:100:0", "NAT64 local-use /64"),
            ("64:ff9b:1::7f00:1", "NAT64 local-use /96"),
            ("2002:7f00:1::", "6to4"),
            ("2002:a9fe:101::1", "6to4 link-local"),
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "Teredo, client 127.0.0.1",
            ),
            ("2001:0:7f00:1::1", "Teredo, server 127.0.0.1"),
            ("2001:db8::5efe:127.0.0.1", "ISATAP"),
            ("2001:db8::200:5efe:7f00:1", "ISATAP, universal"),
            ("::ffff:0.0.0.0", "IPv4-mapped unspecified"),
            ("::ffff:0.1.2.3", "IPv4-mapped this-network"),
            ("::ffff:255.255.255.255", "IPv4-mapped broadcast"),
        ] {
            assert!(
                matches!(
                    parse(ForwardType::Ip, form),
                    Err(ForwardError::LocalAddress(_))
                ),
                "ip {form} ({refused}) should be refused"
            );
            let bracketed = format!("sip:a@[{form}]");
            assert!(
                matches!(
                    parse(ForwardType::Sip, &bracketed),
                    Err(ForwardError::LocalAddress(_))
                ),
                "{bracketed} ({refused}) should be refused"
            );
        }
        for (form, accepted) in [
            ("::ffff:203.0.113.5", "IPv4-mapped public"),
            ("64:ff9b::203.0.113.5", "NAT64 public"),
            ("2002:cb00:7105::1", "6to4 of 203.0.113.5"),
            (
                "2001:0:4136:e378:8000:63bf:34fe:8efa",
                "Teredo, client 203.1.113.5",
            ),
            ("2001:db8::1", "documentation, no IPv4 inside"),
            ("2a00:1450:4007:80e::200e", "ordinary global"),
        ] {
            assert!(
                parse(ForwardType::Ip, form).is_ok(),
                "ip {form} ({accepted})"
            );
        }
        let lenient = ForwardPolicy {
            allow_local_addresses: true,
        };
        assert!(ForwardTarget::parse(ForwardType::Ip, "2002:7f00:1::", &fr(), lenient).is_ok());
    }

    #[test]
    fn host_names_of_sip_targets_are_judged_by_what_they_resolve_to() {
        let target =
            parse(ForwardType::Sip, "sip:a@pbx.example.com:5080;transport=tcp").expect("valid");
        assert_eq!(target.host_name(), Some("pbx.example.com"));
        for literal in ["sip:a@203.0.113.5:5060", "sip:a@[2001:db8::1]:5060"] {
            assert_eq!(
                parse(ForwardType::Sip, literal).expect(literal).host_name(),
                None
            );
        }
        assert_eq!(
            parse(ForwardType::Pstn, "0612345678")
                .expect("pstn")
                .host_name(),
            None
        );
        let public: IpAddr = "203.0.113.5".parse().expect("address");
        let loopback: IpAddr = "::ffff:127.0.0.1".parse().expect("address");
        let strict = ForwardPolicy::default();
        assert!(check_resolved("pbx.example.com", &[public], strict).is_ok());
        assert!(matches!(
            check_resolved("evil.example.com", &[public, loopback], strict),
            Err(ForwardError::HostResolvesLocal { .. })
        ));
        let lenient = ForwardPolicy {
            allow_local_addresses: true,
        };
        assert!(check_resolved("localhost", &[loopback], lenient).is_ok());
    }

    #[test]
    fn extensions_and_access_codes_are_digits() {
        assert!(parse(ForwardType::Extension, "1001").is_ok());
        assert!(parse(ForwardType::Extension, "10a1").is_err());
        assert!(parse(ForwardType::Extension, "").is_err());
        assert_eq!(
            parse(ForwardType::AccessNumber, ""),
            Ok(ForwardTarget::AccessNumber(None))
        );
        assert!(parse(ForwardType::AccessNumber, "12#").is_err());
    }

    #[test]
    fn stored_destinations_round_trip() {
        for (kind, dest) in [
            (ForwardType::Pstn, "+33612345678"),
            (ForwardType::Sip, "sip:alice@example.com:5080"),
            (ForwardType::Ip, "[2001:db8::1]:5060"),
            (ForwardType::Extension, "1001"),
            (ForwardType::AccessNumber, "42"),
        ] {
            let target = parse(kind, dest).expect(dest);
            let back = ForwardTarget::from_stored(kind, &target.destination()).expect(dest);
            assert_eq!(back, target);
        }
    }

    #[test]
    fn type_codes_parse_back() {
        for t in ForwardType::ALL {
            assert_eq!(ForwardType::parse(t.code()), Some(t));
        }
        assert_eq!(ForwardType::parse("SIP"), Some(ForwardType::Sip));
        assert_eq!(ForwardType::parse("carrier-pigeon"), None);
    }
}
