//! A resolver for tests: no external DNS is reachable here, so the names the
//! tests use for customer PBXs resolve to a documentation address, and every
//! other name goes to the system resolver (`localhost`, /etc/hosts).

use didhub::service::{HostResolver, Resolution, ResolveError, SystemResolver};
use std::net::{IpAddr, Ipv4Addr};

/// TEST-NET-1 (RFC 5737): a public-looking address nobody answers on.
pub const PBX_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

#[derive(Debug, Default)]
pub struct TestDns;

impl HostResolver for TestDns {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        let fake =
            host == "example.com" || host.ends_with(".example.com") || host.ends_with(".test");
        Box::pin(async move {
            if fake {
                return Ok(vec![PBX_ADDRESS]);
            }
            if host.ends_with(".invalid") {
                return Err(ResolveError::Failed {
                    host: host.to_owned(),
                    reason: "RFC 6761: .invalid never resolves".to_owned(),
                });
            }
            SystemResolver::default().resolve(host).await
        })
    }
}
