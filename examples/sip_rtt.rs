//! INVITE → 302 response times of a SIP redirect server, to the microsecond.
//!
//! bench/sip/run.sh drives the servers with sipp, but sipp's response-time
//! clock advances in 4 ms ticks on the benchmark machine: its figures come out
//! as 0, 4 or 8 ms, so its percentiles say nothing about a server that answers
//! in tens of microseconds. This client offers the same load (a fixed call
//! rate, one INVITE per call to a number drawn at random from a file, every
//! final response ACKed, no retransmission) and times each answer with the
//! monotonic clock (`Instant`) into an HDR histogram.
//!
//! The load is open loop: call i is due at start + i / rate whatever became of
//! the calls before it, so a slow server faces a growing queue instead of a
//! client that politely slows down with it and hides the queueing. A response
//! time runs from the moment its INVITE actually left; when the client itself
//! falls behind schedule (it shares the cores with the server), it catches up
//! in bursts and reports how late it was ("max lag" on stderr), so a saturated
//! client is visible. One thread sends on schedule while another waits in
//! `recv`, so an answer is timestamped as soon as the kernel hands it over,
//! not whenever the sender is next idle.
//!
//! cargo run --release --example sip_rtt -- --target 127.0.0.1:5060 --numbers numbers.txt \
//!     --rate 20000 --duration 10 [--warmup 1] [--timeout-ms 1000] [--json]
//!
//! `--numbers` holds one dialled number a line. sipp injection files work as
//! they are (their RANDOM / SEQUENTIAL / USER first line is skipped and only
//! the first `;`-separated field of a line is used), and so does the
//! `number;contact` file of `bench_load --routes`.
//!
//! stdout gets one line, `offered=… answered=… lost=… other_status=…
//! achieved_cps=… p50_us=… p90_us=… p99_us=… p999_us=… max_us=… mean_us=…
//! max_lag_us=…`
//! (with `--json`, a JSON object with the same keys), stderr a readable
//! summary. `answered` counts 302s, `other_status` other final responses and
//! `lost` calls without a final response within `--timeout-ms` of the last
//! INVITE; the times are those of the 302s, 0 when there is none. Calls of the
//! `--warmup` seconds are sent and ACKed alike but counted nowhere. The exit
//! status is 0 however many calls were lost: judging is the caller's business.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, anyhow, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(about = "INVITE → 302 response times of a SIP redirect server, in microseconds")]
struct Args {
    /// The server's UDP address, HOST:PORT.
    #[arg(long)]
    target: String,
    /// Dialled numbers, one a line (a sipp injection file will do).
    #[arg(long)]
    numbers: PathBuf,
    /// Calls offered per second.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: u64,
    /// Seconds of measured load.
    #[arg(long, value_parser = seconds)]
    duration: f64,
    /// Seconds of load at the same rate before the measured ones, whose
    /// calls are not counted.
    #[arg(long, default_value_t = 1.0, value_parser = seconds)]
    warmup: f64,
    /// How long to wait for answers after the last INVITE, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Print the results as a JSON object instead of key=value pairs.
    #[arg(long)]
    json: bool,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

/// The socket buffers asked for: at 40,000 calls/s a stall of a few
/// milliseconds on either side must not overflow the default ~200 KiB.
const SOCKET_BUFFER: usize = 4 << 20;
/// Bounds the per-call tables (16 bytes a call).
const MAX_CALLS: u64 = 50_000_000;
/// How often the receiver, when nothing comes, looks at whether it is done.
const RECV_POLL: Duration = Duration::from_millis(5);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.duration > 0.0, "--duration must be more than 0");
    let target = args
        .target
        .to_socket_addrs()
        .with_context(|| format!("--target {}", args.target))?
        .next()
        .ok_or_else(|| anyhow!("--target {} resolves to no address", args.target))?;
    let numbers = read_numbers(&args.numbers)?;

    let calls = |secs: f64| (args.rate as f64 * secs).round() as u64;
    let (warmup, measured) = (calls(args.warmup), calls(args.duration));
    ensure!(
        measured > 0,
        "--rate × --duration must make at least one call"
    );
    let total = warmup + measured;
    ensure!(
        total <= MAX_CALLS,
        "{total} calls is too many for one run (at most {MAX_CALLS})"
    );

    let socket = open_socket(target)?;
    let local = socket.local_addr()?;
    let plan = Plan {
        numbers,
        seed: seed(),
        target,
        local,
        warmup,
        total,
    };
    let shared = Shared::new(total);
    let timeout = Duration::from_millis(args.timeout_ms);

    let (sent, received) = std::thread::scope(|s| -> anyhow::Result<_> {
        let receiver = std::thread::Builder::new()
            .name("receiver".into())
            .spawn_scoped(s, || receive(&socket, &plan, &shared, timeout))?;
        let sent = send(&socket, &plan, &shared, args.rate);
        let received = receiver
            .join()
            .map_err(|_| anyhow!("the receiver thread panicked"))?
            .context("receiving")?;
        Ok((sent, received))
    })?;
    if sent.sent == 0
        && let Some(e) = sent.first_error
    {
        return Err(e).context(format!("sending to {target}"));
    }

    let histogram = &received.histogram;
    let answered = histogram.len();
    let lost = sent.offered.saturating_sub(answered + received.other);
    // n calls span n − 1 intervals: a perfectly paced run then reports exactly
    // the offered rate.
    let span = sent.last_ns.saturating_sub(sent.first_ns);
    let achieved_cps = if sent.sent > 1 && span > 0 {
        ((sent.sent - 1) as f64 * 1e9 / span as f64).round() as u64
    } else {
        0
    };
    let q = |q: f64| histogram.value_at_quantile(q);
    let us = |ns: u64| ns.div_ceil(1000);
    let results = [
        ("offered", sent.offered),
        ("answered", answered),
        ("lost", lost),
        ("other_status", received.other),
        ("achieved_cps", achieved_cps),
        ("p50_us", q(0.5)),
        ("p90_us", q(0.9)),
        ("p99_us", q(0.99)),
        ("p999_us", q(0.999)),
        ("max_us", histogram.max()),
        ("mean_us", histogram.mean().round() as u64),
        ("max_lag_us", us(sent.max_lag_ns)),
    ];

    eprintln!(
        "sip_rtt: {target} from {local}, {} calls/s for {} s after {} s of warm-up, {} numbers",
        args.rate,
        args.duration,
        args.warmup,
        plan.numbers.len()
    );
    eprintln!(
        "  offered {}, answered (302) {answered}, other final status {}, lost {lost}",
        sent.offered, received.other
    );
    eprintln!(
        "  achieved {achieved_cps} calls/s; sender max lag {} µs, {} calls sent over 1 ms late, {} send errors",
        us(sent.max_lag_ns),
        sent.late,
        sent.errors
    );
    if let Some(e) = &sent.first_error {
        eprintln!("  first send error: {e}");
    }
    eprintln!(
        "  302 response time (µs): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        histogram.max(),
        histogram.mean()
    );
    eprintln!(
        "  not counted: {} provisional, {} duplicate final, {} unrecognised datagrams; {} ACKs failed to send",
        received.provisional, received.duplicates, received.unrecognised, received.ack_errors
    );

    let line = if args.json {
        let fields: Vec<String> = results
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    } else {
        let fields: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        fields.join(" ")
    };
    println!("{line}");
    Ok(())
}

