//! The HTTP accept loop: hyper's HTTP/1.1 connections with the timeouts and
//! the connection limit that `axum::serve` does not offer.
//!
//! - Headers: a new connection must send its request headers within
//!   `header_timeout`, and so must a kept-alive one from the first byte of its
//!   next request. hyper's own `header_read_timeout` is not used: its clock
//!   also runs while a kept-alive connection is idle, which would make the
//!   idle timeout no longer than the header timeout.
//! - Bodies: tower-http's `RequestBodyTimeout` (the time between two pieces
//!   of a body, while a handler reads it).
//! - Idle: a kept-alive connection without a new request for `idle_timeout`
//!   is closed.
//! - Connections: at most `max_connections` at once. At the limit the server
//!   stops accepting until one closes; the new ones wait in the kernel's listen
//!   backlog rather than being accepted and dropped, so that nobody is refused
//!   while the timeouts above free a place within seconds, and the limit keeps
//!   file descriptors for the database and the SIP server.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeout;

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// Three quarters of the open-file limit, leaving the rest for the database,
/// the SIP server and the files the process opens; at most 65,536 (each
/// connection also costs memory).
pub fn default_max_connections() -> usize {
    let open_files = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _hard)| soft)
        .unwrap_or(1024);
    let open_files = usize::try_from(open_files).unwrap_or(usize::MAX);
    (open_files - open_files / 4).clamp(16, 65_536)
}

/// Serves `router` on `listener` until `stop` turns true, then stops
/// accepting, lets every connection finish its request in flight, and returns
/// once all are closed (the caller bounds how long it waits).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    // Semaphore permits are counted in u32 by `acquire_many`.
    let max_connections = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let places = Arc::new(Semaphore::new(max_connections as usize));
    let (closing, closing_watch) = watch::channel(false);
    let service = RequestBodyTimeout::new(router, limits.body_timeout);
    loop {
        if places.available_permits() == 0 {
            tracing::warn!(
                max_connections,
                "connection limit reached; new connections wait until one closes"
            );
        }
        let place = tokio::select! {
            place = Arc::clone(&places).acquire_owned() => place,
            _ = turned_on(&mut stop) => break,
        };
        let Ok(place) = place else { break };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            _ = turned_on(&mut stop) => break,
        };
        // Without TCP_NODELAY a response larger than one segment (a page of
        // numbers) waits for the client's delayed ACK: 40 ms tails.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        tokio::spawn(serve_connection(
            stream,
            remote,
            service.clone(),
            limits,
            closing_watch.clone(),
            place,
        ));
    }
    // Refuse new connections from here on, and close the idle ones.
    drop(listener);
    let _ = closing.send(true);
    let _ = places.acquire_many(max_connections).await;
}

/// How long a connection without a request in flight may take to close when
/// the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Resolves when the flag turns true or its sender is gone.
async fn turned_on(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|on| *on).await;
}

/// An accept error other than one aborted connection is mostly running out
/// of file descriptors: wait a little for some to close rather than spin.
async fn accept_failed(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset => {}
        _ => {
            tracing::warn!(%error, "accepting a connection failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    service: RequestBodyTimeout<Router>,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
    _place: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Deadlines::new(stream, Arc::clone(&activity), &limits));
    let answering = Arc::clone(&activity);
    let handler = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // What axum's `into_make_service_with_connect_info` would insert.
        request.extensions_mut().insert(ConnectInfo(remote));
        activity.in_request.store(true, Ordering::Release);
        let activity = Arc::clone(&activity);
        let answer = service.clone().oneshot(request);
        async move {
            let response = answer.await;
            activity.finished.fetch_add(1, Ordering::AcqRel);
            activity.in_request.store(false, Ordering::Release);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, handler);
    tokio::pin!(connection);
    let ended = tokio::select! {
        served = connection.as_mut() => served,
        // Also when the loop is gone: then nobody waits for us any more.
        _ = turned_on(&mut closing) => {
            connection.as_mut().graceful_shutdown();
            if answering.in_request.load(Ordering::Acquire) {
                connection.as_mut().await
            } else {
                // Idle, or still sending its headers: nothing was promised to
                // this client, so it must not hold the stop; the grace lets
                // an answer already made reach it.
                match tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await {
                    Ok(ended) => ended,
                    Err(_) => Ok(()),
                }
            }
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, %remote, "HTTP connection ended");
    }
}

/// What the request handler tells the connection's reader: whether a request
/// is being answered, and how many have been.
#[derive(Default)]
struct Activity {
    in_request: AtomicBool,
    finished: AtomicU64,
}

/// A TCP stream whose reads fail with `TimedOut` once the client is late:
/// `header_timeout` after the connection opens or after the first byte of a
/// later request, `idle_timeout` after the last answer when nothing else
/// came. While a request is being answered the body timeout applies instead.
struct Deadlines {
    stream: TcpStream,
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    answered: u64,
    idle: bool,
    deadline: Pin<Box<Sleep>>,
}

impl Deadlines {
    fn new(stream: TcpStream, activity: Arc<Activity>, limits: &ConnectionLimits) -> Deadlines {
        Deadlines {
            stream,
            activity,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            answered: 0,
            idle: false,
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
        }
    }

    /// Moves the deadline when an answer has gone out since the last read,
    /// and tells whether it has passed.
    fn late(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.in_request.load(Ordering::Acquire) {
            return false;
        }
        let answered = self.activity.finished.load(Ordering::Acquire);
        if answered != self.answered {
            self.answered = answered;
            self.idle = true;
            self.deadline
                .as_mut()
                .reset(Instant::now() + self.idle_timeout);
        }
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for Deadlines {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.late(cx) {
            let what = if this.idle { "idle" } else { "request headers" };
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out waiting for {what}"),
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if this.idle && buf.filled().len() > before {
            // The next request has begun: its headers get the header timeout.
            this.idle = false;
            this.deadline
                .as_mut()
                .reset(Instant::now() + this.header_timeout);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Deadlines {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Handlers see the client's address (the per-address login throttle needs it).
    #[tokio::test]
    async fn each_request_carries_the_client_address() {
        let router = Router::new().route(
            "/who",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(serve(
            listener,
            router,
            ConnectionLimits::default(),
            stopped,
        ));
        let mut client = TcpStream::connect(address).await.expect("connect");
        let client_address = client.local_addr().expect("client address");
        client
            .write_all(b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.ends_with(&client_address.to_string()),
            "{answer} names {client_address}"
        );
        let _ = stop.send(true);
        server.await.expect("server stops");
    }
}
