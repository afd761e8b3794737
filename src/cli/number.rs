//! `--max-calls` of `didhub number limit` and `didhub account limit`: a count of
//! concurrent calls, or `none`.

use std::fmt;

/// `--max-calls`: a count, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxCalls(pub Option<i64>);

impl fmt::Display for MaxCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("unlimited"),
        }
    }
}

pub fn parse_max_calls(text: &str) -> Result<MaxCalls, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(MaxCalls(None));
    }
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(|n| MaxCalls(Some(n)))
        .ok_or_else(|| format!("{text:?} is neither a count of calls nor `none`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_calls_is_a_count_or_none() {
        assert_eq!(parse_max_calls("4"), Ok(MaxCalls(Some(4))));
        assert_eq!(parse_max_calls("0"), Ok(MaxCalls(Some(0))));
        assert_eq!(parse_max_calls("None"), Ok(MaxCalls(None)));
        assert!(parse_max_calls("-1").is_err());
        assert!(parse_max_calls("lots").is_err());
    }
}
