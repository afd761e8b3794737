//! The kinds of number the seed API sells (`did/type-list`).

use serde::{Deserialize, Serialize};

/// A DID type. The wire codes are stable; display names may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DidType {
    Landline,
    MobileVoice,
    MobileSms,
    VoiceSms,
}

impl DidType {
    pub const ALL: [DidType; 4] = [
        DidType::Landline,
        DidType::MobileVoice,
        DidType::MobileSms,
        DidType::VoiceSms,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DidType::Landline => "landline",
            DidType::MobileVoice => "mobile_voice",
            DidType::MobileSms => "mobile_sms",
            DidType::VoiceSms => "voice_sms",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            DidType::Landline => "Landline",
            DidType::MobileVoice => "Mobile voice",
            DidType::MobileSms => "Mobile SMS",
            DidType::VoiceSms => "Voice + SMS",
        }
    }

    /// Accepts the code, case-insensitively, with `-` or `+` spellings users type.
    pub fn parse(text: &str) -> Option<DidType> {
        let normalised = text
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '+', ' '], "_");
        match normalised.as_str() {
            "landline" | "fixed" | "local" => Some(DidType::Landline),
            "mobile_voice" | "mobile" => Some(DidType::MobileVoice),
            "mobile_sms" | "sms" => Some(DidType::MobileSms),
            "voice_sms" | "voice__sms" | "voice_and_sms" => Some(DidType::VoiceSms),
            _ => None,
        }
    }

    pub fn carries_voice(self) -> bool {
        !matches!(self, DidType::MobileSms)
    }

    pub fn carries_sms(self) -> bool {
        matches!(self, DidType::MobileSms | DidType::VoiceSms)
    }

    /// Whether numbers of this type are drawn from a country's mobile ranges.
    pub fn is_mobile_range(self) -> bool {
        !matches!(self, DidType::Landline)
    }

    pub fn capabilities(self) -> Vec<&'static str> {
        let mut caps = Vec::with_capacity(2);
        if self.carries_voice() {
            caps.push("voice");
        }
        if self.carries_sms() {
            caps.push("sms");
        }
        caps
    }
}

impl std::fmt::Display for DidType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_to_its_type() {
        for t in DidType::ALL {
            assert_eq!(DidType::parse(t.code()), Some(t));
            assert_eq!(DidType::parse(&t.code().to_uppercase()), Some(t));
        }
        assert_eq!(DidType::parse("voice+sms"), Some(DidType::VoiceSms));
        assert_eq!(DidType::parse("fax"), None);
    }
}
