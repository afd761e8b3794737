//! JSON shapes of the API, with the seed's field names. Amounts are decimal
//! strings in the currency's minor digits; times are RFC 3339 UTC.

use crate::domain::billing::rfc3339;
use crate::service::{Did, DidStatus, Forward, LedgerEntry, Purchase};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ForwardingJson {
    /// extension, pstn, sip, access_number or ip.
    #[serde(rename = "type")]
    pub kind: String,
    pub destination: String,
    /// Seconds this destination rings before the next is tried; absent:
    /// until the caller or the SBC gives up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u16>,
}

/// Maximum concurrent calls, set by the operator; null: no limit.
#[derive(Serialize, ToSchema)]
pub struct LimitsJson {
    /// Calls to this number at once.
    pub number_max_calls: Option<i64>,
    /// Calls to all the account's numbers together at once.
    pub account_max_calls: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DidJson {
    pub did_id: i64,
    /// E.164, e.g. "+33123456789".
    pub did_number: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// landline, mobile_voice, mobile_sms or voice_sms.
    #[serde(rename = "type")]
    pub did_type: String,
    pub type_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[schema(example = "1.50")]
    pub monthly_cost: String,
    #[schema(example = "0.50")]
    pub setup_fee: String,
    pub currency: String,
    pub capabilities: Vec<String>,
    /// available, assigned, suspended (its renewal could not be paid: calls
    /// are refused until a credit pays it) or aging.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_through: Option<String>,
    /// When the number was suspended for non-payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
    /// When a suspended number is taken back unless paid (end of grace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim_at: Option<String>,
    /// Owned numbers: when the next renewal is due (the end of the paid period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_renewal_at: Option<String>,
    /// Owned numbers: what the next renewal will charge.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "1.50")]
    pub next_renewal_amount: Option<String>,
    /// Present on owned numbers: null until a forward is set.
    #[serde(skip_serializing_if = "is_unowned")]
    pub forwarding: Option<Option<ForwardingJson>>,
    /// Present on owned numbers: every destination, in the order calls try
    /// them (`forwarding` is the first); empty when not forwarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwards: Option<Vec<ForwardingJson>>,
    /// Present on owned numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsJson>,
    /// In `did/list`: the calls reported to this number (kept for the retention period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallCountsJson>,
}

#[derive(Serialize, ToSchema, Clone, Copy)]
pub struct CallCountsJson {
    pub total: i64,
    pub answered: i64,
    pub missed: i64,
    pub failed: i64,
}

impl From<crate::service::CallCounts> for CallCountsJson {
    fn from(counts: crate::service::CallCounts) -> CallCountsJson {
        CallCountsJson {
            total: counts.total(),
            answered: counts.answered,
            missed: counts.missed,
            failed: counts.failed,
        }
    }
}

impl DidJson {
    pub fn with_calls(self, counts: crate::service::CallCounts) -> DidJson {
        DidJson {
            calls: Some(counts.into()),
            ..self
        }
    }
}

impl DidJson {
    /// Adds when a suspended number is reclaimed, which depends on the
    /// operator's grace period.
    pub fn with_grace(mut self, did: &Did, grace_secs: i64) -> DidJson {
        if did.suspended_at.is_some() {
            self.reclaim_at = did
                .paid_through
                .map(|p| rfc3339(crate::domain::renewal::reclaim_at(p, grace_secs)));
        }
        self
    }
}

fn is_unowned(forwarding: &Option<Option<ForwardingJson>>) -> bool {
    forwarding.is_none()
}

impl From<&Forward> for ForwardingJson {
    fn from(forward: &Forward) -> ForwardingJson {
        ForwardingJson {
            kind: forward.kind.clone(),
            destination: forward.destination.clone(),
            timeout_seconds: forward.timeout_seconds,
        }
    }
}

impl From<&Did> for DidJson {
    fn from(did: &Did) -> DidJson {
        let currency = did.currency();
        let owned = did.status == DidStatus::Assigned;
        DidJson {
            did_id: did.id,
            did_number: did.number.clone(),
            country: did.country.clone(),
            did_type: did.did_type.code().to_owned(),
            type_name: did.did_type.display_name().to_owned(),
            region: did.region.clone(),
            monthly_cost: currency.format_minor(did.monthly_minor),
            setup_fee: currency.format_minor(did.setup_minor),
            currency: currency.code().to_owned(),
            capabilities: did
                .did_type
                .capabilities()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            status: match did.status {
                DidStatus::Available => "available",
                DidStatus::Assigned if did.suspended_at.is_some() => "suspended",
                DidStatus::Assigned => "assigned",
                DidStatus::Aging => "aging",
                DidStatus::Withdrawn => "withdrawn",
            }
            .to_owned(),
            suspended_at: did.suspended_at.map(rfc3339),
            reclaim_at: None,
            next_renewal_at: owned.then_some(did.paid_through).flatten().map(rfc3339),
            next_renewal_amount: owned.then(|| currency.format_minor(did.monthly_minor)),
            assigned_at: did.assigned_at.map(rfc3339),
            paid_through: did.paid_through.map(rfc3339),
            forwarding: owned.then(|| did.forward.as_ref().map(ForwardingJson::from)),
            forwards: owned.then(|| did.forwards.iter().map(ForwardingJson::from).collect()),
            limits: owned.then_some(LimitsJson {
                number_max_calls: did.max_calls,
                account_max_calls: did.account_max_calls,
            }),
            calls: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as the `token` field or as `Authorization: Bearer <token>`.
    pub account_token: String,
    pub token_type: String,
    pub expires_at: String,
    pub username: String,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct BalanceResponse {
    #[schema(example = "100.00")]
    pub balance: String,
    pub currency: String,
    /// The low-balance threshold (`/api/billing/settings`), when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_balance_threshold: Option<String>,
    /// Whether the balance is below that threshold, when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub below_threshold: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DidTypeJson {
    pub code: String,
    pub name: String,
    pub capabilities: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TypeListResponse {
    pub types: Vec<DidTypeJson>,
}

#[derive(Serialize, ToSchema)]
pub struct AvailableResponse {
    pub country: String,
    pub count: usize,
    pub dids: Vec<DidJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChargeJson {
    /// setup_fee or monthly_charge.
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: String,
    pub ledger_entry_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AssignResponse {
    /// The number as now owned, `status` "assigned".
    #[serde(flatten)]
    pub did: DidJson,
    pub charges: Vec<ChargeJson>,
    pub total_charged: String,
    /// Balance after the purchase.
    pub balance: String,
}

impl From<&Purchase> for AssignResponse {
    fn from(purchase: &Purchase) -> AssignResponse {
        let currency = purchase.did.currency();
        AssignResponse {
            did: DidJson::from(&purchase.did),
            charges: purchase
                .charges
                .iter()
                .map(|c| ChargeJson {
                    kind: c.kind.clone(),
                    amount: currency.format_minor(c.amount_minor),
                    ledger_entry_id: c.ledger_entry_id,
                })
                .collect(),
            total_charged: currency.format_minor(purchase.total_minor),
            balance: currency.format_minor(purchase.balance_minor),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    pub count: usize,
    pub dids: Vec<DidJson>,
}

#[derive(Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub status: String,
    pub did_id: i64,
    pub did_number: String,
    /// When the number may be sold again.
    pub aging_until: String,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerEntryJson {
    pub id: i64,
    /// credit, setup_fee, monthly_charge or adjustment.
    #[serde(rename = "type")]
    pub kind: String,
    /// Signed: charges are negative.
    pub amount: String,
    pub balance_after: String,
    pub did_id: Option<i64>,
    pub did_number: Option<String>,
    pub description: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerResponse {
    pub currency: String,
    pub balance: String,
    pub entries: Vec<LedgerEntryJson>,
    pub next_cursor: Option<String>,
}

impl LedgerEntryJson {
    pub fn new(entry: &LedgerEntry, currency: crate::domain::Currency) -> LedgerEntryJson {
        LedgerEntryJson {
            id: entry.id,
            kind: entry.kind.clone(),
            amount: currency.format_minor(entry.amount_minor),
            balance_after: currency.format_minor(entry.balance_after_minor),
            did_id: entry.did_id,
            did_number: entry.did_number.clone(),
            description: entry.description.clone(),
            created_at: rfc3339(entry.created_at),
        }
    }
}
