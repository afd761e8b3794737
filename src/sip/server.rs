//! The sockets: one UDP socket served by a thread of its own (see
//! [`super::udp`]), and a TCP listener with one task per connection.

use super::parse::{Frame, Framer};
use super::response::respond_to;
use super::{Allow, RouteSource, Transport};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

/// Settings of the SIP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// UDP and TCP listen on this address (port 0: an ephemeral port, the same
    /// for both).
    pub listen: SocketAddr,
    /// Largest message accepted: larger UDP datagrams are dropped, a TCP
    /// connection sending one is closed. This also caps what one connection
    /// buffers (this plus one 16 KiB read).
    pub max_message_bytes: usize,
    /// Further TCP connections are closed as soon as they are accepted.
    pub max_tcp_connections: usize,
    /// A TCP connection that sends nothing (or does not take our answers)
    /// for this long is closed.
    pub tcp_idle: Duration,
    /// Peers answered; others get nothing (see [`Allow`]).
    pub allow: Allow,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            max_message_bytes: 64 * 1024,
            max_tcp_connections: 1024,
            tcp_idle: Duration::from_secs(60),
            allow: Allow::any(),
        }
    }
}

/// The running listener.
#[derive(Debug)]
pub struct SipServer {
    /// Where UDP and TCP listen (they share the port).
    pub local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl SipServer {
    /// Resolves once `stop` has turned true (or its sender is gone) and every
    /// task, TCP connections included, has ended.
    pub async fn wait(self) {
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "SIP task failed");
            }
        }
    }
}

/// Bytes read from a TCP connection at a time.
const TCP_CHUNK: usize = 16 * 1024;
/// Kernel buffer sizes asked for the UDP socket (the kernel may cap them at
/// net.core.rmem_max / wmem_max): room for bursts at 20,000+ requests/s.
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;
const UDP_SEND_BUFFER: usize = 4 * 1024 * 1024;

/// Binds UDP and TCP on `config.listen` (same port for both; with port 0,
/// UDP takes an ephemeral port first and TCP then binds the same port,
/// retrying with a new port a few times if TCP finds it taken), then serves
/// until `stop` becomes true. A closed `stop` channel also stops the server.
pub async fn start(
    config: SipConfig,
    routes: Arc<dyn RouteSource>,
    stop: watch::Receiver<bool>,
) -> io::Result<SipServer> {
    BoundSip::bind(config).await?.serve(routes, stop)
}

/// The SIP sockets, bound but not yet served: the server binds every
/// listener before it touches the database, so that an address in use fails
/// the start with nothing written.
#[derive(Debug)]
pub struct BoundSip {
    config: SipConfig,
    udp: std::net::UdpSocket,
    tcp: TcpListener,
}

impl BoundSip {
    pub async fn bind(config: SipConfig) -> io::Result<BoundSip> {
        let (udp, tcp) = bind(config.listen).await?;
        Ok(BoundSip { config, udp, tcp })
    }

    /// Starts serving on the bound sockets (see [`start`]).
    pub fn serve(
        self,
        routes: Arc<dyn RouteSource>,
        stop: watch::Receiver<bool>,
    ) -> io::Result<SipServer> {
        serve(self.config, self.udp, self.tcp, routes, stop)
    }
}

fn serve(
    config: SipConfig,
    udp: std::net::UdpSocket,
    tcp: TcpListener,
    routes: Arc<dyn RouteSource>,
    stop: watch::Receiver<bool>,
) -> io::Result<SipServer> {
    let local_addr = udp.local_addr()?;
    let max = config.max_message_bytes.max(1);
    let tasks = vec![
        tokio::spawn(stop_udp(
            start_udp(udp, routes.clone(), max, config.allow.clone())?,
            stop.clone(),
        )),
        tokio::spawn(tcp_loop(
            tcp,
            routes,
            Arc::new(config.allow),
            Limits {
                max_message_bytes: max,
                max_connections: config.max_tcp_connections,
                idle: config.tcp_idle,
            },
            stop,
        )),
    ];
    tracing::info!(%local_addr, "SIP redirect server listening on UDP and TCP");
    Ok(SipServer { local_addr, tasks })
}

