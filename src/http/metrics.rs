//! `/metrics`: the process's metrics in the Prometheus text format, from the
//! `metrics` crate's Prometheus recorder, plus the middleware that counts and
//! times HTTP requests.
//!
//! The recorder is global, installed once per process: the `metrics` macros
//! used in the service layer report to the global recorder (a local one only
//! covers synchronous closures, which async handlers are not). Servers run in
//! one process (the tests) thus share their counters; each scrape sets the
//! gauges from the scraped server's own memory just before rendering.

use super::AppState;
use super::error::error_response;
use crate::service::Service;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Seconds; from half a millisecond (a `/healthz`) to a request stuck on the
/// database's acquire or statement timeouts.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds; PostgreSQL notifications arrive in milliseconds, the SQLite
/// change log is polled every 200 ms and stamped in whole seconds.
const LAG_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];
/// Histograms are kept in memory between scrapes; upkeep folds them.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use. Should another recorder
/// have been installed first (an embedding program's), `/metrics` shows only
/// what this module sets at scrape time.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("didhub_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("didhub_change_propagation_lag_seconds".into()),
                    LAG_BUCKETS,
                )
            });
        let recorder = match builder {
            Ok(builder) => builder.build_recorder(),
            // Only empty bucket lists are refused; summaries are the fallback.
            Err(error) => {
                tracing::warn!(%error, "metrics histogram buckets refused");
                PrometheusBuilder::new().build_recorder()
            }
        };
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics will be sparse");
        }
        describe();
        let upkeep = handle.clone();
        // A plain thread, not a task: the recorder outlives any one runtime.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread not started; scrapes still fold histograms");
        }
        handle
    })
}

/// The `# HELP` lines: what each series means.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "didhub_http_requests_total",
        "HTTP requests by matched route pattern, method and status"
    );
    describe_histogram!(
        "didhub_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by matched route pattern, method and status"
    );
    describe_counter!(
        "didhub_purchases_total",
        "Number purchases (did/assign) by outcome"
    );
    describe_counter!(
        "didhub_login_throttled_total",
        "Logins refused with 429 for too many failures"
    );
    describe_counter!(
        "didhub_sip_requests_total",
        "SIP requests (UDP and TCP) by method and answer code (none: not answered)"
    );
    describe_gauge!(
        "didhub_route_table_entries",
        "Owned numbers in this instance's in-memory route table"
    );
    describe_gauge!(
        "didhub_shelf_numbers",
        "Numbers on sale in this instance's in-memory shelf"
    );
    describe_gauge!(
        "didhub_db_pool_connections",
        "Database pool connections by state (idle, in_use)"
    );
    describe_gauge!(
        "didhub_db_pool_max_connections",
        "Database pool size limit (--db-max-connections)"
    );
    describe_histogram!(
        "didhub_change_propagation_lag_seconds",
        Unit::Seconds,
        "Time from a change's announcement by its writer to its application on this instance"
    );
    // Events and webhooks (issue 14).
    describe_counter!("didhub_events_total", "Events recorded, by type");
    describe_gauge!(
        "didhub_webhook_deliveries_pending",
        "Webhook deliveries not yet settled (all instances; refreshed every 5 s)"
    );
    describe_histogram!(
        "didhub_webhook_delivery_seconds",
        Unit::Seconds,
        "Webhook attempt latency, from connecting to the answer's status"
    );
    describe_counter!(
        "didhub_webhook_failures_total",
        "Failed webhook attempts (no answer or not 2xx), by endpoint id"
    );
}

/// Installs the recorder, so that what happens before the first scrape counts.
pub fn install() {
    recorder();
}

/// Counts and times every request by matched route (the pattern, such as
/// `/v1/routing/{number}`, never the raw path, whose numbers would make a
/// series per number), method and status.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route: Cow<'static, str> = match request.extensions().get::<MatchedPath>() {
        Some(path) => Cow::Owned(path.as_str().to_owned()),
        None => Cow::Borrowed("unmatched"),
    };
    let method = method_label(request.method());
    let response = next.run(request).await;
    let labels = [
        ("route", route),
        ("method", Cow::Borrowed(method)),
        ("status", Cow::Owned(response.status().as_u16().to_string())),
    ];
    counter!("didhub_http_requests_total", &labels).increment(1);
    histogram!("didhub_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Any other method (clients may send made-up ones) is `other`, so that
/// the label's values stay few.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

/// `GET /metrics`: for the holder of the metrics key only.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.metrics_key.as_deref() else {
        // Off: answered as any unknown path is.
        return super::not_found().await;
    };
    if !presents_key(&headers, expected) {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid metrics key is required",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        scrape(&state.service),
    )
        .into_response()
}

fn presents_key(headers: &HeaderMap, expected: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, key)| key.trim());
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// Sets what is read rather than counted, then renders. One scrape at a
/// time, so that two servers in one process cannot interleave their gauges.
fn scrape(service: &Service) -> String {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    gauge!("didhub_route_table_entries").set(service.route_table().len() as f64);
    gauge!("didhub_shelf_numbers").set(service.shelf_len() as f64);
    let pool = service.store().pool();
    let (size, idle) = (
        pool.size(),
        u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
    );
    gauge!("didhub_db_pool_connections", "state" => "idle").set(f64::from(idle));
    gauge!("didhub_db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    gauge!("didhub_db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    for (method, code, count) in crate::sip::stats::snapshot() {
        counter!("didhub_sip_requests_total", "method" => method, "code" => code).absolute(count);
    }
    recorder().render()
}
