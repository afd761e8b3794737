//! The routing plane: a SIP redirect server that answers each INVITE for a DID
//! with a 302 to wherever its owner forwarded it.
//!
//! The SIP layer asks a [`RouteSource`] (the service's in-memory route table)
//! and never touches the database.
//!
//! Layout: [`parse`] reads messages in place (no allocation, no panics),
//! [`number`] turns Request-URI user parts into E.164, [`respond`] is the
//! whole request-to-response logic as a pure function, and [`start`] runs it
//! on UDP and TCP sockets.
//!
//! The server is stateless: every request gets its final answer at once and
//! nothing is remembered, so a retransmission is answered again, identically
//! (the `To` tag is derived from Call-ID, CSeq and the Via branch, see
//! [`to_tag`]). Hence CANCEL gets 481: there is never a pending INVITE.
//!
//! Limits: messages over [`SipConfig::max_message_bytes`] (64 KiB by
//! default) are dropped on UDP and close the connection on TCP; at most
//! [`SipConfig::max_tcp_connections`] TCP connections, at most
//! [`SipConfig::max_tcp_per_peer`] of them from one peer, each closed after
//! [`SipConfig::tcp_idle`] without traffic or when a message takes longer
//! than [`SipConfig::tcp_message_timeout`] to arrive, each buffering at most
//! one message plus one 16 KiB read.

use std::sync::Arc;

/// What the routing plane knows about a dialled number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not a number anyone owns: 404.
    Unknown,
    /// Owned, but not forwarded anywhere: 480.
    NoForward,
    /// Forwarded: 302 with these `Contact`s, tried in order.
    Redirect {
        /// The DID in E.164 ("+33123456789"), for the `Diversion` header.
        did: Arc<str>,
        /// The complete target URIs, first choice first, e.g.
        /// `sip:+33612345678@gw.example;user=phone`, `tel:+33612345678`,
        /// `sip:alice@example.com:5080`. Never empty; at most
        /// [`MAX_CONTACTS`] are written.
        contacts: Arc<[Arc<str>]>,
    },
}

/// The most `Contact`s one 302 carries (the failover list's limit).
pub const MAX_CONTACTS: usize = 5;

/// Where calls go. Implemented by the service's route table; lookups must be
/// cheap (memory only), they run once per INVITE.
pub trait RouteSource: Send + Sync + 'static {
    /// `number` is E.164 with the leading "+".
    fn lookup(&self, number: &str) -> Lookup;

    /// The host of the `Diversion` URI in 302s (`--sip-domain`); `None`
    /// uses the host the request was addressed to.
    fn diversion_host(&self) -> Option<&str> {
        None
    }
}

mod allow;
pub mod number;
pub mod parse;
mod response;
mod server;
pub mod stats;
#[cfg(test)]
mod tests;
mod udp;

pub use allow::Allow;
pub use response::{ALLOW, SERVER, respond_to, to_tag};
pub use server::{BoundSip, SipConfig, SipServer, start};

/// The transport a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Pure: one request's bytes (with the transport and source address it came
/// from) to the response's bytes in `out`. Returns `false` when nothing is to
/// be sent: an ACK, a response, garbage, or a request too broken to address
/// an answer to. Never panics, whatever the input. See [`respond_to`] for
/// where a UDP answer goes.
///
/// Answers: INVITE → 302 (with `Contact` and `Diversion`), 404 (unknown or
/// unowned DID), 480 (owned, not forwarded); `Max-Forwards: 0` → 483;
/// OPTIONS → 200 with `Allow`; CANCEL → 481 (every INVITE has already had its
/// final answer, so there is nothing to cancel, RFC 3261 §9.2); other methods
/// → 405 with `Allow: INVITE, ACK, OPTIONS`; malformed but addressable → 400
/// (with a `Warning` saying why); for INVITE and OPTIONS, a `Require`d
/// extension → 420 and a scheme other than sip/sips/tel → 416; a version
/// other than SIP/2.0 → 505.
pub fn respond(
    request: &[u8],
    transport: Transport,
    source: std::net::SocketAddr,
    routes: &dyn RouteSource,
    out: &mut Vec<u8>,
) -> bool {
    respond_to(request, transport, source, routes, out).is_some()
}
