//! Money over time, as invariants: several instances on one database with one
//! injected clock that jumps months. Balance = ledger sum; no period charged
//! twice when every instance runs maintenance at once; a credit racing a
//! renewal never leaves a paid number suspended or an unpaid one active; a
//! year of random traffic ends with books that reconcile to the cent.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Amounts in minor units are written dollars_cents (10_00 is 10.00).
#![allow(clippy::inconsistent_digit_grouping)]

mod support;

use didhub::app::{self, AppConfig, RunningServer};
use didhub::clock::ManualClock;
use didhub::domain::billing::add_months;
use didhub::service::{self, AssignRequest, Service};
use didhub::store::{PoolSettings, dids};
use futures::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::backends::{current_backend, on_both_backends};
use support::database::TestDatabase;

const PASSWORD: &str = "correct horse battery";
/// 2026-11-27T00:00:00Z.
const T0: i64 = 1_795_737_600;
const DAY: i64 = 86_400;

fn settings() -> service::Settings {
    service::Settings {
        resolver: Arc::new(support::dns::TestDns),
        ..service::Settings::default()
    }
}

/// One more instance on the database: its own memory, the shared clock.
async fn instance(url: &str, clock: &ManualClock) -> Service {
    let store = app::open_store(url, &PoolSettings::default())
        .await
        .expect("database opens");
    Service::new(store, Arc::new(clock.clone()), settings())
}

/// A whole server (HTTP, SIP, change feed) on the database.
async fn server(url: &str, clock: &ManualClock) -> RunningServer {
    let config = AppConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        database: url.to_owned(),
        pool: PoolSettings::default(),
        service: settings(),
        http: didhub::http::HttpSettings::default(),
        maintenance_interval: None,
        demo: None,
        sip: None,
    };
    app::start(config, Arc::new(clock.clone()))
        .await
        .expect("server starts")
}

/// `count` French landlines; the monthly price cycles through odd values,
/// 0.00 included.
async fn numbers(service: &Service, count: usize) -> Vec<i64> {
    let monthly = ["0.00", "0.99", "1.50", "2.00", "3.33"];
    let rows: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "+3312345{:04},FR,landline,1.00,{}",
                i,
                monthly[i % monthly.len()]
            )
        })
        .collect();
    let csv = format!(
        "number,country,type,setup_fee,monthly_cost\n{}\n",
        rows.join("\n")
    );
    let report = service.import_inventory(&csv).await.expect("import");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let mut ids = Vec::new();
    for i in 0..count {
        let number = format!("+3312345{i:04}");
        let row = dids::find_by_number(service.store().pool(), &number)
            .await
            .expect("query")
            .expect("imported");
        ids.push(row.id);
    }
    ids
}

async fn account(service: &Service, name: &str, balance: i64) -> i64 {
    service
        .create_account(name, PASSWORD, None, balance)
        .await
        .expect("account")
        .id
}

async fn buy(service: &Service, account_id: i64, did_id: i64) -> bool {
    let request = AssignRequest {
        did_id,
        idempotency_key: None,
    };
    service.assign(account_id, &request).await.is_ok()
}

async fn assert_books_balance(service: &Service) {
    for account in service.list_accounts().await.expect("accounts") {
        let (balance, sum) = service.audit_account(account.id).await.expect("audit");
        assert_eq!(balance, sum, "{}: balance != ledger sum", account.username);
        assert!(balance >= 0, "{}: negative balance", account.username);
    }
}

/// Every owned number is suspended exactly when its paid period is over.
async fn assert_suspended_iff_unpaid(service: &Service, now: i64) {
    for account in service.list_accounts().await.expect("accounts") {
        for did in dids::list_owned(service.store().pool(), account.id)
            .await
            .expect("numbers")
        {
            let unpaid = did.paid_through.is_some_and(|p| p <= now);
            assert_eq!(
                did.suspended_at.is_some(),
                unpaid,
                "{} of {}: paid through {:?}, suspended at {:?}",
                did.number,
                account.username,
                did.paid_through,
                did.suspended_at
            );
        }
    }
}

/// How many periods `did` has paid for since it was bought: months from
/// `assigned_at` to `paid_through`.
fn periods(did: &dids::DidRow) -> i64 {
    let (Some(from), Some(to)) = (did.assigned_at, did.paid_through) else {
        return 0;
    };
    (1..=1200)
        .take_while(|m| add_months(from, *m) <= to)
        .count() as i64
}

