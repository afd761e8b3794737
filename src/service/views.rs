//! What the use cases hand back: typed, not yet formatted for any wire.

use crate::domain::failover::{self, RingTimeout, StoredDestination};
use crate::domain::{Currency, DidType, ForwardType};
use crate::store::dids::DidRow;
use crate::store::ledger::EntryRow;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DidStatus {
    Available,
    Assigned,
    Aging,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub kind: String,
    pub destination: String,
    /// How long this destination rings before the next is tried.
    pub timeout_seconds: Option<u16>,
}

impl From<StoredDestination> for Forward {
    fn from(stored: StoredDestination) -> Forward {
        Forward {
            kind: stored.kind,
            destination: stored.destination,
            timeout_seconds: stored.timeout_seconds.map(RingTimeout::seconds),
        }
    }
}

/// A number as its owner (or a prospective buyer) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Did {
    pub id: i64,
    pub number: String,
    pub country: String,
    pub did_type: DidType,
    pub region: Option<String>,
    pub currency: String,
    pub setup_minor: i64,
    pub monthly_minor: i64,
    pub status: DidStatus,
    pub assigned_at: Option<i64>,
    pub paid_through: Option<i64>,
    /// The first of [`Did::forwards`], where calls go first.
    pub forward: Option<Forward>,
    /// Every destination, in the order they are tried.
    pub forwards: Vec<Forward>,
    /// Maximum concurrent calls to this number, set by the operator.
    pub max_calls: Option<i64>,
    /// Maximum concurrent calls to all the owner's numbers, when known (it is
    /// filled in for the owner's own listings).
    pub account_max_calls: Option<i64>,
}

impl Did {
    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or(Currency::USD)
    }

    pub fn forward_type(&self) -> Option<ForwardType> {
        self.forward
            .as_ref()
            .and_then(|f| ForwardType::parse(&f.kind))
    }
}

impl TryFrom<DidRow> for Did {
    type Error = super::Error;

    fn try_from(row: DidRow) -> Result<Did, super::Error> {
        let corrupt = |what: &str| super::Error::Internal(format!("did {}: bad {what}", row.id));
        let did_type = DidType::parse(&row.did_type).ok_or_else(|| corrupt("did_type"))?;
        let status = match row.status.as_str() {
            "available" => DidStatus::Available,
            "assigned" => DidStatus::Assigned,
            "aging" => DidStatus::Aging,
            _ => return Err(corrupt("status")),
        };
        let forwards: Vec<Forward> = failover::decode(
            row.forwards.as_deref(),
            row.forward_type.as_deref(),
            row.forward_destination.as_deref(),
        )
        .into_iter()
        .map(Forward::from)
        .collect();
        Ok(Did {
            id: row.id,
            number: row.number,
            country: row.country,
            did_type,
            region: row.region,
            currency: row.currency,
            setup_minor: row.setup_minor,
            monthly_minor: row.monthly_minor,
            status,
            assigned_at: row.assigned_at,
            paid_through: row.paid_through,
            forward: forwards.first().cloned(),
            forwards,
            max_calls: row.max_calls,
            account_max_calls: None,
        })
    }
}

pub(crate) fn dids(rows: Vec<DidRow>) -> Result<Vec<Did>, super::Error> {
    rows.into_iter().map(Did::try_from).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub kind: String,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub did_id: Option<i64>,
    pub did_number: Option<String>,
    pub description: String,
    pub created_at: i64,
}

impl From<EntryRow> for LedgerEntry {
    fn from(row: EntryRow) -> LedgerEntry {
        LedgerEntry {
            id: row.id,
            kind: row.kind,
            amount_minor: row.amount_minor,
            balance_after_minor: row.balance_after_minor,
            did_id: row.did_id,
            did_number: row.did_number,
            description: row.description,
            created_at: row.created_at,
        }
    }
}
