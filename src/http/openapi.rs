//! The OpenAPI document, generated from the handlers' annotations. A copy is
//! committed as `openapi.json`; a test fails when the two drift apart.

use super::compat;
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "didhub", description = "DID number provisioning API, compatible with the PBXme flow"),
    paths(
        compat::login,
        compat::logout,
        compat::balance,
        compat::ledger,
        compat::type_list,
        compat::available,
        compat::assign,
        compat::list,
        compat::forward,
        compat::release,
    ),
    tags((name = "provisioning", description = "Search, buy, forward and release numbers"))
)]
struct ApiDoc;

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed copy drift on every release bump.
    doc.info.version = "1".to_owned();
    doc
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
