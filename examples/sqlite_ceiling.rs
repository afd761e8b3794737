//! The raw ceiling of SQLite for didhub's purchase: the same transaction
//! (conditional number claim + conditional balance debit + ledger insert) in WAL
//! mode with synchronous=FULL, straight through sqlx's SQLite driver, one
//! writer, no HTTP. Uses the upper half of the inventory ids so that it does not
//! collide with a didhub run on the lower half.
//!
//! cargo run --release --example sqlite_ceiling -- --database bench.db --numbers 100000 --seconds 10

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    Ok(())
}
