//! A zero-copy SIP message parser for the redirect server's hot path.
//!
//! Why not a crate: the SIP crates on crates.io were checked (`rsip` 0.4,
//! `ezk-sip-types` 0.6). Both build an owned tree per message (a `String` or
//! `BytesStr` per header, a `Vec` of headers), `rsip` has not been released
//! since 2022, and both parse every header of every message. The redirect
//! server reads only the start line and eight headers, answers 20,000+
//! INVITE/s on two cores, and copies most of what it reads straight back into
//! the response. So this module parses in place: every item is a slice of the
//! input, nothing allocates, every loop is bounded by the input length and all
//! indexing is checked or guarded, so no input can panic it (fuzzed by
//! `fuzz/fuzz_targets/sip_parse.rs`; see also the mutation test in
//! `src/sip/tests.rs`).
//!
//! Leniency follows RFC 3261's robustness advice: bare LF line ends are
//! accepted as well as CRLF, CRLFs before the start line are skipped (§7.5),
//! header names are case-insensitive and may be compact (§7.3.3), values may
//! be folded over several lines (§7.3.1) and list headers may be repeated or
//! comma-separated.

/// `token` characters (RFC 3261 §25.1).
#[inline]
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

#[inline]
fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space (SP, HTAB and folding line breaks) from both ends.
pub fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn skip_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    &s[start..]
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Whether any byte of `w` is zero.
#[inline]
fn has_zero(w: u64) -> bool {
    w.wrapping_sub(ONES) & !w & HIGHS != 0
}

/// Whether any byte of `w` is below 0x20 or is DEL.
#[inline]
fn has_control(w: u64) -> bool {
    (w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0) || has_zero(w ^ (ONES * 0x7f))
}

/// The position of the first `needle` in `s`, eight bytes at a time.
#[inline]
pub fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut i = 0;
    while i + 8 <= s.len() && !has_zero(word(s, i) ^ pattern) {
        i += 8;
    }
    s[i..].iter().position(|&b| b == needle).map(|p| p + i)
}

/// The position of the first control character (below 0x20, or DEL) in `s`,
/// or `s.len()`.
#[inline]
fn first_control(s: &[u8]) -> usize {
    let mut i = 0;
    while i + 8 <= s.len() && !has_control(word(s, i)) {
        i += 8;
    }
    while i < s.len() && s[i] >= 0x20 && s[i] != 0x7f {
        i += 1;
    }
    i
}

/// Parses a run of ASCII digits (nothing else) as a number, refusing overflow.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    u32::try_from(n).ok()
}

/// Why the start line could not be read as a request line: such input is
/// dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Nothing but line breaks (keep-alives).
    Empty,
    /// A status line: responses are never answered.
    Response,
    /// Not a SIP start line at all.
    Garbage,
}

/// A request split into its parts. `uri` is not validated beyond "no control
/// characters"; `head` is the header section (every line with its line end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub version: &'a [u8],
    /// The header lines between the request line and the blank line.
    pub head: &'a [u8],
    /// Everything after the blank line (not yet cut to `Content-Length`).
    pub body: &'a [u8],
    /// Whether a blank line ended the header section.
    pub complete: bool,
}

/// Splits a request into start line, header section and body.
pub fn parse_request(buf: &[u8]) -> Result<Request<'_>, StartError> {
    let (method, uri, version, rest) = split_start_line(buf)?;
    // The header section ends at the first empty line ("\r\n" or "\n").
    let mut pos = 0;
    loop {
        let Some(nl) = find_byte(&rest[pos..], b'\n') else {
            return Ok(Request {
                method,
                uri,
                version,
                head: rest,
                body: &rest[rest.len()..],
                complete: false,
            });
        };
        let line = &rest[pos..pos + nl];
        if line.is_empty() || line == b"\r" {
            return Ok(Request {
                method,
                uri,
                version,
                head: &rest[..pos],
                body: &rest[pos + nl + 1..],
                complete: true,
            });
        }
        pos += nl + 1;
    }
}

