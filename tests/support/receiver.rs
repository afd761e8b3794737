//! A webhook receiver on 127.0.0.1 for tests: records every request (headers
//! and body as received), answers each event id `fail_first` times 500 and
//! then 200, optionally slowly, and notices two deliveries of one id in flight
//! at once. Signatures are checked afterwards with the reference Python
//! library (`standardwebhooks`), see [`verify_with_python`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    answered: HashMap<String, usize>,
    in_flight: HashSet<String>,
    overlaps: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    fail_first: usize,
    answer: u16,
    delay: Duration,
}

impl Receiver {
    /// Answers `answer` after `fail_first` 500s per event id, after `delay`.
    pub async fn start(fail_first: usize, answer: u16, delay: Duration) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let receiver = Receiver {
            address: listener.local_addr().expect("address"),
            inner: Arc::default(),
            fail_first,
            answer,
            delay,
        };
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").received.clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// How often a request arrived while another of the same id was in flight.
    pub fn overlaps(&self) -> usize {
        self.inner.lock().expect("lock").overlaps
    }

    /// Waits (real time, the network is real) until `done` holds, moving the
    /// service's clock by `step` seconds each round so that retries come due.
    pub async fn wait_for(
        &self,
        clock: Option<&didhub::clock::ManualClock>,
        step: i64,
        done: impl Fn(&Receiver) -> bool,
    ) {
        for _ in 0..600 {
            if done(self) {
                return;
            }
            if let Some(clock) = clock {
                clock.advance(step);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver did not get what was expected: {:#?}",
            self.received().len()
        );
    }
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let id = header("webhook-id");
    let _in_flight = InFlight::enter(&receiver, &id);
    tokio::time::sleep(receiver.delay).await;
    let mut inner = receiver.inner.lock().expect("lock");
    let answered = inner.answered.entry(id.clone()).or_insert(0);
    *answered += 1;
    let status = if *answered <= receiver.fail_first {
        500
    } else {
        receiver.answer
    };
    inner.received.push(Received {
        id,
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    StatusCode::from_u16(status).expect("status")
}

/// One request of an id in flight; leaving (even when a killed sender's
/// connection drops the request midway) ends it.
struct InFlight {
    inner: Arc<Mutex<Inner>>,
    id: String,
}

impl InFlight {
    fn enter(receiver: &Receiver, id: &str) -> InFlight {
        let mut inner = receiver.inner.lock().expect("lock");
        if !inner.in_flight.insert(id.to_owned()) {
            inner.overlaps += 1;
        }
        InFlight {
            inner: Arc::clone(&receiver.inner),
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.in_flight.remove(&self.id);
        }
    }
}

const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, path = sys.argv[1], sys.argv[2]
hook = Webhook(secret)
for item in json.load(open(path)):
    hook.verify(item["body"], item["headers"])
print("verified", len(json.load(open(path))))
"#;

/// Checks every request's signature with the `standardwebhooks` package
/// (`pip install standardwebhooks`); panics naming the first that fails.
pub fn verify_with_python(secret: &str, requests: &[Received]) {
    let items: Vec<Value> = requests
        .iter()
        .map(|r| {
            json!({
                "body": r.body,
                "headers": {"webhook-id": r.id, "webhook-timestamp": r.timestamp,
                            "webhook-signature": r.signature},
            })
        })
        .collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), serde_json::to_vec(&items).expect("json")).expect("write");
    let output = std::process::Command::new("python3")
        .args(["-c", VERIFY, secret])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "standardwebhooks refused a signature:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(said.trim(), format!("verified {}", requests.len()));
}