/// The dialled numbers, in file order.
fn read_numbers(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(';').next().unwrap_or_default().trim();
        let keyword = field.split(',').next().unwrap_or_default();
        if i == 0 && matches!(keyword, "RANDOM" | "SEQUENTIAL" | "USER") {
            continue;
        }
        if field.is_empty() {
            continue;
        }
        // The number goes verbatim into URIs and headers: anything that could
        // end or restructure them would make the INVITE garbage.
        ensure!(
            field
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"<>@\";,".contains(&b)),
            "{} line {}: {field:?} cannot be the user part of a SIP URI",
            path.display(),
            i + 1
        );
        numbers.push(field.to_owned());
    }
    ensure!(!numbers.is_empty(), "{} holds no number", path.display());
    Ok(numbers)
}

/// A UDP socket on the address the system would send to `target` from, so
/// that the Via, From and Contact written from it reach back here.
fn open_socket(target: SocketAddr) -> anyhow::Result<UdpSocket> {
    let unspecified = match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    // Connecting a UDP socket sends nothing; it only consults the routing table.
    let probe = UdpSocket::bind((unspecified, 0)).context("binding a UDP socket")?;
    probe
        .connect(target)
        .with_context(|| format!("finding a route to {target}"))?;
    let local = SocketAddr::new(probe.local_addr()?.ip(), 0);

    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))
        .context("creating a UDP socket")?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    // The kernel caps the sizes at net.core.{r,w}mem_max without a word;
    // Linux reports twice what it grants, hence the comparison with the
    // request rather than half of it.
    let (rcv, snd) = (socket.recv_buffer_size()?, socket.send_buffer_size()?);
    if rcv < SOCKET_BUFFER || snd < SOCKET_BUFFER {
        eprintln!(
            "sip_rtt: warning: socket buffers are {rcv} (receive) and {snd} (send) bytes, \
             not {SOCKET_BUFFER}: raise net.core.rmem_max / wmem_max"
        );
    }
    socket
        .bind(&SockAddr::from(local))
        .with_context(|| format!("binding {local}"))?;
    let socket = UdpSocket::from(socket);
    socket.set_read_timeout(Some(RECV_POLL))?;
    Ok(socket)
}

