//! Name resolution for forward targets, behind a trait so that the domain
//! stays pure and tests can stand in for DNS.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{host} did not resolve within {timeout_ms} ms")]
    TimedOut { host: String, timeout_ms: u128 },
    #[error("{host} does not resolve: {reason}")]
    Failed { host: String, reason: String },
}

pub type Resolution<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, ResolveError>> + Send + 'a>>;

/// Turns a host name into the addresses a SIP peer would reach.
pub trait HostResolver: Send + Sync + std::fmt::Debug {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a>;
}

/// The system resolver (getaddrinfo, so /etc/hosts included), bounded in time
/// so that a slow DNS server cannot hold a request.
#[derive(Debug, Clone)]
pub struct SystemResolver {
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> Self {
        SystemResolver {
            timeout: Duration::from_secs(2),
        }
    }
}

impl HostResolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host, 0));
            match tokio::time::timeout(self.timeout, lookup).await {
                Err(_) => Err(ResolveError::TimedOut {
                    host: host.to_owned(),
                    timeout_ms: self.timeout.as_millis(),
                }),
                Ok(Err(error)) => Err(ResolveError::Failed {
                    host: host.to_owned(),
                    reason: error.to_string(),
                }),
                Ok(Ok(addrs)) => {
                    let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                    if addrs.is_empty() {
                        Err(ResolveError::Failed {
                            host: host.to_owned(),
                            reason: "no addresses".to_owned(),
                        })
                    } else {
                        Ok(addrs)
                    }
                }
            }
        })
    }
}
