//! `did/available`: pages of sellable numbers, taken from the in-memory shelf.

use super::shelf::{OnSale, ShelfQuery};
use super::{Error, Result, Service};
use crate::domain::{CountryCode, DidType};
use std::sync::Arc;

pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 500;

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub country: String,
    pub did_type: Option<String>,
    /// International prefix, with or without "+" ("+331", "331").
    pub prefix: Option<String>,
    /// National area code as dialled in the country ("01", "212").
    pub area_code: Option<String>,
    pub contains: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// The searching account: numbers it holds stay in its results.
    pub viewer: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub country: CountryCode,
    pub dids: Vec<Arc<OnSale>>,
    pub next_cursor: Option<String>,
}

fn digits(field: &'static str, text: &str, max: usize) -> Result<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if cleaned.is_empty() || cleaned.len() > max || !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::bad_request(
            "invalid_filter",
            format!("{field} must be 1 to {max} digits"),
        ));
    }
    Ok(cleaned)
}

/// The country, type and number prefix a search or an order by criteria names.
pub(super) struct Filters {
    pub country: CountryCode,
    pub did_type: Option<DidType>,
    /// E.164 prefix ("+331").
    pub prefix: Option<String>,
}

/// Reads `country`, `type` and `prefix` or `area_code` as search takes them.
pub(super) fn parse_filters(
    country: &str,
    did_type: Option<&str>,
    prefix: Option<&str>,
    area_code: Option<&str>,
) -> Result<Filters> {
    let country = CountryCode::parse(country).ok_or_else(|| {
        Error::bad_request(
            "unknown_country",
            format!(
                "unknown country {:?}: use an ISO 3166-1 alpha-2 code such as FR or US",
                country.chars().take(16).collect::<String>()
            ),
        )
    })?;
    let did_type = match did_type.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => Some(DidType::parse(t).ok_or_else(|| {
            Error::bad_request(
                "invalid_type",
                "type must be one of landline, mobile_voice, mobile_sms, voice_sms",
            )
        })?),
    };
    let calling_code = country
        .calling_code()
        .ok_or_else(|| Error::Internal(format!("no calling code for {country}")))?;
    let prefix = match (prefix, area_code) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "invalid_filter",
                "give either prefix or area_code, not both",
            ));
        }
        (Some(p), None) => {
            let p = p.trim();
            let p = p
                .strip_prefix('+')
                .or_else(|| p.strip_prefix("00"))
                .unwrap_or(p);
            Some(format!("+{}", digits("prefix", p, 15)?))
        }
        (None, Some(area)) => {
            let area = digits("area_code", area, 10)?;
            // Area codes are quoted with the trunk prefix ("01" in France);
            // E.164 numbers do not carry it.
            let national = area
                .strip_prefix('0')
                .filter(|_| calling_code != 39)
                .unwrap_or(&area);
            Some(format!("+{calling_code}{national}"))
        }
        (None, None) => None,
    };
    Ok(Filters {
        country,
        did_type,
        prefix,
    })
}

impl Service {
    pub async fn search_available(&self, query: &SearchQuery) -> Result<SearchPage> {
        let Filters {
            country,
            did_type,
            prefix,
        } = parse_filters(
            &query.country,
            query.did_type.as_deref(),
            query.prefix.as_deref(),
            query.area_code.as_deref(),
        )?;
        let contains = query
            .contains
            .as_deref()
            .map(|c| digits("contains", c, 15))
            .transpose()?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::bad_request(
                "invalid_limit",
                format!("limit must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c)
                if c.len() <= 16
                    && c.starts_with('+')
                    && c[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(c)
            }
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_cursor",
                    "cursor is not one this API returned",
                ));
            }
        };
        let dids = self.shelf.page(&ShelfQuery {
            country: country.as_str(),
            did_type,
            prefix: prefix.as_deref(),
            contains: contains.as_deref(),
            after,
            limit: limit as usize,
            viewer: query.viewer,
            now: self.now(),
        });
        let next_cursor = (dids.len() as i64 == limit)
            .then(|| dids.last().map(|d| d.did.number.clone()))
            .flatten();
        Ok(SearchPage {
            country,
            dids,
            next_cursor,
        })
    }
}