/// A seed that differs between runs, so runs do not replay one sequence of
/// numbers (and the server's caches) exactly.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// SplitMix64's output function: a well-spread 64-bit hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What both threads need to write a call's messages.
struct Plan {
    numbers: Vec<String>,
    seed: u64,
    target: SocketAddr,
    local: SocketAddr,
    /// Calls 0..warmup are the warm-up.
    warmup: u64,
    total: u64,
}

impl Plan {
    /// The number call `call` dials: a pure function of the call, so that the
    /// receiver can address the ACK without the sender recording anything.
    fn number(&self, call: u64) -> &str {
        let h = splitmix64(
            self.seed
                .wrapping_add(call.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        );
        &self.numbers[(h % self.numbers.len() as u64) as usize]
    }

    fn write_invite(&self, out: &mut Vec<u8>, call: u64) {
        let (number, target, local, host) =
            (self.number(call), self.target, self.local, self.local.ip());
        write!(
            out,
            "INVITE sip:{number}@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-rtt-{call}\r\n\
             From: rtt <sip:rtt@{local}>;tag=rtt-{call}\r\n\
             To: <sip:{number}@{target}>\r\n\
             Call-ID: rtt-{call}@{host}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:rtt@{local}>\r\n\
             Max-Forwards: 70\r\n\
             Subject: didhub redirect benchmark\r\n\
             Content-Length: 0\r\n\
             \r\n"
        )
        .expect("writing to a Vec cannot fail");
    }

    /// The ACK of a non-2xx final response: same branch as the INVITE (RFC
    /// 3261 §17.1.1.3), `To` as the response had it (with the server's tag).
    fn write_ack(&self, out: &mut Vec<u8>, call: u64, to: Option<&[u8]>) {
        let (number, target, local, host) =
            (self.number(call), self.target, self.local, self.local.ip());
        write!(
            out,
            "ACK sip:{number}@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-rtt-{call}\r\n\
             From: rtt <sip:rtt@{local}>;tag=rtt-{call}\r\n\
             To: "
        )
        .expect("writing to a Vec cannot fail");
        match to {
            Some(to) => out.extend_from_slice(to),
            // A response without To is broken, but the server may still be
            // waiting for an ACK; the INVITE's To is the best guess.
            None => write!(out, "<sip:{number}@{target}>").expect("writing to a Vec cannot fail"),
        }
        write!(
            out,
            "\r\n\
             Call-ID: rtt-{call}@{host}\r\n\
             CSeq: 1 ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\
             \r\n"
        )
        .expect("writing to a Vec cannot fail");
    }
}

/// State the two threads share, lock-free.
struct Shared {
    start: Instant,
    /// Per call, when its INVITE was sent, in nanoseconds since `start` plus
    /// one; 0 while it has not been (or its send failed).
    sent_at: Vec<AtomicU64>,
    /// INVITEs sent successfully, all calls.
    sent: AtomicU64,
    /// When the sender finished, like `sent_at`.
    done_at: AtomicU64,
    /// Set by the receiver when the socket fails, to stop the sender.
    abort: AtomicBool,
}

impl Shared {
    fn new(total: u64) -> Self {
        Shared {
            sent_at: (0..total).map(|_| AtomicU64::new(0)).collect(),
            sent: AtomicU64::new(0),
            done_at: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            start: Instant::now(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// The sender's account of the measured calls.
#[derive(Default)]
struct Sent {
    /// Calls whose INVITE was due (sent or not).
    offered: u64,
    sent: u64,
    errors: u64,
    first_error: Option<io::Error>,
    /// First and last successful sends.
    first_ns: u64,
    last_ns: u64,
    /// How far behind schedule an INVITE left, at worst.
    max_lag_ns: u64,
    /// INVITEs that left more than a millisecond after they were due.
    late: u64,
}

fn send(socket: &UdpSocket, plan: &Plan, shared: &Shared, rate: u64) -> Sent {
    let mut stats = Sent::default();
    let mut buf = Vec::with_capacity(1024);
    // The schedule starts now, not at `shared.start`, so that setting up the
    // receiver does not make the first calls late.
    let base = shared.now_ns();
    let due_at = |call: u64| base + (u128::from(call) * 1_000_000_000 / u128::from(rate)) as u64;
    let mut call = 0;
    while call < plan.total && !shared.abort.load(Ordering::Relaxed) {
        let now = shared.now_ns();
        let due = due_at(call);
        if due > now {
            // Sleeping wakes late (timer slack, and on the benchmark VM some
            // 0.1 ms to wake an idle vCPU), which turns the sends into small
            // bursts at high rates; spinning instead would take a core from
            // the server on a 2-core machine and distort what is measured.
            std::thread::sleep(Duration::from_nanos(due - now));
            continue;
        }
        buf.clear();
        plan.write_invite(&mut buf, call);
        let at = shared.now_ns();
        // Stored before the send: the answer can be back before send_to returns.
        shared.sent_at[call as usize].store(at + 1, Ordering::Release);
        let result = socket.send_to(&buf, plan.target);
        let measured = call >= plan.warmup;
        match result {
            Ok(_) => {
                shared.sent.fetch_add(1, Ordering::Release);
                if measured {
                    if stats.sent == 0 {
                        stats.first_ns = at;
                    }
                    stats.last_ns = at;
                    stats.sent += 1;
                }
            }
            Err(e) => {
                shared.sent_at[call as usize].store(0, Ordering::Release);
                if measured {
                    stats.errors += 1;
                    stats.first_error.get_or_insert(e);
                }
            }
        }
        if measured {
            stats.offered += 1;
            let lag = at.saturating_sub(due);
            stats.max_lag_ns = stats.max_lag_ns.max(lag);
            stats.late += u64::from(lag > 1_000_000);
        }
        call += 1;
    }
    shared.done_at.store(shared.now_ns() + 1, Ordering::Release);
    stats
}

/// The receiver's account.
struct Received {
    /// 302 response times of the measured calls, in microseconds.
    histogram: Histogram<u64>,
    /// Measured calls answered with a final status other than 302.
    other: u64,
    provisional: u64,
    duplicates: u64,
    /// Datagrams that are no response to a call of this run.
    unrecognised: u64,
    ack_errors: u64,
}

fn receive(
    socket: &UdpSocket,
    plan: &Plan,
    shared: &Shared,
    timeout: Duration,
) -> anyhow::Result<Received> {
    let result = receive_until_done(socket, plan, shared, timeout);
    if result.is_err() {
        shared.abort.store(true, Ordering::Relaxed);
    }
    result
}

fn receive_until_done(
    socket: &UdpSocket,
    plan: &Plan,
    shared: &Shared,
    timeout: Duration,
) -> anyhow::Result<Received> {
    let mut stats = Received {
        histogram: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        other: 0,
        provisional: 0,
        duplicates: 0,
        unrecognised: 0,
        ack_errors: 0,
    };
    let timeout_ns = timeout.as_nanos() as u64;
    let mut finished = vec![false; plan.total as usize];
    // Final responses to distinct calls, all calls: once it equals the
    // number sent, there is nothing left to wait for.
    let mut finals = 0u64;
    let mut buf = vec![0u8; 65536];
    let mut ack = Vec::with_capacity(1024);
    loop {
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => {
                let now = shared.now_ns();
                let Some(response) = parse_response(&buf[..len]) else {
                    stats.unrecognised += 1;
                    continue;
                };
                let call = response.call;
                let sent_at = shared
                    .sent_at
                    .get(call as usize)
                    .map_or(0, |at| at.load(Ordering::Acquire));
                if sent_at == 0 {
                    stats.unrecognised += 1;
                } else if response.status < 200 {
                    stats.provisional += 1;
                } else {
                    if finished[call as usize] {
                        // Still ACKed: a server that retransmits its final
                        // response does so until it has an ACK.
                        stats.duplicates += 1;
                    } else {
                        finished[call as usize] = true;
                        finals += 1;
                        if call >= plan.warmup {
                            if response.status == 302 {
                                let ns = now.saturating_sub(sent_at - 1);
                                stats.histogram.saturating_record((ns + 500) / 1000);
                            } else {
                                stats.other += 1;
                            }
                        }
                    }
                    ack.clear();
                    plan.write_ack(&mut ack, call, response.to);
                    if socket.send_to(&ack, plan.target).is_err() {
                        stats.ack_errors += 1;
                    }
                }
            }
            // Timeouts are the poll; the refusals are ICMP port-unreachable
            // errors that some systems report on unconnected sockets.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => return Err(e.into()),
        }
        let done_at = shared.done_at.load(Ordering::Acquire);
        if done_at != 0
            && (finals == shared.sent.load(Ordering::Acquire)
                || shared.now_ns() >= done_at - 1 + timeout_ns)
        {
            return Ok(stats);
        }
    }
}

/// What the receiver needs of a response.
struct Response<'a> {
    status: u16,
    /// The call, from the Call-ID.
    call: u64,
    /// The To header's value, verbatim.
    to: Option<&'a [u8]>,
}

/// `None` for anything that is not a response to a call of this client.
fn parse_response(datagram: &[u8]) -> Option<Response<'_>> {
    let mut lines = datagram
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let status = parse_status_line(lines.next()?)?;
    let (mut call, mut to) = (None, None);
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        let is = |long: &[u8], compact: &[u8]| {
            name.eq_ignore_ascii_case(long) || name.eq_ignore_ascii_case(compact)
        };
        if call.is_none() && is(b"call-id", b"i") {
            call = Some(parse_call_id(value)?);
        } else if to.is_none() && is(b"to", b"t") {
            to = Some(value);
        }
    }
    Some(Response {
        status,
        call: call?,
        to,
    })
}

/// The status code of `SIP/2.0 302 Moved Temporarily`.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"SIP/2.0 ")?;
    let (code, after) = rest.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) || after.first().is_some_and(|&b| b != b' ') {
        return None;
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    (100..700).contains(&code).then_some(code)
}

/// The call number N of `rtt-N@host`.
fn parse_call_id(value: &[u8]) -> Option<u64> {
    let rest = value.strip_prefix(b"rtt-")?;
    let at = rest.iter().position(|&b| b == b'@')?;
    let digits = &rest[..at];
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}
