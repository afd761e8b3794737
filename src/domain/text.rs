//! Characters no input field may carry. PostgreSQL refuses NUL in text
//! (`invalid byte sequence for encoding "UTF8": 0x00`), SQLite stores it and
//! cuts strings at it in C APIs, and the other control characters have no place
//! in usernames, tokens, numbers or SIP URIs, where they only serve to smuggle
//! line breaks into logs, SIP headers or XML.

/// C0 controls (U+0000–U+001F, tab and line breaks included), DEL (U+007F) and
/// C1 controls (U+0080–U+009F): exactly what `char::is_control` matches.
pub fn is_refused_char(c: char) -> bool {
    c.is_control()
}

/// The first refused character of `text`, if any.
pub fn refused_char(text: &str) -> Option<char> {
    text.chars().find(|c| is_refused_char(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_refused_and_printable_text_is_not() {
        for bad in [
            "a\0b",
            "tab\there",
            "line\n",
            "\r",
            "del\u{7f}",
            "c1\u{85}",
            "\u{9f}",
        ] {
            assert!(refused_char(bad).is_some(), "{bad:?}");
        }
        for good in [
            "alice",
            "sip:a@b.com",
            "+33 1 23",
            "é€漢字",
            "a b",
            "\u{a0}",
        ] {
            assert_eq!(refused_char(good), None, "{good:?}");
        }
    }
}
