//! `didhub inventory …`

use super::bounded;
use super::operator::Output;
use crate::config::ReadLimitArgs;
use crate::domain::catalogue::{Catalogue, DEFAULT_CATALOGUE};
use crate::domain::{CountryCode, Currency, DidType};
use crate::http::admin::inventory::{NumberPage, Repriced, UploadReport};
use crate::http::admin::withdraw::WithdrawReport;
use crate::service::inventory_columns;
use crate::service::{CsvMode, Service};
use crate::service::{Repricing, Withdrawal};
use crate::store::dids::NumberFilter;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
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
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
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
    /// One page of numbers by status, country, type and owner, in number order.
    List(ListArgs),
    /// Set the prices of available numbers (the NUMBERS, or every one of
    /// --country/--type); sold and aging numbers keep their terms.
    Reprice(RepriceArgs),
    /// Numbers per country, type and status.
    Counts {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Take available numbers off sale (sold and aging ones are left as they
    /// are): the NUMBERS and --id given, narrowed by --country/--type, or
    /// with only --country/--type every available number that matches.
    Withdraw(WithdrawArgs),
}

#[derive(Debug, clap::Args)]
pub struct RepriceArgs {
    /// E.164 numbers (at most 1000).
    pub numbers: Vec<String>,
    #[arg(long)]
    pub country: Option<String>,
    #[arg(long = "type")]
    pub did_type: Option<String>,
    /// Only numbers priced in this currency change.
    #[arg(long)]
    pub currency: String,
    #[arg(long)]
    pub setup_fee: String,
    #[arg(long)]
    pub monthly_cost: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl RepriceArgs {
    /// The admin API's request body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "numbers": self.numbers, "currency": self.currency,
            "setup_fee": self.setup_fee, "monthly_cost": self.monthly_cost,
        });
        if let Some(country) = &self.country {
            body["country"] = country.as_str().into();
        }
        if let Some(did_type) = &self.did_type {
            body["type"] = did_type.as_str().into();
        }
        body
    }

    fn repricing(&self) -> anyhow::Result<Repricing> {
        if self.country.is_none() && self.did_type.is_none() && self.numbers.is_empty() {
            anyhow::bail!("name a country, a type or the numbers to reprice");
        }
        if self.numbers.len() > 1000 {
            anyhow::bail!("at most 1000 numbers per request");
        }
        let filter = WithdrawArgs {
            numbers: Vec::new(),
            ids: Vec::new(),
            country: self.country.clone(),
            did_type: self.did_type.clone(),
            output: self.output,
        }
        .withdrawal()?
        .filter;
        let currency = Currency::parse(&self.currency)
            .with_context(|| format!("unknown currency {}", self.currency))?;
        Ok(Repricing {
            filter,
            numbers: self.numbers.clone(),
            currency,
            setup_minor: currency.parse_minor(&self.setup_fee)?,
            monthly_minor: currency.parse_minor(&self.monthly_cost)?,
        })
    }
}

/// Prints the admin API's reprice answer.
pub fn print_repriced(answer: &serde_json::Value, output: Output) -> ExitCode {
    match output {
        Output::Json => println!("{answer}"),
        Output::Table => println!(
            "repriced {} available numbers",
            answer["changed"].as_u64().unwrap_or(0)
        ),
    }
    ExitCode::SUCCESS
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// available, assigned, aging or withdrawn.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub country: Option<String>,
    #[arg(long = "type")]
    pub did_type: Option<String>,
    /// Owner account id.
    #[arg(long)]
    pub account: Option<i64>,
    /// 1 to 500.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=500))]
    pub limit: i64,
    /// The last number of the previous page (its `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl ListArgs {
    /// The admin API's query string.
    pub fn query(&self) -> anyhow::Result<String> {
        let mut params = vec![("limit", self.limit.to_string())];
        let optional = [
            ("status", self.status.clone()),
            ("country", self.country.clone()),
            ("type", self.did_type.clone()),
            ("account", self.account.map(|a| a.to_string())),
            ("cursor", self.cursor.clone()),
        ];
        params.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        Ok(serde_urlencoded::to_string(&params)?)
    }

    /// The same filter, checked as the server checks it.
    fn filter(&self) -> anyhow::Result<NumberFilter> {
        if let Some(status) = self.status.as_deref()
            && !["available", "assigned", "aging", "withdrawn"].contains(&status)
        {
            anyhow::bail!("status must be available, assigned, aging or withdrawn");
        }
        let withdrawal = WithdrawArgs {
            numbers: Vec::new(),
            ids: Vec::new(),
            country: self.country.clone(),
            did_type: self.did_type.clone(),
            output: self.output,
        }
        .withdrawal()?;
        Ok(NumberFilter {
            status: self.status.clone(),
            account_id: self.account,
            ..withdrawal.filter
        })
    }
}

/// Prints a page of the inventory list (the admin API's JSON on both paths).
pub fn print_numbers(page: &serde_json::Value, output: Output) -> ExitCode {
    if output == Output::Json {
        println!("{page}");
        return ExitCode::SUCCESS;
    }
    let text = |v: &serde_json::Value, f: &str| v[f].as_str().unwrap_or("-").to_owned();
    println!(
        "{:<18} {:<7} {:<13} {:<10} {:>10} {:>10} cur",
        "number", "country", "type", "status", "setup", "monthly"
    );
    for n in page["numbers"].as_array().into_iter().flatten() {
        println!(
            "{:<18} {:<7} {:<13} {:<10} {:>10} {:>10} {}",
            text(n, "did_number"),
            text(n, "country"),
            text(n, "type"),
            text(n, "status"),
            text(n, "setup_fee"),
            text(n, "monthly_cost"),
            text(n, "currency")
        );
    }
    if let Some(next) = page["next_cursor"].as_str() {
        println!("next page: --cursor {next}");
    }
    ExitCode::SUCCESS
}

