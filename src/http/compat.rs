//! The seed's DID provisioning API (`POST /api/...`), field for field.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::input::ApiInput;
use super::wire::*;
use crate::domain::DidType;
use crate::domain::billing::rfc3339;
use crate::service::{AssignRequest, ForwardRequest, SearchPage, SearchQuery};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) async fn account_of(state: &AppState, input: &ApiInput) -> Result<i64, ApiError> {
    let token = input
        .token()
        .ok_or(ApiError(crate::service::Error::Unauthorized))?;
    Ok(state.service.authenticate(token, input.client()).await?)
}

// Request bodies are described in `openapi/requests.rs`: handlers read fields
// through `ApiInput`, so that form and JSON bodies share one path.

/// Log in and receive the `account_token` for all other calls.
#[utoipa::path(post, path = "/api/login", tag = "provisioning",
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
              (status = 429, description = "Too many logins or failures from this address or for this username; see Retry-After", body = ErrorBody),
              (status = 503, description = "Too many logins in progress (`busy`); see Retry-After", body = ErrorBody)))]
pub async fn login(State(state): State<AppState>, input: ApiInput) -> ApiResult<LoginResponse> {
    let outcome = state
        .service
        .login(
            input.raw("username").unwrap_or(""),
            input.raw("password").unwrap_or(""),
            input.client(),
        )
        .await?;
    Ok(Json(LoginResponse {
        account_token: outcome.token,
        token_type: "Bearer".to_owned(),
        expires_at: rfc3339(outcome.expires_at),
        username: outcome.username,
    }))
}

/// Revoke the token used for this call.
#[utoipa::path(post, path = "/api/logout", tag = "provisioning",
    responses((status = 200, body = StatusResponse), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, input: ApiInput) -> ApiResult<StatusResponse> {
    account_of(&state, &input).await?;
    if let Some(token) = input.token() {
        state.service.logout(token).await?;
    }
    Ok(Json(StatusResponse {
        status: "logged_out".to_owned(),
    }))
}

/// The account's balance.
#[utoipa::path(post, path = "/api/balance", tag = "provisioning",
    responses((status = 200, body = BalanceResponse), (status = 401, body = ErrorBody)))]
pub async fn balance(State(state): State<AppState>, input: ApiInput) -> ApiResult<BalanceResponse> {
    let account_id = account_of(&state, &input).await?;
    let account = state.service.account_summary(account_id).await?;
    let low = state.service.billing_settings(account_id).await?;
    Ok(Json(BalanceResponse {
        balance: account.currency.format_minor(account.balance_minor),
        currency: account.currency.code().to_owned(),
        low_balance_threshold: low
            .low_balance_minor
            .map(|t| account.currency.format_minor(t)),
        below_threshold: low.low_balance_minor.map(|_| low.below_threshold),
    }))
}

/// The DID types on sale.
#[utoipa::path(post, path = "/api/did/type-list", tag = "provisioning",
    responses((status = 200, body = TypeListResponse), (status = 401, body = ErrorBody)))]
pub async fn type_list(
    State(state): State<AppState>,
    input: ApiInput,
) -> ApiResult<TypeListResponse> {
    account_of(&state, &input).await?;
    Ok(Json(TypeListResponse {
        types: DidType::ALL
            .iter()
            .map(|t| DidTypeJson {
                code: t.code().to_owned(),
                name: t.display_name().to_owned(),
                capabilities: t.capabilities().into_iter().map(str::to_owned).collect(),
            })
            .collect(),
    }))
}

