//! Loads a benchmark inventory: `--numbers` French landlines (+331…, all valid
//! per libphonenumber), `--accounts` rich accounts, and one login token per
//! account written to `--tokens`. Bulk inserts, so a million numbers take
//! seconds, not minutes.
//!
//! cargo run --release --example bench_load -- --database URL --numbers 100000 --accounts 32 --tokens tokens.txt

use clap::Parser;
use didhub::clock::SystemClock;
use didhub::domain::E164;
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
    for a in 0..args.accounts {
        let username = format!("bench{a:03}");
        service
            .create_account(&username, PASSWORD, None, 10_000_000_000)
            .await?;
        tokens.push_str(&service.login(&username, PASSWORD).await?.token);
        tokens.push('\n');
    }
    std::fs::write(&args.tokens, tokens)?;
    if store.backend() == didhub::store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    println!(
        "loaded {inserted} numbers and {} accounts in {:.1}s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
