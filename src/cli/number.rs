//! `didhub number …`: operator settings of one number.

use crate::service::Service;
use clap::Subcommand;
use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum NumberCommand {
    /// Limit the concurrent calls to a number (`none` removes the limit); the
    /// operator's SBC enforces it.
    Limit {
        /// The number, E.164 (+33123456789).
        number: String,
        #[arg(long, value_parser = parse_max_calls)]
        max_calls: MaxCalls,
    },
}

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

pub async fn run(service: Service, command: NumberCommand) -> anyhow::Result<ExitCode> {
    match command {
        NumberCommand::Limit { number, max_calls } => {
            service.set_number_max_calls(&number, max_calls.0).await?;
            println!("{number}: at most {max_calls} concurrent calls");
        }
    }
    Ok(ExitCode::SUCCESS)
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
