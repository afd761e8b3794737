//! `did/assign`: buying a number. One transaction: claim the number, debit setup
//! fee and first month, write both ledger entries, remember the answer for the
//! idempotency key. Whoever loses a race gets a clean 409 and nothing changes.
//! The steps are shared with bulk orders (`order.rs`).

use super::{Did, Error, Result, Service};
use crate::domain::billing::add_months;
use crate::domain::event::EventType;
use crate::store::{Tx, accounts, dids, holds, idempotency, ledger};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

#[derive(Debug, Clone)]
pub struct AssignRequest {
    pub did_id: i64,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub kind: String,
    pub amount_minor: i64,
    pub ledger_entry_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub did: Did,
    pub charges: Vec<Charge>,
    pub total_minor: i64,
    pub balance_minor: i64,
    /// True when this is the stored answer to an earlier request with the same key.
    #[serde(skip)]
    pub replayed: bool,
}

const MAX_KEY_LEN: usize = 255;

/// The `outcome` label of `didhub_purchases_total`: few values, one per
/// reason a purchase ends as it does.
fn outcome_label(outcome: &Result<Purchase>) -> &'static str {
    match outcome {
        Ok(purchase) if purchase.replayed => "replayed",
        Ok(_) => "ok",
        Err(Error::InsufficientBalance { .. }) => "insufficient_funds",
        Err(Error::DidNotAvailable | Error::Refused { .. }) => "not_available",
        Err(Error::DidNotFound | Error::UnknownDid(_)) => "not_found",
        Err(Error::Unprocessable { code, .. }) if *code == "currency_mismatch" => {
            "currency_mismatch"
        }
        Err(Error::BadRequest { .. } | Error::Unprocessable { .. }) => "invalid_request",
        Err(Error::IdempotencyKeyReused | Error::Conflict(_)) => "conflict",
        Err(
            Error::Unauthorized
            | Error::InvalidCredentials
            | Error::LoginThrottled { .. }
            | Error::Forbidden { .. }
            | Error::AccountSuspended,
        ) => "unauthorized",
        Err(Error::Unavailable | Error::Busy) => "unavailable",
        Err(Error::NotFound(_) | Error::Internal(_)) => "error",
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_request(
            "invalid_idempotency_key",
            "idempotency key must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(())
}

/// What buying a number debits at once: its setup fee and first month.
pub(super) fn first_charge_minor(did: &Did) -> i64 {
    did.setup_minor + did.monthly_minor
}

impl Service {
    pub async fn assign(&self, account_id: i64, request: &AssignRequest) -> Result<Purchase> {
        let outcome = self.try_assign(account_id, request).await;
        metrics::counter!("didhub_purchases_total", "outcome" => outcome_label(&outcome))
            .increment(1);
        outcome
    }

    async fn try_assign(&self, account_id: i64, request: &AssignRequest) -> Result<Purchase> {
        let now = self.now();
        let fingerprint = format!("did/assign:{}", request.did_id);
        let key = request.idempotency_key.as_deref();
        let mut tx = self.store.begin_write().await?;
        if let Some(body) = replay_or_claim(&mut tx, account_id, key, &fingerprint, now).await? {
            let mut purchase: Purchase = serde_json::from_str(&body)
                .map_err(|e| Error::Internal(format!("stored purchase: {e}")))?;
            purchase.replayed = true;
            return Ok(purchase);
        }
        let Sold { purchase, username } = sell(&mut tx, account_id, request.did_id, now).await?;
        self.note_balance(&mut tx, account_id, purchase.balance_minor)
            .await?;
        let total = purchase.total_minor;
        if let Some(key) = key {
            let body = serde_json::to_string(&purchase)
                .map_err(|e| Error::Internal(format!("encoding purchase: {e}")))?;
            idempotency::complete(&mut *tx, account_id, key, 200, &body).await?;
        }
        self.number_event_of(
            &mut tx,
            EventType::NumberAssigned,
            account_id,
            &purchase.did,
        )
        .await?;
        self.announce(&mut tx, &purchase.did.number).await?;
        tx.commit().await?;
        // What the transaction did is known: no need to read it back.
        self.note_sold(&purchase.did, account_id, &username);
        tracing::info!(
            account = account_id,
            did = purchase.did.id,
            total,
            "number assigned"
        );
        Ok(purchase)
    }
}

/// Claims `key` for this request and returns `None`, or returns the stored
/// answer of the earlier request with the same key. The claim holds the key's
/// row: a concurrent request with the same key waits for this one's end.
pub(super) async fn replay_or_claim(
    tx: &mut Tx,
    account_id: i64,
    key: Option<&str>,
    fingerprint: &str,
    now: i64,
) -> Result<Option<String>> {
    let Some(key) = key else { return Ok(None) };
    check_key(key)?;
    if idempotency::claim(&mut **tx, account_id, key, fingerprint, now).await? {
        return Ok(None);
    }
    let stored = idempotency::find(&mut **tx, account_id, key)
        .await?
        .ok_or_else(|| Error::Internal("idempotency key vanished".into()))?;
    if stored.fingerprint != fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    let (_, body) = stored
        .response
        .ok_or_else(|| Error::Conflict("a request with this key is still in progress".into()))?;
    Ok(Some(body))
}

/// A number sold inside a transaction not yet committed.
pub(super) struct Sold {
    pub purchase: Purchase,
    /// The buyer's, for the route table.
    pub username: String,
}

/// Sells one number: claims it, debits setup fee and first month, writes the
/// ledger entries. On error the caller rolls back (or to its savepoint).
pub(super) async fn sell(
    conn: &mut AnyConnection,
    account_id: i64,
    did_id: i64,
    now: i64,
) -> Result<Sold> {
    let did = claim_number(conn, account_id, did_id, now).await?;
    let total = first_charge_minor(&did);
    let (balance_after, username) = debit(conn, account_id, &did, total).await?;
    let charges = record_charges(conn, account_id, &did, balance_after, now).await?;
    Ok(Sold {
        purchase: Purchase {
            did,
            charges,
            total_minor: total,
            balance_minor: balance_after,
            replayed: false,
        },
        username,
    })
}

/// Takes the number for the account, or says why not.
async fn claim_number(
    conn: &mut AnyConnection,
    account_id: i64,
    did_id: i64,
    now: i64,
) -> Result<Did> {
    let paid_through = add_months(now, 1);
    if let Some(row) = dids::claim(&mut *conn, did_id, account_id, now, paid_through).await? {
        return Did::try_from(row);
    }
    Err(
        match holds::offer(&mut *conn, did_id, account_id, now).await? {
            None => Error::DidNotFound,
            Some(offer) if offer.status == "available" && offer.held_by_other => {
                did_held(&offer.number)
            }
            Some(_) => Error::DidNotAvailable,
        },
    )
}

pub(super) fn did_held(number: &str) -> Error {
    Error::Refused {
        code: "did_held",
        message: format!("{number} is held for another account"),
    }
}

/// Debits `total` if the balance covers it in the number's currency; returns
/// the balance after and the buyer's username.
async fn debit(
    conn: &mut AnyConnection,
    account_id: i64,
    did: &Did,
    total: i64,
) -> Result<(i64, String)> {
    let debited =
        accounts::debit_in_currency_if_covered(&mut *conn, account_id, total, &did.currency)
            .await?;
    if let Some(debited) = debited {
        return Ok(debited);
    }
    // The slow path: find out which condition refused the debit.
    let account = accounts::find_by_id(&mut *conn, account_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    let currency = did.currency();
    Err(if account.currency != did.currency {
        Error::unprocessable(
            "currency_mismatch",
            format!(
                "this number is priced in {} but the account is in {}",
                did.currency, account.currency
            ),
        )
    } else {
        Error::InsufficientBalance {
            required: currency.format_minor(total),
            balance: currency.format_minor(account.balance_minor),
        }
    })
}

/// Writes the setup fee and first month (amounts of 0 are not written).
async fn record_charges(
    conn: &mut AnyConnection,
    account_id: i64,
    did: &Did,
    balance_after: i64,
    now: i64,
) -> Result<Vec<Charge>> {
    let setup_description = format!("setup fee for {}", did.number);
    let month_description = format!("first month for {}", did.number);
    let lines = [
        (
            "setup_fee",
            did.setup_minor,
            balance_after + did.monthly_minor,
            &setup_description,
        ),
        (
            "monthly_charge",
            did.monthly_minor,
            balance_after,
            &month_description,
        ),
    ];
    let entries: Vec<ledger::NewEntry> = lines
        .iter()
        .filter(|(_, amount, _, _)| *amount != 0)
        .map(
            |&(kind, amount, balance_after_entry, description)| ledger::NewEntry {
                account_id,
                kind,
                amount_minor: -amount,
                balance_after_minor: balance_after_entry,
                did_id: Some(did.id),
                did_number: Some(&did.number),
                description,
                created_at: now,
            },
        )
        .collect();
    let ids = ledger::insert_many(&mut *conn, &entries).await?;
    Ok(entries
        .iter()
        .zip(ids)
        .map(|(entry, id)| Charge {
            kind: entry.kind.to_owned(),
            amount_minor: -entry.amount_minor,
            ledger_entry_id: id,
        })
        .collect())
}
