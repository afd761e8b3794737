//! The UDP hot path: a thread of its own that takes queued datagrams in
//! batches with `recvmmsg(2)` and sends the answers of a batch with one
//! `sendmmsg(2)`.
//!
//! Why a plain thread and not a task: at tens of thousands of requests per
//! second, most of a task's time went into epoll wake-ups and one
//! `recvfrom`/`sendto` pair per request. A blocking `recvmmsg` with
//! `MSG_WAITFORONE` sleeps in the kernel until a datagram arrives, then takes
//! everything already queued (up to [`BATCH`]) in the same call, so under load
//! the cost of a system call is shared by a whole batch, and when idle the
//! thread costs nothing. Every buffer is allocated once, when the thread
//! starts.
//!
//! `sendmmsg` is called by hand (see `sys::send_many`); `recvmmsg` through
//! nix. Other systems than Linux get one datagram per system call.

use super::response::respond_to;
use super::{Allow, RouteSource, Transport};
use socket2::SockAddr;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Datagrams taken (and answers sent) per system call at most.
const BATCH: usize = 32;
/// How long a receive waits before looking at the stop flag again; the
/// longest a stop waits for this thread.
const STOP_POLL: Duration = Duration::from_millis(100);
/// An answer that cannot be handed to the kernel within this time (its send
/// buffer full) is given up: UDP answers are best effort, the peer retransmits.
const SEND_TIMEOUT: Duration = Duration::from_millis(200);

/// Serves `socket` until `stop` is set. `max` is the largest datagram
/// answered; longer ones are dropped, and so is anything from a peer `allow`
/// does not permit.
pub(super) fn serve(
    socket: UdpSocket,
    routes: Arc<dyn RouteSource>,
    max: usize,
    allow: Allow,
    stop: Arc<AtomicBool>,
) {
    if let Err(e) = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(STOP_POLL)))
        .and_then(|()| socket.set_write_timeout(Some(SEND_TIMEOUT)))
    {
        tracing::error!(error = %e, "SIP UDP socket could not be set up");
        return;
    }
    let mut batch = Batch::new(max);
    while !stop.load(Ordering::Relaxed) {
        let received = batch.receive(&socket);
        if received == 0 {
            continue;
        }
        let answers = batch.answer(received, &*routes, &allow);
        batch.send(&socket, answers);
    }
}

/// The buffers of one batch, reused for the life of the thread.
struct Batch {
    /// One byte more than the limit per slot, so that an oversized datagram
    /// shows as such.
    slot: usize,
    max: usize,
    inbox: Vec<u8>,
    /// Length and source of each datagram received.
    received: [(usize, Option<SocketAddr>); BATCH],
    recv_headers: sys::RecvHeaders,
    outbox: Vec<Vec<u8>>,
    destinations: Vec<SockAddr>,
}

impl Batch {
    fn new(max: usize) -> Self {
        let slot = max + 1;
        Batch {
            slot,
            max,
            inbox: vec![0; slot * BATCH],
            received: [(0, None); BATCH],
            recv_headers: sys::RecvHeaders::new(),
            outbox: (0..BATCH).map(|_| Vec::with_capacity(1024)).collect(),
            destinations: vec![SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))); BATCH],
        }
    }

    /// Waits (at most [`STOP_POLL`]) for datagrams; returns how many arrived.
    fn receive(&mut self, socket: &UdpSocket) -> usize {
        match sys::receive_many(
            socket,
            &mut self.recv_headers,
            &mut self.inbox,
            self.slot,
            &mut self.received,
        ) {
            Ok(count) => count,
            // The read timeout: nothing arrived, time to look at the stop flag.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here (ECONNREFUSED
                // and the like); they concern one peer, not the socket.
                tracing::debug!(error = %e, "SIP UDP receive error");
                0
            }
        }
    }

    /// Builds the answers to the first `received` datagrams into the outbox;
    /// returns how many there are to send.
    fn answer(&mut self, received: usize, routes: &dyn RouteSource, allow: &Allow) -> usize {
        let mut answers = 0;
        for (index, &(length, source)) in self.received[..received].iter().enumerate() {
            let Some(source) = source else { continue };
            if !allow.permits(source.ip()) {
                continue;
            }
            if length > self.max {
                tracing::debug!(%source, "oversized SIP datagram dropped");
                continue;
            }
            let start = index * self.slot;
            let request = &self.inbox[start..start + length];
            if let Some(destination) = respond_to(
                request,
                Transport::Udp,
                source,
                routes,
                &mut self.outbox[answers],
            ) {
                self.destinations[answers] = SockAddr::from(destination);
                answers += 1;
            }
        }
        answers
    }

    /// Sends the first `answers` answers, in as few system calls as the
    /// kernel allows. An answer the kernel refuses (an unreachable address)
    /// is skipped; the others still go.
    fn send(&mut self, socket: &UdpSocket, answers: usize) {
        let mut next = 0;
        while next < answers {
            match sys::send_many(
                socket,
                &self.outbox[next..answers],
                &self.destinations[next..answers],
            ) {
                // sendmmsg stops at the first message that fails and reports
                // those sent before it; the next call reports the failure.
                Ok(sent) if sent > 0 => next += sent,
                Ok(_) => next += 1,
                Err(e) => {
                    tracing::debug!(error = %e, "SIP UDP send error");
                    next += 1;
                }
            }
        }
    }
}

