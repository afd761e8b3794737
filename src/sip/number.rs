//! Request-URI user parts to E.164.
//!
//! Peers dial the same DID as `+33123456789`, `33123456789`,
//! `0033123456789`, `%2B33123456789`, `+33-1-23.45.67.89`, or
//! `+33 (0)1 23 45 67 89`. The plain forms (an optional `+`, `00` or `011`
//! international prefix, digits, `-` and `.` separators, `%`-escapes) are
//! decided here without allocating or locking. Anything with parentheses or
//! spaces (where a national trunk prefix like "(0)" may hide) is handed to
//! libphonenumber via [`E164::parse`], which allocates and takes a global
//! mutex; if it cannot validate the number, the plain reading is used.

use crate::domain::E164;
use std::borrow::Cow;

/// E.164 allows at most 15 digits.
pub const MAX_DIGITS: usize = 15;
/// Longest user part considered (longer ones are not phone numbers).
pub const MAX_INPUT: usize = 64;

/// Room for "+" and 15 digits.
pub type Scratch = [u8; MAX_DIGITS + 1];

/// Normalises a Request-URI user part (or `tel:` number, with its
/// parameters) to E.164 "+digits". Returns `None` for anything that is not a
/// number in the global plan.
///
/// A local number (RFC 3966 §5.1.5: no "+", with a `phone-context`) reads in
/// its context: `0123456789;phone-context=+33` is +33123456789 (the national
/// trunk prefix goes, as libphonenumber knows it per country) and
/// `23456789;phone-context=+331` the same; a domain-name context names a
/// private plan, which no DID belongs to. Other user parameters (`;npdi`,
/// `;rn=…`) are ignored.
pub fn to_e164<'s>(user: &[u8], scratch: &'s mut Scratch) -> Option<Cow<'s, str>> {
    let mut parts = user.split(|&b| b == b';');
    let user = parts.next().unwrap_or_default();
    let context = parts.find_map(|p| {
        let (name, value) = p.split_at(p.iter().position(|&b| b == b'=')?);
        name.eq_ignore_ascii_case(b"phone-context")
            .then_some(&value[1..])
    });
    if user.is_empty() || user.len() > MAX_INPUT {
        return None;
    }
    let mut decoded = [0u8; MAX_INPUT];
    let mut decoded_len = 0;
    let mut digits = [0u8; MAX_INPUT];
    let mut n = 0;
    let mut plus = false;
    let mut unusual = false;
    let mut i = 0;
    while i < user.len() {
        let mut c = user[i];
        i += 1;
        if c == b'%' {
            let hi = hex(*user.get(i)?)?;
            let lo = hex(*user.get(i + 1)?)?;
            c = (hi << 4) | lo;
            i += 2;
        }
        match c {
            b'0'..=b'9' => {
                digits[n] = c;
                n += 1;
            }
            b'+' if n == 0 && !plus => plus = true,
            b'-' | b'.' => {}
            b'(' | b')' | b' ' => unusual = true,
            _ => return None,
        }
        decoded[decoded_len] = c;
        decoded_len += 1;
    }
    let digits = &digits[..n];
    if !plus && let Some(context) = context {
        return in_context(digits, context).map(Cow::Owned);
    }
    let prefix = if plus {
        0
    } else if digits.starts_with(b"00") {
        2
    } else if digits.starts_with(b"011") {
        3
    } else {
        0
    };
    let international = &digits[prefix..];
    let plain = match international.first() {
        Some(b'1'..=b'9') if international.len() <= MAX_DIGITS => {
            scratch[0] = b'+';
            scratch[1..=international.len()].copy_from_slice(international);
            // Only ASCII digits and '+' were written.
            std::str::from_utf8(&scratch[..=international.len()]).ok()
        }
        _ => None,
    };
    if unusual && let Some(e164) = libphonenumber(&decoded[..decoded_len], prefix) {
        return Some(Cow::Owned(e164));
    }
    plain.map(Cow::Borrowed)
}

/// The slow path: libphonenumber on the decoded text, with any `00`/`011`
/// prefix turned into "+".
fn libphonenumber(decoded: &[u8], prefix_digits: usize) -> Option<String> {
    let mut text = String::with_capacity(decoded.len() + 1);
    text.push('+');
    let mut skip = prefix_digits;
    for &c in decoded {
        if c == b'+' {
            continue;
        }
        if skip > 0 && c.is_ascii_digit() {
            skip -= 1;
            continue;
        }
        text.push(char::from(c));
    }
    E164::parse(&text, None).ok().map(E164::into_string)
}

/// A local number's digits read in a `phone-context` (RFC 3966 §5.1.5): a
/// global number prefix ("+33", "+1-212", "%2B33") or a domain name, which
/// makes the number private (`None`).
fn in_context(local: &[u8], context: &[u8]) -> Option<String> {
    let context = match context.strip_prefix(b"+") {
        Some(rest) => rest,
        None if context.len() > 3 && context[..3].eq_ignore_ascii_case(b"%2b") => &context[3..],
        None => return None,
    };
    let mut prefix = String::with_capacity(MAX_DIGITS);
    for &c in context {
        match c {
            b'0'..=b'9' => prefix.push(char::from(c)),
            b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    let local = std::str::from_utf8(local).ok()?;
    if prefix.is_empty() || local.is_empty() || prefix.starts_with('0') {
        return None;
    }
    if let Ok(e164) = E164::parse(&format!("+{prefix} {local}"), None) {
        return Some(e164.into_string());
    }
    // Numbers libphonenumber does not know (new ranges, test numbers): the
    // plain reading, when there is no trunk prefix to misread.
    (!local.starts_with('0') && prefix.len() + local.len() <= MAX_DIGITS)
        .then(|| format!("+{prefix}{local}"))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
