//! `/metrics`: the key that opens it, and the series a scrape shows after
//! purchases, a throttled login, a 404 and SIP INVITEs.
//!
//! The recorder is per process and the tests run in parallel, so counters are
//! compared before and after this test's own actions (at least what it did),
//! and gauges, set from the scraped server at scrape time, exactly.

use crate::helpers::*;
use crate::support::backends::{Backend, current_backend, on_both_backends};
use crate::support::sip_client::invite_over_udp;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::Duration;

const METRICS_KEY: &str = "metrics-key-for-tests";

/// One parsed scrape: every sample, checked to be Prometheus text.
struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
    text: String,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(parse_sample)
            .collect();
        Scrape { samples, text }
    }

    /// The value of the sample with exactly these labels; 0 when absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| *v)
    }
}

/// `name{label="value",…} number`, as the text format has it.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (series, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("value is not a number: {line:?}"));
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (
            name,
            rest.strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line:?}")),
        ),
        None => (series, ""),
    };
    let valid_name = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    assert!(!name.is_empty() && valid_name, "bad metric name: {line:?}");
    let labels = labels
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, quoted) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("bad label: {line:?}"));
            let value = quoted
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or_else(|| panic!("unquoted label value: {line:?}"));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    (name.to_owned(), labels, value)
}

