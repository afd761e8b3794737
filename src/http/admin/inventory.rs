//! `/admin/v1/inventory`: CSV upload (the rules of `didhub inventory import`)
//! and counts by country, type and status.

use super::accounts::amount;
use super::{Admin, json_body, limit, query};
use crate::domain::operator::Access;
use crate::domain::{Currency, DidType};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, error_response};
use crate::http::wire::DidJson;
use crate::service::{Did, ImportReport, InventoryImport, LineSplitter, Repricing};
use crate::store::dids::{InventoryCount, NumberFilter};
use axum::body::{Body, Bytes};
use axum::extract::RawQuery;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::Serialize;
use utoipa::IntoParams;
use utoipa::ToSchema;

/// Largest CSV upload.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/inventory",
            // The upload enforces its own, larger limit while reading.
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/admin/v1/inventory/counts", get(counts))
        .route("/admin/v1/inventory/numbers", get(list))
        .route("/admin/v1/inventory/reprice", post(reprice))
}

#[derive(Serialize, ToSchema)]
pub struct RejectedLine {
    /// 1-based line in the file, counting the header.
    pub line: u64,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct UploadReport {
    /// Valid lines (inserted + updated + unchanged + in_use).
    pub accepted: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Lines naming a sold or aging number with other terms: left as they are.
    pub in_use: u64,
    /// Every rejected line...
    pub rejected_count: u64,
    /// ...of which the first 1000, by line number.
    pub rejected: Vec<RejectedLine>,
}

impl From<ImportReport> for UploadReport {
    fn from(report: ImportReport) -> UploadReport {
        UploadReport {
            accepted: report.inserted + report.updated + report.unchanged + report.in_use,
            inserted: report.inserted,
            updated: report.updated,
            unchanged: report.unchanged,
            in_use: report.in_use,
            rejected_count: report.rejected,
            rejected: report
                .problems
                .into_iter()
                .map(|p| RejectedLine {
                    line: p.line,
                    reason: p.message,
                })
                .collect(),
        }
    }
}

fn too_large(read: &ImportReport) -> Response {
    let accepted = read.inserted + read.updated + read.unchanged + read.in_use;
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!(
            "a CSV upload is at most 100 MB; the lines before the limit were imported \
             ({accepted} accepted, {} rejected): send the rest as another file",
            read.rejected
        ),
    )
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"))
}

/// How reading an upload ended.
enum Received {
    Whole,
    TooLarge,
    BrokenOff,
}

/// Feeds the body to `import` line by line as it arrives.
async fn read_lines(import: &mut InventoryImport<'_>, body: Body) -> Result<Received, ApiError> {
    let mut stream = body.into_data_stream();
    let mut lines = LineSplitter::default();
    let mut received = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Ok(Received::BrokenOff);
        };
        received += chunk.len();
        if received > MAX_UPLOAD_BYTES {
            return Ok(Received::TooLarge);
        }
        lines.push(&chunk);
        while let Some(line) = lines.next_line() {
            import.line(line).await?;
        }
    }
    if let Some(line) = lines.finish() {
        import.line(line).await?;
    }
    Ok(Received::Whole)
}

/// Upload inventory as CSV (admin): number,country,type,setup_fee,monthly_cost[,currency][,region].
/// Read line by line as it arrives, with the rules of `didhub inventory import`;
/// valid lines are written in batches of 1000 while the rest is still coming.
#[utoipa::path(post, path = "/admin/v1/inventory", tag = "admin",
    request_body(content = String, content_type = "text/csv"),
    security(("operator_key" = [])),
    responses((status = 200, body = UploadReport), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Admin(op): Admin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    op.require(Access::Manage)?;
    if !is_csv(&headers) {
        return Ok(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the inventory as Content-Type: text/csv",
        ));
    }
    if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_UPLOAD_BYTES)
    {
        return Ok(too_large(&ImportReport::default()));
    }
    let mut import = state.service.inventory_import(Some(&op));
    let received = read_lines(&mut import, body).await?;
    // What was read is written and announced whatever the ending.
    let report = import.finish().await?;
    match received {
        Received::Whole => Ok(Json(UploadReport::from(report)).into_response()),
        Received::TooLarge => Ok(too_large(&report)),
        Received::BrokenOff => Err(ApiError::bad_request(
            "invalid_body",
            "the upload broke off; the lines read were imported: send the file again",
        )),
    }
}

#[derive(Serialize, ToSchema)]
pub struct InventoryCountJson {
    pub country: String,
    #[serde(rename = "type")]
    pub did_type: String,
    /// available, assigned, aging or withdrawn.
    pub status: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct InventoryCounts {
    pub counts: Vec<InventoryCountJson>,
}

/// Numbers per country, type and status (readonly).
#[utoipa::path(get, path = "/admin/v1/inventory/counts", tag = "admin",
    security(("operator_key" = [])),
    responses((status = 200, body = InventoryCounts), (status = 401, body = ErrorBody)))]
pub async fn counts(
    State(state): State<AppState>,
    Admin(op): Admin,
) -> Result<Json<InventoryCounts>, ApiError> {
    op.require(Access::Read)?;
    let counts = state.service.inventory_counts().await?;
    Ok(Json(counts.into()))
}

