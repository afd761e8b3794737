//! A number's history on `/operator/numbers`: its events newest first, from
//! the same `number_history` as `GET /admin/v1/numbers/{number}/history`,
//! paged with the event position as the cursor.

use super::super::page::{day, when};
use super::query_link;
use crate::http::AppState;
use crate::service::{Error, Event};
use maud::{Markup, html};
use serde_json::Value;

/// Events per page.
const PAGE: i64 = 20;

/// `before` is the cursor a previous page linked to ("" for the newest).
pub async fn section(state: &AppState, number: &str, before: &str) -> Result<Markup, Error> {
    let before_seq = match before.trim() {
        "" => None,
        text => Some(text.parse::<i64>().map_err(|_| {
            Error::bad_request("invalid_cursor", "cursor is not one this page linked to")
        })?),
    };
    let events = state
        .service
        .number_history(number, before_seq, PAGE)
        .await?;
    let next = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(html! {
        section #history aria-labelledby="history-title" {
            h2 #history-title { "History" }
            @if events.is_empty() { p { "Nothing has happened to this number yet." } }
            @else {
                div.scroll tabindex="0" role="region" aria-label="History, scrolls sideways" {
                    table #history-events {
                        caption { "Events, newest first" }
                        thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Account" } th scope="col" { "Details" } } }
                        tbody { @for e in &events { (row(e)) } }
                    }
                }
            }
            @if let Some(cursor) = next {
                a #history-older href=(query_link("/operator/numbers", &[("number", number), ("before", &cursor)])) { "Older events" }
            }
        }
    })
}

fn row(event: &Event) -> Markup {
    let what = event
        .event_type
        .strip_prefix("number.")
        .unwrap_or(&event.event_type)
        .replace('_', " ");
    html! {
        tr {
            td { (when(event.created_at)) }
            td { (what) }
            td { @if let Some(id) = event.account_id { a href={ "/operator/accounts/" (id) } { "#" (id) } } }
            td { (details(&event.data)) }
        }
    }
}

/// The number's state right after the event: status, forwarding, paid-through.
fn details(data: &Value) -> String {
    let number = &data["number"];
    let mut parts = Vec::new();
    if let Some(status) = number["status"].as_str() {
        parts.push(status.to_owned());
    }
    if let (Some(kind), Some(to)) = (
        number["forward"]["kind"].as_str(),
        number["forward"]["destination"].as_str(),
    ) {
        parts.push(format!("forwarded ({kind}) to {to}"));
    }
    if let Some(paid) = number["paid_through"].as_i64() {
        parts.push(format!("paid through {}", day(paid)));
    }
    parts.join(", ")
}
