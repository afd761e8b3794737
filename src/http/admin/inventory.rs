//! `/admin/v1/inventory`: CSV upload (the rules of `didhub inventory import`)
//! and counts by country, type and status.

use super::Admin;
use crate::domain::operator::Access;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, error_response};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
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
    pub rejected: Vec<RejectedLine>,
}

fn too_large() -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "a CSV upload is at most 100 MB",
    )
}

/// Upload inventory as CSV (admin): number,country,type,setup_fee,monthly_cost[,currency][,region].
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
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if !is_csv {
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
        return Ok(too_large());
    }
    // Read up to the limit as it arrives; a chunked body that runs over stops here.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await else {
        return Ok(too_large());
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("invalid_csv", "the CSV must be UTF-8"))?;
    let report = state.service.import_inventory_as(Some(&op), text).await?;
    let accepted = report.inserted + report.updated + report.unchanged + report.in_use;
    Ok(Json(UploadReport {
        accepted,
        inserted: report.inserted,
        updated: report.updated,
        unchanged: report.unchanged,
        in_use: report.in_use,
        rejected: report
            .problems
            .into_iter()
            .map(|p| RejectedLine {
                line: p.line,
                reason: p.message,
            })
            .collect(),
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct InventoryCountJson {
    pub country: String,
    #[serde(rename = "type")]
    pub did_type: String,
    /// available, assigned or aging.
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
    Ok(Json(InventoryCounts {
        counts: counts
            .into_iter()
            .map(|c| InventoryCountJson {
                country: c.country,
                did_type: c.did_type,
                status: c.status,
                count: c.count,
            })
            .collect(),
    }))
}
