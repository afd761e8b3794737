//! Operator inventory: CSV import and the generated demo inventory.

use super::admin::record;
use super::import_stream::Line;
use super::{Error, Operator, Result, Service};
use crate::domain::catalogue::Catalogue;
use crate::domain::number_gen::{classify, generate_numbers};
use crate::domain::{CountryCode, Currency, DidType, E164};
use crate::store::dids::{self, InventoryItem, UpsertOutcome};
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// 1-based line in the file, counting the header.
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows naming a number that is sold or aging with other terms: left as they are.
    pub in_use: u64,
    /// Every rejected line...
    pub rejected: u64,
    /// ...of which the first 1000 are named here, by line.
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    pub countries: u64,
    pub inserted: u64,
    pub unchanged: u64,
}

/// The columns `inventory import` reads; `currency` and `region` may be absent.
pub const IMPORT_COLUMNS: &str = "number,country,type,setup_fee,monthly_cost[,currency][,region]";

pub(super) struct ParsedRow {
    pub(super) number: String,
    country: String,
    did_type: DidType,
    currency: Currency,
    setup_minor: i64,
    monthly_minor: i64,
    region: Option<String>,
}

pub(super) fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    default_currency: Currency,
) -> Result<ParsedRow, String> {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
    let country = CountryCode::parse(field(Some(columns.country)))
        .ok_or_else(|| format!("unknown country {:?}", field(Some(columns.country))))?;
    let (number, parsed) = E164::parse_detailed(field(Some(columns.number)), Some(&country))
        .map_err(|e| e.to_string())?;
    // phonenumber's own region lookup drops leading zeros (Italian landlines);
    // `classify` keeps them.
    let national = parsed.national().to_string();
    let number_country = classify(parsed.code().value(), &national).map(|(meta, _)| meta.id());
    if number_country != Some(country.as_str()) {
        return Err(format!("{number} is not a {country} number"));
    }
    let did_type = DidType::parse(field(Some(columns.did_type)))
        .ok_or_else(|| format!("unknown type {:?}", field(Some(columns.did_type))))?;
    let currency = match field(columns.currency) {
        "" => default_currency,
        code => Currency::parse(code).ok_or_else(|| format!("unknown currency {code:?}"))?,
    };
    let price = |name: &str, text: &str| -> Result<i64, String> {
        let minor = currency
            .parse_minor(text)
            .map_err(|e| format!("{name}: {e}"))?;
        if minor < 0 {
            return Err(format!("{name} cannot be negative"));
        }
        Ok(minor)
    };
    let setup_minor = price("setup_fee", field(Some(columns.setup)))?;
    let monthly_minor = price("monthly_cost", field(Some(columns.monthly)))?;
    let region = Some(field(columns.region))
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if region
        .as_ref()
        .is_some_and(|r| r.len() > 64 || r.chars().any(char::is_control))
    {
        return Err("region must be at most 64 printable characters".into());
    }
    Ok(ParsedRow {
        number: number.into_string(),
        country: country.as_str().to_owned(),
        did_type,
        currency,
        setup_minor,
        monthly_minor,
        region,
    })
}

pub(super) struct Columns {
    number: usize,
    country: usize,
    did_type: usize,
    setup: usize,
    monthly: usize,
    currency: Option<usize>,
    region: Option<usize>,
}

impl Columns {
    pub(super) fn from_header(header: &csv::StringRecord) -> Result<Columns> {
        let find = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
        };
        let need = |names: &[&str]| {
            find(names).ok_or_else(|| {
                Error::bad_request(
                    "invalid_csv",
                    format!(
                        "header must name the columns {IMPORT_COLUMNS}; missing {}",
                        names[0]
                    ),
                )
            })
        };
        Ok(Columns {
            number: need(&["number", "did_number"])?,
            country: need(&["country"])?,
            did_type: need(&["type", "did_type"])?,
            setup: need(&["setup_fee", "setup"])?,
            monthly: need(&["monthly_cost", "monthly"])?,
            currency: find(&["currency"]),
            region: find(&["region"]),
        })
    }
}

