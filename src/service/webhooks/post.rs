//! One delivery attempt over HTTP(S): the URL rules checked again after DNS,
//! the connection made to the very address that passed them (no DNS-rebinding
//! SSRF), Standard Webhooks headers, a 10 s timeout for the whole attempt, at
//! most 64 KiB of the answer read. No redirects are followed.

use crate::domain::webhook::{UrlPolicy, check_addresses, parse_url, secret_key, signature};
use crate::service::HostResolver;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

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
    let result = match tokio::time::timeout(TIMEOUT, attempt(resolver, policy, request)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, error) = match result {
        Ok(status) => (Some(status), None),
        Err(error) => (None, Some(error)),
    };
    Outcome {
        status,
        latency_ms,
        error,
    }
}

/// A URL that passed the rules, with the address to connect to: the literal,
/// or the first one the name resolves to once every one has passed.
struct Target {
    url: url::Url,
    host: String,
    addr: SocketAddr,
}

async fn checked_target(
    resolver: &dyn HostResolver,
    policy: &UrlPolicy,
    url: &str,
) -> Result<Target, String> {
    let parsed = parse_url(url, policy).map_err(|e| format!("refused: {e}"))?;
    let addrs: Vec<IpAddr> = match &parsed.host_to_resolve {
        Some(host) => resolver.resolve(host).await.map_err(|e| e.to_string())?,
        None => vec![parsed.host.parse().map_err(|_| "bad address".to_owned())?],
    };
    check_addresses(&parsed.host, &addrs, policy).map_err(|e| format!("refused: {e}"))?;
    let addr = *addrs.first().ok_or("no address")?;
    Ok(Target {
        addr: SocketAddr::new(addr, parsed.port),
        url: parsed.url,
        host: parsed.host,
    })
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// The TLS settings of every https attempt: `ring`, the system's CA roots.
fn tls() -> &'static tokio_rustls::TlsConnector {
    static TLS: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert); // a certificate rustls cannot read is skipped
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| unreachable_config());
        tokio_rustls::TlsConnector::from(Arc::new(config))
    })
}

/// `ring` supports the default protocol versions; should that ever change,
/// an empty root store makes every https attempt fail visibly instead.
fn unreachable_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

async fn connect(target: &Target) -> Result<Box<dyn Stream>, String> {
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connecting to {}: {e}", target.addr))?;
    if target.url.scheme() != "https" {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| format!("TLS name {}: {e}", target.host))?;
    let tls = tls()
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", target.host))?;
    Ok(Box::new(tls))
}

fn build_request(
    target: &Target,
    request: &Request<'_>,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let key = secret_key(request.secret).ok_or("the endpoint's secret is unreadable")?;
    // Wall-clock time: receivers compare it with their own clock (Standard
    // Webhooks allows five minutes) to refuse replayed requests.
    let timestamp = chrono::Utc::now().timestamp();
    let path = match target.url.query() {
        Some(query) => format!("{}?{query}", target.url.path()),
        None => target.url.path().to_owned(),
    };
    let authority = match target.url.port() {
        Some(port) => format!("{}:{port}", target.url.host_str().unwrap_or(&target.host)),
        None => target.url.host_str().unwrap_or(&target.host).to_owned(),
    };
    hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .header("user-agent", "didhub-webhooks")
        .header("webhook-id", request.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&key, request.event_id, timestamp, request.body),
        )
        .body(Full::new(Bytes::from(request.body.to_owned())))
        .map_err(|e| e.to_string())
}

async fn attempt(
    resolver: &dyn HostResolver,
    policy: &UrlPolicy,
    request: &Request<'_>,
) -> Result<u16, String> {
    let target = checked_target(resolver, policy, request.url).await?;
    let stream = connect(&target).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(build_request(&target, request)?)
        .await
        .map_err(|e| e.to_string());
    let result = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            drain(response.into_body()).await;
            Ok(status)
        }
        Err(error) => Err(error),
    };
    driver.abort(); // one request per connection
    result
}

/// Reads up to 64 KiB of the answer (only its status matters), so that the
/// receiver can finish writing without us holding an unbounded body.
async fn drain(mut body: hyper::body::Incoming) {
    let mut read = 0;
    while read < MAX_RESPONSE_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            _ => return,
        }
    }
}
