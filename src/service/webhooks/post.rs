//! One delivery attempt over HTTP: the URL rules checked again after DNS, the
//! connection pinned to the checked address (no DNS-rebinding SSRF), Standard
//! Webhooks headers, a 10 s timeout, at most 64 KiB of the answer read.

use crate::domain::webhook::{UrlPolicy, check_addresses, parse_url, secret_key, signature};
use crate::service::HostResolver;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What an attempt got: an HTTP status, or why there was none.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

pub(super) struct Request<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub event_id: &'a str,
    pub body: &'a str,
}

pub(super) async fn post(
    resolver: &dyn HostResolver,
    policy: &UrlPolicy,
    request: &Request<'_>,
) -> Outcome {
    let started = Instant::now();
    let result = attempt(resolver, policy, request).await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(status) => Outcome {
            status: Some(status),
            latency_ms,
            error: None,
        },
        Err(error) => Outcome {
            status: None,
            latency_ms,
            error: Some(error),
        },
    }
}

/// The address to connect to: the literal, or the first the name resolves to,
/// once every address it resolves to has passed the rules.
async fn checked_address(
    resolver: &dyn HostResolver,
    policy: &UrlPolicy,
    url: &str,
) -> Result<(reqwest::Url, String, SocketAddr), String> {
    let parsed = parse_url(url, policy).map_err(|e| format!("refused: {e}"))?;
    let addrs: Vec<IpAddr> = match &parsed.host_to_resolve {
        Some(host) => resolver.resolve(host).await.map_err(|e| e.to_string())?,
        None => parsed
            .host
            .parse()
            .map(|a| vec![a])
            .map_err(|_| "bad address".to_owned())?,
    };
    check_addresses(&parsed.host, &addrs, policy).map_err(|e| format!("refused: {e}"))?;
    let addr = addrs.first().ok_or("no address")?;
    Ok((parsed.url, parsed.host, SocketAddr::new(*addr, parsed.port)))
}

async fn attempt(
    resolver: &dyn HostResolver,
    policy: &UrlPolicy,
    request: &Request<'_>,
) -> Result<u16, String> {
    let (url, host, addr) = checked_address(resolver, policy, request.url).await?;
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let key = secret_key(request.secret).ok_or("the endpoint's secret is unreadable")?;
    // Wall-clock time: receivers compare it with their own clock (Standard
    // Webhooks allows five minutes) to refuse replayed requests.
    let timestamp = chrono::Utc::now().timestamp();
    let mut response = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "didhub-webhooks")
        .header("webhook-id", request.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&key, request.event_id, timestamp, request.body),
        )
        .body(request.body.to_owned())
        .send()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = response.status().as_u16();
    let mut read = 0;
    // The answer is not used beyond its status; reading a bounded part lets
    // the receiver finish writing without us holding an unbounded body.
    while read < MAX_RESPONSE_BYTES {
        match tokio::time::timeout(TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => read += chunk.len(),
            _ => break,
        }
    }
    Ok(status)
}
