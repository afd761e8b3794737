//! Counts of SIP requests by method and answer, for `/metrics`.
//!
//! The SIP hot path neither allocates nor locks, so it cannot call the
//! `metrics` macros (their label sets allocate and the registry takes locks).
//! Instead every request bumps one relaxed `AtomicU64` in a fixed table, and
//! the `/metrics` handler copies the table into the recorder when scraped.
//! The table is per process, like the recorder.

use std::sync::atomic::{AtomicU64, Ordering};

/// Method classes: the methods the server knows, then everything else
/// (unknown methods, and bytes that are not a request at all).
pub const METHODS: [&str; 7] = [
    "INVITE", "ACK", "OPTIONS", "CANCEL", "BYE", "REGISTER", "other",
];

/// Answer classes: the status codes the server sends, then `other` (any
/// code not listed) and `none` (no answer: ACK, responses, garbage, requests
/// too broken to address).
pub const CODES: [&str; 13] = [
    "200", "302", "400", "404", "405", "416", "420", "480", "481", "483", "505", "other", "none",
];

const OTHER_METHOD: usize = METHODS.len() - 1;
const OTHER_CODE: usize = CODES.len() - 2;
const NO_ANSWER: usize = CODES.len() - 1;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_ROW: [AtomicU64; CODES.len()] = [ZERO; CODES.len()];
static COUNTS: [[AtomicU64; CODES.len()]; METHODS.len()] = [ZERO_ROW; METHODS.len()];

/// Counts one request (its bytes as received) and its answer (`None` when
/// none is sent).
pub fn count(request: &[u8], answer: Option<&[u8]>) {
    COUNTS[method_class(request)][code_class(answer)].fetch_add(1, Ordering::Relaxed);
}

/// Every (method, code, count) counted so far, zero counts left out.
pub fn snapshot() -> impl Iterator<Item = (&'static str, &'static str, u64)> {
    COUNTS.iter().enumerate().flat_map(|(m, row)| {
        row.iter().enumerate().filter_map(move |(c, n)| {
            let n = n.load(Ordering::Relaxed);
            (n > 0).then_some((METHODS[m], CODES[c], n))
        })
    })
}

fn method_class(request: &[u8]) -> usize {
    let end = request
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(request.len());
    let method = &request[..end];
    // Methods are case-sensitive (RFC 3261 §7.1): "invite" is unknown.
    METHODS[..OTHER_METHOD]
        .iter()
        .position(|known| known.as_bytes() == method)
        .unwrap_or(OTHER_METHOD)
}

fn code_class(answer: Option<&[u8]>) -> usize {
    let Some(answer) = answer else {
        return NO_ANSWER;
    };
    // "SIP/2.0 302 Moved Temporarily": the code is bytes 8 to 11.
    let code = answer.get(8..11).unwrap_or_default();
    CODES[..OTHER_CODE]
        .iter()
        .position(|known| known.as_bytes() == code)
        .unwrap_or(OTHER_CODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_method_and_answer_code() {
        assert_eq!(method_class(b"INVITE sip:+33123@x SIP/2.0\r\n"), 0);
        assert_eq!(
            method_class(b"invite sip:+33123@x SIP/2.0\r\n"),
            OTHER_METHOD
        );
        assert_eq!(method_class(b"SIP/2.0 200 OK\r\n"), OTHER_METHOD);
        assert_eq!(method_class(b""), OTHER_METHOD);
        assert_eq!(
            CODES[code_class(Some(b"SIP/2.0 302 Moved Temporarily\r\n"))],
            "302"
        );
        assert_eq!(CODES[code_class(Some(b"SIP/2.0 599 Busy\r\n"))], "other");
        assert_eq!(CODES[code_class(Some(b"SIP"))], "other");
        assert_eq!(CODES[code_class(None)], "none");
    }
}
