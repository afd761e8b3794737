//! Deterministic generation of realistic demo numbers for a country and DID type.
//!
//! Numbers are derived from the `phonenumber` metadata: we start from the region's
//! example number for the wanted kind of line, vary its trailing digits with a tiny
//! seeded PRNG and keep only candidates that the metadata accepts as valid numbers
//! of the right type *for that region*. No I/O, no global state, no `rand`.
//!
//! The type check is done by [`classify`] rather than `PhoneNumber::number_type`:
//! phonenumber 0.3.10 classifies on the national number *without* its leading
//! zeros, so every Italian landline (`+39 02 …`) and e.g. Ivorian mobile
//! (`+225 01 …`) comes back as `Type::Unknown` (and `PhoneNumber::metadata` as
//! `None` for Italy) even though `phonenumber::is_valid` accepts them. `classify`
//! applies the crate's own rules, in the crate's order, to the national number as
//! written; for numbers without leading zeros it agrees with the crate exactly.

use std::collections::HashSet;

use phonenumber::metadata::DATABASE;
use phonenumber::{Metadata, Mode, PhoneNumber, Type};

use super::did_type::DidType;

/// Candidate attempts per requested number; bounds the work so generation always
/// terminates, even for regions that cannot yield `count` numbers.
const ATTEMPTS_PER_NUMBER: usize = 50;

/// Up to `count` distinct E.164 numbers ("+33123456789") valid for `iso` and of the phone-number type
/// matching `did_type` (Landline -> FixedLine or FixedLineOrMobile; the three mobile types -> Mobile or FixedLineOrMobile),
/// deterministic for a given (iso, did_type, count, seed). Returns fewer if the region cannot yield that many.
pub fn generate_numbers(iso: &str, did_type: DidType, count: usize, seed: u64) -> Vec<String> {
    let iso = iso.trim().to_ascii_uppercase();
    let Some(meta) = DATABASE.by_id(iso.as_str()) else {
        return Vec::new();
    };
    if count == 0 {
        return Vec::new();
    }
    let templates = templates(meta, did_type);
    if templates.is_empty() {
        return Vec::new();
    }

    let mut rng = SplitMix64::new(seed ^ type_salt(did_type) ^ fnv1a(iso.as_bytes()));
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count.min(1024));
    for _ in 0..count.saturating_mul(ATTEMPTS_PER_NUMBER) {
        if out.len() == count {
            break;
        }
        let template = templates[rng.below(templates.len() as u64) as usize];
        let national = vary_tail(template, &mut rng);
        if !seen.insert(national.clone()) {
            continue;
        }
        if let Some(e164) = accept(meta, did_type, &national) {
            out.push(e164);
        }
    }
    out
}

/// Whether `number` is a valid number of `iso` whose line type suits `did_type`,
/// using the same rules as [`generate_numbers`].
pub fn number_fits(number: &PhoneNumber, iso: &str, did_type: DidType) -> bool {
    let national = number.national().to_string();
    phonenumber::is_valid(number)
        && classify(number.code().value(), &national).is_some_and(|(meta, kind)| {
            meta.id().eq_ignore_ascii_case(iso.trim()) && type_fits(did_type, kind)
        })
}

/// The region metadata and line type of a national significant number (leading
/// zeros included) under `country_code`, mirroring phonenumber's region
/// selection and type classification without dropping leading zeros.
pub fn classify(country_code: u16, national: &str) -> Option<(&'static Metadata, Type)> {
    let regions = DATABASE.region(&country_code)?;
    let meta = if regions.len() == 1 {
        DATABASE.by_id(regions[0])?
    } else {
        regions
            .iter()
            .filter_map(|id| DATABASE.by_id(*id))
            .find(|meta| match meta.leading_digits() {
                Some(pattern) => pattern.find(national).is_some_and(|m| m.start() == 0),
                None => line_type(meta, national) != Type::Unknown,
            })?
    };
    Some((meta, line_type(meta, national)))
}

/// phonenumber's `number_type` rules applied to the national number as written.
fn line_type(meta: &Metadata, national: &str) -> Type {
    let d = meta.descriptors();
    if !d.general().is_match(national) {
        return Type::Unknown;
    }
    let matches = |desc: Option<&phonenumber::metadata::Descriptor>| {
        desc.is_some_and(|desc| desc.is_match(national))
    };
    for (desc, kind) in [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ] {
        if matches(desc) {
            return kind;
        }
    }
    if matches(d.fixed_line()) {
        let same_pattern = d.fixed_line().map(|f| f.national_number().as_str())
            == d.mobile().map(|m| m.national_number().as_str());
        if same_pattern || matches(d.mobile()) {
            return Type::FixedLineOrMobile;
        }
        return Type::FixedLine;
    }
    if matches(d.mobile()) {
        return Type::Mobile;
    }
    Type::Unknown
}