/// Search available numbers in a country.
#[utoipa::path(post, path = "/api/did/available", tag = "provisioning",
    responses((status = 200, body = AvailableResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn available(
    State(state): State<AppState>,
    input: ApiInput,
) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    let query = SearchQuery {
        country: input.required("country")?.to_owned(),
        did_type: input.optional("type").map(str::to_owned),
        prefix: input.optional("prefix").map(str::to_owned),
        area_code: input.optional("area_code").map(str::to_owned),
        contains: input.optional("contains").map(str::to_owned),
        limit: input.optional_int("limit")?,
        cursor: input.optional("cursor").map(str::to_owned),
        viewer: Some(account_id),
    };
    let page = state.service.search_available(&query).await?;
    Ok(render_available(&page))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Writes an `AvailableResponse` from each number's cached rendering. By hand,
/// because serialising a page afresh is most of a search's cost; a test keeps
/// it identical to serde's output of the same struct.
pub(super) fn render_available(page: &SearchPage) -> Response {
    let mut body = String::with_capacity(96 + page.dids.len() * 320);
    body.push_str("{\"country\":");
    body.push_str(&to_json(&page.country.as_str()));
    body.push_str(",\"count\":");
    body.push_str(&page.dids.len().to_string());
    body.push_str(",\"dids\":[");
    for (i, entry) in page.dids.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(
            entry
                .rendered
                .get_or_init(|| to_json(&DidJson::from(&entry.did)).into()),
        );
    }
    body.push_str("],\"next_cursor\":");
    body.push_str(&to_json(&page.next_cursor.as_deref()));
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Buy a number: setup fee and first month are charged at once.
#[utoipa::path(post, path = "/api/did/assign", tag = "provisioning",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key replay the first answer")),
    responses((status = 200, body = AssignResponse),
              (status = 402, description = "insufficient_balance", body = ErrorBody),
              (status = 404, description = "did_not_found", body = ErrorBody),
              (status = 409, description = "did_not_available, or did_held (another account holds it)", body = ErrorBody),
              (status = 422, description = "idempotency_key_reused or currency_mismatch", body = ErrorBody)))]
pub async fn assign(State(state): State<AppState>, input: ApiInput) -> Result<Response, ApiError> {
    let account_id = account_of(&state, &input).await?;
    if super::orders::wants_order(&input)? {
        return super::orders::assign_several(&state, account_id, &input).await;
    }
    let request = AssignRequest {
        did_id: input.positive_id("did_id")?,
        idempotency_key: input.idempotency_key()?,
    };
    let purchase = state.service.assign(account_id, &request).await?;
    let mut response = Json(AssignResponse::from(&purchase)).into_response();
    if purchase.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The account's numbers with their forwarding.
#[utoipa::path(post, path = "/api/did/list", tag = "provisioning",
    responses((status = 200, body = ListResponse), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, input: ApiInput) -> ApiResult<ListResponse> {
    let account_id = account_of(&state, &input).await?;
    let dids = state.service.list_numbers(account_id).await?;
    let grace = state.service.settings().renewal_grace_secs;
    let calls = state.service.call_counts(account_id).await?;
    Ok(Json(ListResponse {
        count: dids.len(),
        dids: dids
            .iter()
            .map(|did| {
                DidJson::from(did)
                    .with_grace(did, grace)
                    .with_calls(calls.get(&did.id).copied().unwrap_or_default())
            })
            .collect(),
    }))
}

/// Point a number at an extension, a PSTN number, a SIP URI, the DISA service
/// or an IP; or at up to five of them, tried in order (`forwards` in JSON, or
/// `type`/`destination`/`timeout_seconds` repeated in a form). `type=none` or
/// an empty list removes the forward.
#[utoipa::path(post, path = "/api/did/forward", tag = "provisioning",
    responses((status = 200, body = DidJson),
              (status = 400, description = "invalid_forward_type, invalid_destination, invalid_timeout, too_many_forwards, destination_not_allowed (a refused address, a host name resolving to one, or a denied PSTN prefix), destination_unresolvable, or invalid_characters", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "pbx_host_required, disa_not_configured or pstn_gateway_required", body = ErrorBody)))]
pub async fn forward(State(state): State<AppState>, input: ApiInput) -> ApiResult<DidJson> {
    let account_id = account_of(&state, &input).await?;
    let did_id = input.positive_id("did_id")?;
    let requests = forward_requests(&input)?;
    let did = state
        .service
        .set_forward(account_id, did_id, &requests)
        .await?;
    Ok(Json(DidJson::from(&did)))
}

