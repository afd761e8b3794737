//! `didhub inventory …`

use crate::domain::catalogue::{Catalogue, DEFAULT_CATALOGUE};
use crate::service::Service;
use crate::service::inventory_columns;
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Import numbers from a CSV file (header: number,country,type,setup_fee,monthly_cost[,currency][,region]).
    Import { file: PathBuf },
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
    },
    /// Count the numbers in inventory.
    Count,
}

pub async fn run(service: Service, command: InventoryCommand) -> anyhow::Result<ExitCode> {
    match command {
        InventoryCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let report = service.import_inventory(&text).await?;
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
        } => {
            let text = match &catalogue {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
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
