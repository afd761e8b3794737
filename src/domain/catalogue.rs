//! The country catalogue: which DID types are sold in which country, and at what
//! price. Operators edit it as CSV (`data/countries.csv`, compiled in as the
//! default); this module only parses and validates text, it does no I/O.

use std::collections::HashMap;

use phonenumber::metadata::DATABASE;

use super::did_type::DidType;
use super::money::{AmountError, Currency};

/// The catalogue shipped with didhub.
pub const DEFAULT_CATALOGUE: &str = include_str!("../../data/countries.csv");

const ISO_COLUMN: &str = "iso";
const NAME_COLUMN: &str = "name";
const CURRENCY_COLUMN: &str = "currency";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    pub countries: Vec<CountryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryEntry {
    /// ISO 3166-1 alpha-2, upper case.
    pub iso: String,
    pub name: String,
    pub currency: Currency,
    /// The types sold in this country, in `DidType::ALL` order.
    pub offers: Vec<TypeOffer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeOffer {
    pub did_type: DidType,
    /// One-off setup fee, in minor units of the country's currency.
    pub setup_minor: i64,
    /// Monthly cost, in minor units of the country's currency.
    pub monthly_minor: i64,
}

impl CountryEntry {
    /// The offer for `did_type`, if that type is sold here.
    pub fn offer(&self, did_type: DidType) -> Option<&TypeOffer> {
        self.offers.iter().find(|o| o.did_type == did_type)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("line {line}: malformed CSV: {message}")]
    Csv { line: u64, message: String },
    #[error("line {line}: the header row is missing the `{column}` column")]
    MissingColumn { line: u64, column: String },
    #[error("line {line}: unknown column `{column}` in the header row")]
    UnknownColumn { line: u64, column: String },
    #[error("line {line}: column `{column}` appears more than once in the header row")]
    DuplicateColumn { line: u64, column: String },
    #[error(
        "line {line}: `{iso}` is not an ISO 3166-1 alpha-2 code known to the phone-number metadata"
    )]
    UnknownCountry { line: u64, iso: String },
    #[error("line {line}: country `{iso}` is already listed on line {first_line}")]
    DuplicateCountry {
        line: u64,
        iso: String,
        first_line: u64,
    },
    #[error("line {line}: country `{iso}` has an empty name")]
    EmptyName { line: u64, iso: String },
    #[error("line {line}: unknown currency `{currency}`")]
    UnknownCurrency { line: u64, currency: String },
    #[error("line {line}: `{column}` value `{value}` is not a valid amount: {reason}")]
    InvalidPrice {
        line: u64,
        column: String,
        value: String,
        reason: AmountError,
    },
    #[error("line {line}: `{column}` must not be negative (got `{value}`)")]
    NegativePrice {
        line: u64,
        column: String,
        value: String,
    },
    #[error(
        "line {line}: {did_type} needs both a setup fee and a monthly cost, or neither (missing `{missing}`)"
    )]
    IncompletePrice {
        line: u64,
        did_type: DidType,
        missing: String,
    },
    #[error("line {line}: country `{iso}` offers no DID type; give at least one price pair")]
    NoOffers { line: u64, iso: String },
    #[error("line {line}: the catalogue lists no countries")]
    Empty { line: u64 },
}

/// Where each column of the header row lives.
struct Columns {
    iso: usize,
    name: usize,
    currency: usize,
    /// (type, setup column name, setup index, monthly column name, monthly index)
    prices: Vec<(DidType, String, usize, String, usize)>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord, line: u64) -> Result<Columns, CatalogueError> {
        let mut index = HashMap::new();
        for (i, column) in header.iter().enumerate() {
            let known = [ISO_COLUMN, NAME_COLUMN, CURRENCY_COLUMN].contains(&column)
                || DidType::ALL.iter().any(|t| {
                    column == setup_column(*t).as_str() || column == monthly_column(*t).as_str()
                });
            if !known {
                return Err(CatalogueError::UnknownColumn {
                    line,
                    column: column.to_owned(),
                });
            }
            if index.insert(column.to_owned(), i).is_some() {
                return Err(CatalogueError::DuplicateColumn {
                    line,
                    column: column.to_owned(),
                });
            }
        }
        let find = |column: &str| {
            index
                .get(column)
                .copied()
                .ok_or_else(|| CatalogueError::MissingColumn {
                    line,
                    column: column.to_owned(),
                })
        };
        let mut prices = Vec::with_capacity(DidType::ALL.len());
        for did_type in DidType::ALL {
            let (setup, monthly) = (setup_column(did_type), monthly_column(did_type));
            let (setup_index, monthly_index) = (find(&setup)?, find(&monthly)?);
            prices.push((did_type, setup, setup_index, monthly, monthly_index));
        }
        Ok(Columns {
            iso: find(ISO_COLUMN)?,
            name: find(NAME_COLUMN)?,
            currency: find(CURRENCY_COLUMN)?,
            prices,
        })
    }
}