/// [`parse_request`] and [`summarise`] of its header section in one pass
/// over the bytes (the hot path); same results as the two calls.
pub fn parse_summarised(buf: &[u8]) -> Result<(Request<'_>, Summary<'_>), StartError> {
    let (method, uri, version, rest) = split_start_line(buf)?;
    let (summary, head_len) = summarise_until_blank(rest);
    let head = &rest[..head_len];
    let after = &rest[head_len..];
    let body = after
        .strip_prefix(b"\n")
        .or_else(|| after.strip_prefix(b"\r\n"));
    let request = Request {
        method,
        uri,
        version,
        head,
        body: body.unwrap_or(&after[after.len()..]),
        complete: body.is_some(),
    };
    Ok((request, summary))
}

type StartLine<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// Method, Request-URI, version, and the bytes after the request line.
fn split_start_line(buf: &[u8]) -> Result<StartLine<'_>, StartError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(StartError::Empty)?;
    let buf = &buf[start..];
    let (line, rest) = match find_byte(buf, b'\n') {
        Some(i) => (strip_cr(&buf[..i]), &buf[i + 1..]),
        None => (buf, &buf[buf.len()..]),
    };
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(StartError::Response);
    }
    // Liberal about white space after the version (RFC 4475 §3.1.2.10
    // allows accepting it).
    let line = &line[..line.iter().rposition(|&b| !is_wsp(b)).map_or(0, |i| i + 1)];
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(StartError::Garbage);
    }
    let first_sp = find_byte(line, b' ').ok_or(StartError::Garbage)?;
    let last_sp = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(StartError::Garbage)?;
    let method = &line[..first_sp];
    // An extension method may be any token, of any length the message
    // allows (RFC 4475 §3.1.1.2): it is answered 405, not dropped.
    if last_sp == first_sp || method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return Err(StartError::Garbage);
    }
    let version = &line[last_sp + 1..];
    if version.len() < 5
        || !version[..4].eq_ignore_ascii_case(b"SIP/")
        || !version[4..]
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b'.')
    {
        return Err(StartError::Garbage);
    }
    let uri = &line[first_sp + 1..last_sp];
    Ok((method, uri, version, rest))
}

/// One header field: its name as written and its value with surrounding white
/// space trimmed (folding line breaks inside it are kept; answers copy values
/// with each fold replaced by one space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// Iterates over the header fields of a header section, joining folded
/// continuation lines. A line that is not `token ":" value`, or that holds
/// control characters, comes out as `Err(line)`.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a [u8],
}

/// The header fields of `head` (a [`Request::head`]).
pub fn headers(head: &[u8]) -> Headers<'_> {
    Headers { rest: head }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Result<Header<'a>, &'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.rest;
        if bytes.is_empty() {
            return None;
        }
        // One pass: find the end of the logical line (a line break not
        // followed by white space) and any control character on the way.
        let mut bad = false;
        let mut i = 0;
        let end = loop {
            i += first_control(&bytes[i..]);
            match bytes.get(i) {
                None => break bytes.len(),
                Some(b'\n') => {
                    i += 1;
                    if i < bytes.len() && is_wsp(bytes[i]) {
                        continue;
                    }
                    break i;
                }
                Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => i += 1,
                Some(b'\t') => i += 1,
                // A quoted-pair may escape any control character but CR and
                // LF (RFC 3261 §25.1; RFC 4475 §3.1.1.2 has BEL, NUL, DEL).
                Some(&c) if c != b'\r' && i > 0 && bytes[i - 1] == b'\\' => i += 1,
                Some(_) => {
                    bad = true;
                    i += 1;
                }
            }
        };
        let line = &bytes[..end];
        self.rest = &bytes[end..];
        if bad {
            return Some(Err(line));
        }
        Some(parse_header_line(line))
    }
}

/// Splits `name ":" value` (the line is already free of stray control
/// characters).
fn parse_header_line(line: &[u8]) -> Result<Header<'_>, &[u8]> {
    let colon = line.iter().position(|&b| b == b':').ok_or(line)?;
    let name = &line[..colon];
    let name_end = name.iter().rposition(|&b| !is_wsp(b)).map_or(0, |i| i + 1);
    let name = &name[..name_end];
    if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
        return Err(line);
    }
    Ok(Header {
        name,
        value: trim_lws(&line[colon + 1..]),
    })
}

