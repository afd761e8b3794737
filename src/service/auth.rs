//! Logins and bearer tokens, and the limits that keep floods and guessers off.
//!
//! # Limits
//!
//! Every login and every failed authentication is counted in fixed windows of
//! `login_window_secs`, in the database (`auth_counters`), so the counts are
//! the same whichever instance a request reaches. (An in-memory limiter per
//! instance would be cheaper, but N instances behind a balancer would give an
//! attacker N times the guesses, and the brute-force limit would depend on the
//! deployment; one upsert per login is small next to an Argon2 hash.)
//!
//! - Per (username, client address): `login_max_failures` failed logins. This
//!   is the small limit that stops guessing one password, and because it is
//!   per address, a stranger's failures do not lock out the customer who logs
//!   in from an address that has not been failing.
//! - Per username, all addresses together: `login_max_failures_per_user`,
//!   much larger. It bounds guessing spread over many addresses; only an
//!   attacker with that many addresses can lock a username out, the price of
//!   not letting a botnet guess without end.
//! - Per client address, all usernames together: `auth_max_failures_per_address`
//!   failed authentications (wrong passwords and bad or expired tokens) and
//!   `login_max_per_address` login attempts, right or wrong. These stop one
//!   address from walking through usernames or keeping the password workers
//!   busy. An IPv6 client is counted by its /64, which one customer usually holds whole.
//!
//! Attempts are counted before the password is checked, in one statement, so
//! parallel guesses cannot all slip under a limit. An attempt refused by a
//! per-address limit never reaches the per-username count, so one address
//! cannot push a username over its ceiling. A right password takes its
//! attempt back (and clears its (username, address) count).

use super::passwords::decoy_hash;
use super::{Error, Result, Service, Settings};
use crate::store::auth_counters::{self, Count, Hit};
use crate::store::{accounts, tokens};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::OnceLock;

pub const PASSWORD_MAX_LEN: usize = 1024;
const USERNAME_MAX_LEN: usize = 64;
const TOKEN_PREFIX: &str = "dh_";

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub token: String,
    pub expires_at: i64,
    pub account_id: i64,
    pub username: String,
}

/// The same decoy for the life of the process; see `passwords::decoy_hash`.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(decoy_hash)
}

/// How a client address is counted: IPv4 as is, IPv6 by its /64 (one
/// customer's network; counting single IPv6 addresses would give an attacker
/// 2^64 buckets).
fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            format!("{}/64", std::net::Ipv6Addr::from(octets))
        }
    }
}

/// The counters one login touches, each with its limit.
struct LoginCounters {
    per_address: [(Hit, i64); 3],
    per_user: (Hit, i64),
}

impl LoginCounters {
    fn new(settings: &Settings, username: &str, client: IpAddr) -> LoginCounters {
        let address = address_key(client);
        let hit = |key: String| Hit {
            key,
            window_secs: settings.login_window_secs,
        };
        LoginCounters {
            per_address: [
                (
                    hit(format!("logins:{address}")),
                    settings.login_max_per_address,
                ),
                (
                    hit(failures_key(&address)),
                    settings.auth_max_failures_per_address,
                ),
                (
                    hit(pair_key(username, &address)),
                    settings.login_max_failures,
                ),
            ],
            per_user: (
                hit(format!("user:{username}")),
                settings.login_max_failures_per_user,
            ),
        }
    }

    /// The counters a right (or unchecked) password takes its attempt back from.
    fn failure_keys(&self) -> [&str; 2] {
        [&self.per_address[1].0.key, &self.per_user.0.key]
    }

    fn pair_key(&self) -> &str {
        &self.per_address[2].0.key
    }
}

fn failures_key(address: &str) -> String {
    format!("failures:{address}")
}

/// `|` cannot be in an address, so a username cannot forge another pair.
fn pair_key(username: &str, address: &str) -> String {
    format!("pair:{address}|{username}")
}

/// `Some(seconds until the latest exceeded window ends)` if any count is over its limit.
fn exceeded(counts: &[Count], limits: &[(&Hit, i64)], now: i64) -> Option<i64> {
    counts
        .iter()
        .filter(|count| {
            limits
                .iter()
                .any(|(hit, limit)| hit.key == count.key && count.hits > *limit)
        })
        .map(|count| count.window_end - now)
        .max()
}

pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_hex_256() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex_256())
}

