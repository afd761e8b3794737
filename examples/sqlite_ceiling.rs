//! The raw ceiling of SQLite for didhub's purchase: the same transaction
//! (conditional number claim + conditional balance debit + ledger insert) in WAL
//! mode with synchronous=FULL, straight through sqlx's SQLite driver, one
//! writer, no HTTP. Uses the upper half of the inventory ids so that it does not
//! collide with a didhub run on the lower half.
//!
//! Then the search ceiling: the token check and the page query of
//! /api/did/available, from two connections at once (one per core).
//!
//! cargo run --release --example sqlite_ceiling -- --database bench.db --numbers 100000 --seconds 10

use clap::Parser;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database: String,
    #[arg(long)]
    numbers: i64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut conn = SqliteConnectOptions::new()
        .filename(&args.database)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await?;
    let accounts: i64 = sqlx::query("SELECT COUNT(*) AS n FROM accounts")
        .fetch_one(&mut conn)
        .await?
        .try_get("n")?;
    let mut did = args.numbers / 2 + 1;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) && did <= args.numbers {
        let t = Instant::now();
        let account = did % accounts + 1;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "UPDATE dids SET status = 'assigned', account_id = $1, assigned_at = 1, paid_through = 2, updated_at = 1 \
             WHERE id = $2 AND status = 'available'",
        )
        .bind(account)
        .bind(did)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE accounts SET balance_minor = balance_minor - 300 WHERE id = $1 AND balance_minor >= 300")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ledger_entries (account_id, kind, amount_minor, balance_after_minor, did_id, did_number, description, created_at) \
             VALUES ($1, 'setup_fee', -300, 0, $2, '+33100000000', 'ceiling', 1)",
        )
        .bind(account)
        .bind(did)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        latencies.push(t.elapsed());
        did += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "sqlite purchase ceiling: {:.0} tx/s, p99 {:.2} ms ({} transactions)",
        latencies.len() as f64 / elapsed,
        p99.as_secs_f64() * 1000.0,
        latencies.len()
    );
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let database = args.database.clone();
            let seconds = args.seconds;
            tokio::spawn(async move { search_loop(&database, seconds).await })
        })
        .collect();
    let mut searches = 0u64;
    for reader in readers {
        searches += reader.await??;
    }
    println!(
        "sqlite search ceiling: {:.0} q/s",
        searches as f64 / args.seconds as f64
    );
    Ok(())
}

async fn search_loop(database: &str, seconds: u64) -> anyhow::Result<u64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(database)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        sqlx::query("SELECT account_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2")
            .bind("x")
            .bind(0i64)
            .fetch_optional(&mut conn)
            .await?;
        sqlx::query(
            "SELECT id, number, country, did_type, region, currency, setup_minor, monthly_minor, status, account_id, \
             assigned_at, paid_through, aging_until, forward_type, forward_destination, updated_at \
             FROM dids WHERE country = $1 AND status = 'available' AND did_type = $2 ORDER BY number LIMIT $3",
        )
        .bind("FR")
        .bind("landline")
        .bind(20i64)
        .fetch_all(&mut conn)
        .await?;
        done += 1;
    }
    Ok(done)
}