async fn bind(listen: SocketAddr) -> io::Result<(std::net::UdpSocket, TcpListener)> {
    if listen.port() != 0 {
        let udp = udp_socket(listen)?;
        let tcp = TcpListener::bind(listen).await?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..16 {
        let udp = udp_socket(listen)?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer only means drops under bursts.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_SEND_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Resolves when `stop` turns true or its sender is dropped.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// The UDP thread (see [`super::udp`]) and the flag that stops it.
struct UdpThread {
    thread: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// Starts the UDP thread; failing to start it fails the server's start.
fn start_udp(
    socket: std::net::UdpSocket,
    routes: Arc<dyn RouteSource>,
    max: usize,
    allow: Allow,
) -> io::Result<UdpThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("didhub-sip-udp".into())
        .spawn(move || super::udp::serve(socket, routes, max, allow, thread_stop))?;
    Ok(UdpThread { thread, stop })
}

/// Stops the UDP thread once `stop` turns, and waits for it.
async fn stop_udp(udp: UdpThread, stop: watch::Receiver<bool>) {
    stopped(stop).await;
    udp.stop.store(true, Ordering::Relaxed);
    let thread = udp.thread;
    if let Ok(Err(_)) = tokio::task::spawn_blocking(move || thread.join()).await {
        tracing::error!("the SIP UDP thread panicked");
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_message_bytes: usize,
    max_connections: usize,
    idle: Duration,
}

async fn tcp_loop(
    listener: TcpListener,
    routes: Arc<dyn RouteSource>,
    allow: Arc<Allow>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            biased;
            () = &mut stopping => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !allow.permits(peer.ip()) {
                        tracing::debug!(%peer, "SIP TCP connection refused: not in --sip-allow");
                        drop(stream);
                        continue;
                    }
                    if connections.len() >= limits.max_connections {
                        tracing::debug!(%peer, "SIP TCP connection refused: too many");
                        drop(stream);
                        continue;
                    }
                    connections.spawn(connection(stream, peer, routes.clone(), limits, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One TCP connection: messages framed by `Content-Length`, answered in
/// order; the answers to all messages found in one read go out in one write.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    routes: Arc<dyn RouteSource>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let max = limits.max_message_bytes;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; TCP_CHUNK];
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut framer = Framer::default();
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        let mut consumed = 0;
        let mut close = false;
        loop {
            let rest = &buf[consumed..];
            match framer.next(rest, max) {
                Frame::Incomplete => break,
                Frame::Skip(n) => consumed += n,
                Frame::Ping(n) => {
                    pending.extend_from_slice(b"\r\n");
                    consumed += n;
                }
                Frame::Message(n) => {
                    if respond_to(&rest[..n], Transport::Tcp, peer, &*routes, &mut out).is_some() {
                        pending.extend_from_slice(&out);
                    }
                    consumed += n;
                }
                Frame::Unframed(n) => {
                    if respond_to(&rest[..n], Transport::Tcp, peer, &*routes, &mut out).is_some() {
                        pending.extend_from_slice(&out);
                    }
                    tracing::debug!(%peer, "SIP TCP message without usable Content-Length: closing");
                    close = true;
                    break;
                }
                Frame::TooLarge => {
                    tracing::debug!(%peer, "SIP TCP message too large: closing");
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..consumed);
        if !pending.is_empty() {
            match timeout(limits.idle, stream.write_all(&pending)).await {
                Ok(Ok(())) => pending.clear(),
                _ => return,
            }
        }
        if close {
            let _ = timeout(limits.idle, stream.shutdown()).await;
            return;
        }
        let n = tokio::select! {
            biased;
            () = &mut stopping => return,
            read = timeout(limits.idle, stream.read(&mut chunk)) => match read {
                Ok(Ok(n)) if n > 0 => n,
                // EOF, error or idle.
                _ => return,
            },
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}