async fn get_metrics(app: &TestApp, key: Option<&str>) -> Response {
    let mut request = app.client.get(format!("{}/metrics", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    send(request).await
}

async fn scrape(app: &TestApp) -> Scrape {
    let response = get_metrics(app, Some(METRICS_KEY)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let text = response
        .body
        .as_str()
        .unwrap_or_else(|| panic!("not text: {}", response.body))
        .to_owned();
    Scrape::parse(text)
}

async fn with_metrics_key() -> TestApp {
    TestApp::spawn_with(|config| config.http.metrics_key = Some(METRICS_KEY.to_owned())).await
}

fn backend_label() -> &'static str {
    match current_backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

on_both_backends! {
    async fn metrics_need_the_metrics_key() {
        let app = with_metrics_key().await;
        for (key, what) in [
            (None, "no key"),
            (Some("wrong"), "a wrong key"),
            (Some(ROUTING_KEY), "the routing key, when a metrics key is set"),
        ] {
            let refused = get_metrics(&app, key).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{what}: {}", refused.body);
            assert_eq!(refused.code(), "unauthorized", "{what}");
            assert_eq!(refused.headers["www-authenticate"], "Bearer", "{what}");
        }
        let scraped = get_metrics(&app, Some(METRICS_KEY)).await;
        assert_eq!(scraped.status, StatusCode::OK);
        assert!(
            scraped.headers["content-type"]
                .to_str()
                .expect("content type")
                .starts_with("text/plain; version=0.0.4"),
            "{:?}",
            scraped.headers
        );
    }

    async fn without_a_metrics_key_the_routing_key_opens_metrics() {
        let app = TestApp::spawn().await;
        assert_eq!(get_metrics(&app, Some(ROUTING_KEY)).await.status, StatusCode::OK);
        assert_eq!(get_metrics(&app, Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn without_any_key_metrics_are_off() {
        let app = TestApp::spawn_with(|config| config.http.routing_key = None).await;
        for key in [None, Some(ROUTING_KEY), Some("")] {
            let off = get_metrics(&app, key).await;
            assert_eq!(off.status, StatusCode::NOT_FOUND, "{}", off.body);
            assert_eq!(off.code(), "not_found");
        }
    }

    async fn a_scrape_shows_purchases_throttling_http_and_sip() {
        let app = with_metrics_key().await;
        standard_inventory(&app).await;
        let rich = app.account_with_balance("rich", 100_00).await;
        let poor = app.account_with_balance("poor", 0).await;
        app.service.create_account("alice", PASSWORD, None, 0).await.expect("account");
        let before = scrape(&app).await;

        // One purchase, then one refused for funds and one for a number sold.
        let did_id = app.buy(&rich, "FR", FR_LANDLINE_1).await;
        let landline_2 = app.did_id_of(&rich, "FR", FR_LANDLINE_2).await;
        assert_eq!(app.assign(&poor, &landline_2).await.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(app.assign(&rich, &did_id).await.status, StatusCode::CONFLICT);
        // Five failures, then the sixth attempt is throttled.
        for _ in 0..6 {
            app.post("/api/login", &[("username", "alice"), ("password", "wrong")]).await;
        }
        for _ in 0..3 {
            let missing = app.post("/no/such/path", &[]).await;
            assert_eq!(missing.status, StatusCode::NOT_FOUND);
        }
        let lookup = app.get_routing(&format!("/v1/routing/{FR_LANDLINE_1}")).await;
        assert_eq!(lookup.status, StatusCode::OK, "{}", lookup.body);
        for call in 0..4 {
            let uri = format!("sip:{FR_MOBILE}@didhub.test");
            let answer = invite_over_udp(app.sip, &uri, &format!("metrics-{call}")).await;
            assert_eq!(answer.status, 404);
        }

        let after = scrape(&app).await;
        // Every shortfall is collected, so that one run shows them all.
        let mut short = Vec::new();
        let mut grew = |name: &str, labels: &[(&str, &str)], by: f64| {
            let delta = after.value(name, labels) - before.value(name, labels);
            if delta < by {
                short.push(format!("{name}{labels:?} grew by {delta}, expected {by}"));
            }
        };
        grew("didhub_purchases_total", &[("outcome", "ok")], 1.0);
        grew("didhub_purchases_total", &[("outcome", "insufficient_funds")], 1.0);
        grew("didhub_purchases_total", &[("outcome", "not_available")], 1.0);
        grew("didhub_login_throttled_total", &[], 1.0);
        let not_found = [("route", "unmatched"), ("method", "POST"), ("status", "404")];
        grew("didhub_http_requests_total", &not_found, 3.0);
        grew("didhub_http_request_duration_seconds_count", &not_found, 3.0);
        grew(
            "didhub_http_request_duration_seconds_bucket",
            &[("route", "unmatched"), ("method", "POST"), ("status", "404"), ("le", "+Inf")],
            3.0,
        );
        let lookup = [("route", "/v1/routing/{number}"), ("method", "GET"), ("status", "200")];
        grew("didhub_http_requests_total", &lookup, 1.0);
        assert!(!after.text.contains(FR_LANDLINE_1), "a raw path became a label:\n{}", after.text);
        grew("didhub_sip_requests_total", &[("method", "INVITE"), ("code", "404")], 4.0);
        assert!(short.is_empty(), "{short:#?}\n{}", after.text);
        for series in [
            "# TYPE didhub_http_request_duration_seconds histogram",
            "# HELP didhub_purchases_total ",
        ] {
            assert!(after.text.contains(series), "no {series:?} in\n{}", after.text);
        }

        // Gauges come from this server's memory: one number sold of four.
        assert_eq!(after.value("didhub_route_table_entries", &[]), 1.0, "{}", after.text);
        assert_eq!(after.value("didhub_shelf_numbers", &[]), 3.0, "{}", after.text);
        assert_eq!(after.value("didhub_db_pool_max_connections", &[]), 8.0);
        let idle = after.value("didhub_db_pool_connections", &[("state", "idle")]);
        assert!(idle >= 1.0, "an idle connection after the requests:\n{}", after.text);
    }

    async fn the_change_propagation_lag_is_measured() {
        let app = with_metrics_key().await;
        standard_inventory(&app).await;
        let token = app.account_with_balance("alice", 100_00).await;
        let lag = [("backend", backend_label())];
        let count = "didhub_change_propagation_lag_seconds_count";
        let before = scrape(&app).await.value(count, &lag);

        // The purchase is announced; this server's own follower applies it
        // (the change log poll or the notification) and measures the lag.
        app.buy(&token, "FR", FR_LANDLINE_1).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = scrape(&app).await;
            if now.value(count, &lag) > before {
                let within_a_minute =
                    now.value("didhub_change_propagation_lag_seconds_bucket", &[("backend", backend_label()), ("le", "60")]);
                assert!(within_a_minute > 0.0, "{}", now.text);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no lag recorded:\n{}", now.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
