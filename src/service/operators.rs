//! Operator keys: made and revoked on the command line, checked on every admin
//! API request, with failed attempts throttled per source address.

use super::auth::{hash_token, random_hex_256};
use super::{Error, Result, Service};
use crate::domain::operator::{Access, Role};
use crate::store::{self, operator_keys};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct from customer tokens (`dh_`), so that neither API mistakes one
/// for the other even before a lookup.
pub const OPERATOR_KEY_PREFIX: &str = "dhop_";
/// Failed key attempts one address may make per window before 429.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_SECS: i64 = 60;
/// Addresses remembered at most; beyond, stale windows are dropped first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub role: Role,
}

impl Operator {
    /// Fails with 403 naming the role that would be needed.
    pub fn require(&self, access: Access) -> Result<()> {
        if self.role.allows(access) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                needed: access.least_role().code(),
            })
        }
    }
}

#[derive(Debug, Clone)]
pub struct OperatorKeyInfo {
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Failed attempts per source address, in fixed windows. Kept in memory and
/// per process on purpose: it only has to slow down guessing, and a
/// 256-bit key cannot be guessed anyway; what it stops is log spam and load.
#[derive(Default)]
pub struct KeyThrottle {
    failures: Mutex<HashMap<IpAddr, (u32, i64)>>,
}

impl KeyThrottle {
    /// Seconds to wait when `address` is over its limit.
    fn blocked_for(&self, address: IpAddr, now: i64) -> Option<i64> {
        let failures = self.failures.lock().ok()?;
        let (count, start) = *failures.get(&address)?;
        let ends = start + FAILURE_WINDOW_SECS;
        (count >= MAX_FAILURES && now < ends).then_some(ends - now)
    }

    fn record_failure(&self, address: IpAddr, now: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED_ADDRESSES {
            failures.retain(|_, (_, start)| now < *start + FAILURE_WINDOW_SECS);
        }
        let entry = failures.entry(address).or_insert((0, now));
        if now >= entry.1 + FAILURE_WINDOW_SECS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

fn valid_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

impl Service {
    /// Makes a key; the key itself is returned here and never again.
    pub async fn create_operator_key(
        &self,
        name: &str,
        role: Role,
        expires_in_secs: Option<i64>,
    ) -> Result<String> {
        if !valid_key_name(name) {
            return Err(Error::bad_request(
                "invalid_name",
                "a key name is 1 to 64 letters, digits or ._@-",
            ));
        }
        if expires_in_secs.is_some_and(|s| s <= 0) {
            return Err(Error::bad_request(
                "invalid_expiry",
                "expiry must be in the future",
            ));
        }
        let key = format!("{OPERATOR_KEY_PREFIX}{}", random_hex_256());
        let now = self.now();
        let expires_at = expires_in_secs.map(|s| now.saturating_add(s));
        let mut tx = self.store.begin_write().await?;
        let inserted = operator_keys::insert(
            &mut *tx,
            name,
            role.code(),
            &hash_token(&key),
            now,
            expires_at,
        )
        .await;
        match inserted {
            Err(e) if store::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("a key named {name} exists")));
            }
            other => other?,
        }
        tx.commit().await?;
        Ok(key)
    }

    pub async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>> {
        Ok(operator_keys::list(self.store.pool())
            .await?
            .into_iter()
            .map(|k| OperatorKeyInfo {
                name: k.name,
                role: k.role,
                created_at: k.created_at,
                expires_at: k.expires_at,
                revoked_at: k.revoked_at,
            })
            .collect())
    }

    pub async fn revoke_operator_key(&self, name: &str) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        if !operator_keys::revoke(&mut *tx, name, self.now()).await? {
            return Err(Error::NotFound(format!("no live key named {name}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The operator a bearer key speaks for. Looked up on every request (no
    /// cache), so a revocation takes effect at once on every instance.
    pub async fn authenticate_operator(&self, key: &str, source: IpAddr) -> Result<Operator> {
        let now = self.now();
        if let Some(retry_after_secs) = self.key_throttle.blocked_for(source, now) {
            return Err(Error::LoginThrottled { retry_after_secs });
        }
        let key = key.trim();
        let found = if key.starts_with(OPERATOR_KEY_PREFIX) && key.len() <= 128 {
            operator_keys::find_live(self.store.pool(), &hash_token(key), now).await?
        } else {
            None
        };
        let Some(row) = found else {
            self.key_throttle.record_failure(source, now);
            return Err(Error::Unauthorized);
        };
        let role = Role::parse(&row.role)
            .ok_or_else(|| Error::Internal(format!("operator key {}: bad role", row.name)))?;
        Ok(Operator {
            name: row.name,
            role,
        })
    }
}
