//! E.164 numbers and ISO country codes, validated with libphonenumber's metadata.

use phonenumber::{Mode, PhoneNumber, country, metadata::DATABASE};
use std::str::FromStr;

/// A phone number in E.164 form ("+33123456789"), valid for its country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("\"{0}\" is not a phone number")]
    Unparsable(String),
    #[error("\"{0}\" is not a valid phone number")]
    Invalid(String),
}

impl E164 {
    /// Parses international input ("+33 1 23 45 67 89", "0033…") or, when
    /// `region` is given, national input relative to that country ("01 23 45 67 89").
    pub fn parse(text: &str, region: Option<&CountryCode>) -> Result<E164, PhoneError> {
        let number = parse_number(text, region)?;
        if !number.is_valid() {
            return Err(PhoneError::Invalid(text.to_owned()));
        }
        Ok(E164(number.format().mode(Mode::E164).to_string()))
    }

    /// Parses and returns the full libphonenumber value, for callers that need its type.
    pub fn parse_detailed(
        text: &str,
        region: Option<&CountryCode>,
    ) -> Result<(E164, PhoneNumber), PhoneError> {
        let number = parse_number(text, region)?;
        if !number.is_valid() {
            return Err(PhoneError::Invalid(text.to_owned()));
        }
        Ok((E164(number.format().mode(Mode::E164).to_string()), number))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value read back from our own store, where only valid numbers are written.
    pub fn from_trusted(stored: String) -> E164 {
        E164(stored)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn parse_number(text: &str, region: Option<&CountryCode>) -> Result<PhoneNumber, PhoneError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > 64 || trimmed.chars().any(char::is_control) {
        return Err(PhoneError::Unparsable(text.to_owned()));
    }
    let id = region.and_then(|r| country::Id::from_str(r.as_str()).ok());
    // "00" is the ITU international prefix most of the world dials; libphonenumber
    // only strips it relative to a region that uses it, so treat it as "+" here.
    let normalised = match trimmed.strip_prefix("00") {
        Some(rest) if region.is_none() => format!("+{rest}"),
        _ => trimmed.to_owned(),
    };
    phonenumber::parse(id, &normalised).map_err(|_| PhoneError::Unparsable(text.to_owned()))
}

/// A stored E.164 number as people read it ("+33 1 23 45 67 89"); the
/// E.164 text itself when libphonenumber cannot group it.
pub fn international_format(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .map(|n| n.format().mode(Mode::International).to_string())
        .unwrap_or_else(|_| e164.to_owned())
}

impl std::fmt::Display for E164 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 code that libphonenumber knows a numbering plan for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(text: &str) -> Option<CountryCode> {
        let upper = text.trim().to_ascii_uppercase();
        if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        DATABASE.by_id(upper.as_str())?;
        Some(CountryCode(upper))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country calling code ("33" for FR).
    pub fn calling_code(&self) -> Option<u16> {
        DATABASE.by_id(self.0.as_str()).map(|m| m.country_code())
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr() -> CountryCode {
        CountryCode::parse("fr").expect("FR is a known region")
    }

    #[test]
    fn reads_national_numbers_relative_to_the_region() {
        let n = E164::parse("06 12 34 56 78", Some(&fr())).expect("valid French mobile");
        assert_eq!(n.as_str(), "+33612345678");
    }

    #[test]
    fn reads_international_forms_the_same_way() {
        for text in ["+33612345678", "+33 6 12 34 56 78", "0033612345678"] {
            let n = E164::parse(text, None).expect(text);
            assert_eq!(n.as_str(), "+33612345678", "{text}");
        }
    }

    #[test]
    fn refuses_invalid_and_hostile_input() {
        assert!(matches!(
            E164::parse("+3361234", None),
            Err(PhoneError::Invalid(_))
        ));
        assert!(E164::parse("hello", None).is_err());
        assert!(E164::parse("+33612345678\r\nX: y", None).is_err());
        assert!(E164::parse("", Some(&fr())).is_err());
    }

    #[test]
    fn country_codes_must_be_known_regions() {
        assert_eq!(fr().as_str(), "FR");
        assert_eq!(fr().calling_code(), Some(33));
        assert!(CountryCode::parse("ZZ").is_none());
        assert!(CountryCode::parse("FRA").is_none());
        assert!(CountryCode::parse("f1").is_none());
    }
}
