//! The HTTP connection limits, over real sockets: slow and idle clients are
//! closed after their timeouts and cannot starve the others. These rules are
//! about connections, not data, so they run on one backend (SQLite).

use crate::helpers::TestApp;
use didhub::http::server::ConnectionLimits;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app_with(limits: ConnectionLimits) -> (TestApp, SocketAddr) {
    let app = TestApp::spawn_with(|config| config.http.connections = limits).await;
    let address = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    (app, address)
}

fn limits(header: u64, idle: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(header),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_millis(idle),
        max_connections,
    }
}

/// Waits until the server closes `stream` (end of file or reset), at most `within`;
/// returns how long that took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + within),
            stream.read(&mut buffer),
        )
        .await;
        match read {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // An answer (e.g. a 408 or the previous response): keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether `stream` is still open and silent right now.
fn still_open(stream: &TcpStream) -> bool {
    let mut buffer = [0u8; 1];
    matches!(stream.try_read(&mut buffer), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn healthz_over(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("request sent");
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answer in time")
        .expect("answer read");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

/// A client starts sending its request headers, then stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_stalled_in_its_headers_is_closed_after_the_header_timeout() {
    let (_app, address) = app_with(limits(800, 30_000, 100)).await;
    let mut stalled = TcpStream::connect(address).await.expect("connects");
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("half a request");
    let closed = closed_within(&mut stalled, Duration::from_secs(10))
        .await
        .expect("the stalled connection is closed");
    assert!(
        closed >= Duration::from_millis(600) && closed < Duration::from_secs(5),
        "closed after {closed:?}, the header timeout is 800 ms"
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(address).await.expect("connects");
    assert!(
        closed_within(&mut silent, Duration::from_secs(10))
            .await
            .is_some()
    );
}

/// A kept-alive connection waits for its next request for the idle timeout,
/// which is longer than the header timeout, then is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (_app, address) = app_with(limits(500, 2_000, 100)).await;
    let mut client = TcpStream::connect(address).await.expect("connects");
    let answer = healthz_over(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answered = Instant::now();

    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(
        still_open(&client),
        "idle past the header timeout but within the idle timeout: still open"
    );
    // Kept alive means usable: a second request on it is answered, and the
    // idle clock starts again after it.
    let answer = healthz_over(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = closed_within(&mut client, Duration::from_secs(10))
        .await
        .expect("the idle connection is closed");
    assert!(
        closed >= Duration::from_millis(1_500) && closed < Duration::from_secs(6),
        "closed {closed:?} after the second answer ({:?} after the first); idle timeout 2 s",
        answered.elapsed()
    );
}

/// Slowloris: thousands of connections dribble their headers; a normal
/// client is still answered at once, and the slow ones are closed once their
/// header time is up, whatever they dribble.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_do_not_delay_a_normal_request_and_are_closed() {
    const SLOW: usize = 2_000;
    // Both ends of every connection live in this process.
    rlimit::increase_nofile_limit(u64::MAX).expect("open-file limit raised");
    let (app, address) = app_with(limits(5_000, 60_000, 10_000)).await;
    let started = Instant::now();
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(address).await.expect("connects");
        stream
            .write_all(b"POST /api/balance HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("first header line");
        slow.push(stream);
    }
    for stream in &mut slow {
        stream
            .write_all(b"X-Dribble: 1\r\n")
            .await
            .expect("dribble");
    }
    // The fastest of three, so that one scheduling hiccup on a busy machine
    // does not fail the test; starvation would slow all three.
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let answer = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .expect("answered");
        assert!(answer.status().is_success());
        fastest = fastest.min(started.elapsed());
    }
    assert!(
        fastest < Duration::from_millis(100),
        "a normal request took {fastest:?} beside {SLOW} slow ones"
    );
    for stream in &mut slow {
        // Dribbling more does not extend the time for the headers.
        let _ = stream.write_all(b"X-Dribble: 2\r\n").await;
    }
    let mut closed = 0;
    for stream in &mut slow {
        let left = Duration::from_secs(20).saturating_sub(started.elapsed());
        closed += usize::from(closed_within(stream, left).await.is_some());
    }
    assert_eq!(closed, SLOW, "every slow connection closed within 20 s");
}

/// At the connection limit new connections wait to be accepted; when the
/// connections holding the places go, the waiting one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_a_place_frees() {
    let (app, address) = app_with(limits(30_000, 30_000, 4)).await;
    let mut holders = Vec::new();
    for _ in 0..4 {
        let mut holder = TcpStream::connect(address).await.expect("connects");
        let answer = healthz_over(&mut holder).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        holders.push(holder);
    }
    // The kernel completes the handshake; the server does not take it yet.
    let mut waiting = TcpStream::connect(address).await.expect("queued");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("request sent");
    let mut answer = vec![0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut answer)).await;
    assert!(
        early.is_err(),
        "no answer while four connections hold the places"
    );

    // A new client on its own is held back the same way…
    let refused = app
        .client
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(refused.is_err(), "held back at the limit: {refused:?}");

    // …and served once the holders go.
    drop(holders);
    let read = tokio::time::timeout(Duration::from_secs(5), waiting.read(&mut answer))
        .await
        .expect("answered once a place is free")
        .expect("answer read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let later = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("answered");
    assert!(later.status().is_success());
}
