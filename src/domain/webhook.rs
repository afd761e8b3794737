//! Webhook rules (issue 14), pure: which URLs may receive events, the
//! Standard Webhooks signature, and the retry schedule.

use super::forward::{embedded_ipv4, is_local_address};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use std::net::{IpAddr, Ipv4Addr};

/// The operator's limits on webhook URLs (`--webhook-allow-http`,
/// `--webhook-allow-private`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Hosts that may be reached over plain http (everything else needs https).
    pub allow_http_hosts: Vec<String>,
    /// Lets URLs reach loopback, private, link-local and metadata addresses.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL: {0}")]
    Malformed(String),
    #[error("webhook URLs must use https (http only to hosts the operator allows)")]
    SchemeNotAllowed,
    #[error("webhook URLs may not carry a user name or password")]
    Credentials,
    #[error("{host} is (or resolves to) {addr}, a loopback, private or link-local address")]
    PrivateAddress { host: String, addr: IpAddr },
}

/// A URL that passed the rules that need no DNS; `host_to_resolve` is the name
/// whose addresses must still be checked (`None` for an address literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    pub host_to_resolve: Option<String>,
}

pub fn parse_url(text: &str, policy: &UrlPolicy) -> Result<WebhookUrl, UrlError> {
    let url = url::Url::parse(text.trim()).map_err(|e| UrlError::Malformed(e.to_string()))?;
    let (host, literal) = match url.host() {
        Some(url::Host::Domain(name)) => (name.to_ascii_lowercase(), None),
        Some(url::Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Some(url::Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
        None => return Err(UrlError::Malformed("no host".to_owned())),
    };
    let http_allowed = url.scheme() == "http" && policy.allow_http_hosts.contains(&host);
    if url.scheme() != "https" && !http_allowed {
        return Err(UrlError::SchemeNotAllowed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if let Some(addr) = literal {
        check_addresses(&host, &[addr], policy)?;
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(WebhookUrl {
        host_to_resolve: literal.is_none().then(|| host.clone()),
        url,
        host,
        port,
    })
}

/// Refuses the host when any of its addresses is one a webhook may not reach.
pub fn check_addresses(host: &str, addrs: &[IpAddr], policy: &UrlPolicy) -> Result<(), UrlError> {
    if policy.allow_private {
        return Ok(());
    }
    match addrs.iter().find(|a| is_private_address(**a)) {
        Some(addr) => Err(UrlError::PrivateAddress {
            host: host.to_owned(),
            addr: *addr,
        }),
        None => Ok(()),
    }
}

fn is_private_ipv4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local() // 169.254/16, cloud metadata included
        || v4.is_unspecified()
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
}

/// Loopback, private (RFC 1918, unique local), link-local (metadata services
/// live there), CGNAT, unspecified, multicast, and IPv6 forms carrying any of these.
pub fn is_private_address(addr: IpAddr) -> bool {
    if is_local_address(addr) {
        return true;
    }
    match addr {
        IpAddr::V4(v4) => is_private_ipv4(v4),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00
                || embedded_ipv4(v6).into_iter().any(is_private_ipv4)
        }
    }
}

/// `whsec_` and the base64 of the key, as Standard Webhooks writes secrets.
pub const SECRET_PREFIX: &str = "whsec_";

pub fn format_secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    BASE64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` under the secret's key.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<sha2_11::Sha256>::new_from_slice(key) else {
        return String::new(); // unreachable: HMAC takes keys of any length
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// How long deliveries are retried before the endpoint is disabled.
pub const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;

/// The wait before attempt `attempt + 1` after `attempt` failures (1-based):
/// 30 s × 4^(attempt-1) capped at 4 h (30 s, 2 min, 8 min, 32 min, 2 h 8 min,
/// then every 4 h), each scaled by `jitter` in [0.8, 1.2] so that endpoints
/// failing together do not retry together.
pub fn retry_delay_secs(attempt: i64, jitter: f64) -> i64 {
    let exponent = u32::try_from(attempt.clamp(1, 10) - 1).unwrap_or(0);
    let base = (30_i64 * 4_i64.pow(exponent)).min(4 * 3600);
    ((base as f64) * jitter.clamp(0.8, 1.2)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> UrlPolicy {
        UrlPolicy::default()
    }

    #[test]
    fn https_is_required_unless_the_host_is_allowed_plain_http() {
        assert!(parse_url("https://hooks.example.com/x", &strict()).is_ok());
        assert_eq!(
            parse_url("http://hooks.example.com/x", &strict()),
            Err(UrlError::SchemeNotAllowed)
        );
        let policy = UrlPolicy {
            allow_http_hosts: vec!["hooks.example.com".into()],
            ..strict()
        };
        assert!(parse_url("http://hooks.example.com/x", &policy).is_ok());
        assert_eq!(
            parse_url("ftp://hooks.example.com/", &policy),
            Err(UrlError::SchemeNotAllowed)
        );
        assert_eq!(
            parse_url("https://u:p@hooks.example.com/", &strict()),
            Err(UrlError::Credentials)
        );
    }

    #[test]
    fn private_loopback_and_metadata_literals_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/",
            "https://[::1]/",
            "https://[::ffff:10.1.2.3]/",
            "https://[fd00::1]/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
        ] {
            assert!(
                matches!(
                    parse_url(url, &strict()),
                    Err(UrlError::PrivateAddress { .. })
                ),
                "{url}"
            );
        }
        let open = UrlPolicy {
            allow_private: true,
            ..strict()
        };
        assert!(parse_url("https://127.0.0.1/", &open).is_ok());
        assert!(parse_url("https://93.184.215.14/", &strict()).is_ok());
        let named = parse_url("https://Hooks.Example.com:8443/x", &strict()).expect("ok");
        assert_eq!(
            (named.host_to_resolve.as_deref(), named.port),
            (Some("hooks.example.com"), 8443)
        );
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_reference_vector() {
        // From the standard-webhooks repository's test suite.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("base64");
        let body = r#"{"test": 2432232314}"#;
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            expected
        );
        assert_eq!(secret_key(&format_secret(&key)), Some(key));
    }

    #[test]
    fn retries_back_off_exponentially_within_the_jitter() {
        assert_eq!(retry_delay_secs(1, 1.0), 30);
        assert_eq!(retry_delay_secs(2, 1.0), 120);
        assert_eq!(retry_delay_secs(5, 1.0), 7680);
        assert_eq!(retry_delay_secs(9, 1.0), 4 * 3600);
        assert_eq!(retry_delay_secs(1, 5.0), 36);
        assert_eq!(retry_delay_secs(1, 0.0), 24);
    }
}
