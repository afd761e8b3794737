//! The routing plane: a SIP redirect server that answers each INVITE for a DID
//! with a 302 to wherever its owner forwarded it.
//!
//! The SIP layer asks a [`RouteSource`] (the service's in-memory route table)
//! and never touches the database.

use std::sync::Arc;

/// What the routing plane knows about a dialled number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not a number anyone owns: 404.
    Unknown,
    /// Owned, but not forwarded anywhere: 480.
    NoForward,
    /// Forwarded: 302 with this `Contact`.
    Redirect {
        /// The DID in E.164 ("+33123456789"), for the `Diversion` header.
        did: Arc<str>,
        /// The complete target URI, e.g. `sip:+33612345678@gw.example;user=phone`,
        /// `tel:+33612345678`, `sip:alice@example.com:5080`.
        contact: Arc<str>,
    },
}

/// Where calls go. Implemented by the service's route table; lookups must be
/// cheap (memory only), they run once per INVITE.
pub trait RouteSource: Send + Sync + 'static {
    /// `number` is E.164 with the leading "+".
    fn lookup(&self, number: &str) -> Lookup;
}