/// The header fields the redirect server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    Require,
    Diversion,
    Other,
}

/// Classifies a header name, case-insensitively, long or compact form
/// (RFC 3261 §7.3.3: `v`, `f`, `t`, `i`, `l`).
pub fn classify(name: &[u8]) -> Name {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        1 => match name[0].to_ascii_lowercase() {
            b'v' => Name::Via,
            b'f' => Name::From,
            b't' => Name::To,
            b'i' => Name::CallId,
            b'l' => Name::ContentLength,
            _ => Name::Other,
        },
        2 if is(b"to") => Name::To,
        3 if is(b"via") => Name::Via,
        4 if is(b"from") => Name::From,
        4 if is(b"cseq") => Name::CSeq,
        7 if is(b"call-id") => Name::CallId,
        7 if is(b"require") => Name::Require,
        9 if is(b"diversion") => Name::Diversion,
        12 if is(b"max-forwards") => Name::MaxForwards,
        14 if is(b"content-length") => Name::ContentLength,
        _ => Name::Other,
    }
}

/// What is wrong with a request whose answer can still be addressed: it gets
/// a 400 with this text in a `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    BadHeaderLine,
    DuplicateFrom,
    DuplicateTo,
    DuplicateCallId,
    DuplicateCSeq,
    DuplicateMaxForwards,
    ConflictingContentLength,
    BadContentLength,
    MissingContentLength,
    TruncatedBody,
    NoBlankLine,
    CSeqMethodMismatch,
    BadMaxForwards,
    BadRequestUri,
    BadVia,
    BadFrom,
    BadTo,
    BadCSeq,
}

impl Problem {
    pub fn text(self) -> &'static str {
        match self {
            Problem::BadHeaderLine => "Malformed header line",
            Problem::DuplicateFrom => "Duplicate From",
            Problem::DuplicateTo => "Duplicate To",
            Problem::DuplicateCallId => "Duplicate Call-ID",
            Problem::DuplicateCSeq => "Duplicate CSeq",
            Problem::DuplicateMaxForwards => "Duplicate Max-Forwards",
            Problem::ConflictingContentLength => "Conflicting Content-Length",
            Problem::BadContentLength => "Malformed Content-Length",
            Problem::MissingContentLength => "Missing Content-Length",
            Problem::TruncatedBody => "Body shorter than Content-Length",
            Problem::NoBlankLine => "Header section not terminated",
            Problem::CSeqMethodMismatch => "CSeq method does not match the request",
            Problem::BadMaxForwards => "Malformed Max-Forwards",
            Problem::BadRequestUri => "Malformed Request-URI",
            Problem::BadVia => "Malformed Via parameters",
            Problem::BadFrom => "Malformed From",
            Problem::BadTo => "Malformed To",
            Problem::BadCSeq => "Malformed CSeq",
        }
    }
}

/// The headers the redirect server needs, found in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary<'a> {
    /// The value of the first `Via` header (may list several via-parms).
    pub via: Option<&'a [u8]>,
    /// The header lines from the first `Via` to the last one (all Vias are
    /// in there, in order, so answers can copy them without another pass over
    /// the whole header section).
    pub vias: &'a [u8],
    pub from: Option<&'a [u8]>,
    pub to: Option<&'a [u8]>,
    pub call_id: Option<&'a [u8]>,
    pub cseq: Option<&'a [u8]>,
    pub max_forwards: Option<&'a [u8]>,
    pub content_length: Option<&'a [u8]>,
    /// The header lines from the first `Diversion` to the last one (RFC
    /// 5806: the diversions the call went through before reaching us, most
    /// recent first), empty when there is none.
    pub diversions: &'a [u8],
    /// Whether any `Require` header is present.
    pub require: bool,
    /// The first malformation seen.
    pub problem: Option<Problem>,
}

impl<'a> Summary<'a> {
    fn flag(&mut self, problem: Problem) {
        self.problem.get_or_insert(problem);
    }