on_both_backends! {
    async fn three_instances_running_maintenance_at_once_charge_each_period_once() {
        let db = TestDatabase::create(current_backend()).await;
        let clock = ManualClock::starting_at(T0);
        let a = instance(&db.url, &clock).await;
        let b = instance(&db.url, &clock).await;
        let c = instance(&db.url, &clock).await;
        let ids = numbers(&a, 60).await;
        let mut owners = Vec::new();
        for i in 0..6 {
            // Some accounts run dry along the way and see suspensions.
            owners.push(account(&a, &format!("acct{i}"), 30_00 + i * 10_00).await);
        }
        for (i, did_id) in ids.iter().enumerate() {
            assert!(buy(&a, owners[i % owners.len()], *did_id).await, "purchase {i}");
        }
        for _ in 0..4 {
            clock.advance(31 * DAY);
            let runs = join_all([a.run_maintenance(), b.run_maintenance(), c.run_maintenance()]).await;
            for run in runs {
                run.expect("maintenance");
            }
            assert_books_balance(&a).await;
            assert_suspended_iff_unpaid(&a, clock.now_secs()).await;
        }
        for owner in owners {
            for did in dids::list_owned(a.store().pool(), owner).await.expect("numbers") {
                let charged = didhub::store::ledger::list_for_number(a.store().pool(), &did.number, 100)
                    .await
                    .expect("ledger")
                    .iter()
                    .filter(|e| e.kind == "monthly_charge")
                    .count() as i64;
                let expected = if did.monthly_minor == 0 { 0 } else { periods(&did) };
                assert_eq!(charged, expected, "{}: charges vs periods paid", did.number);
            }
        }
    }

    async fn a_credit_racing_renewals_never_leaves_a_paid_number_suspended_or_an_unpaid_one_active() {
        let db = TestDatabase::create(current_backend()).await;
        let clock = ManualClock::starting_at(T0);
        let a = instance(&db.url, &clock).await;
        let b = instance(&db.url, &clock).await;
        // Landlines at 2.00 a month: index 3 mod 5.
        let ids: Vec<i64> = numbers(&a, 100).await.into_iter().skip(3).step_by(5).collect();
        let mut owners = Vec::new();
        for (i, did_id) in ids.iter().enumerate() {
            let owner = account(&a, &format!("racer{i}"), 3_00).await;
            assert!(buy(&a, owner, *did_id).await);
            owners.push(owner);
        }
        for round in 0..3 {
            clock.advance(31 * DAY);
            let maintenance = a.run_maintenance();
            let credits = async {
                for (i, _) in owners.iter().enumerate() {
                    // Half the accounts get exactly one month, the others nothing.
                    if (i + round) % 2 == 0 {
                        b.post_to_balance(&format!("racer{i}"), "credit", 2_00, "race").await.expect("credit");
                    }
                }
            };
            let (report, ()) = tokio::join!(maintenance, credits);
            report.expect("maintenance");
            // Whatever the interleaving, one more run settles nothing new.
            a.run_maintenance().await.expect("maintenance");
            assert_books_balance(&a).await;
            assert_suspended_iff_unpaid(&a, clock.now_secs()).await;
        }
    }

    async fn a_credit_on_one_instance_resumes_routing_on_another_within_a_second() {
        let db = TestDatabase::create(current_backend()).await;
        let clock = ManualClock::starting_at(T0);
        let a = server(&db.url, &clock).await;
        let b = server(&db.url, &clock).await;
        let ids = numbers(&a.service, 4).await;
        let alice = account(&a.service, "alice", 3_00).await; // 1.00 + 2.00
        assert!(buy(&a.service, alice, ids[3]).await);
        let number = "+33123450003";
        clock.advance(31 * DAY);
        a.service.run_maintenance().await.expect("maintenance");
        let suspended = wait(|| b.service.route(number).is_some_and(|r| r.suspension.is_some())).await;
        assert!(suspended < Duration::from_secs(1), "suspension reached B after {suspended:?}");

        a.service.post_to_balance("alice", "credit", 2_00, "top-up").await.expect("credit");
        let resumed = wait(|| b.service.route(number).is_some_and(|r| r.suspension.is_none())).await;
        assert!(resumed < Duration::from_secs(1), "payment reached B after {resumed:?}");
        a.shutdown().await;
        b.shutdown().await;
    }

    async fn a_year_of_random_traffic_ends_with_books_that_reconcile_to_the_cent() {
        let started = Instant::now();
        let db = TestDatabase::create(current_backend()).await;
        let clock = ManualClock::starting_at(T0);
        let a = instance(&db.url, &clock).await;
        let b = instance(&db.url, &clock).await;
        let summary = simulate_a_year(&a, &b, &clock).await;
        assert_books_balance(&a).await;
        assert_suspended_iff_unpaid(&a, clock.now_secs()).await;
        let balances: i64 = a.list_accounts().await.expect("accounts").iter().map(|x| x.balance_minor).sum();
        assert_eq!(balances, summary.credited - summary.charged, "sum of balances = credits - charges");
        println!(
            "{:?}: {summary:?}, balances {}.{:02}, {:.1} s",
            current_backend(),
            balances / 100,
            balances % 100,
            started.elapsed().as_secs_f64()
        );
    }
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}

