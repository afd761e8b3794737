//! Rules of a number's life after purchase: why it may be suspended, when an
//! unpaid one is taken back, what is due next. Pure; the calendar arithmetic
//! itself is in [`super::billing`].

use super::billing::next_paid_through;

/// Why a number's calls are refused although someone owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspension {
    /// Its renewal could not be paid; it rings again once paid.
    NonPayment,
    /// The operator suspended the owner's account.
    Account,
}

impl Suspension {
    /// The text SIP's `Reason`/`Warning` headers and the lookups carry: ASCII,
    /// no quotes, so it can be written inside a quoted string as is.
    pub fn reason(self) -> &'static str {
        match self {
            Suspension::NonPayment => "number suspended for non-payment",
            Suspension::Account => "account suspended by the operator",
        }
    }
}

/// When an unpaid number is reclaimed: the end of its paid period plus grace.
pub fn reclaim_at(paid_through: i64, grace_secs: i64) -> i64 {
    paid_through.saturating_add(grace_secs)
}

/// The renewal dates after `paid_through`, `count` of them, on the anniversary
/// of `assigned_at` (clamped to short months, never drifting).
pub fn renewal_dates(assigned_at: i64, paid_through: i64, count: usize) -> Vec<i64> {
    let mut dates = Vec::with_capacity(count);
    let mut due = paid_through;
    for _ in 0..count {
        dates.push(due);
        due = next_paid_through(assigned_at, due);
    }
    dates
}

/// The first instant of the calendar month `YYYY-MM` (UTC) and of the next
/// one; `None` for anything else.
pub fn month_bounds(text: &str) -> Option<(i64, i64)> {
    let (year, month) = text.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let first = chrono::NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
    let from = first.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some((from, super::billing::add_months(from, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::billing::{add_months, rfc3339};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32) -> i64 {
        let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .timestamp()
    }

    fn day(unix: i64) -> String {
        rfc3339(unix)[..10].to_owned()
    }

    /// 36 renewals from awkward anniversaries: month ends, a leap day, the
    /// 29th and 30th, which short months clamp and long months give back.
    #[test]
    fn renewals_keep_the_anniversary_across_month_ends_and_leap_years_for_36_months() {
        let table: [(i64, [&str; 6]); 5] = [
            // anniversary; renewals 1, 2, 12, 13, 25 and 36
            (
                at(2027, 1, 31),
                [
                    "2027-02-28",
                    "2027-03-31",
                    "2028-01-31",
                    "2028-02-29",
                    "2029-02-28",
                    "2030-01-31",
                ],
            ),
            (
                at(2028, 2, 29),
                [
                    "2028-03-29",
                    "2028-04-29",
                    "2029-02-28",
                    "2029-03-29",
                    "2030-03-29",
                    "2031-02-28",
                ],
            ),
            (
                at(2027, 3, 30),
                [
                    "2027-04-30",
                    "2027-05-30",
                    "2028-03-30",
                    "2028-04-30",
                    "2029-04-30",
                    "2030-03-30",
                ],
            ),
            (
                at(2027, 8, 31),
                [
                    "2027-09-30",
                    "2027-10-31",
                    "2028-08-31",
                    "2028-09-30",
                    "2029-09-30",
                    "2030-08-31",
                ],
            ),
            (
                at(2026, 12, 29),
                [
                    "2027-01-29",
                    "2027-02-28",
                    "2027-12-29",
                    "2028-01-29",
                    "2029-01-29",
                    "2029-12-29",
                ],
            ),
        ];
        for (assigned_at, expected) in table {
            let first = add_months(assigned_at, 1);
            let dates = renewal_dates(assigned_at, first, 36);
            assert_eq!(dates.len(), 36);
            let picked: Vec<String> = [0, 1, 11, 12, 24, 35]
                .iter()
                .map(|&i| day(dates[i]))
                .collect();
            assert_eq!(picked, expected, "anniversary {}", day(assigned_at));
            for (i, date) in dates.iter().enumerate() {
                let months = u32::try_from(i + 1).expect("small");
                assert_eq!(*date, add_months(assigned_at, months), "renewal {}", i + 1);
            }
        }
    }

    #[test]
    fn a_month_is_yyyy_mm_and_ends_where_the_next_begins() {
        assert_eq!(
            month_bounds("2028-02"),
            Some((at(2028, 2, 1), at(2028, 3, 1)))
        );
        assert_eq!(
            month_bounds("2026-12"),
            Some((at(2026, 12, 1), at(2027, 1, 1)))
        );
        for bad in [
            "2026-13", "2026-1", "26-01", "2026/01", "", "2026-00", "abcd-01",
        ] {
            assert_eq!(month_bounds(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unpaid_number_is_reclaimed_when_grace_ends() {
        assert_eq!(reclaim_at(at(2027, 1, 31), 7 * 86_400), at(2027, 2, 7));
    }
}
