//! `GET /admin/v1/accounts/{id}/statement`: any account's monthly statement,
//! the same document the account holder gets (role billing).

use super::{Admin, path_id, query};
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::billing::render_statement;
use crate::http::error::{ApiError, ErrorBody};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use utoipa::IntoParams;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/accounts/{id}/statement", get(statement))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// YYYY-MM.
    month: String,
    /// json (default) or csv.
    format: Option<String>,
}

/// An account's statement for a month: opening balance, entries, totals per kind, closing balance (billing).
#[utoipa::path(get, path = "/admin/v1/accounts/{id}/statement", tag = "admin", params(StatementParams),
    security(("operator_key" = [])),
    responses((status = 200, description = "JSON; with format=csv, CSV",
               content((crate::http::billing::StatementResponse = "application/json"), (String = "text/csv"))),
              (status = 400, description = "invalid_month, invalid_format or invalid_query", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    Admin(op): Admin,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    op.require(Access::Money)?;
    let id = path_id(&id)?;
    let params: StatementParams = query(raw.as_deref())?;
    let statement = state.service.statement(id, &params.month).await?;
    render_statement(&statement, params.format.as_deref())
}
