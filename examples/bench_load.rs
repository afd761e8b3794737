//! Loads a benchmark inventory: `--numbers` French landlines (+331…, all valid
//! per libphonenumber), `--accounts` rich accounts, and one login token per
//! account written to `--tokens`. Bulk inserts, so a million numbers take
//! seconds, not minutes.
//!
//! With `--assign-and-forward` (the SIP benchmark, bench/sip/run.sh) every
//! number is then owned by one of the accounts (blocks of 1000 numbers, round
//! robin) and forwarded to `sip:<its digits>@pbx.bench.test`, written straight
//! into the table in batches (no charges, no ledger entries: a server started
//! afterwards loads them into its route table); `--routes FILE` lists them as
//! `number;contact` lines.
//!
//! cargo run --release --example bench_load -- --database URL --numbers 100000 --accounts 32 --tokens tokens.txt
//! cargo run --release --example bench_load -- --database URL --numbers 100000 --accounts 8 \
//!     --tokens tokens.txt --assign-and-forward --routes routes.csv

use clap::Parser;
use didhub::clock::SystemClock;
use didhub::domain::{CountryCode, E164, ForwardPolicy, ForwardTarget, ForwardType};
use didhub::service::{self, Service};
use didhub::store::PoolSettings;
use sqlx::AssertSqlSafe;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database: String,
    #[arg(long, default_value_t = 100_000)]
    numbers: u64,
    #[arg(long, default_value_t = 32)]
    accounts: u32,
    #[arg(long, default_value = "tokens.txt")]
    tokens: std::path::PathBuf,
    /// Assign every number to the accounts and forward it to
    /// sip:<digits>@pbx.bench.test.
    #[arg(long)]
    assign_and_forward: bool,
    /// Write the routed numbers here, one `number;contact` a line (needs
    /// --assign-and-forward).
    #[arg(long, requires = "assign_and_forward")]
    routes: Option<std::path::PathBuf>,
    /// Destinations per number (1 to 5): more than one makes every 302 a
    /// failover list, `sip:<digits>@pbx.bench.test` first, then
    /// `sip:<digits>@pbx2.bench.test`, … (needs --assign-and-forward).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5),
          requires = "assign_and_forward")]
    destinations: u8,
}

/// SQL for the `forwards` column of a number with `n` destinations (portable
/// `||` concatenation, the same JSON `did/forward` stores); NULL for one.
fn forwards_sql(n: u8) -> String {
    if n <= 1 {
        return "NULL".to_owned();
    }
    let items: Vec<String> = (1..=n)
        .map(|i| {
            let host = if i == 1 { "pbx".to_owned() } else { format!("pbx{i}") };
            format!(
                "'{{\"type\":\"sip\",\"destination\":\"sip:' || substr(number, 2) || '@{host}.bench.test\"}}'"
            )
        })
        .collect();
    format!("'[' || {} || ']'", items.join(" || ',' || "))
}

const BATCH: u64 = 1000;
const PASSWORD: &str = "bench-password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let store = didhub::app::open_store(&args.database, &PoolSettings::default()).await?;
    let service = Service::new(
        store.clone(),
        Arc::new(SystemClock),
        service::Settings::default(),
    );
    // French fixed lines are 1 followed by 8 digits: +33 1 00 00 00 00 onwards.
    let number = |i: u64| format!("+331{:08}", i);
    for probe in [0, args.numbers / 2, args.numbers - 1] {
        E164::parse(&number(probe), None).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut inserted = 0;
    for start in (0..args.numbers).step_by(BATCH as usize) {
        let end = (start + BATCH).min(args.numbers);
        // Values are generated here, not user input; still bound, not spliced.
        let mut sql = String::from(
            "INSERT INTO dids (number, country, did_type, currency, setup_minor, monthly_minor, status, updated_at) VALUES ",
        );
        for (k, _) in (start..end).enumerate() {
            if k > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, 'FR', 'landline', 'USD', 100, 200, 'available', 0)",
                k + 1
            ));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for i in start..end {
            query = query.bind(number(i));
        }
        let mut tx = store.begin_write().await?;
        inserted += query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
    }
    let mut tokens = String::new();
    let mut account_ids = Vec::new();
    for a in 0..args.accounts {
        let username = format!("bench{a:03}");
        let account = service
            .create_account(&username, PASSWORD, None, 10_000_000_000)
            .await?;
        account_ids.push(account.id);
        // Logged in from loopback, as the benchmark's clients connect.
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        tokens.push_str(&service.login(&username, PASSWORD, loopback).await?.token);
        tokens.push('\n');
    }
    std::fs::write(&args.tokens, tokens)?;
    let mut routed = 0;
    if args.assign_and_forward {
        anyhow::ensure!(
            !account_ids.is_empty(),
            "--assign-and-forward needs --accounts 1 or more"
        );
        let now = chrono::Utc::now().timestamp();
        let paid_through = now + 31 * 86_400;
        for (batch, start) in (0..args.numbers).step_by(BATCH as usize).enumerate() {
            let end = (start + BATCH).min(args.numbers);
            let account_id = account_ids[batch % account_ids.len()];
            let mut tx = store.begin_write().await?;
            routed += sqlx::query(AssertSqlSafe(format!(
                "UPDATE dids SET status = 'assigned', account_id = $1, assigned_at = $2, paid_through = $3, \
                 forward_type = 'sip', forward_destination = 'sip:' || substr(number, 2) || '@pbx.bench.test', \
                 forwards = {}, updated_at = $2 WHERE number >= $4 AND number <= $5 AND status = 'available'",
                forwards_sql(args.destinations)
            )))
            .bind(account_id)
            .bind(now)
            .bind(paid_through)
            .bind(number(start))
            .bind(number(end - 1))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
        }
        // What the SQL wrote must be what did/forward would have stored.
        let fr = CountryCode::parse("FR").ok_or_else(|| anyhow::anyhow!("no FR"))?;
        for probe in [0, args.numbers - 1] {
            let (stored,): (String,) =
                sqlx::query_as("SELECT forward_destination FROM dids WHERE number = $1")
                    .bind(number(probe))
                    .fetch_one(store.pool())
                    .await?;
            let target =
                ForwardTarget::parse(ForwardType::Sip, &stored, &fr, ForwardPolicy::default())
                    .map_err(|e| anyhow::anyhow!("{stored}: {e}"))?;
            anyhow::ensure!(
                target.destination() == stored,
                "{stored} would be stored as {}",
                target.destination()
            );
            let (forwards,): (Option<String>,) =
                sqlx::query_as("SELECT forwards FROM dids WHERE number = $1")
                    .bind(number(probe))
                    .fetch_one(store.pool())
                    .await?;
            let list =
                didhub::domain::failover::decode(forwards.as_deref(), Some("sip"), Some(&stored));
            anyhow::ensure!(
                list.len() == usize::from(args.destinations)
                    && list.iter().all(|d| d.target().is_some()),
                "forwards {forwards:?} do not read as {} destinations",
                args.destinations
            );
        }
        if let Some(path) = &args.routes {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT number, forward_destination FROM dids \
                 WHERE status = 'assigned' AND forward_type = 'sip' ORDER BY number",
            )
            .fetch_all(store.pool())
            .await?;
            let mut out = String::with_capacity(rows.len() * 48);
            for (number, contact) in rows {
                out.push_str(&number);
                out.push(';');
                out.push_str(&contact);
                out.push('\n');
            }
            std::fs::write(path, out)?;
        }
    }
    if store.backend() == didhub::store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    println!(
        "loaded {inserted} numbers ({routed} assigned and forwarded) and {} accounts in {:.1}s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