const IMPORT_BATCH: usize = 1000;

/// How an inventory file is read as CSV.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CsvMode {
    /// One row per line: a line that is not a well-formed row (an unbalanced
    /// quote, a control character) is rejected on its own, by line number,
    /// and the lines after it are still read. Inventory fields never hold
    /// line breaks, so nothing legitimate is lost.
    #[default]
    Strict,
    /// Generic CSV, where a quoted field may span lines.
    Lenient,
}

/// The rows read so far: valid ones to store, and the problems by line.
#[derive(Default)]
struct Rows {
    valid: Vec<ParsedRow>,
    seen: HashSet<String>,
    problems: Vec<RowProblem>,
}

impl Rows {
    fn take(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
        columns: &Columns,
        currency: Currency,
    ) {
        match parse_row(record, columns, currency) {
            Ok(row) if !self.seen.insert(row.number.clone()) => self.problems.push(RowProblem {
                line,
                message: format!("{} appears earlier in the file", row.number),
            }),
            Ok(row) => self.valid.push(row),
            Err(message) => self.problems.push(RowProblem { line, message }),
        }
    }
}

/// Where a line leaves the csv crate's reader. Hand-written because the crate
/// has no "one record per line" mode and would carry an open quote into the
/// next lines; these are its rules (RFC 4180 with its leniencies): a quote
/// opens a quoted field only at the start of a field, `""` inside one is a
/// quote, and after the closing quote the field goes on unquoted.
#[derive(Clone, Copy)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Whether `line` ends outside a quoted field, i.e. is one whole record.
fn quotes_balanced(line: &str) -> bool {
    use QuoteState::*;
    let end = line
        .bytes()
        .fold(FieldStart, |state, byte| match (state, byte) {
            (FieldStart, b'"') | (QuoteInQuoted, b'"') => Quoted,
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (FieldStart | Unquoted | QuoteInQuoted, b',') => FieldStart,
            (FieldStart | Unquoted | QuoteInQuoted, _) => Unquoted,
        });
    !matches!(end, Quoted)
}

/// Why a line cannot be read as a record on its own, if it cannot.
pub(super) fn line_problem(line: &str) -> Option<String> {
    if let Some(c) = crate::domain::text::refused_char(line) {
        return Some(format!("control character {c:?} in the line"));
    }
    (!quotes_balanced(line))
        .then(|| "unbalanced quote: this line is skipped, the next ones are read".to_owned())
}

fn read_lenient(text: &str, currency: Currency) -> Result<Rows> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| Error::bad_request("invalid_csv", e.to_string()))?
        .clone();
    let columns = Columns::from_header(&header)?;
    let mut rows = Rows::default();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                rows.take(&record, line, &columns, currency);
            }
            Err(e) => rows.problems.push(RowProblem {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            }),
        }
    }
    Ok(rows)
}

impl Service {
    /// Imports every valid row, reports the others by line (strict CSV).
    pub async fn import_inventory(&self, csv_text: &str) -> Result<ImportReport> {
        self.import_inventory_as(None, csv_text, CsvMode::Strict)
            .await
    }

    /// Imports every valid row, reports the others by line. Re-importing the
    /// same file changes nothing. Each batch's transaction also records an
    /// audit row when an operator acts.
    pub async fn import_inventory_as(
        &self,
        actor: Option<&Operator>,
        csv_text: &str,
        mode: CsvMode,
    ) -> Result<ImportReport> {
        if mode == CsvMode::Strict {
            let mut import = self.inventory_import(actor);
            let mut lines = csv_text.split('\n').peekable();
            while let Some(line) = lines.next() {
                // A final line break ends the last line; it does not start another.
                if line.is_empty() && lines.peek().is_none() {
                    break;
                }
                let line = line.strip_suffix('\r').unwrap_or(line);
                import.line(Line::Bytes(line.as_bytes())).await?;
            }
            return import.finish().await;
        }
        let Rows {
            valid, problems, ..
        } = read_lenient(csv_text, self.settings().default_currency)?;
        let mut report = ImportReport {
            rejected: problems.len() as u64,
            problems,
            ..ImportReport::default()
        };
        let now = self.now();
        for batch in valid.chunks(IMPORT_BATCH) {
            self.write_inventory_batch(actor, batch, &mut report, now)
                .await?;
        }
        if report.inserted + report.updated > 0 {
            self.inventory_changed().await?;
        }
        Ok(report)
    }