fn type_fits(did_type: DidType, kind: Type) -> bool {
    if did_type.is_mobile_range() {
        matches!(kind, Type::Mobile | Type::FixedLineOrMobile)
    } else {
        matches!(kind, Type::FixedLine | Type::FixedLineOrMobile)
    }
}

/// Example national numbers to vary: the descriptor for the wanted kind first;
/// the other one too when its example is itself of a fitting type (NANP regions,
/// where fixed-line and mobile ranges coincide).
fn templates(meta: &Metadata, did_type: DidType) -> Vec<&str> {
    let d = meta.descriptors();
    let (primary, secondary) = if did_type.is_mobile_range() {
        (d.mobile(), d.fixed_line())
    } else {
        (d.fixed_line(), d.mobile())
    };
    let mut out = Vec::new();
    for example in [primary, secondary]
        .into_iter()
        .flatten()
        .filter_map(|desc| desc.example())
    {
        let fits = line_type(meta, example);
        if type_fits(did_type, fits) && !out.contains(&example) {
            out.push(example);
        }
    }
    out
}

/// Replaces the last few digits with pseudo-random ones: between 3 and 6 of them,
/// but never more than half the national number, so the leading (area / operator)
/// digits of the example survive and most candidates stay in a valid range.
fn vary_tail(template: &str, rng: &mut SplitMix64) -> String {
    let len = template.len();
    let max_tail = (len / 2).clamp(1, 6);
    let min_tail = max_tail.min(3);
    let tail = min_tail + rng.below((max_tail - min_tail + 1) as u64) as usize;
    let mut national = String::with_capacity(len);
    national.push_str(&template[..len - tail]);
    for _ in 0..tail {
        national.push(char::from(b'0' + rng.below(10) as u8));
    }
    national
}

fn accept(meta: &Metadata, did_type: DidType, national: &str) -> Option<String> {
    let text = format!("+{}{}", meta.country_code(), national);
    let number = phonenumber::parse(None, &text).ok()?;
    if number.national().to_string() != national || !number_fits(&number, meta.id(), did_type) {
        return None;
    }
    Some(number.format().mode(Mode::E164).to_string())
}