impl Service {
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<LoginOutcome> {
        let username = username.trim();
        if username.is_empty() || password.is_empty() {
            return Err(Error::bad_request(
                "missing_credentials",
                "username and password are required",
            ));
        }
        if username.len() > USERNAME_MAX_LEN || password.len() > PASSWORD_MAX_LEN {
            return Err(Error::InvalidCredentials);
        }
        let counters = LoginCounters::new(self.settings(), username, client);
        self.count_login(&counters).await?;
        let pool = self.store.pool();
        let account = accounts::find_by_username(pool, username).await?;
        // An unknown username costs a hash too, so the two failures take the
        // same time and cannot be told apart.
        let stored_hash = account
            .as_ref()
            .map_or(decoy(), |a| a.password_hash.as_str());
        let matches = match self.passwords.verify(password, stored_hash).await {
            Ok(matches) => matches,
            Err(error) => {
                // Nothing was checked (busy): not a failure to hold against anyone.
                auth_counters::take_back(pool, &counters.failure_keys()).await?;
                auth_counters::take_back(pool, &[counters.pair_key()]).await?;
                return Err(error);
            }
        };
        let account = match account {
            Some(account) if matches => account,
            _ => return Err(Error::InvalidCredentials),
        };
        auth_counters::clear(pool, counters.pair_key()).await?;
        auth_counters::take_back(pool, &counters.failure_keys()).await?;
        let now = self.now();
        if account.status != "active" {
            return Err(Error::AccountSuspended);
        }
        let token = new_token();
        let expires_at = now + self.settings().token_ttl_secs;
        tokens::insert(pool, account.id, &hash_token(&token), now, expires_at).await?;
        tracing::info!(account = account.id, "login");
        Ok(LoginOutcome {
            token,
            expires_at,
            account_id: account.id,
            username: account.username,
        })
    }

    /// Counts the attempt against every limit, per-address ones first: an
    /// attempt they refuse does not count against the username.
    async fn count_login(&self, counters: &LoginCounters) -> Result<()> {
        let now = self.now();
        let pool = self.store.pool();
        let hits: Vec<Hit> = counters
            .per_address
            .iter()
            .map(|(hit, _)| hit.clone())
            .collect();
        let limits: Vec<(&Hit, i64)> = counters
            .per_address
            .iter()
            .map(|(hit, limit)| (hit, *limit))
            .collect();
        let counts = auth_counters::hit(pool, &hits, now).await?;
        if let Some(retry_after_secs) = exceeded(&counts, &limits, now) {
            return Err(throttled(retry_after_secs));
        }
        let (user, limit) = &counters.per_user;
        let counts = auth_counters::hit(pool, std::slice::from_ref(user), now).await?;
        if let Some(retry_after_secs) = exceeded(&counts, &[(user, *limit)], now) {
            return Err(throttled(retry_after_secs));
        }
        Ok(())
    }

    /// The account a bearer token speaks for.
    /// A bad or expired token counts as a failed authentication of `client`.
    pub async fn authenticate(&self, token: &str, client: IpAddr) -> Result<i64> {
        match self.account_of_token(token).await? {
            Some(account_id) => Ok(account_id),
            None => Err(self.count_failed_authentication(client).await?),
        }
    }

    async fn account_of_token(&self, token: &str) -> Result<Option<i64>> {
        let token = token.trim();
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = hash_token(token);
        let now = self.now();
        if let Some(account_id) = self.tokens.get(&hash, now) {
            return Ok(Some(account_id));
        }
        let Some((account_id, expires_at)) =
            tokens::find_live_account(self.store.pool(), &hash, now).await?
        else {
            return Ok(None);
        };
        self.tokens.put(hash, account_id, expires_at, now);
        Ok(Some(account_id))
    }

    /// The error for a failed authentication: 401, or 429 once the address has
    /// failed too often.
    async fn count_failed_authentication(&self, client: IpAddr) -> Result<Error> {
        let now = self.now();
        let settings = self.settings();
        let hit = Hit {
            key: failures_key(&address_key(client)),
            window_secs: settings.login_window_secs,
        };
        let counts = auth_counters::hit(self.store.pool(), std::slice::from_ref(&hit), now).await?;
        Ok(
            match exceeded(
                &counts,
                &[(&hit, settings.auth_max_failures_per_address)],
                now,
            ) {
                Some(retry_after_secs) => throttled(retry_after_secs),
                None => Error::Unauthorized,
            },
        )
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        let hash = hash_token(token.trim());
        let mut tx = self.store.begin_write().await?;
        tokens::revoke(&mut *tx, &hash, self.now()).await?;
        self.announce(&mut tx, &format!("token:{hash}")).await?;
        tx.commit().await?;
        self.tokens.evict(&hash);
        Ok(())
    }
}

/// The 429 for a throttled login or authentication, counted for `/metrics`.
fn throttled(retry_after_secs: i64) -> Error {
    metrics::counter!("didhub_login_throttled_total").increment(1);
    Error::LoginThrottled { retry_after_secs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let same_64: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("address");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(address_key(one), address_key(same_64));
        assert_ne!(address_key(one), address_key(other_64));
        assert_eq!(address_key(one), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        assert_eq!(address_key(mapped), "192.0.2.7");
    }
}
