//! The SBC recipes of `contrib/kamailio/` against a real Kamailio: sipp calls a
//! DID through Kamailio, which routes it with didhub (lookup mode: the rtjson
//! document over HTTP; redirect mode: didhub's SIP 302) to sipp destinations
//! on 127.0.0.x. Each call must arrive with its `Diversion` header and come
//! back as a call record in `/api/did/calls`.
//!
//! Skipped, with a message, when `kamailio` or `sipp` is missing, except in CI
//! (`CI=true`), where that fails. SQLite only: this proves the recipes, not
//! the store.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Amounts in minor units are written dollars_cents (10_00 is 10.00).
#![allow(clippy::inconsistent_digit_grouping)]

#[allow(unused_macros, unused_imports)] // on_both_backends: SQLite only here
mod support;

#[allow(dead_code)] // the API tests' harness; this binary uses part of it
#[path = "api/helpers.rs"]
mod helpers;

use helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const DID: &str = FR_LANDLINE_1;
const DIALLED: &str = "33123456789";

/// Whether the tools are here; outside CI their absence skips the test.
fn tools_present() -> bool {
    let present = |tool: &str| {
        std::process::Command::new(tool)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let missing: Vec<&str> = ["kamailio", "sipp"]
        .into_iter()
        .filter(|t| !present(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the Kamailio recipes, but {missing:?} is missing (.ci/run installs them)"
    );
    eprintln!(
        "SKIPPED: {missing:?} not installed (apt-get install kamailio kamailio-json-modules \
         kamailio-utils-modules sip-tester); CI=true makes this a failure"
    );
    false
}

/// A UDP port free at the moment of asking on `ip`.
fn free_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/kamailio")
        .join(name)
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kamailio")
        .join(name)
}

/// Kamailio in the foreground with one of the recipes, killed when dropped.
struct Kamailio {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Kamailio {
    async fn start(config: &str, work: &Path, app: &TestApp) -> Kamailio {
        let port = free_port("127.0.0.1");
        let log = work.join(format!("{config}.log"));
        let run = work.join(format!("{config}.run"));
        std::fs::create_dir_all(&run).expect("run folder");
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(contrib(config))
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(&run)
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .args(["-A", &format!("DIDHUB_URL=\"{}\"", app.base)])
            .args(["-A", &format!("ROUTING_KEY=\"{ROUTING_KEY}\"")])
            .args(["-A", &format!("DIDHUB_SIP=\"sip:{}\"", app.sip)])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true)
            // Its own process group, so that stopping it stops the workers it forks.
            .process_group(0)
            .spawn()
            .expect("kamailio starts");
        let kamailio = Kamailio { child, port, log };
        kamailio.wait_until_answering().await;
        kamailio
    }

    /// Until Kamailio answers an OPTIONS (it forks its workers first).
    async fn wait_until_answering(&self) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("socket");
        let local = socket.local_addr().expect("address");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buffer = [0u8; 2048];
        while Instant::now() < deadline {
            let options = format!(
                "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ping{n}\r\n\
                 From: <sip:ping@{local}>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ping-{n}@test\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                port = self.port,
                n = deadline.elapsed().as_nanos(),
            );
            let _ = socket
                .send_to(options.as_bytes(), ("127.0.0.1", self.port))
                .await;
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buffer)).await
                && buffer[..n].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
        panic!("kamailio did not answer within 20 s: {}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    /// Kills the whole process group: SIGKILL to the main process alone left
    /// its forked workers running (a CI run left three behind).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// A sipp destination on `ip` playing `scenario` (`uas_answer.xml` answers),
/// for one call; its messages are traced to a file.
struct Destination {
    child: Child,
    uri: String,
    trace: PathBuf,
}

impl Destination {
    fn start(ip: &str, scenario_file: &str, work: &Path) -> Destination {
        let port = free_port(ip);
        let trace = work.join(format!("uas-{ip}-{port}.messages"));
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(scenario(scenario_file))
            .args([
                "-i",
                ip,
                "-p",
                &port.to_string(),
                "-m",
                "1",
                "-timeout",
                "30s",
                "-nostdin",
            ])
            .args(["-trace_msg", "-message_file"])
            .arg(&trace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp starts");
        Destination {
            child,
            uri: format!("sip:alice@{ip}:{port}"),
            trace,
        }
    }

    fn messages(&self) -> String {
        std::fs::read_to_string(&self.trace).unwrap_or_default()
    }

    /// Waits for the destination's one call to end; true when it went as its scenario says.
    async fn finished(mut self) -> (bool, String) {
        let status = tokio::time::timeout(Duration::from_secs(40), self.child.wait())
            .await
            .expect("the destination's call ends within 40 s")
            .expect("sipp exit status");
        (status.success(), self.messages())
    }
}

/// One call from sipp to the DID through Kamailio: `Ok` with the caller's
/// messages when it went as the scenario says (`uac_answered.xml`: answered,
/// `seconds` of talk, BYE), else `Err` with the caller's side of it.
async fn call(
    kamailio: &Kamailio,
    scenario_file: &str,
    seconds: u32,
    work: &Path,
) -> Result<String, String> {
    call_port(kamailio.port, scenario_file, seconds, work)
        .await
        .map_err(|caller| format!("{caller}\n--- kamailio ---\n{}", kamailio.log_text()))
}

/// [`call`] to the Kamailio on `port` (for a call run in its own task).
async fn call_port(
    port: u16,
    scenario_file: &str,
    seconds: u32,
    work: &Path,
) -> Result<String, String> {
    let local_port = free_port("127.0.0.1");
    let trace = work.join(format!("uac-{local_port}.messages"));
    let errors = work.join(format!("uac-{local_port}.errors"));
    let status = Command::new("sipp")
        .arg("-sf")
        .arg(scenario(scenario_file))
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-s",
            DIALLED,
            "-i",
            "127.0.0.1",
            "-p",
            &local_port.to_string(),
        ])
        .args([
            "-m",
            "1",
            "-d",
            &(seconds * 1000).to_string(),
            "-timeout",
            "40s",
            "-nostdin",
        ])
        .args(["-trace_msg", "-message_file"])
        .arg(&trace)
        .args(["-trace_err", "-error_file"])
        .arg(&errors)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .expect("sipp runs");
    let messages = std::fs::read_to_string(&trace).unwrap_or_default();
    if status.success() {
        return Ok(messages);
    }
    Err(format!(
        "{}\n{messages}",
        std::fs::read_to_string(&errors).unwrap_or_default()
    ))
}

/// The account's calls once `count` are reported (Kamailio posts them every 100 ms).
async fn reported_calls(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.post("/api/did/calls", &[("token", token)]).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let calls = response.body["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let complete = calls
            .iter()
            .all(|c| c["status"] != "answered" || c["ended_at"] != Value::Null);
        if (calls.len() >= count && complete) || Instant::now() > deadline {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// didhub with a customer owning the DID, forwards to loopback allowed.
async fn didhub() -> (TestApp, String, String) {
    let app = TestApp::spawn_with(|c| c.service.forward_policy.allow_local_addresses = true).await;
    standard_inventory(&app).await;
    let token = app.account_with_balance("alice", 10_00).await;
    let did_id = app.buy(&token, "FR", DID).await;
    (app, token, did_id)
}

fn assert_diversion(messages: &str) {
    let invite = messages
        .split("INVITE sip:")
        .nth(1)
        .unwrap_or_else(|| panic!("no INVITE reached the destination: {messages}"));
    let diversion = invite
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("diversion:"))
        .unwrap_or_else(|| panic!("the INVITE has no Diversion header: {invite}"));
    assert!(
        diversion.contains(&format!("<sip:{DID}@")),
        "Diversion names the DID: {diversion}"
    );
}

async fn a_call_is_delivered_with_diversion_and_reported(config: &str) {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("work folder");
    let (app, token, did_id) = didhub().await;
    let kamailio = Kamailio::start(config, work.path(), &app).await;
    let destination = Destination::start("127.0.0.2", "uas_answer.xml", work.path());
    let forwarded = app.forward(&token, &did_id, "sip", &destination.uri).await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);

    if let Err(failure) = call(&kamailio, "uac_answered.xml", 2, work.path()).await {
        panic!("the call failed: {failure}");
    }
    let (ok, messages) = destination.finished().await;
    assert!(ok, "the destination's call went wrong: {messages}");
    assert_diversion(&messages);

    let calls = reported_calls(&app, &token, 1).await;
    assert_eq!(
        calls.len(),
        1,
        "one call record: {calls:?}\n{}",
        kamailio.log_text()
    );
    assert_eq!(calls[0]["status"], "answered", "{calls:?}");
    // From the INVITE's acc record; the duration from the dialog's CDR.
    assert_eq!(calls[0]["sip_code"], 200, "{calls:?}");
    assert_eq!(calls[0]["did_number"], DID);
    assert_eq!(calls[0]["from"], "sipp");
    let seconds = calls[0]["duration_seconds"].as_i64().expect("duration");
    assert!((1..=4).contains(&seconds), "about 2 s of talk: {calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_mode_delivers_a_call_with_diversion_and_reports_it() {
    a_call_is_delivered_with_diversion_and_reported("didhub-lookup.cfg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mode_delivers_a_call_with_diversion_and_reports_it() {
    a_call_is_delivered_with_diversion_and_reported("didhub-redirect.cfg").await;
}

/// The final answer the caller got, from its message trace.
fn final_code(messages: &str) -> Option<u16> {
    messages
        .lines()
        .filter_map(|l| l.strip_prefix("SIP/2.0 "))
        .filter_map(|l| l.get(..3)?.parse::<u16>().ok())
        .rfind(|code| *code >= 200)
}

async fn a_number_without_forward_gets_480_and_a_missed_call(config: &str) {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("work folder");
    let (app, token, _) = didhub().await;
    let kamailio = Kamailio::start(config, work.path(), &app).await;

    let messages = call(&kamailio, "uac_refused.xml", 0, work.path())
        .await
        .unwrap_or_else(|failure| panic!("the call was not refused: {failure}"));
    assert_eq!(final_code(&messages), Some(480), "{messages}");

    let calls = reported_calls(&app, &token, 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}\n{}", kamailio.log_text());
    assert_eq!(calls[0]["status"], "missed", "{calls:?}");
    assert_eq!(calls[0]["sip_code"], 480, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_mode_answers_480_for_a_number_without_forward_and_reports_it_missed() {
    a_number_without_forward_gets_480_and_a_missed_call("didhub-lookup.cfg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mode_passes_didhubs_480_on_and_reports_it_missed() {
    a_number_without_forward_gets_480_and_a_missed_call("didhub-redirect.cfg").await;
}

/// Sets the number's ordered forwards (JSON list form of `did/forward`).
async fn forward_to(app: &TestApp, token: &str, did_id: &str, forwards: Value) {
    let did_id: i64 = did_id.parse().expect("did id");
    let body = serde_json::json!({"did_id": did_id, "forwards": forwards});
    let response = app
        .post_json("/api/did/forward", Some(token), body, &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// A first destination that fails (`first`: its scenario, with the timeout of
/// its forward) makes the call go on to the second, which answers it.
async fn a_failing_first_destination_fails_over_to_the_second(
    config: &str,
    first: &str,
    timeout: Option<u32>,
) {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("work folder");
    let (app, token, did_id) = didhub().await;
    let kamailio = Kamailio::start(config, work.path(), &app).await;
    let failing = Destination::start("127.0.0.2", first, work.path());
    let answering = Destination::start("127.0.0.3", "uas_answer.xml", work.path());
    let mut first_forward = serde_json::json!({"type": "sip", "destination": failing.uri});
    if let Some(seconds) = timeout {
        first_forward["timeout_seconds"] = seconds.into();
    }
    let second_forward = serde_json::json!({"type": "sip", "destination": answering.uri});
    forward_to(
        &app,
        &token,
        &did_id,
        serde_json::json!([first_forward, second_forward]),
    )
    .await;

    let started = Instant::now();
    if let Err(failure) = call(&kamailio, "uac_answered.xml", 1, work.path()).await {
        panic!("the call failed: {failure}");
    }
    let (ok, failed) = failing.finished().await;
    assert!(ok, "the first destination's call went wrong: {failed}");
    let (ok, messages) = answering.finished().await;
    assert!(ok, "the second destination's call went wrong: {messages}");
    assert_diversion(&messages);
    // One after the other, not both at once: the second rang after the first said busy.
    if first == "uas_busy.xml" {
        let busy = traced_at(&failed, "SIP/2.0 486").expect("the first sent 486");
        let rung = traced_at(&messages, "INVITE ").expect("the second got an INVITE");
        // sipp stamps a message after sending it: a loaded machine can run the
        // proxy and the second destination in between, so allow 5 ms; ringing
        // both at once would be 300 ms early (the busy destination's pause).
        let (busy_s, rung_s) = (seconds_of(&busy), seconds_of(&rung));
        assert!(
            rung_s >= busy_s - 0.005,
            "the second rang at {rung}, before the first's 486 at {busy}"
        );
    }
    if let Some(seconds) = timeout {
        assert!(
            started.elapsed() >= Duration::from_secs(seconds.into()),
            "rang the first for its timeout"
        );
    }
    let calls = reported_calls(&app, &token, 1).await;
    assert_eq!(calls.len(), 1, "{calls:?}\n{}", kamailio.log_text());
    assert_eq!(calls[0]["status"], "answered", "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_mode_fails_over_from_a_busy_destination_to_the_next() {
    a_failing_first_destination_fails_over_to_the_second("didhub-lookup.cfg", "uas_busy.xml", None)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mode_fails_over_from_a_busy_destination_to_the_next_contact() {
    a_failing_first_destination_fails_over_to_the_second(
        "didhub-redirect.cfg",
        "uas_busy.xml",
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_mode_fails_over_when_a_destination_rings_past_its_timeout() {
    a_failing_first_destination_fails_over_to_the_second(
        "didhub-lookup.cfg",
        "uas_silent.xml",
        Some(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_mode_refuses_a_call_over_the_numbers_limit_with_486() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().expect("work folder");
    let (app, token, did_id) = didhub().await;
    app.service
        .set_number_max_calls(DID, Some(1))
        .await
        .expect("limit set");
    let kamailio = Kamailio::start("didhub-lookup.cfg", work.path(), &app).await;
    let destination = Destination::start("127.0.0.2", "uas_answer.xml", work.path());
    let forwarded = app.forward(&token, &did_id, "sip", &destination.uri).await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);

    // The first call takes the number's one channel for 4 s...
    let first = {
        let work = work.path().to_owned();
        let port = kamailio.port;
        tokio::spawn(async move { call_port(port, "uac_answered.xml", 4, &work).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !destination.messages().contains("ACK sip:") {
        assert!(Instant::now() < deadline, "the first call was not answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...so a second one meanwhile is refused.
    let messages = call(&kamailio, "uac_refused.xml", 0, work.path())
        .await
        .unwrap_or_else(|failure| panic!("the second call was not refused: {failure}"));
    assert_eq!(final_code(&messages), Some(486), "{messages}");
    if let Err(failure) = first.await.expect("first call") {
        panic!("the first call failed: {failure}");
    }
    let (ok, messages) = destination.finished().await;
    assert!(ok, "the destination's call went wrong: {messages}");

    let calls = reported_calls(&app, &token, 2).await;
    let outcomes: Vec<_> = calls
        .iter()
        .map(|c| (c["status"].clone(), c["sip_code"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Value::from("missed"), Value::from(486)),
            (Value::from("answered"), Value::from(200))
        ],
        "newest first: {calls:?}"
    );
}

/// When sipp traced the first message starting with `start` (its trace
/// stamps each message `----… YYYY-MM-DD HH:MM:SS.micros`, which sorts).
/// Seconds since midnight of a sipp trace stamp (its `HH:MM:SS.ffffff` part).
fn seconds_of(stamp: &str) -> f64 {
    let clock = stamp
        .split_whitespace()
        .find(|part| part.matches(':').count() == 2)
        .unwrap_or_else(|| panic!("no time of day in the stamp {stamp:?}"));
    clock
        .split(':')
        .map(|part| part.parse::<f64>().expect("a number"))
        .fold(0.0, |total, part| total * 60.0 + part)
}

fn traced_at(messages: &str, start: &str) -> Option<String> {
    messages
        .split("----------------------------------------------- ")
        .find_map(|entry| {
            let (stamp, rest) = entry.split_once('\n')?;
            let message = rest.split_once("\n\n")?.1;
            message.starts_with(start).then(|| stamp.trim().to_owned())
        })
}