/// Per-type salt so that the three mobile types (which share number ranges) draw
/// different sequences for the same seed.
fn type_salt(did_type: DidType) -> u64 {
    match did_type {
        DidType::Landline => 0x1A4D_11FE_0000_0001,
        DidType::MobileVoice => 0x3B0B_17E5_0000_0002,
        DidType::MobileSms => 0x5C5D_5A5A_0000_0003,
        DidType::VoiceSms => 0x7E7F_0C5D_0000_0004,
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64: tiny, fast, good enough for picking digits.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough value in `0..bound` (bound > 0; modulo bias is irrelevant here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::{Catalogue, DEFAULT_CATALOGUE};
    use super::*;

    /// Checks that `number` is what `generate_numbers(iso, did_type, ..)` promises,
    /// leaning on phonenumber directly wherever it can judge.
    fn assert_fits(number: &str, iso: &str, did_type: DidType) {
        assert!(
            number.starts_with('+') && number[1..].bytes().all(|b| b.is_ascii_digit()),
            "{number} is not E.164"
        );
        let parsed = phonenumber::parse(None, number).unwrap_or_else(|e| panic!("{number}: {e}"));
        assert!(phonenumber::is_valid(&parsed), "{number} invalid");
        assert_eq!(parsed.format().mode(Mode::E164).to_string(), number);
        let (meta, kind) = classify(parsed.code().value(), &parsed.national().to_string())
            .unwrap_or_else(|| panic!("{number} has no region"));
        assert_eq!(meta.id(), iso, "{number} belongs to {}", meta.id());
        assert!(
            type_fits(did_type, kind),
            "{number} is {kind:?}, not a {did_type}"
        );
        if parsed.national().zeros() == 0 {
            // No leading zero, so phonenumber's own classification applies as is.
            assert_eq!(parsed.number_type(&DATABASE), kind, "{number}");
            assert_eq!(
                parsed.metadata(&DATABASE).map(Metadata::id),
                Some(iso),
                "{number}"
            );
        }
    }

    #[test]
    fn every_catalogue_offer_yields_valid_distinct_numbers() {
        let catalogue = Catalogue::parse(DEFAULT_CATALOGUE).unwrap();
        let mut short = Vec::new();
        for entry in &catalogue.countries {
            for offer in &entry.offers {
                let numbers = generate_numbers(&entry.iso, offer.did_type, 20, 1);
                assert!(
                    numbers.len() >= 5,
                    "{} {} yields only {numbers:?}",
                    entry.iso,
                    offer.did_type
                );
                if numbers.len() < 20 {
                    short.push(format!(
                        "{} {}: {}",
                        entry.iso,
                        offer.did_type,
                        numbers.len()
                    ));
                }
                let distinct: HashSet<&String> = numbers.iter().collect();
                assert_eq!(
                    distinct.len(),
                    numbers.len(),
                    "{} {}",
                    entry.iso,
                    offer.did_type
                );
                for number in &numbers {
                    assert_fits(number, &entry.iso, offer.did_type);
                }
            }
        }
        // Every offer of the shipped catalogue currently yields the full 20.
        assert!(short.is_empty(), "fewer than 20 numbers: {short:?}");
    }

    #[test]
    fn generation_is_deterministic() {
        for (iso, did_type) in [
            ("FR", DidType::Landline),
            ("US", DidType::VoiceSms),
            ("IT", DidType::Landline),
            ("GB", DidType::MobileSms),
        ] {
            let first = generate_numbers(iso, did_type, 20, 42);
            assert_eq!(first.len(), 20, "{iso} {did_type}");
            assert_eq!(first, generate_numbers(iso, did_type, 20, 42));
            assert_eq!(
                first,
                generate_numbers(&iso.to_lowercase(), did_type, 20, 42)
            );
            assert_ne!(
                first,
                generate_numbers(iso, did_type, 20, 43),
                "{iso} seed ignored"
            );
        }
    }

    #[test]
    fn mobile_types_draw_different_numbers() {
        let voice = generate_numbers("GB", DidType::MobileVoice, 10, 7);
        let sms = generate_numbers("GB", DidType::MobileSms, 10, 7);
        let both = generate_numbers("GB", DidType::VoiceSms, 10, 7);
        assert_ne!(voice, sms);
        assert_ne!(voice, both);
        assert_ne!(sms, both);
        for number in voice.iter().chain(&sms).chain(&both) {
            assert!(number.starts_with("+447"), "{number}");
        }
    }

    #[test]
    fn landlines_and_mobiles_come_from_their_own_ranges() {
        for number in generate_numbers("FR", DidType::Landline, 20, 1) {
            assert!(number.starts_with("+331"), "{number}");
        }
        for number in generate_numbers("FR", DidType::MobileVoice, 20, 1) {
            assert!(number.starts_with("+336"), "{number}");
        }
        // Italian landlines keep their leading zero, which phonenumber's own
        // `number_type` cannot classify; `classify` can.
        let italian = generate_numbers("IT", DidType::Landline, 20, 1);
        assert_eq!(italian.len(), 20);
        for number in &italian {
            assert!(number.starts_with("+390"), "{number}");
            let parsed = phonenumber::parse(None, number).unwrap();
            assert_eq!(
                parsed.number_type(&DATABASE),
                Type::Unknown,
                "crate behaviour changed"
            );
        }
    }

    #[test]
    fn respects_count_and_unknown_input() {
        assert!(generate_numbers("FR", DidType::Landline, 0, 1).is_empty());
        assert_eq!(generate_numbers("FR", DidType::Landline, 3, 1).len(), 3);
        assert!(generate_numbers("ZZ", DidType::Landline, 5, 1).is_empty());
        assert!(generate_numbers("", DidType::Landline, 5, 1).is_empty());
        // Tristan da Cunha has no mobile range in the metadata.
        assert!(generate_numbers("TA", DidType::MobileVoice, 5, 1).is_empty());
        // Isle of Man mobiles (+44 7924…) are attributed to GB by the metadata's
        // region rules, so none can be generated for IM.
        assert!(generate_numbers("IM", DidType::MobileVoice, 5, 1).is_empty());
    }

    #[test]
    fn small_numbering_plans_run_dry_without_looping() {
        // Niue landlines are 4 digits: only a couple of digits are varied, so a
        // large request is capped by the space of valid numbers.
        let numbers = generate_numbers("NU", DidType::Landline, 500, 1);
        assert!(
            !numbers.is_empty() && numbers.len() < 500,
            "{}",
            numbers.len()
        );
        let distinct: HashSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len());
    }

    #[test]
    fn number_fits_matches_generation_rules() {
        let fr_landline = phonenumber::parse(None, "+33123456789").unwrap();
        assert!(number_fits(&fr_landline, "FR", DidType::Landline));
        assert!(number_fits(&fr_landline, "fr", DidType::Landline));
        assert!(!number_fits(&fr_landline, "FR", DidType::MobileSms));
        assert!(!number_fits(&fr_landline, "DE", DidType::Landline));
        let us = phonenumber::parse(None, "+12015550123").unwrap();
        assert!(number_fits(&us, "US", DidType::Landline));
        assert!(number_fits(&us, "US", DidType::VoiceSms));
        assert!(!number_fits(&us, "PR", DidType::Landline));
    }
}
