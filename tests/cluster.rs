//! Whole-process tests: several `didhub serve` processes on one database, a
//! crash in the middle of purchases, and a database that goes away and comes back.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Amounts in minor units are written dollars_cents (10_00 is 10.00).
#![allow(clippy::inconsistent_digit_grouping)]

mod support;

use didhub::service::{self, Service};
use didhub::store::PoolSettings;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::backends::{current_backend, on_both_backends};
use support::database::TestDatabase;

const PASSWORD: &str = "correct horse battery";

/// A `didhub serve` process, killed (SIGKILL) when dropped.
struct ServerProcess {
    child: Child,
    base: String,
}

impl ServerProcess {
    fn start(database: &str, workdir: &Path, name: &str) -> ServerProcess {
        ServerProcess::start_with(database, workdir, name, &[])
    }

    /// [`ServerProcess::start`] with more `serve` flags.
    fn start_with(database: &str, workdir: &Path, name: &str, extra: &[&str]) -> ServerProcess {
        let address_file = workdir.join(format!("{name}.address"));
        let _ = std::fs::remove_file(&address_file);
        let log = std::fs::File::create(workdir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_didhub"))
            .args(["--database", database, "serve", "--listen", "127.0.0.1:0"])
            .args([
                "--maintenance-interval-secs",
                "0",
                "--db-max-connections",
                "16",
            ])
            .arg("--address-file")
            .arg(&address_file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("didhub starts");
        let mut server = ServerProcess {
            child,
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(address) = std::fs::read_to_string(&address_file)
                && !address.is_empty()
            {
                server.base = format!("http://{address}");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(workdir.join(format!("{name}.log")))
                    .unwrap_or_default();
                panic!("{name} exited early ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "{name} did not start in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit: its status and how long it took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM sent");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < Duration::from_secs(60),
                "no exit a minute after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL: no graceful shutdown
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn operator(database: &str) -> Service {
    let store = didhub::app::open_store(database, &PoolSettings::default())
        .await
        .expect("database opens");
    Service::new(
        store,
        Arc::new(didhub::clock::SystemClock),
        service::Settings::default(),
    )
}

/// Twenty French landlines at 1.00 setup + 2.00 a month.
async fn twenty_numbers(service: &Service) -> Vec<String> {
    let rows: Vec<String> = (0..20)
        .map(|i| format!("+3312345{:04},FR,landline,1.00,2.00", 7000 + i))
        .collect();
    let csv = format!(
        "number,country,type,setup_fee,monthly_cost\n{}\n",
        rows.join("\n")
    );
    let report = service.import_inventory(&csv).await.expect("import");
    assert_eq!(report.inserted, 20, "{:?}", report.problems);
    (0..20)
        .map(|i| format!("+3312345{:04}", 7000 + i))
        .collect()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = client.post(url).form(fields).send().await?;
    let status = response.status();
    let body = response.json::<Value>().await?;
    Ok((status, body))
}

async fn login(client: &reqwest::Client, base: &str, username: &str) -> String {
    let (status, body) = post(
        client,
        &format!("{base}/api/login"),
        &[("username", username), ("password", PASSWORD)],
    )
    .await
    .expect("login reaches the server");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["account_token"].as_str().expect("token").to_owned()
}

/// The did_ids of `numbers` as `base` offers them. An instance learns of
/// numbers another process imported through the change feed, so this waits
/// (up to 5 s) until every one is on sale there.
async fn ids_of(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    numbers: &[String],
) -> Vec<String> {
    let wanted: HashSet<&String> = numbers.iter().collect();
    let started = Instant::now();
    loop {
        let (status, body) = post(
            client,
            &format!("{base}/api/did/available"),
            &[("token", token), ("country", "FR"), ("limit", "500")],
        )
        .await
        .expect("search");
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<String> = body["dids"]
            .as_array()
            .expect("dids")
            .iter()
            .filter(|d| {
                d["did_number"]
                    .as_str()
                    .is_some_and(|n| wanted.contains(&n.to_owned()))
            })
            .map(|d| d["did_id"].to_string())
            .collect();
        if ids.len() == numbers.len() {
            return ids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{base} offers {} of the {} imported numbers after 5 s",
            ids.len(),
            numbers.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ids of the numbers an account owns, as the database says.
async fn owned_ids(service: &Service, account_id: i64) -> HashSet<String> {
    service
        .list_numbers(account_id)
        .await
        .expect("numbers")
        .iter()
        .map(|d| d.id.to_string())
        .collect()
}

/// Checks, straight from the database, that no balance is negative, every
/// balance equals its ledger, and each account owns exactly `expected` (did ids).
async fn assert_books_balance(service: &Service, expected: &HashMap<String, HashSet<String>>) {
    for account in service.list_accounts().await.expect("accounts") {
        let (balance, sum) = service.audit_account(account.id).await.expect("audit");
        assert_eq!(
            balance, sum,
            "{}: balance {balance} != ledger {sum}",
            account.username
        );
        assert!(balance >= 0, "{}: negative balance", account.username);
        let owned = owned_ids(service, account.id).await;
        let told = expected.get(&account.username).cloned().unwrap_or_default();
        assert_eq!(
            owned, told,
            "{} owns what it was told it owns",
            account.username
        );
        let ledger = service
            .ledger(account.id, None, 1000)
            .await
            .expect("ledger");
        let charged = ledger.iter().filter(|e| e.kind == "setup_fee").count();
        assert_eq!(
            charged,
            owned.len(),
            "{}: one setup fee per number",
            account.username
        );
    }
}

/// 200 clients over 30 accounts race for 20 numbers through `instances`
/// servers, retrying transport failures with their idempotency keys.
async fn race(instances: usize) {
    let backend = current_backend();
    let db = TestDatabase::create(backend).await;
    let workdir = tempfile::tempdir().expect("workdir");
    // All instances start at once: their migrations must not collide.
    let servers: Vec<ServerProcess> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..instances)
            .map(|i| {
                let (url, dir) = (&db.url, workdir.path());
                scope.spawn(move || ServerProcess::start(url, dir, &format!("node{i}")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("server thread"))
            .collect()
    });
    let service = operator(&db.url).await;
    let numbers = twenty_numbers(&service).await;
    for a in 0..30 {
        // 0.00 to 14.50: some accounts afford nothing, some several numbers.
        service
            .create_account(&format!("acct{a:02}"), PASSWORD, None, a * 50)
            .await
            .expect("account");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let mut tokens = Vec::new();
    for a in 0..30 {
        tokens.push(login(&client, &bases[a % instances], &format!("acct{a:02}")).await);
    }
    let ids = ids_of(&client, &bases[0], &tokens[0], &numbers).await;
    assert_eq!(ids.len(), 20);

    let clients = (0..200).map(|c| {
        let (client, bases, ids) = (&client, &bases, &ids);
        let account = c % 30;
        let token = tokens[account].clone();
        async move {
            let mut outcomes = Vec::new();
            for attempt in 0..3 {
                let did_id = &ids[(c * 7 + attempt * 3) % ids.len()];
                let key = format!("client{c}-attempt{attempt}");
                let mut tries = 0;
                let outcome = loop {
                    tries += 1;
                    let base = &bases[(c + attempt + tries) % bases.len()];
                    let sent = post(
                        client,
                        &format!("{base}/api/did/assign"),
                        &[
                            ("token", token.as_str()),
                            ("did_id", did_id.as_str()),
                            ("idempotency_key", key.as_str()),
                        ],
                    )
                    .await;
                    match sent {
                        Ok((status, _)) if status.is_server_error() && tries < 5 => continue,
                        Err(_) if tries < 5 => continue,
                        Ok(answer) => break answer,
                        Err(e) => panic!("client {c}: {e}"),
                    }
                };
                // A deliberate retry of the same request must replay, not re-buy.
                if outcome.0 == StatusCode::OK {
                    let base = &bases[(c + 1) % bases.len()];
                    let (status, replay) = post(
                        client,
                        &format!("{base}/api/did/assign"),
                        &[
                            ("token", token.as_str()),
                            ("did_id", did_id.as_str()),
                            ("idempotency_key", key.as_str()),
                        ],
                    )
                    .await
                    .expect("replay");
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(replay, outcome.1, "a replay repeats the first answer");
                }
                outcomes.push((account, did_id.clone(), outcome));
            }
            outcomes
        }
    });
    let outcomes: Vec<_> = join_all(clients).await.into_iter().flatten().collect();

    let mut owned: HashMap<String, HashSet<String>> = HashMap::new();
    let mut winners_per_number: HashMap<String, HashSet<usize>> = HashMap::new();
    for (account, did_id, (status, body)) in &outcomes {
        match *status {
            StatusCode::OK => {
                owned
                    .entry(format!("acct{account:02}"))
                    .or_default()
                    .insert(did_id.clone());
                winners_per_number
                    .entry(did_id.clone())
                    .or_default()
                    .insert(*account);
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "did_not_available"),
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(body["error"]["code"], "insufficient_balance")
            }
            other => panic!("not a clean failure: {other} {body}"),
        }
    }
    for (did, winners) in &winners_per_number {
        assert_eq!(winners.len(), 1, "{did} has one owner, got {winners:?}");
    }
    assert!(!winners_per_number.is_empty(), "somebody bought something");
    assert_books_balance(&service, &owned).await;
}

/// How the server is stopped in the middle of purchases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a graceful stop, which must end within the default
    /// `--shutdown-timeout-secs` (10 s) and with status 0.
    Terminate,
}

/// Buys in a steady stream, stops the server mid-stream, restarts it and
/// checks that every acknowledged purchase survived.
async fn stop_during_purchases(stop: Stop) {
    let backend = current_backend();
    let db = TestDatabase::create(backend).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let mut server = ServerProcess::start(&db.url, workdir.path(), "before");
    let service = operator(&db.url).await;
    let numbers = twenty_numbers(&service).await;
    for a in 0..10 {
        service
            .create_account(&format!("acct{a:02}"), PASSWORD, None, 100_00)
            .await
            .expect("account");
    }
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for a in 0..10 {
        tokens.push(login(&client, &server.base, &format!("acct{a:02}")).await);
    }
    let ids = ids_of(&client, &server.base, &tokens[0], &numbers).await;
    let base = server.base.clone();
    let acknowledged = Arc::new(std::sync::Mutex::new(
        HashMap::<String, HashSet<String>>::new(),
    ));
    let buyers: Vec<_> = (0..10)
        .map(|a| {
            let (client, base, token, ids, acknowledged) = (
                client.clone(),
                base.clone(),
                tokens[a].clone(),
                ids.clone(),
                Arc::clone(&acknowledged),
            );
            tokio::spawn(async move {
                for (i, did_id) in ids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 10 == a || (i + 3) % 10 == a)
                {
                    let answer = post(
                        &client,
                        &format!("{base}/api/did/assign"),
                        &[("token", &token), ("did_id", did_id)],
                    )
                    .await;
                    if let Ok((StatusCode::OK, _)) = answer {
                        let mut acked = acknowledged.lock().expect("lock");
                        acked
                            .entry(format!("acct{a:02}"))
                            .or_default()
                            .insert(did_id.clone());
                    }
                    tokio::time::sleep(Duration::from_millis(5 * (i as u64 % 3))).await;
                }
            })
        })
        .collect();
    // Let some purchases land, then pull the plug while others are in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged
        .lock()
        .expect("lock")
        .values()
        .map(HashSet::len)
        .sum::<usize>()
        < 5
    {
        assert!(Instant::now() < deadline, "no purchase went through");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    match stop {
        Stop::Kill => server.kill(),
        Stop::Terminate => {
            let (status, took) = server.terminate();
            assert!(status.success(), "a graceful stop exits 0, got {status}");
            assert!(took < Duration::from_secs(12), "stopped in {took:?}");
        }
    }
    for buyer in buyers {
        buyer.await.expect("buyer task");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(!acknowledged.is_empty());

    let restarted = ServerProcess::start(&db.url, workdir.path(), "after");
    let token = login(&client, &restarted.base, "acct00").await;
    let (status, _) = post(
        &client,
        &format!("{}/api/balance", restarted.base),
        &[("token", &token)],
    )
    .await
    .expect("restarted server answers");
    assert_eq!(status, StatusCode::OK);
    // Purchases that committed without their answer reaching the client are
    // fine; an acknowledged one that vanished is not.
    let service = operator(&db.url).await;
    for account in service.list_accounts().await.expect("accounts") {
        let (balance, sum) = service.audit_account(account.id).await.expect("audit");
        assert_eq!(
            balance, sum,
            "{}: balance equals ledger after the crash",
            account.username
        );
        let owned = owned_ids(&service, account.id).await;
        for did in acknowledged.get(&account.username).into_iter().flatten() {
            assert!(
                owned.contains(did),
                "{}: acknowledged {did} survived",
                account.username
            );
        }
    }
}

on_both_backends! {
    async fn three_instances_never_sell_a_number_twice_and_keep_the_books_straight() {
        // SQLite is one writer on one machine: run it as one instance, as deployed.
        let instances = match current_backend() {
            support::database::Backend::Postgres => 3,
            support::database::Backend::Sqlite => 1,
        };
        race(instances).await;
    }

    async fn a_server_killed_mid_purchase_keeps_every_acknowledged_purchase() {
        stop_during_purchases(Stop::Kill).await;
    }

    async fn a_server_stopped_by_sigterm_mid_purchase_keeps_every_acknowledged_purchase() {
        stop_during_purchases(Stop::Terminate).await;
    }
}

/// A TCP relay in front of PostgreSQL that can be cut and restored, standing in
/// for a database server that goes away.
struct Relay {
    port: u16,
    upstream: String,
    tasks: Option<tokio::task::JoinSet<()>>,
}

impl Relay {
    async fn start(upstream: &str) -> Relay {
        let mut relay = Relay {
            port: 0,
            upstream: upstream.to_owned(),
            tasks: None,
        };
        relay.open().await;
        relay
    }

    async fn open(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("relay binds");
        self.port = listener.local_addr().expect("address").port();
        let upstream = self.upstream.clone();
        let mut tasks = tokio::task::JoinSet::new();
        let connections = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
        let held = Arc::clone(&connections);
        tasks.spawn(async move {
            // Holding the connection set here means aborting this task ends them all.
            let _held = held;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                connections.lock().await.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    async fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// `postgres://user@host:port/db` → (`host:port`, the URL with `replacement` as host:port).
fn reroute(url: &str, replacement: &str) -> (String, String) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_start = url[scheme_end..]
        .find('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let upstream = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    };
    (
        upstream,
        format!(
            "{}{replacement}{}",
            &url[..authority_start],
            &url[authority_end..]
        ),
    )
}

#[cfg_attr(
    not(didhub_postgres_tests),
    ignore = "PostgreSQL half: set DIDHUB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_going_away_answers_503_fast_and_the_service_recovers_by_itself() {
    let db = TestDatabase::create(support::database::Backend::Postgres).await;
    let (upstream, _) = reroute(&db.url, "unused");
    let mut relay = Relay::start(&upstream).await;
    let (_, via_relay) = reroute(&db.url, &format!("127.0.0.1:{}", relay.port));
    let service = operator(&db.url).await;
    service
        .create_account("alice", PASSWORD, None, 5_00)
        .await
        .expect("account");
    let config = didhub::app::AppConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: via_relay,
        pool: PoolSettings::default(),
        service: service::Settings::default(),
        http: didhub::http::HttpSettings::default(),
        maintenance_interval: None,
        demo: None,
        sip: None,
    };
    let server = didhub::app::start(config, Arc::new(didhub::clock::SystemClock))
        .await
        .expect("server starts");
    let base = format!("http://{}", server.address);
    let client = reqwest::Client::new();
    let token = login(&client, &base, "alice").await;
    let balance = format!("{base}/api/balance");

    relay.cut().await;
    let started = Instant::now();
    let (status, body) = post(&client, &balance, &[("token", &token)])
        .await
        .expect("answer");
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(waited < Duration::from_secs(5), "failed fast: {waited:?}");

    relay.open().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = post(&client, &balance, &[("token", &token)])
            .await
            .expect("answer");
        if status == StatusCode::OK {
            assert_eq!(body["balance"], "5.00");
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.shutdown().await;
}

#[test]
fn reroute_swaps_the_host_and_port() {
    assert_eq!(
        reroute("postgres://postgres@127.0.0.1:5432/db1", "127.0.0.1:6000"),
        (
            "127.0.0.1:5432".to_owned(),
            "postgres://postgres@127.0.0.1:6000/db1".to_owned()
        )
    );
    assert_eq!(
        reroute("postgres://localhost/db1?x=1", "h:1"),
        (
            "localhost:5432".to_owned(),
            "postgres://h:1/db1?x=1".to_owned()
        )
    );
}

fn in_process_config(database: &str, routing_key: &str) -> didhub::app::AppConfig {
    didhub::app::AppConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: database.to_owned(),
        pool: PoolSettings::default(),
        service: service::Settings {
            resolver: Arc::new(support::dns::TestDns),
            ..service::Settings::default()
        },
        http: didhub::http::HttpSettings {
            routing_key: Some(routing_key.to_owned()),
            ..didhub::http::HttpSettings::default()
        },
        maintenance_interval: None,
        demo: None,
        sip: Some(didhub::sip::SipConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            ..didhub::sip::SipConfig::default()
        }),
    }
}

/// Polls instance `base`'s routing lookup until `check` holds; returns how long it took.
async fn wait_for_route(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    check: impl Fn(StatusCode, &Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let response = client
            .get(format!("{base}/v1/routing/+33123457000"))
            .bearer_auth(key)
            .send()
            .await
            .expect("lookup");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        if check(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "instance never saw the change: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg_attr(
    not(didhub_postgres_tests),
    ignore = "PostgreSQL half: set DIDHUB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_made_on_one_instance_routes_on_another_within_a_second() {
    let db = TestDatabase::create(support::database::Backend::Postgres).await;
    let key = "routing-key";
    let a = didhub::app::start(
        in_process_config(&db.url, key),
        Arc::new(didhub::clock::SystemClock),
    )
    .await
    .expect("instance A");
    let b = didhub::app::start(
        in_process_config(&db.url, key),
        Arc::new(didhub::clock::SystemClock),
    )
    .await
    .expect("instance B");
    let (base_a, base_b) = (
        format!("http://{}", a.address),
        format!("http://{}", b.address),
    );
    let service = operator(&db.url).await;
    twenty_numbers(&service).await;
    service
        .create_account("alice", PASSWORD, None, 10_00)
        .await
        .expect("account");
    let client = reqwest::Client::new();
    let token = login(&client, &base_a, "alice").await;
    let ids = ids_of(&client, &base_a, &token, &["+33123457000".to_owned()]).await;
    let did_id = ids[0].as_str();

    let (status, body) = post(
        &client,
        &format!("{base_a}/api/did/assign"),
        &[("token", &token), ("did_id", did_id)],
    )
    .await
    .expect("assign");
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = wait_for_route(&client, &base_b, key, |s, b| {
        s == StatusCode::OK && b["status"] == "not_forwarded"
    })
    .await;
    assert!(
        seen < Duration::from_secs(1),
        "assign reached B after {seen:?}"
    );

    let forward = [
        ("token", token.as_str()),
        ("did_id", did_id),
        ("type", "sip"),
        ("destination", "sip:alice@pbx.test"),
    ];
    let (status, _) = post(&client, &format!("{base_a}/api/did/forward"), &forward)
        .await
        .expect("forward");
    assert_eq!(status, StatusCode::OK);
    // On the instance that took the change, the very next lookup sees it.
    let (status, body) = {
        let response = client
            .get(format!("{base_a}/v1/routing/+33123457000"))
            .bearer_auth(key)
            .send()
            .await
            .expect("lookup");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["target"], "sip:alice@pbx.test");
    let seen = wait_for_route(&client, &base_b, key, |_, b| {
        b["target"] == "sip:alice@pbx.test"
    })
    .await;
    assert!(
        seen < Duration::from_secs(1),
        "forward reached B after {seen:?}"
    );

    // A failover list replacing it, in the order given.
    let failover = [
        ("token", token.as_str()),
        ("did_id", did_id),
        ("type", "sip"),
        ("destination", "sip:desk@pbx.test"),
        ("timeout_seconds", "15"),
        ("type", "pstn"),
        ("destination", "+33612345678"),
        ("timeout_seconds", ""),
    ];
    let (status, body) = post(&client, &format!("{base_a}/api/did/forward"), &failover)
        .await
        .expect("forward");
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = wait_for_route(&client, &base_b, key, |_, b| {
        b["forwards"][0]["target"] == "sip:desk@pbx.test"
            && b["forwards"][0]["timeout_seconds"] == 15
            && b["forwards"][1]["target"] == "tel:+33612345678"
    })
    .await;
    assert!(
        seen < Duration::from_secs(1),
        "the failover list reached B after {seen:?}"
    );
    let sip_b = b.sip_address.expect("B's SIP server");
    let redirected =
        support::sip_client::invite_over_udp(sip_b, "sip:+33123457000@b.test", "failover").await;
    assert_eq!(
        redirected.headers("Contact"),
        ["<sip:desk@pbx.test>;q=1.0", "<tel:+33612345678>;q=0.9"],
        "{}",
        redirected.raw
    );

    // A limit set by the operator's command line (another process).
    service
        .set_number_max_calls("+33123457000", Some(3))
        .await
        .expect("limit");
    let seen = wait_for_route(&client, &base_b, key, |_, b| {
        b["limits"]["number_max_calls"] == 3
    })
    .await;
    assert!(
        seen < Duration::from_secs(1),
        "the limit reached B after {seen:?}"
    );

    let (status, _) = post(
        &client,
        &format!("{base_a}/api/did/release"),
        &[("token", &token), ("did_id", did_id)],
    )
    .await
    .expect("release");
    assert_eq!(status, StatusCode::OK);
    let seen = wait_for_route(&client, &base_b, key, |s, _| s == StatusCode::NOT_FOUND).await;
    assert!(
        seen < Duration::from_secs(1),
        "release reached B after {seen:?}"
    );

    a.shutdown().await;
    b.shutdown().await;
}

/// Numbers and forwards per number of the webhook cluster test: 40 × (1
/// purchase + 49 forwards) = 2,000 changes.
const HOOK_NUMBERS: usize = 40;
const HOOK_FORWARDS: usize = 49;

/// Makes the 2,000 changes through the library (the servers only deliver).
async fn make_changes(service: &Service) -> Vec<String> {
    let rows: Vec<String> = (0..HOOK_NUMBERS)
        .map(|i| format!("+3312346{:04},FR,landline,0.00,0.00", 1000 + i))
        .collect();
    let csv = format!(
        "number,country,type,setup_fee,monthly_cost\n{}\n",
        rows.join("\n")
    );
    service.import_inventory(&csv).await.expect("import");
    let account = service
        .create_account("hooked", PASSWORD, None, 0)
        .await
        .expect("account");
    let mut numbers = Vec::new();
    for i in 0..HOOK_NUMBERS {
        let number = format!("+3312346{:04}", 1000 + i);
        let row = service.number_detail(&number).await.expect("number").did;
        let request = service::AssignRequest {
            did_id: row.id,
            idempotency_key: None,
        };
        service.assign(account.id, &request).await.expect("bought");
        numbers.push(number);
    }
    for f in 0..HOOK_FORWARDS {
        for number in &numbers {
            let did = service.number_detail(number).await.expect("number").did;
            let destination = format!("+336123{:05}", f);
            service
                .set_forward(
                    account.id,
                    did.id,
                    &[service::ForwardRequest {
                        kind: "pstn".to_owned(),
                        destination,
                        timeout_seconds: None,
                    }],
                )
                .await
                .expect("forward");
        }
    }
    numbers
}

/// Per number, the events accepted must follow the changes' order (a repeat
/// of the event just accepted is at-least-once, not disorder), all of them.
fn assert_in_order_and_complete(accepted: &[support::receiver::Received]) {
    let mut progress: HashMap<String, (i64, HashSet<String>)> = HashMap::new();
    for request in accepted {
        let body = request.json();
        let Some(number) = body["data"]["number"]["number"].as_str() else {
            continue; // inventory.imported
        };
        let step = match body["type"].as_str() {
            Some("number.assigned") => 0,
            _ => {
                body["data"]["number"]["forward"]["destination"]
                    .as_str()
                    .and_then(|d| d.get(7..))
                    .and_then(|d| d.parse::<i64>().ok())
                    .expect("a forward's destination")
                    + 1
            }
        };
        let (last, seen) = progress
            .entry(number.to_owned())
            .or_insert((-1, HashSet::new()));
        assert!(step >= *last, "{number}: step {step} after {last}");
        assert!(
            step == *last || !seen.contains(&request.id),
            "{number}: an old event came back"
        );
        *last = step;
        seen.insert(request.id.clone());
    }
    assert_eq!(progress.len(), HOOK_NUMBERS);
    for (number, (last, seen)) in progress {
        assert_eq!(
            (last, seen.len()),
            (HOOK_FORWARDS as i64, HOOK_FORWARDS + 1),
            "{number}"
        );
    }
}

#[cfg_attr(
    not(didhub_postgres_tests),
    ignore = "PostgreSQL half: set DIDHUB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_deliver_2000_events_one_at_a_time_in_order_and_survive_a_kill() {
    let db = TestDatabase::create(support::database::Backend::Postgres).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let receiver = support::receiver::Receiver::start(0, 200, Duration::from_millis(3)).await;
    let service = operator(&db.url).await;
    let flags = [
        "--webhook-allow-http",
        "127.0.0.1",
        "--webhook-allow-private",
        "--webhook-poll-ms",
        "50",
        "--webhook-lease-secs",
        "15",
    ];
    let mut servers: Vec<ServerProcess> = (0..3)
        .map(|i| ServerProcess::start_with(&db.url, workdir.path(), &format!("hook{i}"), &flags))
        .collect();
    let (_, secret) = {
        let mut settings = service::Settings::default();
        settings.webhooks.urls.allow_private = true;
        settings.webhooks.urls.allow_http_hosts = vec!["127.0.0.1".to_owned()];
        let store = service.store().clone();
        Service::new(store, Arc::new(didhub::clock::SystemClock), settings)
            .create_webhook(None, &receiver.url(), &[])
            .await
            .expect("operator endpoint")
    };
    let started = Instant::now();
    let changes = tokio::spawn(async move { make_changes(&service).await });
    let deadline = Instant::now() + Duration::from_secs(180);
    while receiver.accepted().len() < 500 {
        assert!(
            Instant::now() < deadline,
            "only {} delivered",
            receiver.accepted().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    servers[0].kill(); // SIGKILL in the middle of deliveries
    changes.await.expect("changes made");
    // Every event once (plus inventory.imported), however many repeats.
    let distinct = |r: &support::receiver::Receiver| {
        r.accepted()
            .iter()
            .map(|a| a.id.clone())
            .collect::<HashSet<_>>()
            .len()
    };
    while distinct(&receiver) < HOOK_NUMBERS * (HOOK_FORWARDS + 1) + 1 {
        assert!(
            Instant::now() < deadline,
            "only {} distinct delivered",
            distinct(&receiver)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "2,000 changes delivered by 3 instances (one killed) in {:?}; {} requests",
        started.elapsed(),
        receiver.received().len()
    );
    assert_eq!(
        receiver.overlaps(),
        0,
        "one id was being delivered twice at once"
    );
    assert_in_order_and_complete(&receiver.accepted());
    let sample: Vec<_> = receiver.received().into_iter().take(200).collect();
    support::receiver::verify_with_python(&secret, &sample);
    drop(servers);
}

/// Holds and bulk orders (issue 12) through two instances in this process.
mod orders_across_instances {
    use super::*;
    use didhub::clock::{Clock, ManualClock};
    use serde_json::json;

    async fn two_instances(
        database: &str,
        clock: Arc<dyn Clock>,
    ) -> (didhub::app::RunningServer, didhub::app::RunningServer) {
        let a = didhub::app::start(in_process_config(database, "key"), Arc::clone(&clock))
            .await
            .expect("instance A");
        let b = didhub::app::start(in_process_config(database, "key"), clock)
            .await
            .expect("instance B");
        (a, b)
    }

    async fn post_json(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    /// The did_ids an answer says were bought.
    fn bought(status: StatusCode, body: &Value) -> Vec<String> {
        if status != StatusCode::OK {
            return Vec::new();
        }
        match body["dids"].as_array() {
            Some(dids) => dids.iter().map(|d| d["did_id"].to_string()).collect(),
            None => vec![body["did_id"].to_string()],
        }
    }

    async fn visible_on(client: &reqwest::Client, base: &str, token: &str, number: &str) -> bool {
        let (status, body) = post(
            client,
            &format!("{base}/api/did/available"),
            &[("token", token), ("country", "FR"), ("limit", "500")],
        )
        .await
        .expect("search");
        assert_eq!(status, StatusCode::OK, "{body}");
        body["dids"]
            .as_array()
            .expect("dids")
            .iter()
            .any(|d| d["did_number"] == number)
    }

    /// One account's mix of orders: a bulk order, an order by criteria, a hold
    /// then a purchase of what it holds, a partial bulk order.
    async fn shopper(
        client: &reqwest::Client,
        base: &str,
        token: &str,
        ids: &[i64],
        i: usize,
    ) -> Vec<String> {
        let window = |start: usize, len: usize| -> Vec<i64> {
            (0..len).map(|k| ids[(start + k) % ids.len()]).collect()
        };
        let mut got = Vec::new();
        let assign = format!("{base}/api/did/assign");
        let (s, b) = post_json(client, &assign, token, json!({"did_id": window(i * 3, 4)})).await;
        got.extend(bought(s, &b));
        let order = format!("{base}/api/did/order");
        let (s, b) = post_json(
            client,
            &order,
            token,
            json!({"country": "FR", "quantity": 2}),
        )
        .await;
        assert!(
            s == StatusCode::OK || b["error"]["code"] == "not_enough_numbers",
            "{s} {b}"
        );
        got.extend(bought(s, &b));
        let held = window(i * 5 + 1, 2);
        let hold = format!("{base}/api/did/hold");
        let (s, _) = post_json(client, &hold, token, json!({"did_id": held})).await;
        if s == StatusCode::OK {
            let (s, b) = post_json(client, &assign, token, json!({"did_id": held})).await;
            assert!(
                s == StatusCode::OK || s == StatusCode::PAYMENT_REQUIRED,
                "holder's purchase: {s} {b}"
            );
            got.extend(bought(s, &b));
        }
        let (s, b) = post_json(
            client,
            &assign,
            token,
            json!({"did_id": window(i * 7, 6), "partial": true}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        got.extend(bought(s, &b));
        got
    }

    on_both_backends! {
        async fn two_instances_never_sell_a_number_twice_under_bulk_orders_and_holds() {
            let db = TestDatabase::create(current_backend()).await;
            let (a, b) = two_instances(&db.url, Arc::new(didhub::clock::SystemClock)).await;
            let bases = [format!("http://{}", a.address), format!("http://{}", b.address)];
            let service = operator(&db.url).await;
            let numbers = twenty_numbers(&service).await;
            let client = reqwest::Client::new();
            let mut tokens = Vec::new();
            for i in 0..6 {
                let name = format!("shopper{i}");
                service.create_account(&name, PASSWORD, None, 30_00).await.expect("account");
                tokens.push((name.clone(), login(&client, &bases[i % 2], &name).await));
            }
            let ids: Vec<i64> = ids_of(&client, &bases[0], &tokens[0].1, &numbers)
                .await
                .iter()
                .map(|id| id.parse().expect("id"))
                .collect();
            assert_eq!(ids.len(), 20);

            let runs = tokens
                .iter()
                .enumerate()
                .map(|(i, (_, token))| shopper(&client, &bases[i % 2], token, &ids, i));
            let results = join_all(runs).await;

            let mut expected: HashMap<String, HashSet<String>> = HashMap::new();
            let mut sold_once = HashSet::new();
            for ((name, _), got) in tokens.iter().zip(results) {
                for id in got {
                    assert!(sold_once.insert(id.clone()), "did {id} sold twice");
                    expected.entry(name.clone()).or_default().insert(id);
                }
            }
            assert!(sold_once.len() >= 10, "the race sold {} numbers", sold_once.len());
            assert_books_balance(&service, &expected).await;
            a.shutdown().await;
            b.shutdown().await;
        }

        async fn a_hold_on_one_instance_hides_the_number_on_the_other_until_it_ends() {
            let db = TestDatabase::create(current_backend()).await;
            let clock = ManualClock::starting_at(chrono::Utc::now().timestamp());
            let (a, b) = two_instances(&db.url, Arc::new(clock.clone())).await;
            let (base_a, base_b) = (format!("http://{}", a.address), format!("http://{}", b.address));
            let service = operator(&db.url).await;
            let numbers = twenty_numbers(&service).await;
            for name in ["alice", "bob"] {
                service.create_account(name, PASSWORD, None, 10_00).await.expect("account");
            }
            let client = reqwest::Client::new();
            let alice = login(&client, &base_a, "alice").await;
            let bob = login(&client, &base_b, "bob").await;
            let did_id = ids_of(&client, &base_a, &alice, &numbers[..1]).await[0].clone();

            let (status, body) = post(&client, &format!("{base_a}/api/did/hold"), &[("token", &alice), ("did_id", &did_id)])
                .await
                .expect("hold");
            assert_eq!(status, StatusCode::OK, "{body}");
            let started = Instant::now();
            while visible_on(&client, &base_b, &bob, &numbers[0]).await {
                assert!(started.elapsed() < Duration::from_secs(1), "B still offers the held number");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (status, body) = post(&client, &format!("{base_b}/api/did/assign"), &[("token", &bob), ("did_id", &did_id)])
                .await
                .expect("assign");
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "did_held");

            // The hold ends with the clock, on every instance, with no announcement.
            clock.advance(600);
            assert!(visible_on(&client, &base_b, &bob, &numbers[0]).await, "B offers it again at once");
            let (status, body) = post(&client, &format!("{base_b}/api/did/assign"), &[("token", &bob), ("did_id", &did_id)])
                .await
                .expect("assign");
            assert_eq!(status, StatusCode::OK, "{body}");
            let expected = HashMap::from([("bob".to_owned(), HashSet::from([did_id]))]);
            assert_books_balance(&service, &expected).await;
            a.shutdown().await;
            b.shutdown().await;
        }
    }
}
