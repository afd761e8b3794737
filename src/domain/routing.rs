//! Where a call to a forwarded DID is sent: the SIP URI for each forward type.

use super::ForwardTarget;
use std::net::IpAddr;

/// The operator's side of routing decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// `host[:port]` of the PSTN gateway; without one, PSTN targets become
    /// `tel:` URIs that the caller's own edge routes.
    pub pstn_gateway: Option<String>,
    /// The DISA service; `{did}` and `{code}` are replaced by the dialled DID and
    /// the forward's DISA profile code (empty when none).
    pub disa_uri: Option<String>,
    /// Host of the `Diversion` URI handed to SBCs (`--sip-domain`).
    pub sip_domain: Option<String>,
    /// Refuse `pstn` forwards while there is no PSTN gateway.
    pub require_pstn_gateway: bool,
    /// The sofia profile of FreeSWITCH bridges; `None`: `external`.
    pub freeswitch_profile: Option<String>,
}

impl RoutingPolicy {
    /// Where lookups say a call was diverted from: the operator's domain, or a
    /// name that cannot resolve (RFC 6761) rather than a made-up real one.
    pub fn diversion_host(&self) -> &str {
        self.sip_domain.as_deref().unwrap_or("didhub.invalid")
    }

    pub fn freeswitch_profile(&self) -> &str {
        self.freeswitch_profile.as_deref().unwrap_or("external")
    }
}

/// The URI a call to `did` (E.164) is redirected to, or `None` when the target
/// needs something the operator or the account has not configured.
pub fn contact_uri(
    did: &str,
    target: &ForwardTarget,
    pbx_host: Option<&str>,
    policy: &RoutingPolicy,
) -> Option<String> {
    match target {
        ForwardTarget::Pstn(number) => Some(match &policy.pstn_gateway {
            Some(gateway) => format!("sip:{number}@{gateway};user=phone"),
            None => format!("tel:{number}"),
        }),
        ForwardTarget::Sip(uri) => Some(uri.clone()),
        ForwardTarget::Ip { addr, port } => {
            let host = match addr {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            Some(match port {
                Some(port) => format!("sip:{did}@{host}:{port}"),
                None => format!("sip:{did}@{host}"),
            })
        }
        ForwardTarget::Extension(extension) => {
            pbx_host.map(|host| format!("sip:{extension}@{host}"))
        }
        ForwardTarget::AccessNumber(code) => policy.disa_uri.as_ref().map(|template| {
            template
                .replace("{did}", did)
                .replace("{code}", code.as_deref().unwrap_or(""))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CountryCode, ForwardPolicy, ForwardType};

    fn target(kind: ForwardType, destination: &str) -> ForwardTarget {
        let fr = CountryCode::parse("FR").expect("FR");
        ForwardTarget::parse(kind, destination, &fr, ForwardPolicy::default()).expect(destination)
    }

    const DID: &str = "+33123456789";

    #[test]
    fn each_forward_type_has_its_contact() {
        let bare = RoutingPolicy::default();
        let full = RoutingPolicy {
            pstn_gateway: Some("gw.operator.example:5080".into()),
            disa_uri: Some("sip:disa-{did}@disa.operator.example;code={code}".into()),
            ..RoutingPolicy::default()
        };
        let pstn = target(ForwardType::Pstn, "+33612345678");
        assert_eq!(
            contact_uri(DID, &pstn, None, &bare).as_deref(),
            Some("tel:+33612345678")
        );
        assert_eq!(
            contact_uri(DID, &pstn, None, &full).as_deref(),
            Some("sip:+33612345678@gw.operator.example:5080;user=phone")
        );
        let sip = target(ForwardType::Sip, "sip:alice@example.com:5080");
        assert_eq!(
            contact_uri(DID, &sip, None, &bare).as_deref(),
            Some("sip:alice@example.com:5080")
        );
        let ip = target(ForwardType::Ip, "203.0.113.5:5062");
        assert_eq!(
            contact_uri(DID, &ip, None, &bare).as_deref(),
            Some("sip:+33123456789@203.0.113.5:5062")
        );
        let ip6 = target(ForwardType::Ip, "2001:db8::1");
        assert_eq!(
            contact_uri(DID, &ip6, None, &bare).as_deref(),
            Some("sip:+33123456789@[2001:db8::1]")
        );
        let ext = target(ForwardType::Extension, "1001");
        assert_eq!(contact_uri(DID, &ext, None, &bare), None);
        assert_eq!(
            contact_uri(DID, &ext, Some("pbx.alice.example"), &bare).as_deref(),
            Some("sip:1001@pbx.alice.example")
        );
        let disa = target(ForwardType::AccessNumber, "42");
        assert_eq!(contact_uri(DID, &disa, None, &bare), None);
        assert_eq!(
            contact_uri(DID, &disa, None, &full).as_deref(),
            Some("sip:disa-+33123456789@disa.operator.example;code=42")
        );
    }
}
