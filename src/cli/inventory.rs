//! `didhub inventory …`

use super::bounded;
use crate::config::ReadLimitArgs;
use crate::domain::catalogue::{Catalogue, DEFAULT_CATALOGUE};
use crate::service::inventory_columns;
use crate::service::{CsvMode, Service};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Import numbers from a CSV file (header: number,country,type,setup_fee,monthly_cost[,currency][,region]).
    Import {
        file: PathBuf,
        #[command(flatten)]
        limits: ReadLimitArgs,
        /// Read the file as generic CSV, where a quoted field may span lines (and so
        /// one unbalanced quote swallows the rows after it). By default each line
        /// is one row and a malformed line is rejected on its own.
        #[arg(long)]
        lenient_csv: bool,
    },
    /// Generate the demo inventory from the country catalogue.
    Generate {
        /// Numbers per country and type.
        #[arg(long, default_value_t = crate::app::DEMO_NUMBERS_PER_TYPE)]
        per_type: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Country catalogue CSV (default: the built-in data/countries.csv).
        #[arg(long)]
        catalogue: Option<PathBuf>,
        #[command(flatten)]
        limits: ReadLimitArgs,
    },
    /// Count the numbers in inventory.
    Count,
}

pub async fn run(service: Service, command: InventoryCommand) -> anyhow::Result<ExitCode> {
    match command {
        InventoryCommand::Import {
            file,
            limits,
            lenient_csv,
        } => {
            let text = bounded::read_text(&file, limits)?;
            let mode = if lenient_csv {
                CsvMode::Lenient
            } else {
                CsvMode::Strict
            };
            let report = service.import_inventory_as(None, &text, mode).await?;
            for problem in &report.problems {
                eprintln!("{}:{}: {}", file.display(), problem.line, problem.message);
            }
            println!(
                "inserted {}, updated {}, unchanged {}, in use (left as is) {}, rejected {}",
                report.inserted,
                report.updated,
                report.unchanged,
                report.in_use,
                report.problems.len()
            );
            if !report.problems.is_empty() {
                eprintln!("expected columns: {}", inventory_columns());
                return Ok(ExitCode::from(2));
            }
        }
        InventoryCommand::Generate {
            per_type,
            seed,
            catalogue,
            limits,
        } => {
            let text = match &catalogue {
                Some(path) => bounded::read_text(path, limits)?,
                None => DEFAULT_CATALOGUE.to_owned(),
            };
            let catalogue = Catalogue::parse(&text)?;
            let report = service
                .generate_inventory(&catalogue, per_type, seed)
                .await?;
            println!(
                "{} countries: {} numbers added, {} already present",
                report.countries, report.inserted, report.unchanged
            );
        }
        InventoryCommand::Count => {
            println!("{}", service.inventory_size().await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
