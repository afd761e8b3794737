//! The operator's list of refused destination prefixes: premium-rate and
//! satellite ranges that a forward must not dial (toll fraud). Pure: the list
//! arrives as text, read by the caller.

use super::forward::{ForwardError, ForwardTarget};

/// The built-in list, used when the operator gives none (`data/deny-destinations.txt`).
pub const DEFAULT_DENY_DESTINATIONS: &str = include_str!("../../data/deny-destinations.txt");

/// E.164 prefixes, stored as their digits without the `+`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {text:?} is not an E.164 prefix like +1900")]
pub struct DenyListError {
    pub line: usize,
    pub text: String,
}

impl DenyList {
    /// One prefix per line (`+1900`; the `+` may be left out), `#` starts a
    /// comment, blank lines are ignored. An empty list refuses nothing.
    pub fn parse(text: &str) -> Result<DenyList, DenyListError> {
        let mut prefixes = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let entry = raw.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let digits = entry.strip_prefix('+').unwrap_or(entry);
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(DenyListError {
                    line: index + 1,
                    text: entry.chars().take(32).collect(),
                });
            }
            prefixes.push(digits.to_owned());
        }
        Ok(DenyList { prefixes })
    }

    /// The built-in premium-rate and satellite list.
    pub fn builtin() -> DenyList {
        // The built-in text is checked by a unit test; an empty list is the
        // only thing a parse failure could leave, never a panic.
        DenyList::parse(DEFAULT_DENY_DESTINATIONS).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The refused prefix (`+1900`) that `digits` (an E.164 number without
    /// its `+`) starts with, if any.
    pub fn refused_prefix(&self, digits: &str) -> Option<String> {
        self.prefixes
            .iter()
            .find(|prefix| digits.starts_with(prefix.as_str()))
            .map(|prefix| format!("+{prefix}"))
    }

    /// Refuses PSTN targets in a listed range, and `access_number` codes that
    /// read as such a number, in case the operator's DISA dials the code out.
    pub fn check(&self, target: &ForwardTarget) -> Result<(), ForwardError> {
        let digits = match target {
            ForwardTarget::Pstn(number) => number.as_str().trim_start_matches('+'),
            ForwardTarget::AccessNumber(Some(code)) => code.as_str(),
            _ => return Ok(()),
        };
        match self.refused_prefix(digits) {
            Some(prefix) => Err(ForwardError::DeniedDestination(prefix)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CountryCode, ForwardPolicy, ForwardType};

    #[test]
    fn the_builtin_list_parses_and_covers_the_usual_premium_ranges() {
        let list = DenyList::parse(DEFAULT_DENY_DESTINATIONS).expect("built-in list parses");
        assert_eq!(list, DenyList::builtin());
        for premium in [
            "19005550123",
            "9791234",
            "881612345678",
            "4490912345",
            "49900123",
        ] {
            assert!(list.refused_prefix(premium).is_some(), "{premium}");
        }
        for ordinary in ["12015550123", "33123456789", "4420123456", "49301234"] {
            assert_eq!(list.refused_prefix(ordinary), None, "{ordinary}");
        }
    }

    #[test]
    fn operator_lists_take_comments_and_refuse_garbage() {
        let list = DenyList::parse("# mine\n\n+44   # a whole country\n 979\n").expect("valid");
        assert_eq!(list.len(), 2);
        assert_eq!(list.refused_prefix("441234"), Some("+44".to_owned()));
        assert_eq!(DenyList::parse("").map(|l| l.is_empty()), Ok(true));
        for bad in ["+", "+1 900", "1900x", "+1234567890123456", "tel:+1900"] {
            let error = DenyList::parse(&format!("+979\n{bad}\n")).expect_err(bad);
            assert_eq!(error.line, 2, "{bad}");
        }
    }

    #[test]
    fn pstn_targets_and_access_codes_are_checked() {
        let us = CountryCode::parse("US").expect("US");
        let list = DenyList::builtin();
        let target = |kind, dest| {
            ForwardTarget::parse(kind, dest, &us, ForwardPolicy::default()).expect(dest)
        };
        assert_eq!(
            list.check(&target(ForwardType::Pstn, "+1 900 555 0123")),
            Err(ForwardError::DeniedDestination("+1900".to_owned()))
        );
        assert!(
            list.check(&target(ForwardType::Pstn, "+1 201 555 0123"))
                .is_ok()
        );
        assert!(
            list.check(&target(ForwardType::AccessNumber, "979123"))
                .is_err()
        );
        assert!(list.check(&target(ForwardType::AccessNumber, "42")).is_ok());
        assert!(
            list.check(&target(ForwardType::Sip, "sip:1900@example.com"))
                .is_ok()
        );
    }
}