    fn once(slot: &mut Option<&'a [u8]>, value: &'a [u8]) -> bool {
        if slot.is_some() {
            return false;
        }
        *slot = Some(value);
        true
    }
}

/// Reads the header section once, keeping the fields the server needs.
pub fn summarise(head: &[u8]) -> Summary<'_> {
    summarise_until_blank(head).0
}

/// Summarises header lines up to the first empty line (or the end); also
/// returns where the header lines end (where the empty line starts).
fn summarise_until_blank(head: &[u8]) -> (Summary<'_>, usize) {
    let mut s = Summary::default();
    let mut lines = headers(head);
    let mut vias = (0, 0);
    let mut diversions: Option<(usize, usize)> = None;
    let end = loop {
        let start = head.len() - lines.rest.len();
        if lines.rest.starts_with(b"\n") || lines.rest.starts_with(b"\r\n") {
            break start;
        }
        let Some(header) = lines.next() else {
            break head.len();
        };
        let Ok(h) = header else {
            s.flag(Problem::BadHeaderLine);
            continue;
        };
        let value = h.value;
        match classify(h.name) {
            Name::Via => {
                if s.via.is_none() {
                    s.via = Some(value);
                    vias.0 = start;
                }
                vias.1 = head.len() - lines.rest.len();
            }
            Name::From => {
                if !Summary::once(&mut s.from, value) {
                    s.flag(Problem::DuplicateFrom);
                }
            }
            Name::To => {
                if !Summary::once(&mut s.to, value) {
                    s.flag(Problem::DuplicateTo);
                }
            }
            Name::CallId => {
                if !Summary::once(&mut s.call_id, value) {
                    s.flag(Problem::DuplicateCallId);
                }
            }
            Name::CSeq => {
                if !Summary::once(&mut s.cseq, value) {
                    s.flag(Problem::DuplicateCSeq);
                }
            }
            Name::MaxForwards => {
                if !Summary::once(&mut s.max_forwards, value) {
                    s.flag(Problem::DuplicateMaxForwards);
                }
            }
            Name::ContentLength => match s.content_length {
                Some(previous) if previous != value => s.flag(Problem::ConflictingContentLength),
                Some(_) => {}
                None => s.content_length = Some(value),
            },
            Name::Require => s.require = true,
            Name::Diversion => {
                let first = diversions.map_or(start, |(first, _)| first);
                diversions = Some((first, head.len() - lines.rest.len()));
            }
            Name::Other => {}
        }
    };
    s.vias = &head[vias.0..vias.1];
    if let Some((first, last)) = diversions {
        s.diversions = &head[first..last];
    }
    (s, end)
}

/// The non-empty list elements of every `name` header among `lines`, in
/// order: `Via: a, b` then `v: c` give a, b, c. Header lines that do not
/// parse are skipped.
pub fn list_values(lines: &[u8], name: Name) -> impl Iterator<Item = &[u8]> {
    headers(lines)
        .flatten()
        .filter(move |h| classify(h.name) == name)
        .flat_map(|h| comma_values(h.value).filter(|v| !v.is_empty()))
}

/// Splits a list header value at commas outside quoted strings and angle
/// brackets, trimming each element (elements may be empty).
#[derive(Debug, Clone)]
pub struct CommaValues<'a> {
    rest: Option<&'a [u8]>,
}

pub fn comma_values(value: &[u8]) -> CommaValues<'_> {
    CommaValues { rest: Some(value) }
}

impl<'a> Iterator for CommaValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut quoted = false;
        let mut angle = false;
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    self.rest = Some(&rest[i + 1..]);
                    return Some(trim_lws(&rest[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.rest = None;
        Some(trim_lws(rest))
    }
}

/// One `;name[=value]` parameter. `raw` is `name[=value]` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a [u8],
    pub value: Option<&'a [u8]>,
    pub raw: &'a [u8],
}

/// Iterates over `*( SEMI generic-param )`, as found after a Via's sent-by or
/// a From/To's URI. Yields one `Err(())` and stops at anything else.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

pub fn params(s: &[u8]) -> Params<'_> {
    Params { rest: s }
}

impl<'a> Params<'a> {
    /// Whether every parameter is well formed.
    pub fn valid(self) -> bool {
        self.into_iter().all(|p| p.is_ok())
    }

