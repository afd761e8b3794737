//! The sockets: one UDP socket served by a thread of its own (see
//! [`super::udp`]), and a TCP listener with one task per connection.

use super::parse::{Frame, Framer};
use super::response::respond_to;
use super::{Allow, RouteSource, Transport};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout};

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
    /// TCP connections one peer may hold at once (an IPv4 address, or an
    /// IPv6 /64, as one host usually has a whole /64); further ones from it
    /// are closed as soon as they are accepted, so one peer cannot take
    /// every slot of [`Self::max_tcp_connections`].
    pub max_tcp_per_peer: usize,
    /// A TCP message whose first byte has arrived must be complete within
    /// this long, else the connection is closed: a peer dribbling a byte now
    /// and then defeats [`Self::tcp_idle`] but not this.
    pub tcp_message_timeout: Duration,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            max_message_bytes: 64 * 1024,
            max_tcp_connections: 1024,
            // Peers that keep a connection open send CRLF keep-alives (RFC
            // 5626) and reconnect when it is closed; a short idle limit frees
            // the slots of those who just sit there.
            tcp_idle: Duration::from_secs(30),
            allow: Allow::any(),
            max_tcp_per_peer: 32,
            tcp_message_timeout: Duration::from_secs(10),
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
                max_per_peer: config.max_tcp_per_peer,
                idle: config.tcp_idle,
                message_timeout: config.tcp_message_timeout,
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
    max_per_peer: usize,
    idle: Duration,
    message_timeout: Duration,
}

/// The key connections are counted under: the address, or for IPv6 its /64
/// (a host typically gets a whole /64, so counting single IPv6 addresses
/// would let one host take every slot).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Open TCP connections per peer (see [`peer_key`]), kept by the accept loop
/// alone, so no lock is needed.
#[derive(Default)]
struct PeerCounts {
    open: HashMap<IpAddr, usize>,
    by_task: HashMap<tokio::task::Id, IpAddr>,
}

impl PeerCounts {
    /// Whether `peer` is under `max` open connections.
    fn has_room(&self, peer: IpAddr, max: usize) -> bool {
        self.open.get(&peer).copied().unwrap_or(0) < max
    }

    fn opened(&mut self, task: tokio::task::Id, peer: IpAddr) {
        *self.open.entry(peer).or_default() += 1;
        self.by_task.insert(task, peer);
    }

    fn closed(&mut self, task: tokio::task::Id) {
        let Some(peer) = self.by_task.remove(&task) else {
            return;
        };
        if let Entry::Occupied(mut count) = self.open.entry(peer) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

async fn tcp_loop(
    listener: TcpListener,
    routes: Arc<dyn RouteSource>,
    allow: Arc<Allow>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut peers = PeerCounts::default();
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            biased;
            () = &mut stopping => break,
            Some(ended) = connections.join_next_with_id(), if !connections.is_empty() => {
                match ended {
                    Ok((task, ())) => peers.closed(task),
                    Err(e) => peers.closed(e.id()),
                }
            }
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
                    let key = peer_key(peer.ip());
                    if !peers.has_room(key, limits.max_per_peer) {
                        tracing::debug!(%peer, "SIP TCP connection refused: too many from this peer");
                        drop(stream);
                        continue;
                    }
                    let task = connections
                        .spawn(connection(stream, peer, routes.clone(), limits, stop.clone()));
                    peers.opened(task.id(), key);
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
    let mut message_deadline = None;
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
        message_deadline = next_message_deadline(message_deadline, &buf, consumed, limits);
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
        let wait = match message_deadline {
            Some(deadline) => limits
                .idle
                .min(deadline.saturating_duration_since(Instant::now())),
            None => limits.idle,
        };
        let n = tokio::select! {
            biased;
            () = &mut stopping => return,
            read = timeout(wait, stream.read(&mut chunk)) => match read {
                Ok(Ok(n)) if n > 0 => n,
                // EOF, error, idle, or a message too slow to arrive.
                _ => {
                    if read.is_err() && !buf.is_empty() {
                        tracing::debug!(%peer, "SIP TCP message incomplete in time: closing");
                    }
                    return;
                }
            },
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// When the message being received must be complete: unchanged while the
/// same message is still arriving, restarted when a new one has begun (bytes
/// left over after whole messages were taken out, or the first bytes after
/// an empty buffer), none when nothing is buffered.
fn next_message_deadline(
    current: Option<Instant>,
    buf: &[u8],
    consumed: usize,
    limits: Limits,
) -> Option<Instant> {
    if buf.is_empty() {
        None
    } else if consumed > 0 || current.is_none() {
        Some(Instant::now() + limits.message_timeout)
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::peer_key;
    use std::net::IpAddr;

    #[test]
    fn peers_are_counted_per_ipv4_address_and_per_ipv6_slash_64() {
        let key = |s: &str| peer_key(s.parse::<IpAddr>().unwrap());
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