impl NowSecs for ManualClock {
    fn now_secs(&self) -> i64 {
        didhub::clock::Clock::now(self)
    }
}

/// Polls `check` every 10 ms for up to 5 s; returns how long it took to hold.
async fn wait(check: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !check() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// A small deterministic generator: the simulation is the same every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Debug, Default)]
#[allow(dead_code)] // read through Debug
struct Summary {
    purchases: u64,
    credits: u64,
    credited: i64,
    charged: i64,
    releases: u64,
    restores: u64,
    renewed: u64,
    reclaimed: u64,
    owned_at_end: usize,
    suspended_at_end: usize,
}

const ACCOUNTS: usize = 50;
const NUMBERS: usize = 1000;

/// Twelve months in half-month steps: credits, purchases, releases and
/// restores at random, maintenance on both instances at once.
async fn simulate_a_year(a: &Service, b: &Service, clock: &ManualClock) -> Summary {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut summary = Summary::default();
    let ids = numbers(a, NUMBERS).await;
    let mut owners = Vec::new();
    for i in 0..ACCOUNTS {
        let opening = 20_00 + rng.below(60_00) as i64;
        owners.push(account(a, &format!("sim{i:02}"), opening).await);
        summary.credited += opening;
    }
    let mut released: Vec<(i64, i64)> = Vec::new();
    for (i, did_id) in ids.iter().enumerate() {
        let owner = owners[i % ACCOUNTS];
        if buy(if i % 2 == 0 { a } else { b }, owner, *did_id).await {
            summary.purchases += 1;
        }
    }
    for step in 0..24 {
        for _ in 0..10 {
            let i = rng.below(ACCOUNTS as u64) as usize;
            let amount = 1 + rng.below(15_00) as i64;
            let via = if step % 2 == 0 { a } else { b };
            via.post_to_balance(&format!("sim{i:02}"), "credit", amount, "random credit")
                .await
                .expect("credit");
            summary.credits += 1;
            summary.credited += amount;
        }
        for _ in 0..5 {
            let owner = owners[rng.below(ACCOUNTS as u64) as usize];
            let owned = a.list_numbers(owner).await.expect("numbers");
            if let Some(did) = owned.first() {
                a.release(owner, did.id).await.expect("release");
                released.push((owner, did.id));
                summary.releases += 1;
            }
        }
        clock.advance(2 * DAY);
        for (owner, did_id) in std::mem::take(&mut released) {
            if rng.below(2) == 0 && b.restore(owner, did_id).await.is_ok() {
                summary.restores += 1;
            }
        }
        clock.advance(13 * DAY + rng.below(3) as i64 * DAY);
        let (x, y) = tokio::join!(a.run_maintenance(), b.run_maintenance());
        for report in [x, y] {
            let report = report.expect("maintenance");
            summary.renewed += report.renewals.renewed;
            summary.reclaimed += report.renewals.reclaimed;
        }
    }
    for owner in &owners {
        let owned = dids::list_owned(a.store().pool(), *owner)
            .await
            .expect("numbers");
        summary.owned_at_end += owned.len();
        summary.suspended_at_end += owned.iter().filter(|d| d.suspended_at.is_some()).count();
        for entry in a.ledger(*owner, None, 1000).await.expect("ledger") {
            if entry.kind != "credit" {
                summary.charged -= entry.amount_minor;
            }
        }
    }
    summary
}
