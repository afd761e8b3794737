//! `/operator/audit`: the audit log, newest first, filtered by actor or target.

use super::super::page::{alert, message, when};
use super::super::session::{CsrfToken, OperatorSession};
use super::{page, query_link, refused_unless};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::store::audit::AuditFilter;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    before: Option<i64>,
}

fn filled(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

pub async fn show(
    State(state): State<AppState>,
    operator: OperatorSession,
    csrf: CsrfToken,
    Query(query): Query<AuditQuery>,
) -> Response {
    if let Some(refused) = refused_unless(&operator.0, &csrf, Access::Read) {
        return refused;
    }
    let filter = AuditFilter {
        actor: filled(&query.actor),
        target: filled(&query.target),
        ..AuditFilter::default()
    };
    let rows = state
        .service
        .audit_log(&filter, query.before, PAGE_SIZE)
        .await;
    let body = html! {
        form.inline method="get" action="/operator/audit" role="search" {
            div { label for="audit-actor" { "Operator key name" } input #audit-actor name="actor" value=(query.actor); }
            div { label for="audit-target" { "Target (account:7, number:+33…)" } input #audit-target name="target" value=(query.target); }
            button type="submit" { "Filter" }
        }
        @match &rows {
            Err(error) => (alert(&message(error))),
            Ok(rows) => {
                div.scroll tabindex="0" role="region" aria-label="Table, scrolls sideways" { table #audit {
                    caption { "Audit log, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Before" } th scope="col" { "After" } } }
                    tbody { @for r in rows { tr {
                        td { (when(r.created_at)) } td { (r.actor) } td { (r.action) } td { (r.target) }
                        td { code { (r.before_json.as_deref().unwrap_or("")) } } td { code { (r.after_json.as_deref().unwrap_or("")) } } } } }
                } }
                @if rows.len() as i64 == PAGE_SIZE {
                    @if let Some(last) = rows.last() {
                        nav.pager aria-label="Pages" { a rel="next" href=(query_link("/operator/audit", &[("actor", &query.actor), ("target", &query.target), ("before", &last.id.to_string())])) { "Older" } }
                    }
                }
            }
        }
    };
    page(&csrf, "Audit log", body)
}