    /// The first parameter with this name (case-insensitive), if the list is
    /// well formed up to it.
    pub fn find(self, name: &[u8]) -> Option<Param<'a>> {
        self.map_while(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = skip_lws(self.rest);
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let result = parse_param(s);
        match result {
            Some((param, rest)) => {
                self.rest = rest;
                Some(Ok(param))
            }
            None => {
                self.rest = &s[s.len()..];
                Some(Err(()))
            }
        }
    }
}

fn parse_param(s: &[u8]) -> Option<(Param<'_>, &[u8])> {
    let s = skip_lws(s.strip_prefix(b";")?);
    let name_len = s.iter().position(|&b| !is_token(b)).unwrap_or(s.len());
    if name_len == 0 {
        return None;
    }
    let name = &s[..name_len];
    let after = skip_lws(&s[name_len..]);
    let Some(v) = after.strip_prefix(b"=") else {
        return Some((
            Param {
                name,
                value: None,
                raw: name,
            },
            after,
        ));
    };
    let v = skip_lws(v);
    let value_len = if v.first() == Some(&b'"') {
        quoted_len(v)?
    } else {
        v.iter()
            .position(|&b| {
                matches!(b, b';' | b',' | b'"' | b'<' | b'>' | b'?') || is_lws(b) || b < 0x20
            })
            .unwrap_or(v.len())
    };
    if value_len == 0 {
        return None;
    }
    let value = &v[..value_len];
    // `raw` spans from the name to the end of the value, as written.
    let raw_len = (v.as_ptr() as usize - s.as_ptr() as usize) + value_len;
    Some((
        Param {
            name,
            value: Some(value),
            raw: &s[..raw_len],
        },
        &v[value_len..],
    ))
}

/// Length of the quoted string at the start of `s` (which starts with '"'),
/// quotes included; `None` if it is not terminated.
fn quoted_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A parsed via-parm (RFC 3261 §20.42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    pub transport: &'a [u8],
    /// Host as written (an IPv6 reference keeps its brackets).
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// `sent-protocol LWS sent-by` as written.
    pub sent: &'a [u8],
    /// The parameters, from the first ';' on.
    pub params: &'a [u8],
    /// The `branch` parameter's value.
    pub branch: Option<&'a [u8]>,
    /// `rport`: `None` if absent, `Some(None)` if asked for (no value).
    pub rport: Option<Option<&'a [u8]>>,
    /// Whether a `received` parameter is present.
    pub received: bool,
    /// Whether the parameters stop being well formed somewhere (those
    /// before that point are read): the request gets a 400.
    pub malformed_params: bool,
}

fn take_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = s.iter().position(|&b| !is_token(b)).unwrap_or(s.len());
    (n > 0).then(|| (&s[..n], &s[n..]))
}

fn expect_slash(s: &[u8]) -> Option<&[u8]> {
    Some(skip_lws(skip_lws(s).strip_prefix(b"/")?))
}

/// Parses `host [":" port]` at the start of `s`, returning host, port and rest.
pub fn parse_hostport(s: &[u8]) -> Option<(&[u8], Option<u16>, &[u8])> {
    let host_len = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&b| b == b']')?;
        if close < 3
            || !s[1..close]
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        close + 1
    } else {
        s.iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
            .unwrap_or(s.len())
    };
    if host_len == 0 {
        return None;
    }
    let (host, rest) = s.split_at(host_len);
    let after = skip_lws(rest);
    let Some(p) = after.strip_prefix(b":") else {
        return Some((host, None, rest));
    };
    let p = skip_lws(p);
    let digits = p
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(p.len());
    let port = parse_u32(&p[..digits])?;
    let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
    Some((host, Some(port), &p[digits..]))
}