#[derive(Debug, clap::Args)]
pub struct WithdrawArgs {
    /// E.164 numbers.
    pub numbers: Vec<String>,
    /// Inventory ids (repeat the flag).
    #[arg(long = "id")]
    pub ids: Vec<i64>,
    /// ISO 3166-1 alpha-2 country.
    #[arg(long)]
    pub country: Option<String>,
    /// landline, mobile_voice, mobile_sms or voice_sms.
    #[arg(long = "type")]
    pub did_type: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl WithdrawArgs {
    /// The admin API's request body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "ids": self.ids, "numbers": self.numbers });
        if let Some(country) = &self.country {
            body["country"] = country.as_str().into();
        }
        if let Some(did_type) = &self.did_type {
            body["type"] = did_type.as_str().into();
        }
        body
    }

    fn withdrawal(&self) -> anyhow::Result<Withdrawal> {
        let country = self
            .country
            .as_deref()
            .map(|c| CountryCode::parse(c).with_context(|| format!("unknown country {c}")))
            .transpose()?;
        let did_type = self
            .did_type
            .as_deref()
            .map(|t| DidType::parse(t).with_context(|| format!("unknown type {t}")))
            .transpose()?;
        Ok(Withdrawal {
            filter: NumberFilter {
                country: country.map(|c| c.as_str().to_owned()),
                did_type: did_type.map(|t| t.code().to_owned()),
                ..NumberFilter::default()
            },
            ids: self.ids.clone(),
            numbers: self.numbers.clone(),
        })
    }
}

/// Prints the admin API's upload report (the database path builds the same
/// JSON): rejected lines on standard error as `FILE:LINE: reason`; exits 2
/// when any line was rejected.
pub fn print_import(file: &Path, report: &serde_json::Value, output: Output) -> ExitCode {
    let count = |field: &str| report[field].as_u64().unwrap_or(0);
    let rejected = count("rejected_count");
    if output == Output::Json {
        println!("{report}");
    } else {
        let listed = report["rejected"].as_array().cloned().unwrap_or_default();
        for line in &listed {
            eprintln!(
                "{}:{}: {}",
                file.display(),
                line["line"].as_u64().unwrap_or(0),
                line["reason"].as_str().unwrap_or("")
            );
        }
        if rejected > listed.len() as u64 {
            eprintln!(
                "... and {} more rejected lines",
                rejected - listed.len() as u64
            );
        }
        println!(
            "inserted {}, updated {}, unchanged {}, in use (left as is) {}, rejected {rejected}",
            count("inserted"),
            count("updated"),
            count("unchanged"),
            count("in_use"),
        );
        if rejected > 0 {
            eprintln!("expected columns: {}", inventory_columns());
        }
    }
    if rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the admin API's withdraw report (the database path builds the same
/// JSON); exits 2 when a listed number was left as it was.
pub fn print_withdrawn(report: &serde_json::Value, output: Output) -> ExitCode {
    let skipped = report["skipped"].as_array().cloned().unwrap_or_default();
    if output == Output::Json {
        println!("{report}");
    } else {
        println!("{:<20} result", "number");
        for number in report["numbers"].as_array().into_iter().flatten() {
            println!("{:<20} withdrawn", number.as_str().unwrap_or(""));
        }
        for skip in &skipped {
            let name = match (skip["number"].as_str(), skip["id"].as_i64()) {
                (Some(number), _) => number.to_owned(),
                (None, id) => format!("id {}", id.unwrap_or(0)),
            };
            let reason = skip["reason"].as_str().unwrap_or("");
            println!("{name:<20} skipped ({reason})");
        }
        println!(
            "withdrawn {}, skipped {}",
            report["withdrawn"].as_u64().unwrap_or(0),
            skipped.len()
        );
    }
    if skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

pub async fn run(service: Service, command: InventoryCommand) -> anyhow::Result<ExitCode> {
    match command {
        InventoryCommand::Import {
            file,
            limits,
            lenient_csv,
            output,
        } => {
            let text = bounded::read_text(&file, limits)?;
            let mode = if lenient_csv {
                CsvMode::Lenient
            } else {
                CsvMode::Strict
            };
            let report = service
                .import_inventory_as(Some(&super::cli_operator()), &text, mode)
                .await?;
            let report = serde_json::to_value(UploadReport::from(report))?;
            return Ok(print_import(&file, &report, output));
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
        InventoryCommand::List(args) => {
            let after = args.cursor.clone().unwrap_or_default();
            let numbers = service
                .number_page(&args.filter()?, &after, args.limit)
                .await?;
            let page = serde_json::to_value(NumberPage::new(&numbers, args.limit))?;
            return Ok(print_numbers(&page, args.output));
        }
        InventoryCommand::Reprice(args) => {
            let changed = service
                .reprice_as(&super::cli_operator(), &args.repricing()?)
                .await?;
            let answer = serde_json::to_value(Repriced { changed })?;
            return Ok(print_repriced(&answer, args.output));
        }
        InventoryCommand::Counts { output } => {
            return super::admin::inventory_counts(
                super::admin::Source::Database(&service),
                output,
            )
            .await;
        }
        InventoryCommand::Withdraw(args) => {
            let done = service
                .withdraw_as(Some(&super::cli_operator()), &args.withdrawal()?)
                .await?;
            let report = serde_json::to_value(WithdrawReport::from(done))?;
            return Ok(print_withdrawn(&report, args.output));
        }
    }
    Ok(ExitCode::SUCCESS)
}
