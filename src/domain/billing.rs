//! Calendar rules for monthly billing.

use chrono::{DateTime, Months};

/// `unix` moved on by whole calendar months, clamped to the month's last day
/// (Jan 31 + 1 month = Feb 28/29). Saturates rather than overflowing.
pub fn add_months(unix: i64, months: u32) -> i64 {
    DateTime::from_timestamp(unix, 0)
        .and_then(|t| t.checked_add_months(Months::new(months)))
        .map_or(i64::MAX, |t| t.timestamp())
}

/// The end of the next billing period after `paid_through`, counted from the
/// anniversary date `assigned_at` so that short months do not drift it.
pub fn next_paid_through(assigned_at: i64, paid_through: i64) -> i64 {
    let mut months = 1;
    while add_months(assigned_at, months) <= paid_through && months < 12 * 200 {
        months += 1;
    }
    add_months(assigned_at, months)
}

/// RFC 3339 UTC text for a Unix time.
pub fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_31_2026: i64 = 1_769_817_600;

    #[test]
    fn months_clamp_to_the_last_day_and_do_not_drift() {
        assert_eq!(rfc3339(JAN_31_2026), "2026-01-31T00:00:00Z");
        let feb = add_months(JAN_31_2026, 1);
        assert_eq!(rfc3339(feb), "2026-02-28T00:00:00Z");
        let mar = next_paid_through(JAN_31_2026, feb);
        assert_eq!(rfc3339(mar), "2026-03-31T00:00:00Z");
    }
}