/// Parses one via-parm: `SIP / 2.0 / UDP host[:port] *(;param)`.
pub fn parse_via(v: &[u8]) -> Option<Via<'_>> {
    let (_name, rest) = take_token(v)?;
    let (_version, rest) = take_token(expect_slash(rest)?)?;
    let (transport, rest) = take_token(expect_slash(rest)?)?;
    if !rest.first().is_some_and(|&b| is_lws(b)) {
        return None;
    }
    let (host, port, rest) = parse_hostport(skip_lws(rest))?;
    let sent_len = rest.as_ptr() as usize - v.as_ptr() as usize;
    let params = skip_lws(rest);
    if !(params.is_empty() || params[0] == b';') {
        return None;
    }
    let mut via = Via {
        transport,
        host,
        port,
        sent: &v[..sent_len],
        params,
        branch: None,
        rport: None,
        received: false,
        malformed_params: false,
    };
    for param in self::params(params) {
        let Ok(p) = param else {
            via.malformed_params = true;
            break;
        };
        if p.name.eq_ignore_ascii_case(b"branch") {
            let Some(branch) = p.value else {
                via.malformed_params = true;
                break;
            };
            via.branch.get_or_insert(branch);
        } else if p.name.eq_ignore_ascii_case(b"rport") {
            via.rport.get_or_insert(p.value);
        } else if p.name.eq_ignore_ascii_case(b"received") {
            via.received = true;
        }
    }
    Some(via)
}

/// For a `name-addr` / `addr-spec` value (From, To): the header parameters
/// after the URI (the URI's own `;params` inside `<>` do not count), or `None`
/// if quotes or angle brackets are unbalanced or the value is empty.
pub fn name_addr_params(v: &[u8]) -> Option<&[u8]> {
    if v.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'"' => i += quoted_len(&v[i..])?,
            b'<' => {
                let close = v[i..].iter().position(|&b| b == b'>')?;
                // A URI holds no white space (RFC 4475 §3.1.2.14).
                if close == 1 || v[i + 1..i + close].iter().any(|&b| is_lws(b)) {
                    return None;
                }
                return Some(&v[i + close + 1..]);
            }
            b';' if i > 0 => return Some(&v[i..]),
            b'>' | b';' => return None,
            _ => i += 1,
        }
    }
    Some(&v[v.len()..])
}

/// Parses `CSeq: 1*DIGIT LWS Method`.
pub fn parse_cseq(v: &[u8]) -> Option<(u32, &[u8])> {
    let digits = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    let number = parse_u32(&v[..digits])?;
    let rest = &v[digits..];
    if !rest.first().is_some_and(|&b| is_lws(b)) {
        return None;
    }
    let method = skip_lws(rest);
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return None;
    }
    Some((number, method))
}

/// Parses a `Content-Length` value (digits only, at most 10 of them).
pub fn parse_length(v: &[u8]) -> Option<usize> {
    parse_u32(v).and_then(|n| usize::try_from(n).ok())
}

/// The URI schemes the redirect server routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

/// The parts of a Request-URI the redirect server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUri<'a> {
    pub scheme: Scheme,
    /// The user part (`sip:USER@host`, without password or user parameters
    /// being removed) or the `tel:` number, `None` for `sip:host`.
    pub user: Option<&'a [u8]>,
    /// The host (empty for `tel:`), IPv6 references with brackets.
    pub host: &'a [u8],
}

/// Why a Request-URI is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// 400.
    Malformed,
    /// 416.
    UnsupportedScheme,
}