/// The destinations of a `did/forward` request, in order.
fn forward_requests(input: &ApiInput) -> Result<Vec<ForwardRequest>, ApiError> {
    if let Some(items) = input.forwards() {
        if ["type", "destination", "timeout_seconds"]
            .iter()
            .any(|name| input.raw(name).is_some())
        {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give either forwards or type, destination and timeout_seconds, not both",
            ));
        }
        return Ok(items
            .iter()
            .map(|item| ForwardRequest {
                kind: item.kind.clone(),
                destination: item.destination.clone(),
                timeout_seconds: item.timeout_seconds,
            })
            .collect());
    }
    let kind = input.required("type")?;
    let (kinds, destinations, timeouts) = (
        input.all("type"),
        input.all("destination"),
        input.all("timeout_seconds"),
    );
    if kinds.len() <= 1 {
        // The seed's single-destination form (or JSON with flat fields).
        return Ok(vec![ForwardRequest {
            kind: kind.to_owned(),
            destination: input.raw("destination").unwrap_or("").to_owned(),
            timeout_seconds: parse_timeout(input.raw("timeout_seconds").unwrap_or(""))?,
        }]);
    }
    if destinations.len() != kinds.len() || !(timeouts.is_empty() || timeouts.len() == kinds.len())
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            "repeat destination (and timeout_seconds, if given) once per type, in the same order",
        ));
    }
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(ForwardRequest {
                kind: kind.clone(),
                destination: destinations[i].clone(),
                timeout_seconds: timeouts
                    .get(i)
                    .map(|t| parse_timeout(t))
                    .transpose()?
                    .flatten(),
            })
        })
        .collect()
}

/// A form's `timeout_seconds`: empty means none.
fn parse_timeout(text: &str) -> Result<Option<i64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("invalid_timeout", "timeout_seconds must be an integer"))
}

/// Give a number up: it leaves the account at once, without refund.
#[utoipa::path(post, path = "/api/did/release", tag = "provisioning",
    responses((status = 200, body = ReleaseResponse), (status = 404, body = ErrorBody)))]
pub async fn release(State(state): State<AppState>, input: ApiInput) -> ApiResult<ReleaseResponse> {
    let account_id = account_of(&state, &input).await?;
    let released = state
        .service
        .release(account_id, input.positive_id("did_id")?)
        .await?;
    Ok(Json(ReleaseResponse {
        status: "released".to_owned(),
        did_id: released.did.id,
        did_number: released.did.number,
        aging_until: rfc3339(released.aging_until),
    }))
}

/// Every money movement on the account, newest first.
#[utoipa::path(post, path = "/api/ledger", tag = "provisioning",
    responses((status = 200, body = LedgerResponse), (status = 401, body = ErrorBody)))]
pub async fn ledger(State(state): State<AppState>, input: ApiInput) -> ApiResult<LedgerResponse> {
    let account_id = account_of(&state, &input).await?;
    let limit = input.optional_int("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let before = match input.optional("cursor") {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
        })?),
    };
    let account = state.service.account_summary(account_id).await?;
    let entries = state.service.ledger(account_id, before, limit).await?;
    let next_cursor = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(LedgerResponse {
        currency: account.currency.code().to_owned(),
        balance: account.currency.format_minor(account.balance_minor),
        entries: entries
            .iter()
            .map(|e| LedgerEntryJson::new(e, account.currency))
            .collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CountryCode;
    use crate::service::{Did, DidStatus, OnSale};
    use std::sync::{Arc, OnceLock};

    fn on_sale(id: i64, number: &str) -> Arc<OnSale> {
        Arc::new(OnSale {
            did: Did {
                id,
                number: number.to_owned(),
                country: "FR".to_owned(),
                did_type: DidType::Landline,
                region: Some("Paris \"centre\"".to_owned()),
                currency: "USD".to_owned(),
                setup_minor: 120,
                monthly_minor: 180,
                status: DidStatus::Available,
                assigned_at: None,
                paid_through: None,
                forward: None,
                forwards: Vec::new(),
                max_calls: None,
                account_max_calls: None,
                suspended_at: None,
            },
            rendered: OnceLock::new(),
        })
    }

    #[tokio::test]
    async fn the_hand_written_page_matches_serdes_rendering() {
        for (dids, next_cursor) in [
            (
                vec![on_sale(1, "+33123456789"), on_sale(2, "+33123456790")],
                Some("+33123456790".to_owned()),
            ),
            (vec![], None),
        ] {
            let page = SearchPage {
                country: CountryCode::parse("FR").expect("FR"),
                dids,
                next_cursor,
            };
            let expected = serde_json::to_string(&AvailableResponse {
                country: "FR".to_owned(),
                count: page.dids.len(),
                dids: page.dids.iter().map(|d| DidJson::from(&d.did)).collect(),
                next_cursor: page.next_cursor.clone(),
            })
            .expect("serialises");
            for _ in 0..2 {
                // Twice: the second time from the cached renderings.
                let body = axum::body::to_bytes(render_available(&page).into_body(), usize::MAX)
                    .await
                    .expect("body");
                assert_eq!(String::from_utf8_lossy(&body), expected);
            }
        }
    }
}
