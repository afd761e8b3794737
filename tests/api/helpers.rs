//! The test harness: a real didhub server on an ephemeral port with a fresh
//! database, a clock the test controls, and a client that speaks its API.

use crate::support::backends::current_backend;
use crate::support::database::TestDatabase;
use didhub::app::{self, AppConfig, RunningServer};
use didhub::clock::ManualClock;
use didhub::http::HttpSettings;
use didhub::service::{self, Service};
use didhub::store::PoolSettings;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

/// 2026-11-27T00:00:00Z: tests start from a fixed instant.
pub const T0: i64 = 1_795_737_600;
pub const PASSWORD: &str = "correct horse battery";
/// The operator's key for `/v1/routing/…`.
pub const ROUTING_KEY: &str = "operator-routing-key-for-tests";

pub struct TestApp {
    pub base: String,
    /// The SIP redirect server (UDP and TCP).
    pub sip: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub service: Service,
    server: RunningServer,
    _database: TestDatabase,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    /// The stable error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

pub fn test_settings() -> service::Settings {
    service::Settings {
        routing: didhub::domain::routing::RoutingPolicy {
            pstn_gateway: None,
            disa_uri: Some("sip:disa@disa.operator.test".to_owned()),
            ..Default::default()
        },
        resolver: Arc::new(crate::support::dns::TestDns),
        ..service::Settings::default()
    }
}

impl TestApp {
    /// A server on the backend of the running test (see `on_both_backends!`).
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut AppConfig)) -> TestApp {
        let database = TestDatabase::create(current_backend()).await;
        let mut config = AppConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            database: database.url.clone(),
            pool: PoolSettings::default(),
            service: test_settings(),
            http: HttpSettings {
                routing_key: Some(ROUTING_KEY.to_owned()),
                ..HttpSettings::default()
            },
            maintenance_interval: None,
            demo: None,
            sip: Some(didhub::sip::SipConfig {
                listen: "127.0.0.1:0".parse().expect("address"),
                ..didhub::sip::SipConfig::default()
            }),
        };
        adjust(&mut config);
        let clock = ManualClock::starting_at(T0);
        let server = app::start(config, Arc::new(clock.clone()))
            .await
            .expect("server starts");
        TestApp {
            base: format!("http://{}", server.address),
            sip: server
                .sip_address
                .unwrap_or_else(|| "127.0.0.1:9".parse().expect("address")),
            client: reqwest::Client::new(),
            clock,
            service: server.service.clone(),
            server,
            _database: database,
        }
    }

    /// Creates an account with an opening balance (minor units) and returns its token.
    pub async fn account_with_balance(&self, username: &str, balance_minor: i64) -> String {
        self.service
            .create_account(username, PASSWORD, None, balance_minor)
            .await
            .expect("account created");
        self.login(username).await
    }

    pub async fn login(&self, username: &str) -> String {
        let response = self
            .post(
                "/api/login",
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "login: {}", response.body);
        response.body["account_token"]
            .as_str()
            .expect("token in login answer")
            .to_owned()
    }

    /// Imports inventory rows given as CSV lines after the header.
    pub async fn import(&self, rows: &[&str]) {
        let csv = format!(
            "number,country,type,setup_fee,monthly_cost\n{}\n",
            rows.join("\n")
        );
        let report = self
            .service
            .import_inventory(&csv)
            .await
            .expect("import runs");
        assert!(
            report.problems.is_empty(),
            "import problems: {:?}",
            report.problems
        );
    }

    /// Form-encoded POST, as the seed's Python client sends.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        send(request).await
    }

    /// Form POST from another loopback address (`127.0.0.2`, …): what the
    /// server sees as a different client.
    pub async fn post_from(&self, local: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let local: std::net::IpAddr = local.parse().expect("a local address");
        let client = reqwest::Client::builder()
            .local_address(local)
            .build()
            .expect("client");
        send(client.post(format!("{}{path}", self.base)).form(fields)).await
    }

    /// JSON POST with an optional bearer token and extra headers.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await
    }

    /// GET with the routing key as a bearer token.
    pub async fn get_routing(&self, path: &str) -> Response {
        send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(ROUTING_KEY),
        )
        .await
    }

    /// Buys `number` (which must be in stock) for the account behind `token`; returns its id.
    pub async fn buy(&self, token: &str, country: &str, number: &str) -> String {
        let did_id = self.did_id_of(token, country, number).await;
        let bought = self.assign(token, &did_id).await;
        assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
        did_id
    }

    pub async fn forward(
        &self,
        token: &str,
        did_id: &str,
        kind: &str,
        destination: &str,
    ) -> Response {
        self.post(
            "/api/did/forward",
            &[
                ("token", token),
                ("did_id", did_id),
                ("type", kind),
                ("destination", destination),
            ],
        )
        .await
    }

    pub async fn available(&self, token: &str, country: &str) -> Vec<Value> {
        let response = self
            .post(
                "/api/did/available",
                &[("token", token), ("country", country)],
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.body["dids"].as_array().expect("dids").clone()
    }

    pub async fn did_id_of(&self, token: &str, country: &str, number: &str) -> String {
        self.available(token, country)
            .await
            .iter()
            .find(|d| d["did_number"] == number)
            .map(|d| d["did_id"].to_string())
            .unwrap_or_else(|| panic!("{number} is not available"))
    }

    pub async fn assign(&self, token: &str, did_id: &str) -> Response {
        self.post("/api/did/assign", &[("token", token), ("did_id", did_id)])
            .await
    }

    pub async fn balance(&self, token: &str) -> String {
        let response = self.post("/api/balance", &[("token", token)]).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.body["balance"]
            .as_str()
            .expect("balance")
            .to_owned()
    }

    /// Asserts that every account's balance equals its ledger sum and is not negative.
    pub async fn assert_ledger_invariant(&self) {
        for account in self.service.list_accounts().await.expect("accounts") {
            let (balance, sum) = self.service.audit_account(account.id).await.expect("audit");
            assert_eq!(
                balance, sum,
                "{}: balance {balance} != ledger sum {sum}",
                account.username
            );
            assert!(
                balance >= 0,
                "{}: negative balance {balance}",
                account.username
            );
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops the HTTP server and maintenance; their tasks end with the test's runtime.
        let _ = self.server.stopper().send(true);
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Response {
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        headers,
        body,
    }
}

/// A French landline, a French mobile and a US landline, with known prices.
pub const FR_LANDLINE_1: &str = "+33123456789";
pub const FR_LANDLINE_2: &str = "+33123456790";
pub const FR_MOBILE: &str = "+33612345670";
pub const US_LANDLINE: &str = "+12015550123";

pub async fn standard_inventory(app: &TestApp) {
    app.import(&[
        "+33123456789,FR,landline,1.00,2.50",
        "+33123456790,FR,landline,1.00,2.50",
        "+33612345670,FR,mobile_voice,3.00,5.00",
        "+12015550123,US,landline,0.50,1.00",
    ])
    .await;
}
