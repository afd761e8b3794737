//! `GET /search`: the API's `did/available`, as a form and a table.

use super::super::page::{alert, countries, message, money_in, number};
use super::super::session::{CsrfToken, Customer};
use super::page;
use crate::domain::DidType;
use crate::http::AppState;
use crate::service::{SearchPage, SearchQuery};
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

const PAGE_SIZE: i64 = 20;

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct SearchForm {
    #[serde(default)]
    country: String,
    #[serde(default, rename = "type")]
    did_type: String,
    /// An area code as dialled in the country ("01"), or a "+" prefix.
    #[serde(default)]
    area: String,
    #[serde(default)]
    contains: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cursor: String,
}

fn filled(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl SearchForm {
    /// The service's query; a country may be typed as its code or its name.
    /// The search as `account_id` sees it (its own holds stay in the results).
    fn query(&self, account_id: i64) -> SearchQuery {
        let typed = self.country.trim();
        let country = countries()
            .into_iter()
            .find(|(code, name)| {
                code.eq_ignore_ascii_case(typed) || name.eq_ignore_ascii_case(typed)
            })
            .map_or_else(|| typed.to_owned(), |(code, _)| code.to_owned());
        let area = filled(&self.area);
        let (prefix, area_code) = match area {
            Some(a) if a.starts_with('+') => (Some(a), None),
            other => (None, other),
        };
        SearchQuery {
            country,
            did_type: filled(&self.did_type),
            prefix,
            area_code,
            contains: filled(&self.contains),
            limit: Some(PAGE_SIZE),
            cursor: filled(&self.cursor),
            viewer: Some(account_id),
        }
    }

    fn next_page(&self, cursor: &str) -> String {
        let next = SearchForm {
            cursor: cursor.to_owned(),
            ..self.clone()
        };
        format!(
            "/search?{}",
            serde_urlencoded::to_string(&next).unwrap_or_default()
        )
    }
}

fn form(values: &SearchForm) -> Markup {
    html! {
        form.search method="get" action="/search" role="search" {
            div.field {
                label for="country" { "Country (code or name)" }
                input #country name="country" list="country-list" required autocomplete="off"
                    value=(values.country) placeholder="FR";
                datalist #country-list {
                    @for (code, name) in countries() { option value=(code) { (name) } }
                }
            }
            div.field {
                label for="type" { "Type" }
                select #type name="type" {
                    option value="" { "Any type" }
                    @for t in DidType::ALL {
                        option value=(t.code()) selected[values.did_type == t.code()] { (t.display_name()) }
                    }
                }
            }
            div.field {
                label for="area" { "Area code or +prefix" }
                input #area name="area" inputmode="tel" value=(values.area) placeholder="01 or +331";
            }
            div.field {
                label for="contains" { "Digits contained" }
                input #contains name="contains" inputmode="numeric" value=(values.contains);
            }
            button type="submit" { "Search" }
        }
    }
}

fn results(values: &SearchForm, found: &SearchPage) -> Markup {
    html! {
        @if found.dids.is_empty() {
            p role="status" { "No number matches: try another area code or type." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" {
                table #results {
                    caption { "Numbers on sale" }
                    thead { tr { th scope="col" { "Number" } th scope="col" { "Type" } th scope="col" { "Region" }
                        th scope="col" { "Setup" } th scope="col" { "Monthly" } th scope="col" { span.sr { "Action" } } } }
                    tbody {
                        @for entry in &found.dids {
                            @let did = &entry.did;
                            tr {
                                td { (number(&did.number, &did.country)) }
                                td { (did.did_type.display_name()) }
                                td { (did.region.as_deref().unwrap_or("")) }
                                td { (money_in(&did.currency, did.setup_minor)) }
                                td { (money_in(&did.currency, did.monthly_minor)) }
                                td { a href={ "/buy/" (did.id) } aria-label={ "Buy " (did.number) } { "Buy…" } }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if !values.cursor.is_empty() {
                    a href=(SearchForm { cursor: String::new(), ..values.clone() }.next_page("")) { "First page" }
                }
                @if let Some(cursor) = &found.next_cursor {
                    a rel="next" href=(values.next_page(cursor)) { "Next page" }
                }
            }
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    customer: Customer,
    csrf: CsrfToken,
    Query(values): Query<SearchForm>,
) -> Response {
    let outcome = if values.country.trim().is_empty() {
        None
    } else {
        Some(
            state
                .service
                .search_available(&values.query(customer.account_id))
                .await,
        )
    };
    let body = html! {
        (form(&values))
        @match &outcome {
            None => p { "Choose a country to see the numbers on sale." },
            Some(Ok(found)) => (results(&values, found)),
            Some(Err(error)) => (alert(&message(error))),
        }
    };
    page(&csrf, "Buy a number", body)
}