/// The system calls: `recvmmsg`/`sendmmsg` on Linux; elsewhere (a
/// developer's laptop) one datagram per call, which is all that is portable.
#[cfg(target_os = "linux")]
mod sys {
    use super::BATCH;
    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
    use socket2::SockAddr;
    use std::io::{self, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    pub(super) struct RecvHeaders(MultiHeaders<SockaddrStorage>);

    impl RecvHeaders {
        pub(super) fn new() -> Self {
            RecvHeaders(MultiHeaders::preallocate(BATCH, None))
        }
    }

    /// Blocks until at least one datagram is queued, then takes all those
    /// queued (at most one per `slot`-byte slot of `inbox`); fills
    /// `received` with each one's length and source.
    pub(super) fn receive_many(
        socket: &UdpSocket,
        headers: &mut RecvHeaders,
        inbox: &mut [u8],
        slot: usize,
        received: &mut [(usize, Option<SocketAddr>); BATCH],
    ) -> io::Result<usize> {
        let mut slots = inbox.chunks_mut(slot);
        let mut buffers: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or(&mut []))]);
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut headers.0,
            buffers.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        let mut count = 0;
        for (entry, message) in received.iter_mut().zip(results) {
            *entry = (message.bytes, message.address.and_then(std_address));
            count += 1;
        }
        Ok(count)
    }

    fn std_address(address: SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = address.as_sockaddr_in() {
            return Some(SocketAddr::V4((*v4).into()));
        }
        address
            .as_sockaddr_in6()
            .map(|v6| SocketAddr::V6((*v6).into()))
    }

    /// `sendmmsg(2)`, written here because nix's wrapper only tells how many
    /// messages went out through an iterator that reads the headers' (never
    /// written, on sending) address slots. Sends `messages[i]` to
    /// `destinations[i]` (at most [`BATCH`]); returns how many were sent.
    #[allow(unsafe_code)] // the one system call no safe wrapper offers; see SAFETY below
    pub(super) fn send_many(
        socket: &UdpSocket,
        messages: &[Vec<u8>],
        destinations: &[SockAddr],
    ) -> io::Result<usize> {
        let count = messages.len().min(destinations.len()).min(BATCH);
        // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is
        // a valid (empty) value.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..count {
            iovecs[i] = libc::iovec {
                iov_base: messages[i].as_ptr().cast_mut().cast(),
                iov_len: messages[i].len(),
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = destinations[i].as_ptr().cast_mut().cast();
            header.msg_namelen = destinations[i].len();
            header.msg_iov = &raw mut iovecs[i];
            header.msg_iovlen = 1;
        }
        // SAFETY: the first `count` headers point at live buffers and
        // addresses (borrowed for the duration of the call) with their true
        // lengths; the kernel writes only the headers' msg_len fields.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count as libc::c_uint,
                0,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::BATCH;
    use socket2::SockAddr;
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub(super) struct RecvHeaders;

    impl RecvHeaders {
        pub(super) fn new() -> Self {
            RecvHeaders
        }
    }

    pub(super) fn receive_many(
        socket: &UdpSocket,
        _headers: &mut RecvHeaders,
        inbox: &mut [u8],
        slot: usize,
        received: &mut [(usize, Option<SocketAddr>); BATCH],
    ) -> io::Result<usize> {
        let (length, source) = socket.recv_from(&mut inbox[..slot])?;
        received[0] = (length, Some(source));
        Ok(1)
    }

    pub(super) fn send_many(
        socket: &UdpSocket,
        messages: &[Vec<u8>],
        destinations: &[SockAddr],
    ) -> io::Result<usize> {
        let (Some(message), Some(destination)) = (messages.first(), destinations.first()) else {
            return Ok(0);
        };
        let destination = destination
            .as_socket()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        socket.send_to(message, destination)?;
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    /// The kernel refuses the middle answer (port 0: EINVAL); sendmmsg then
    /// reports only the first as sent. The ones after it must still go.
    #[test]
    fn an_answer_the_kernel_refuses_does_not_lose_the_rest_of_the_batch() {
        let server = bound();
        let first = bound();
        let last = bound();
        let mut batch = Batch::new(1024);
        let to = |s: &UdpSocket| SockAddr::from(s.local_addr().unwrap());
        let refused = SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)));
        for (i, (text, destination)) in [
            ("one", to(&first)),
            ("refused", refused.clone()),
            ("two", to(&last)),
            ("three", to(&last)),
        ]
        .into_iter()
        .enumerate()
        {
            batch.outbox[i] = text.as_bytes().to_vec();
            batch.destinations[i] = destination;
        }
        batch.send(&server, 4);
        let mut buf = [0u8; 16];
        let receive = |s: &UdpSocket, buf: &mut [u8]| {
            let n = s.recv(buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert_eq!(receive(&first, &mut buf), "one");
        assert_eq!(receive(&last, &mut buf), "two");
        assert_eq!(receive(&last, &mut buf), "three");
    }

    #[test]
    fn a_batch_of_datagrams_is_received_with_lengths_and_sources() {
        let server = bound();
        let client = bound();
        for text in ["a", "bb", "ccc"] {
            client
                .send_to(text.as_bytes(), server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = Batch::new(1024);
        let mut got = Vec::new();
        while got.len() < 3 {
            let count = batch.receive(&server);
            assert!(count > 0, "the datagrams arrive within the read timeout");
            for (i, &(length, source)) in batch.received[..count].iter().enumerate() {
                assert_eq!(source, Some(client.local_addr().unwrap()));
                let start = i * batch.slot;
                got.push(String::from_utf8_lossy(&batch.inbox[start..start + length]).into_owned());
            }
        }
        assert_eq!(got, ["a", "bb", "ccc"]);
    }
}