    /// Upserts one batch of valid rows in one transaction, with its audit row.
    pub(super) async fn write_inventory_batch(
        &self,
        actor: Option<&Operator>,
        batch: &[ParsedRow],
        report: &mut ImportReport,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        let (inserted_before, updated_before) = (report.inserted, report.updated);
        for row in batch {
            let item = InventoryItem {
                number: &row.number,
                country: &row.country,
                did_type: row.did_type.code(),
                region: row.region.as_deref(),
                currency: row.currency.code(),
                setup_minor: row.setup_minor,
                monthly_minor: row.monthly_minor,
            };
            match dids::upsert_inventory(&mut tx, &item, now).await? {
                UpsertOutcome::Inserted => report.inserted += 1,
                UpsertOutcome::Updated => report.updated += 1,
                UpsertOutcome::Unchanged => report.unchanged += 1,
                UpsertOutcome::InUse => report.in_use += 1,
            }
        }
        let after = serde_json::json!({
            "rows": batch.len(),
            "inserted": report.inserted - inserted_before,
            "updated": report.updated - updated_before,
        });
        self.inventory_event(&mut tx, &after).await?;
        record(
            &mut tx,
            actor,
            "inventory.import",
            "inventory",
            None,
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fills the inventory with `per_type` generated numbers for every country
    /// and type the catalogue offers. Idempotent for the same seed.
    pub async fn generate_inventory(
        &self,
        catalogue: &Catalogue,
        per_type: usize,
        seed: u64,
    ) -> Result<GenerateReport> {
        let mut report = GenerateReport::default();
        let now = self.now();
        for country in &catalogue.countries {
            let mut taken = HashSet::new();
            let mut tx = self.store.begin_write().await?;
            for offer in &country.offers {
                for number in generate_numbers(&country.iso, offer.did_type, per_type, seed) {
                    if !taken.insert(number.clone()) {
                        continue;
                    }
                    let item = InventoryItem {
                        number: &number,
                        country: &country.iso,
                        did_type: offer.did_type.code(),
                        region: None,
                        currency: country.currency.code(),
                        setup_minor: offer.setup_minor,
                        monthly_minor: offer.monthly_minor,
                    };
                    match dids::upsert_inventory(&mut tx, &item, now).await? {
                        UpsertOutcome::Inserted => report.inserted += 1,
                        _ => report.unchanged += 1,
                    }
                }
            }
            tx.commit().await?;
            report.countries += 1;
        }
        if report.inserted > 0 {
            self.inventory_changed().await?;
        }
        Ok(report)
    }

    /// After a bulk change: restock this process's shelf, tell the others.
    pub(crate) async fn inventory_changed(&self) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        self.announce(&mut tx, "inventory").await?;
        tx.commit().await?;
        self.restock_shelf().await?;
        Ok(())
    }

    pub async fn inventory_size(&self) -> Result<i64> {
        Ok(dids::count_all(self.store.pool()).await?)
    }

    /// Numbers per country, type and status.
    pub async fn inventory_counts(&self) -> Result<Vec<dids::InventoryCount>> {
        Ok(dids::count_by_country_type_status(self.store.pool()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_whole_record_when_its_last_quoted_field_is_closed() {
        for whole in [
            "a,b",
            r#""a","b""c""#,
            r#""a""b",c"#,
            r#"x"y,z"#,
            r#""a"b,c"#,
            "",
        ] {
            assert!(quotes_balanced(whole), "{whole}");
        }
        for open in [r#""a"#, r#"a,"b"#, r#"x"y,"z"#, r#""a"",b"#, r#"a,""""#] {
            assert!(!quotes_balanced(open), "{open}");
        }
    }
}
