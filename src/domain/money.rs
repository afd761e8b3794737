//! Exact money: integer minor units plus an ISO 4217 currency.
//! On the wire amounts are decimal strings with the currency's minor digits ("1.50").

use std::fmt;

/// Currencies we know the minor-unit exponent of. Anything else is refused rather
/// than guessed, because a wrong exponent silently scales every price.
const MINOR_DIGITS: &[(&str, u32)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("ILS", 2),
    ("INR", 2),
    ("BRL", 2),
    ("MXN", 2),
    ("ZAR", 2),
    ("SGD", 2),
    ("HKD", 2),
    ("NZD", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("CLP", 0),
    ("BHD", 3),
    ("KWD", 3),
    ("JOD", 3),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_digits: u32,
}

impl Currency {
    pub const USD: Currency = Currency {
        code: "USD",
        minor_digits: 2,
    };

    pub fn parse(text: &str) -> Option<Currency> {
        let upper = text.trim().to_ascii_uppercase();
        MINOR_DIGITS
            .iter()
            .find(|(code, _)| *code == upper)
            .map(|&(code, minor_digits)| Currency { code, minor_digits })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn minor_digits(self) -> u32 {
        self.minor_digits
    }

    /// Renders minor units as a decimal string: 150 USD -> "1.50", -5 -> "-0.05".
    pub fn format_minor(self, minor: i64) -> String {
        if self.minor_digits == 0 {
            return minor.to_string();
        }
        let scale = 10u64.pow(self.minor_digits);
        let sign = if minor < 0 { "-" } else { "" };
        let magnitude = minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = self.minor_digits as usize
        )
    }

    /// Parses a decimal string into minor units without ever going through a float.
    /// More fractional digits than the currency has is an error, not a rounding.
    pub fn parse_minor(self, text: &str) -> Result<i64, AmountError> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((w, f)) => (w, f),
            None => (unsigned, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || (unsigned.contains('.') && fraction.is_empty())
        {
            return Err(AmountError::Malformed);
        }
        if fraction.len() > self.minor_digits as usize {
            return Err(AmountError::TooPrecise {
                digits: self.minor_digits,
            });
        }
        let scale = 10i64.pow(self.minor_digits);
        let whole_value: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| AmountError::TooLarge)?
        };
        let mut fraction_value: i64 = 0;
        for i in 0..self.minor_digits as usize {
            let digit = fraction
                .as_bytes()
                .get(i)
                .map_or(0, |b| i64::from(b - b'0'));
            fraction_value = fraction_value * 10 + digit;
        }
        let magnitude = whole_value
            .checked_mul(scale)
            .and_then(|v| v.checked_add(fraction_value))
            .filter(|v| *v <= MAX_AMOUNT_MINOR)
            .ok_or(AmountError::TooLarge)?;
        Ok(if negative { -magnitude } else { magnitude })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Largest amount accepted from outside: far beyond any real balance, far below
/// i64::MAX so that sums of a few amounts cannot overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a decimal number such as \"10.00\"")]
    Malformed,
    #[error("amount has more than {digits} decimal places")]
    TooPrecise { digits: u32 },
    #[error("amount is too large")]
    TooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units_with_the_currency_digits() {
        let usd = Currency::USD;
        assert_eq!(usd.format_minor(150), "1.50");
        assert_eq!(usd.format_minor(5), "0.05");
        assert_eq!(usd.format_minor(-5), "-0.05");
        assert_eq!(usd.format_minor(0), "0.00");
        let jpy = Currency::parse("jpy").expect("JPY is known");
        assert_eq!(jpy.format_minor(1200), "1200");
        let bhd = Currency::parse("BHD").expect("BHD is known");
        assert_eq!(bhd.format_minor(1234), "1.234");
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        let usd = Currency::USD;
        assert_eq!(usd.parse_minor("1.50"), Ok(150));
        assert_eq!(usd.parse_minor("1.5"), Ok(150));
        assert_eq!(usd.parse_minor("10"), Ok(1000));
        assert_eq!(usd.parse_minor(".99"), Ok(99));
        assert_eq!(usd.parse_minor("-2.01"), Ok(-201));
        assert_eq!(usd.parse_minor("0.1"), Ok(10));
        assert_eq!(
            usd.parse_minor("1.005"),
            Err(AmountError::TooPrecise { digits: 2 })
        );
        for bad in ["", ".", "1.", "abc", "1,50", "1e3", "--1", "1.2.3", " - 1"] {
            assert_eq!(usd.parse_minor(bad), Err(AmountError::Malformed), "{bad:?}");
        }
        assert_eq!(
            usd.parse_minor("99999999999999999999"),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn round_trips_every_small_amount() {
        let usd = Currency::USD;
        for minor in -1000..1000 {
            assert_eq!(usd.parse_minor(&usd.format_minor(minor)), Ok(minor));
        }
    }
}
