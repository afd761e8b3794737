//! The `didhub serve` process as an operator meets it: start-up on an address
//! in use, JSON logs, and a stop that ends within its bound.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use didhub::service::{self, Service};
use didhub::store::PoolSettings;
use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// Runs `didhub` to its end (at most a minute) and returns what it printed.
fn run_to_exit(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_didhub"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("didhub starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("didhub {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn an_http_address_in_use_fails_the_start_with_a_hint_and_writes_nothing() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").to_string();
    let workdir = tempfile::tempdir().expect("workdir");
    let database = workdir.path().join("new.db");
    let database = database.to_str().expect("path");
    let output = run_to_exit(&[
        "--database",
        database,
        "serve",
        "--demo",
        "--listen",
        &port,
        "--sip-listen",
        "off",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status {}", output.status);
    assert!(
        stderr.contains("--listen") && stderr.contains("DIDHUB_LISTEN") && stderr.contains(&port),
        "a hint naming the flag and the address: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {stderr:?}"
    );
    assert_nothing_written(workdir.path());
}

#[test]
fn a_sip_address_in_use_fails_the_start_with_a_hint_and_writes_nothing() {
    // SIP takes UDP and TCP on one port: holding the TCP half is enough.
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").to_string();
    let workdir = tempfile::tempdir().expect("workdir");
    let database = workdir.path().join("new.db");
    let output = run_to_exit(&[
        "--database",
        database.to_str().expect("path"),
        "serve",
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--sip-listen",
        &port,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status {}", output.status);
    assert!(
        stderr.contains("--sip-listen off") && stderr.contains(&port),
        "a hint to turn SIP off or move it: {stderr}"
    );
    assert_nothing_written(workdir.path());
}

/// No database file (nor its journal) was created: nothing was migrated or seeded.
fn assert_nothing_written(dir: &Path) {
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("workdir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(files.is_empty(), "files written: {files:?}");
}

/// A `didhub serve` process on a fresh SQLite file, stderr kept in a file.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    fn start(workdir: &Path, extra: &[&str]) -> Server {
        let address_file = workdir.join("address");
        let log = workdir.join("stderr.log");
        let database = workdir.join("didhub.db");
        let child = Command::new(env!("CARGO_BIN_EXE_didhub"))
            .arg("--database")
            .arg(&database)
            .args(["serve", "--listen", "127.0.0.1:0", "--sip-listen", "off"])
            .args(["--maintenance-interval-secs", "0"])
            .arg("--address-file")
            .arg(&address_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("didhub starts");
        let mut server = Server {
            child,
            base: String::new(),
            log,
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
                panic!("exited early ({status}):\n{}", server.stderr());
            }
            assert!(Instant::now() < deadline, "did not start in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (at most a minute) for the exit.
    fn terminate(&mut self) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        loop {
            if let Some(status) = self.child.try_wait().expect("status") {
                return (status, sent.elapsed());
            }
            assert!(sent.elapsed() < Duration::from_secs(60), "no exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn operator(database: &Path) -> Service {
    let store = didhub::app::open_store(database.to_str().expect("path"), &PoolSettings::default())
        .await
        .expect("database opens");
    Service::new(
        store,
        Arc::new(didhub::clock::SystemClock),
        service::Settings::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_the_request_and_no_secrets() {
    let workdir = tempfile::tempdir().expect("workdir");
    let mut server = Server::start(workdir.path(), &["--log-format", "json"]);
    let answer = reqwest::Client::new()
        .post(format!("{}/api/balance?token=secret-in-query", server.base))
        .bearer_auth("secret-in-header")
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = server.terminate();
    assert!(status.success());

    let log = server.stderr();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["fields"]["message"] == "answered")
        .unwrap_or_else(|| panic!("a request line in {log}"));
    assert_eq!(request["level"], "INFO", "a refusal is routine: {request}");
    assert_eq!(request["fields"]["status"], 401);
    assert!(request["fields"]["latency_ms"].is_number(), "{request}");
    assert_eq!(request["span"]["method"], "POST");
    assert_eq!(request["span"]["path"], "/api/balance");
    assert!(!log.contains("secret-in"), "no token in the logs: {log}");
}

/// Logins take a slow password hash each; a stop with many queued must still
/// end within `--shutdown-timeout-secs`, and a client stalled in its headers
/// must not hold it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_queued_logins_and_a_stalled_client_ends_within_the_timeout() {
    let workdir = tempfile::tempdir().expect("workdir");
    let mut server = Server::start(workdir.path(), &["--shutdown-timeout-secs", "2"]);
    operator(&workdir.path().join("didhub.db"))
        .await
        .create_account("alice", PASSWORD, None, 0)
        .await
        .expect("account");
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&address).expect("connects");
    std::io::Write::write_all(&mut stalled, b"POST /api/login HTTP/1.1\r\nHost: x")
        .expect("half a request");
    let client = reqwest::Client::new();
    let url = format!("{}/api/login", server.base);
    let logins: Vec<_> = (0..200)
        .map(|_| {
            let request = client
                .post(&url)
                .form(&[("username", "alice"), ("password", PASSWORD)]);
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.stderr().contains("/api/login") {
        assert!(Instant::now() < deadline, "no login answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, took) = server.terminate();
    assert!(
        took < Duration::from_secs(5),
        "stopped {took:?} after SIGTERM ({status}) with a 2 s bound:\n{}",
        server.stderr()
    );
    for login in logins {
        let _ = login.await;
    }
    drop(stalled);
}

/// A client that is only connected, or half-way through its headers, was
/// promised nothing: it does not hold the stop until its header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_request_in_flight_do_not_delay_the_stop() {
    let workdir = tempfile::tempdir().expect("workdir");
    let mut server = Server::start(
        workdir.path(),
        &[
            "--header-timeout-secs",
            "30",
            "--shutdown-timeout-secs",
            "30",
        ],
    );
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&address).expect("connects");
    std::io::Write::write_all(&mut stalled, b"POST /api/login HTTP/1.1\r\nHost: x")
        .expect("half a request");
    let silent = std::net::TcpStream::connect(&address).expect("connects");
    let kept_alive = reqwest::Client::new();
    let answer = kept_alive
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("answered");
    assert!(answer.status().is_success());
    let (status, took) = server.terminate();
    assert!(status.success(), "a clean stop exits 0: {status}");
    assert!(
        took < Duration::from_secs(3),
        "stopped {took:?} after SIGTERM:\n{}",
        server.stderr()
    );
    drop((stalled, silent));
}
