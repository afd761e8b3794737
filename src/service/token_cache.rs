//! Recently verified tokens, so that an API call costs no database query for
//! authentication. An entry is trusted for a few seconds at most; revocations
//! evict it at once on this process and, through the change announcements, on
//! the others.

use std::collections::HashMap;
use std::sync::RwLock;

/// How long a verified token is trusted without asking the database again.
/// Revocations evict at once (announcements), and a process that may have
/// missed announcements clears the whole cache, so this bounds only what no
/// announcement can cover; it is short enough for that and long enough that
/// the database is not on the hot path.
pub const TRUST_SECS: i64 = 30;
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Verified {
    account_id: i64,
    expires_at: i64,
    verified_at: i64,
}

#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, Verified>>,
}

impl TokenCache {
    pub fn get(&self, token_hash: &str, now: i64) -> Option<i64> {
        let entries = self.entries.read().ok()?;
        let v = entries.get(token_hash)?;
        (now < v.expires_at && now - v.verified_at < TRUST_SECS).then_some(v.account_id)
    }

    pub fn put(&self, token_hash: String, account_id: i64, expires_at: i64, now: i64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, v| now - v.verified_at < TRUST_SECS && now < v.expires_at);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            token_hash,
            Verified {
                account_id,
                expires_at,
                verified_at: now,
            },
        );
    }

    pub fn evict(&self, token_hash: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(token_hash);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    pub fn evict_account(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, v| v.account_id != account_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_trusted_briefly_and_never_past_expiry() {
        let cache = TokenCache::default();
        cache.put("h".into(), 7, 1_000, 100);
        assert_eq!(cache.get("h", 100), Some(7));
        assert_eq!(cache.get("h", 100 + TRUST_SECS), None);
        cache.put("e".into(), 7, 101, 100);
        assert_eq!(cache.get("e", 101), None);
        cache.evict_account(7);
        assert_eq!(cache.get("h", 100), None);
    }
}