fn setup_column(did_type: DidType) -> String {
    format!("{}_setup", did_type.code())
}

fn monthly_column(did_type: DidType) -> String {
    format!("{}_monthly", did_type.code())
}

impl Catalogue {
    /// Parses and validates catalogue CSV. The first error found is returned,
    /// naming its 1-based line in `csv_text` (comment lines count).
    pub fn parse(csv_text: &str) -> Result<Catalogue, CatalogueError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(csv_text.as_bytes());
        let csv_error = |error: csv::Error, fallback: u64| CatalogueError::Csv {
            line: error.position().map_or(fallback, csv::Position::line),
            message: error.to_string(),
        };

        let header = reader.headers().map_err(|e| csv_error(e, 1))?.clone();
        let header_line = header_line(csv_text);
        let columns = Columns::from_header(&header, header_line)?;

        let mut countries: Vec<CountryEntry> = Vec::new();
        let mut first_lines: HashMap<String, u64> = HashMap::new();
        let mut record = csv::StringRecord::new();
        let mut last_line = header_line;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(error) => return Err(csv_error(error, last_line + 1)),
            }
            let line = record.position().map_or(last_line + 1, csv::Position::line);
            last_line = line;
            let entry = parse_row(&record, &columns, line)?;
            if let Some(&first_line) = first_lines.get(&entry.iso) {
                return Err(CatalogueError::DuplicateCountry {
                    line,
                    iso: entry.iso,
                    first_line,
                });
            }
            first_lines.insert(entry.iso.clone(), line);
            countries.push(entry);
        }
        if countries.is_empty() {
            let end_line = u64::try_from(csv_text.lines().count()).unwrap_or(u64::MAX);
            return Err(CatalogueError::Empty {
                line: end_line.max(1),
            });
        }
        Ok(Catalogue { countries })
    }

    /// The entry for `iso`, matched case-insensitively.
    pub fn country(&self, iso: &str) -> Option<&CountryEntry> {
        let iso = iso.trim();
        self.countries
            .iter()
            .find(|c| c.iso.eq_ignore_ascii_case(iso))
    }
}

/// The 1-based line of the header row: the csv crate reports line 1 for the
/// header even when comment or blank lines precede it, so find it ourselves the
/// way the reader does (skipping blank lines and lines starting with `#`).
fn header_line(csv_text: &str) -> u64 {
    let skipped = csv_text
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with('#'))
        .count();
    u64::try_from(skipped).map_or(u64::MAX, |n| n + 1)
}