/// Parses a `sip:`, `sips:` or `tel:` Request-URI.
pub fn parse_request_uri(uri: &[u8]) -> Result<RequestUri<'_>, UriError> {
    if uri.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(UriError::Malformed);
    }
    let colon = uri
        .iter()
        .position(|&b| b == b':')
        .ok_or(UriError::Malformed)?;
    let (scheme, rest) = (&uri[..colon], &uri[colon + 1..]);
    if !scheme.first().is_some_and(u8::is_ascii_alphabetic)
        || !scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(UriError::Malformed);
    }
    let scheme = if scheme.eq_ignore_ascii_case(b"sip") {
        Scheme::Sip
    } else if scheme.eq_ignore_ascii_case(b"sips") {
        Scheme::Sips
    } else if scheme.eq_ignore_ascii_case(b"tel") {
        let number = rest.split(|&b| b == b';').next().unwrap_or_default();
        if number.is_empty() {
            return Err(UriError::Malformed);
        }
        // The parameters stay with the number: `phone-context` decides how
        // a local number reads (see `number::to_e164`).
        return Ok(RequestUri {
            scheme: Scheme::Tel,
            user: Some(rest),
            host: &rest[..0],
        });
    } else {
        return Err(UriError::UnsupportedScheme);
    };
    // The user part may hold '?' (RFC 4475 §3.1.1.2) but neither it nor the
    // parameters or headers hold an unescaped '@': so the first '@' ends
    // the userinfo, and headers start at the first '?' after it.
    let (user, after_user) = match rest.iter().position(|&b| b == b'@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(|&b| b == b':').next().unwrap_or_default();
            if user.is_empty() {
                return Err(UriError::Malformed);
            }
            (Some(user), &rest[at + 1..])
        }
        None => (None, rest),
    };
    let hostport = after_user.split(|&b| b == b'?').next().unwrap_or_default();
    let (host, _port, rest) = parse_hostport(hostport).ok_or(UriError::Malformed)?;
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(UriError::Malformed);
    }
    Ok(RequestUri { scheme, user, host })
}

/// What [`Framer::next`] found at the start of a TCP receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Need more bytes.
    Incomplete,
    /// Stray line breaks before a start line: discard this many bytes.
    Skip(usize),
    /// A CRLFCRLF keep-alive (RFC 5626 §3.5.1) of this many bytes: answer CRLF.
    Ping(usize),
    /// A whole message of this many bytes.
    Message(usize),
    /// A header section of this many bytes whose `Content-Length` is missing
    /// or unusable: the stream cannot be framed past it (answer 400, close).
    Unframed(usize),
    /// The message would exceed the size limit: close.
    TooLarge,
}

/// Frames SIP messages on a stream by their `Content-Length` (RFC 3261
/// §18.3), resuming its search where the previous call stopped so a message
/// arriving a byte at a time costs linear, not quadratic, time.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    searched: usize,
    total: Option<usize>,
}

impl Framer {
    /// Looks at the unconsumed bytes `buf`. Every result but `Incomplete`
    /// resets the framer: the caller then discards the bytes it names.
    pub fn next(&mut self, buf: &[u8], max: usize) -> Frame {
        let frame = self.look(buf, max);
        if frame != Frame::Incomplete {
            *self = Framer::default();
        }
        frame
    }

    fn look(&mut self, buf: &[u8], max: usize) -> Frame {
        if let Some(total) = self.total {
            return if buf.len() >= total {
                Frame::Message(total)
            } else {
                Frame::Incomplete
            };
        }
        const PING: &[u8] = b"\r\n\r\n";
        if let Some(&first) = buf.first()
            && (first == b'\r' || first == b'\n')
        {
            return if buf.starts_with(PING) {
                Frame::Ping(PING.len())
            } else if PING.starts_with(buf) {
                Frame::Incomplete
            } else {
                Frame::Skip(1)
            };
        }
        let from = self.searched.saturating_sub(2);
        let Some(end) = blank_line_end(buf, from) else {
            self.searched = buf.len();
            return if buf.len() > max {
                Frame::TooLarge
            } else {
                Frame::Incomplete
            };
        };
        if end > max {
            return Frame::TooLarge;
        }
        let head = &buf[..end];
        let head = match head.iter().position(|&b| b == b'\n') {
            Some(i) => &head[i + 1..],
            None => head,
        };
        let mut length = None;
        for h in headers(head).flatten() {
            if classify(h.name) != Name::ContentLength {
                continue;
            }
            match (parse_length(h.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Frame::Unframed(end),
            }
        }
        let Some(length) = length else {
            return Frame::Unframed(end);
        };
        let total = end.saturating_add(length);
        if total > max {
            return Frame::TooLarge;
        }
        if buf.len() >= total {
            Frame::Message(total)
        } else {
            self.total = Some(total);
            Frame::Incomplete
        }
    }
}

/// The offset just past the blank line ending a header section ("\n\n" or
/// "\n\r\n"), searching from `from`.
fn blank_line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let nl = i + buf[i..].iter().position(|&b| b == b'\n')?;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}
