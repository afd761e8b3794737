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
            // Still full: memory stays bounded; new addresses go untracked
            // (each failure still costs them a lookup that finds nothing).
            if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&address) {
                return;
            }
        }
        let entry = failures.entry(address).or_insert((0, now));
        if now >= entry.1 + FAILURE_WINDOW_SECS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

/// The unit failures are counted in: an IPv4 address, or an IPv6 /64 (one
/// subscriber's usual allocation, which it can rotate through freely).
fn throttle_bucket(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
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
        let source = throttle_bucket(source);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_per_ipv4_address_and_per_ipv6_64() {
        let parse = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(throttle_bucket(parse("192.0.2.7")), parse("192.0.2.7"));
        assert_eq!(
            throttle_bucket(parse("::ffff:192.0.2.7")),
            parse("192.0.2.7")
        );
        assert_eq!(
            throttle_bucket(parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            parse("2001:db8:1:2::")
        );
        let throttle = KeyThrottle::default();
        let a = parse("192.0.2.7");
        for _ in 0..MAX_FAILURES {
            assert_eq!(throttle.blocked_for(a, 100), None);
            throttle.record_failure(a, 100);
        }
        assert_eq!(throttle.blocked_for(a, 100), Some(FAILURE_WINDOW_SECS));
        assert_eq!(throttle.blocked_for(parse("192.0.2.8"), 100), None);
        assert_eq!(throttle.blocked_for(a, 100 + FAILURE_WINDOW_SECS), None);
    }

    #[test]
    fn the_throttle_never_tracks_more_than_its_cap() {
        let throttle = KeyThrottle::default();
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 50) {
            throttle.record_failure(IpAddr::V4(i.into()), 100);
        }
        let tracked = throttle.failures.lock().map(|f| f.len()).unwrap_or(0);
        assert_eq!(tracked, MAX_TRACKED_ADDRESSES);
    }
}