impl From<Vec<InventoryCount>> for InventoryCounts {
    fn from(counts: Vec<InventoryCount>) -> InventoryCounts {
        InventoryCounts {
            counts: counts
                .into_iter()
                .map(|c| InventoryCountJson {
                    country: c.country,
                    did_type: c.did_type,
                    status: c.status,
                    count: c.count,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NumberParams {
    /// available, assigned, aging or withdrawn.
    status: Option<String>,
    /// ISO 3166-1 alpha-2.
    country: Option<String>,
    /// landline, mobile_voice, mobile_sms or voice_sms.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    did_type: Option<String>,
    /// Owner account id.
    account: Option<i64>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NumberPage {
    pub numbers: Vec<DidJson>,
    pub next_cursor: Option<String>,
}

pub(super) fn did_type(text: Option<&str>) -> Result<Option<String>, ApiError> {
    text.map(|t| {
        DidType::parse(t)
            .map(|d| d.code().to_owned())
            .ok_or_else(|| ApiError::bad_request("invalid_type", format!("unknown type {t}")))
    })
    .transpose()
}

pub(super) fn country(text: Option<&str>) -> Result<Option<String>, ApiError> {
    text.map(|t| {
        crate::domain::CountryCode::parse(t)
            .map(|c| c.as_str().to_owned())
            .ok_or_else(|| ApiError::bad_request("invalid_country", format!("unknown country {t}")))
    })
    .transpose()
}

/// Numbers by status, country, type and owner, in number order (readonly).
#[utoipa::path(get, path = "/admin/v1/inventory/numbers", tag = "admin", params(NumberParams),
    security(("operator_key" = [])),
    responses((status = 200, body = NumberPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Admin(op): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<NumberPage>, ApiError> {
    op.require(Access::Read)?;
    let params: NumberParams = query(raw.as_deref())?;
    let limit = limit(params.limit)?;
    if let Some(status) = params.status.as_deref()
        && !["available", "assigned", "aging", "withdrawn"].contains(&status)
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            "status must be available, assigned, aging or withdrawn",
        ));
    }
    let filter = NumberFilter {
        status: params.status,
        country: country(params.country.as_deref())?,
        did_type: did_type(params.did_type.as_deref())?,
        account_id: params.account,
    };
    let after = params.cursor.unwrap_or_default();
    let numbers = state.service.number_page(&filter, &after, limit).await?;
    Ok(Json(NumberPage::new(&numbers, limit)))
}

impl NumberPage {
    /// A page of at most `limit` numbers; a full one has a cursor.
    pub fn new(numbers: &[Did], limit: i64) -> NumberPage {
        NumberPage {
            numbers: numbers.iter().map(DidJson::from).collect(),
            next_cursor: (numbers.len() as i64 == limit)
                .then(|| numbers.last().map(|d| d.number.clone()))
                .flatten(),
        }
    }
}

/// At most this many numbers per reprice request.
const MAX_REPRICE_NUMBERS: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepriceInput {
    /// Reprice available numbers of this country...
    country: Option<String>,
    /// ...and/or this type...
    #[serde(rename = "type")]
    did_type: Option<String>,
    /// ...or exactly these numbers (E.164, at most 1000).
    #[serde(default)]
    numbers: Vec<String>,
    /// The numbers' currency (ISO 4217): only numbers priced in it change.
    currency: String,
    #[schema(example = "1.00")]
    setup_fee: String,
    #[schema(example = "2.50")]
    monthly_cost: String,
}

#[derive(Serialize, ToSchema)]
pub struct Repriced {
    /// Available numbers whose prices were set.
    pub changed: u64,
}

/// Set the prices of available numbers; sold numbers keep their terms (admin).
#[utoipa::path(post, path = "/admin/v1/inventory/reprice", tag = "admin",
    request_body = RepriceInput, security(("operator_key" = [])),
    responses((status = 200, body = Repriced), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn reprice(
    State(state): State<AppState>,
    Admin(op): Admin,
    body: Bytes,
) -> Result<Json<Repriced>, ApiError> {
    op.require(Access::Manage)?;
    let input: RepriceInput = json_body(&body)?;
    if input.country.is_none() && input.did_type.is_none() && input.numbers.is_empty() {
        return Err(ApiError::bad_request(
            "missing_field",
            "name a country, a type or the numbers to reprice",
        ));
    }
    if input.numbers.len() > MAX_REPRICE_NUMBERS {
        return Err(ApiError::bad_request(
            "too_many_numbers",
            "at most 1000 numbers per request",
        ));
    }
    let currency = Currency::parse(&input.currency).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_currency",
            format!("unknown currency {}", input.currency),
        )
    })?;
    let repricing = Repricing {
        filter: NumberFilter {
            country: country(input.country.as_deref())?,
            did_type: did_type(input.did_type.as_deref())?,
            ..NumberFilter::default()
        },
        numbers: input.numbers,
        currency,
        setup_minor: amount(currency, &input.setup_fee)?,
        monthly_minor: amount(currency, &input.monthly_cost)?,
    };
    let changed = state.service.reprice_as(&op, &repricing).await?;
    Ok(Json(Repriced { changed }))
}
