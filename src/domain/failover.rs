//! Ordered failover: a number forwards to up to [`MAX_DESTINATIONS`]
//! destinations, tried in order, each rung for an optional time before the
//! next is tried. How the list is stored (JSON text in one column) is defined
//! here, so that every reader decodes it the same way.

use super::{ForwardTarget, ForwardType};
use serde::{Deserialize, Serialize};

/// At most this many destinations per number: beyond five, a caller waits
/// minutes of ringing, and the 302 and the SBC's branch list grow for nothing.
pub const MAX_DESTINATIONS: usize = 5;

/// How long one destination rings before the next is tried, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RingTimeout(u16);

impl RingTimeout {
    pub const MIN_SECONDS: i64 = 5;
    pub const MAX_SECONDS: i64 = 120;

    pub fn parse(seconds: i64) -> Option<RingTimeout> {
        let seconds = u16::try_from(seconds).ok()?;
        (Self::MIN_SECONDS..=Self::MAX_SECONDS)
            .contains(&i64::from(seconds))
            .then_some(RingTimeout(seconds))
    }

    pub fn seconds(self) -> u16 {
        self.0
    }
}

/// One validated destination of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub target: ForwardTarget,
    pub timeout: Option<RingTimeout>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailoverError {
    #[error("at most {MAX_DESTINATIONS} destinations may be given")]
    TooMany,
    #[error(
        "timeout_seconds must be an integer from {} to {}",
        RingTimeout::MIN_SECONDS,
        RingTimeout::MAX_SECONDS
    )]
    BadTimeout,
}

/// A destination as stored: the canonical text of a [`ForwardTarget`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDestination {
    #[serde(rename = "type")]
    pub kind: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<RingTimeout>,
}

impl From<&Destination> for StoredDestination {
    fn from(d: &Destination) -> StoredDestination {
        StoredDestination {
            kind: d.target.kind().code().to_owned(),
            destination: d.target.destination(),
            timeout_seconds: d.timeout,
        }
    }
}

impl StoredDestination {
    /// The target again; `None` for a type this build does not know.
    pub fn target(&self) -> Option<ForwardTarget> {
        ForwardTarget::from_stored(ForwardType::parse(&self.kind)?, &self.destination)
    }
}

/// The text stored for a list; `None` for an empty one (no forward).
pub fn encode(list: &[Destination]) -> Option<String> {
    if list.is_empty() {
        return None;
    }
    let stored: Vec<StoredDestination> = list.iter().map(StoredDestination::from).collect();
    serde_json::to_string(&stored).ok()
}

/// The stored list: from `forwards` when present, else the single destination
/// of a row written before failover existed. Unreadable text reads as empty.
pub fn decode(
    forwards: Option<&str>,
    first_type: Option<&str>,
    first_destination: Option<&str>,
) -> Vec<StoredDestination> {
    match (forwards, first_type, first_destination) {
        (Some(text), _, _) => serde_json::from_str(text).unwrap_or_default(),
        (None, Some(kind), Some(destination)) => vec![StoredDestination {
            kind: kind.to_owned(),
            destination: destination.to_owned(),
            timeout_seconds: None,
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CountryCode, ForwardPolicy};

    fn destination(kind: ForwardType, text: &str, timeout: Option<i64>) -> Destination {
        let fr = CountryCode::parse("FR").expect("FR");
        Destination {
            target: ForwardTarget::parse(kind, text, &fr, ForwardPolicy::default()).expect(text),
            timeout: timeout.map(|t| RingTimeout::parse(t).expect("in range")),
        }
    }

    #[test]
    fn timeouts_are_five_to_one_hundred_twenty_seconds() {
        assert_eq!(RingTimeout::parse(5).map(RingTimeout::seconds), Some(5));
        assert_eq!(RingTimeout::parse(120).map(RingTimeout::seconds), Some(120));
        for bad in [-1, 0, 4, 121, 70_000] {
            assert_eq!(RingTimeout::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists_round_trip_in_order() {
        let list = vec![
            destination(ForwardType::Sip, "sip:alice@example.com", Some(20)),
            destination(ForwardType::Pstn, "+33612345678", None),
            destination(ForwardType::Ip, "203.0.113.5:5060", Some(5)),
        ];
        let text = encode(&list).expect("non-empty");
        let back = decode(Some(&text), None, None);
        assert_eq!(back.len(), 3);
        for (stored, original) in back.iter().zip(&list) {
            assert_eq!(stored.target().as_ref(), Some(&original.target));
            assert_eq!(stored.timeout_seconds, original.timeout);
        }
        assert_eq!(encode(&[]), None);
    }

    #[test]
    fn rows_from_before_failover_read_as_one_destination() {
        let legacy = decode(None, Some("sip"), Some("sip:bob@example.com"));
        assert_eq!(legacy.len(), 1);
        assert_eq!(legacy[0].destination, "sip:bob@example.com");
        assert!(decode(None, None, None).is_empty());
        assert!(decode(Some("not json"), Some("sip"), Some("x")).is_empty());
    }
}
