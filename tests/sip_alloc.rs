//! The SIP hot path allocates nothing: once warm, answering a request (an
//! INVITE in any dialled form, OPTIONS, a 404, a 400) makes no heap
//! allocation. Counted by a global allocator that tallies this thread's
//! allocations; a test binary of its own so that the allocator is ours.

use didhub::sip::{Lookup, RouteSource, Transport, respond_to};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

struct Table(HashMap<String, Lookup>);

impl RouteSource for Table {
    fn lookup(&self, number: &str) -> Lookup {
        self.0.get(number).cloned().unwrap_or(Lookup::Unknown)
    }
}

fn request(method: &str, uri: &str, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKnashds8\r\n\
Max-Forwards: 70\r\n\
t: <{uri}>\r\n\
From: \"Alice\" <sip:+14155550100@pbx.example.org>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.example.org\r\n\
CSeq: 314159 {method}\r\n\
{extra}l: 0\r\n\
\r\n"
    )
}

#[test]
fn answering_requests_allocates_nothing_once_warm() {
    let did = "+33123456789";
    let mut routes = HashMap::new();
    routes.insert(
        did.to_owned(),
        Lookup::Redirect {
            did: Arc::from(did),
            contacts: Arc::from([Arc::from("sip:+33612345678@gw.example.net;user=phone")]),
        },
    );
    routes.insert("+33198765432".to_owned(), Lookup::NoForward);
    // A full failover list: one 302 with five Contacts.
    routes.insert(
        "+33123456700".to_owned(),
        Lookup::Redirect {
            did: Arc::from("+33123456700"),
            contacts: Arc::from(
                [
                    "sip:desk@pbx.example.com:5080;transport=tcp",
                    "sip:+33612345678@gw.example.net;user=phone",
                    "tel:+33698765432",
                    "sip:+33123456700@[2001:db8::1]:5062",
                    "sips:voicemail@vm.example.org",
                ]
                .map(Arc::from),
            ),
        },
    );
    let table = Table(routes);
    let source: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    let requests: Vec<(String, &str)> = vec![
        (
            request("INVITE", "sip:+33123456789@h;user=phone", ""),
            "302",
        ),
        (request("INVITE", "sip:33123456789@h", ""), "302"),
        (
            request(
                "INVITE",
                "sip:+33123456789@h",
                "Diversion: <sip:+14155550111@a.example>;reason=no-answer\r\n",
            ),
            "302",
        ),
        (request("INVITE", "sip:0033123456789@h", ""), "302"),
        (request("INVITE", "tel:+33-1-23-45-67-89", ""), "302"),
        (request("INVITE", "sip:+33198765432@h", ""), "480"),
        (request("INVITE", "sip:+33123456700@h", ""), "302"),
        (
            request(
                "INVITE",
                "sip:0033123456700@h",
                "Diversion: <sip:+14155550111@a.example>;reason=no-answer\r\n",
            ),
            "302",
        ),
        (request("INVITE", "sip:+33999999999@h", ""), "404"),
        (
            request("INVITE", "sip:+33123456789@h", "")
                .replace("Max-Forwards: 70", "Max-Forwards: 0"),
            "483",
        ),
        (
            request("INVITE", "sip:+33123456789@h", "Max-Forwards: 0\r\n"),
            "400",
        ),
        (request("OPTIONS", "sip:h", ""), "200"),
        (request("BYE", "sip:+33123456789@h", ""), "405"),
        (request(&"X".repeat(200), "sip:+33123456789@h", ""), "405"),
        (
            request("OPTIONS", "nobodyKnowsThisScheme:opaque", ""),
            "416",
        ),
        (request("INVITE", "im:+33123456789@h", ""), "416"),
        (request("OPTIONS", "sip:h", "Require: foo, bar\r\n"), "420"),
        (
            request("INVITE", "sip:+33123456789@h", "Require: 100rel\r\n"),
            "420",
        ),
        (
            request("INVITE", "sip:+33123456789@h", "")
                .replace("CSeq: 314159 INVITE", "CSeq: 99999999999 INVITE"),
            "400",
        ),
    ];
    // The instrument itself: an allocation on this thread is seen.
    let before = ALLOCATIONS.with(Cell::get);
    let probe = std::hint::black_box(String::from("counted"));
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 1);
    drop(probe);

    let mut out = Vec::with_capacity(4096);
    // Warm-up: lazily built statics (phonenumber's metadata) and `out`'s
    // capacity are allowed to allocate once.
    for (text, status) in &requests {
        assert!(respond_to(text.as_bytes(), Transport::Udp, source, &table, &mut out).is_some());
        let answer = String::from_utf8_lossy(&out);
        assert!(
            answer.starts_with(&format!("SIP/2.0 {status} ")),
            "{answer}"
        );
        if text.contains("33123456700@") {
            assert_eq!(answer.matches("\r\nContact: <").count(), 5, "{answer}");
            assert!(answer.contains(";q=0.6\r\n"), "{answer}");
        }
    }
    for (text, _) in &requests {
        let before = ALLOCATIONS.with(Cell::get);
        for _ in 0..100 {
            respond_to(text.as_bytes(), Transport::Udp, source, &table, &mut out);
        }
        let allocations = ALLOCATIONS.with(Cell::get) - before;
        assert_eq!(
            allocations, 0,
            "answering allocated {allocations} times for:\n{text}"
        );
    }
}
