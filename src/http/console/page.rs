//! The page skeleton and the formatting every console page shares.

use super::session::CsrfToken;
use crate::domain::Currency;
use crate::domain::billing::rfc3339;
use crate::domain::catalogue::{Catalogue, DEFAULT_CATALOGUE};
use crate::domain::phone::international_format;
use crate::service::Error;
use maud::{DOCTYPE, Markup, html};
use std::sync::LazyLock;

/// Which console a page belongs to: its title, home and navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Customer,
    Operator,
}

/// The navigation links of a signed-in page, and the token its log-out form needs.
pub type Nav<'a> = Option<(&'a [(&'a str, &'a str)], &'a CsrfToken)>;

/// A page: title, navigation (when signed in) and body.
pub fn layout(side: Side, title: &str, nav: Nav<'_>, body: Markup) -> Markup {
    let (brand, home, logout) = match side {
        Side::Customer => ("didhub", "/", "/logout"),
        Side::Operator => ("didhub operator", "/operator", "/operator/logout"),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (brand) }
                link rel="stylesheet" href="/console/console.css";
                script src="/console/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(home) { (brand) }
                    @if let Some((links, csrf)) = nav {
                        nav aria-label="Main" {
                            ul {
                                @for (href, label) in links {
                                    li { a href=(href) { (label) } }
                                }
                            }
                        }
                        form.logout method="post" action=(logout) {
                            (csrf_field(csrf))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form carries.
pub fn csrf_field(csrf: &CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf.0); }
}

/// An amount with its currency: "12.50 USD".
pub fn money(currency: Currency, minor: i64) -> String {
    format!("{} {}", currency.format_minor(minor), currency.code())
}

/// An amount in a currency given by its code.
pub fn money_in(code: &str, minor: i64) -> String {
    money(Currency::parse(code).unwrap_or(Currency::USD), minor)
}

/// A number in international format with its country: "+33 1 23 45 67 89 (France)".
pub fn number(e164: &str, country: &str) -> String {
    format!("{} ({})", international_format(e164), country_name(country))
}

/// A date and time in UTC, as the API writes them.
pub fn when(unix: i64) -> String {
    rfc3339(unix).replace('T', " ").replace('Z', " UTC")
}

/// A day in UTC.
pub fn day(unix: i64) -> String {
    rfc3339(unix).chars().take(10).collect()
}

static CATALOGUE: LazyLock<Option<Catalogue>> =
    LazyLock::new(|| Catalogue::parse(DEFAULT_CATALOGUE).ok());

/// The countries of the catalogue, code and name.
pub fn countries() -> Vec<(&'static str, &'static str)> {
    CATALOGUE
        .as_ref()
        .map(|c| {
            c.countries
                .iter()
                .map(|e| (e.iso.as_str(), e.name.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn country_name(iso: &str) -> &str {
    CATALOGUE
        .as_ref()
        .and_then(|c| c.country(iso))
        .map_or(iso, |e| e.name.as_str())
}

/// What the service said, for a person: its message (internal causes are
/// logged here and never shown).
pub fn message(error: &Error) -> String {
    if let Error::Internal(cause) = error {
        tracing::error!(%cause, "internal error");
    }
    error.to_string()
}

/// A message box: `role="alert"` so screen readers announce it.
pub fn alert(text: &str) -> Markup {
    html! { p.alert role="alert" { (text) } }
}

pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}