fn parse_row(
    record: &csv::StringRecord,
    columns: &Columns,
    line: u64,
) -> Result<CountryEntry, CatalogueError> {
    let cell = |index: usize| record.get(index).unwrap_or("");

    let iso = cell(columns.iso).to_ascii_uppercase();
    let is_alpha2 = iso.len() == 2 && iso.bytes().all(|b| b.is_ascii_uppercase());
    if !is_alpha2 || DATABASE.by_id(iso.as_str()).is_none() {
        return Err(CatalogueError::UnknownCountry { line, iso });
    }

    let name = cell(columns.name).to_owned();
    if name.is_empty() {
        return Err(CatalogueError::EmptyName { line, iso });
    }

    let currency_text = cell(columns.currency);
    let currency =
        Currency::parse(currency_text).ok_or_else(|| CatalogueError::UnknownCurrency {
            line,
            currency: currency_text.to_owned(),
        })?;

    let price = |column: &str, index: usize| -> Result<Option<i64>, CatalogueError> {
        let value = cell(index);
        if value.is_empty() {
            return Ok(None);
        }
        let minor = currency
            .parse_minor(value)
            .map_err(|reason| CatalogueError::InvalidPrice {
                line,
                column: column.to_owned(),
                value: value.to_owned(),
                reason,
            })?;
        if minor < 0 {
            return Err(CatalogueError::NegativePrice {
                line,
                column: column.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(Some(minor))
    };

    let mut offers = Vec::new();
    for (did_type, setup_name, setup_index, monthly_name, monthly_index) in &columns.prices {
        let setup = price(setup_name, *setup_index)?;
        let monthly = price(monthly_name, *monthly_index)?;
        match (setup, monthly) {
            (Some(setup_minor), Some(monthly_minor)) => offers.push(TypeOffer {
                did_type: *did_type,
                setup_minor,
                monthly_minor,
            }),
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                let missing = if setup.is_none() {
                    setup_name
                } else {
                    monthly_name
                };
                return Err(CatalogueError::IncompletePrice {
                    line,
                    did_type: *did_type,
                    missing: missing.clone(),
                });
            }
        }
    }
    if offers.is_empty() {
        return Err(CatalogueError::NoOffers { line, iso });
    }

    Ok(CountryEntry {
        iso,
        name,
        currency,
        offers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "iso,name,currency,landline_setup,landline_monthly,mobile_voice_setup,mobile_voice_monthly,mobile_sms_setup,mobile_sms_monthly,voice_sms_setup,voice_sms_monthly";

    /// A catalogue with two comment lines, the header on line 3 and `rows`
    /// starting on line 4.
    fn catalogue_with(rows: &[&str]) -> String {
        let mut text = format!("# test catalogue\n#\n{HEADER}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    fn error_line(error: &CatalogueError) -> u64 {
        match error {
            CatalogueError::Csv { line, .. }
            | CatalogueError::MissingColumn { line, .. }
            | CatalogueError::UnknownColumn { line, .. }
            | CatalogueError::DuplicateColumn { line, .. }
            | CatalogueError::UnknownCountry { line, .. }
            | CatalogueError::DuplicateCountry { line, .. }
            | CatalogueError::EmptyName { line, .. }
            | CatalogueError::UnknownCurrency { line, .. }
            | CatalogueError::InvalidPrice { line, .. }
            | CatalogueError::NegativePrice { line, .. }
            | CatalogueError::IncompletePrice { line, .. }
            | CatalogueError::NoOffers { line, .. }
            | CatalogueError::Empty { line } => *line,
        }
    }

    const GOOD_FR: &str = "FR,France,USD,1.20,1.80,,,,,,";
    const GOOD_DE: &str = "DE,Germany,USD,1.00,1.50,2.00,3.00,,,,";

    #[test]
    fn default_catalogue_parses_with_145_countries() {
        let catalogue = Catalogue::parse(DEFAULT_CATALOGUE).expect("default catalogue is valid");
        assert_eq!(catalogue.countries.len(), 145);
        for entry in &catalogue.countries {
            assert_eq!(entry.currency, Currency::USD, "{}", entry.iso);
            assert!(!entry.offers.is_empty(), "{}", entry.iso);
        }
    }

    #[test]
    fn default_catalogue_sells_french_landlines_with_fees() {
        let catalogue = Catalogue::parse(DEFAULT_CATALOGUE).unwrap();
        let france = catalogue.country("fr").expect("France is listed");
        assert_eq!(france.iso, "FR");
        assert_eq!(france.name, "France");
        let landline = france
            .offer(DidType::Landline)
            .expect("France sells landlines");
        assert!(landline.setup_minor > 0);
        assert!(landline.monthly_minor > 0);
    }

    #[test]
    fn default_catalogue_offers_landline_everywhere() {
        let catalogue = Catalogue::parse(DEFAULT_CATALOGUE).unwrap();
        for entry in &catalogue.countries {
            assert!(
                entry.offer(DidType::Landline).is_some(),
                "{} sells no landline",
                entry.iso
            );
        }
    }

    #[test]
    fn parses_prices_offers_and_lookup() {
        let text = catalogue_with(&[GOOD_FR, "de , Germany , usd , 1 , 1.5 , 2.00,3.00, , ,,"]);
        let catalogue = Catalogue::parse(&text).unwrap();
        assert_eq!(catalogue.countries.len(), 2);
        let de = catalogue.country("DE").unwrap();
        assert_eq!(de.iso, "DE");
        assert_eq!(de.name, "Germany");
        assert_eq!(
            de.offers,
            vec![
                TypeOffer {
                    did_type: DidType::Landline,
                    setup_minor: 100,
                    monthly_minor: 150
                },
                TypeOffer {
                    did_type: DidType::MobileVoice,
                    setup_minor: 200,
                    monthly_minor: 300
                },
            ]
        );
        assert!(catalogue.country("de").is_some());
        assert!(catalogue.country("IT").is_none());
    }

    #[test]
    fn zero_prices_are_allowed() {
        let text = catalogue_with(&["US,United States,USD,0.00,0,,,,,,"]);
        let catalogue = Catalogue::parse(&text).unwrap();
        let offer = catalogue.countries[0].offer(DidType::Landline).unwrap();
        assert_eq!((offer.setup_minor, offer.monthly_minor), (0, 0));
    }

    #[test]
    fn columns_may_be_reordered() {
        let text = "name,iso,currency,voice_sms_monthly,voice_sms_setup,mobile_sms_setup,mobile_sms_monthly,mobile_voice_setup,mobile_voice_monthly,landline_setup,landline_monthly\nFrance,FR,USD,4.70,3.60,,,,,,\n";
        let catalogue = Catalogue::parse(text).unwrap();
        let offer = catalogue.countries[0].offer(DidType::VoiceSms).unwrap();
        assert_eq!((offer.setup_minor, offer.monthly_minor), (360, 470));
    }

    #[test]
    fn bad_rows_name_their_line() {
        let cases: &[(&[&str], u64, &str)] = &[
            (
                &[GOOD_FR, "ZZ,Nowhere,USD,1.00,1.00,,,,,,"],
                5,
                "UnknownCountry",
            ),
            (&["001,World,USD,1.00,1.00,,,,,,"], 4, "UnknownCountry"),
            (&["FRA,France,USD,1.00,1.00,,,,,,"], 4, "UnknownCountry"),
            (
                &[GOOD_FR, GOOD_DE, "fr,France again,USD,1.00,1.00,,,,,,"],
                6,
                "DuplicateCountry",
            ),
            (&[GOOD_FR, "DE,,USD,1.00,1.50,,,,,,"], 5, "EmptyName"),
            (
                &[GOOD_FR, "DE,Germany,XXX,1.00,1.50,,,,,,"],
                5,
                "UnknownCurrency",
            ),
            (
                &[GOOD_FR, "DE,Germany,USD,1.00,1.5x,,,,,,"],
                5,
                "InvalidPrice",
            ),
            (
                &[GOOD_FR, "DE,Germany,USD,1.001,1.50,,,,,,"],
                5,
                "InvalidPrice",
            ),
            (
                &[GOOD_FR, GOOD_DE, "IT,Italy,USD,-1.00,1.50,,,,,,"],
                6,
                "NegativePrice",
            ),
            (
                &[GOOD_FR, "DE,Germany,USD,1.00,,,,,,,"],
                5,
                "IncompletePrice",
            ),
            (
                &[GOOD_FR, "DE,Germany,USD,1.00,1.50,,,,,,2.00"],
                5,
                "IncompletePrice",
            ),
            (&[GOOD_FR, "DE,Germany,USD,,,,,,,,"], 5, "NoOffers"),
            (&[GOOD_FR, "DE,Germany,USD,1.00,1.50"], 5, "Csv"),
        ];
        for (rows, line, variant) in cases {
            let text = catalogue_with(rows);
            let error = Catalogue::parse(&text).expect_err(&text);
            assert_eq!(error_line(&error), *line, "{error} in\n{text}");
            assert!(
                format!("{error:?}").starts_with(variant),
                "expected {variant}, got {error:?}"
            );
            assert!(
                error.to_string().starts_with(&format!("line {line}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn comment_lines_between_rows_are_counted() {
        let text = catalogue_with(&[
            GOOD_FR,
            "# Germany is next",
            "",
            GOOD_DE,
            "XX,Bad,USD,1,1,,,,,,",
        ]);
        let error = Catalogue::parse(&text).unwrap_err();
        assert!(
            matches!(error, CatalogueError::UnknownCountry { line: 8, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn bad_headers_name_the_header_line() {
        let missing =
            "# comment\niso,name,currency,landline_setup,landline_monthly\nFR,France,USD,1,1\n";
        let error = Catalogue::parse(missing).unwrap_err();
        assert!(
            matches!(&error, CatalogueError::MissingColumn { line: 2, column } if column == "mobile_voice_setup"),
            "{error:?}"
        );

        let unknown = format!("{HEADER},fax_setup\n");
        let error = Catalogue::parse(&unknown).unwrap_err();
        assert!(
            matches!(&error, CatalogueError::UnknownColumn { line: 1, column } if column == "fax_setup"),
            "{error:?}"
        );

        let duplicate = format!("{HEADER},iso\n");
        let error = Catalogue::parse(&duplicate).unwrap_err();
        assert!(
            matches!(&error, CatalogueError::DuplicateColumn { line: 1, column } if column == "iso"),
            "{error:?}"
        );
    }

    #[test]
    fn empty_catalogue_is_an_error() {
        let error = Catalogue::parse(&catalogue_with(&[])).unwrap_err();
        assert!(
            matches!(error, CatalogueError::Empty { line: 3 }),
            "{error:?}"
        );
        let error = Catalogue::parse("").unwrap_err();
        assert!(
            matches!(error, CatalogueError::MissingColumn { line: 1, .. }),
            "{error:?}"
        );
    }
}
