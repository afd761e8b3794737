//! Logins and bearer tokens.

use super::{Error, Result, Service};
use crate::store::{accounts, login_failures, tokens};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
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

/// Argon2id with the crate's defaults (RFC 9106 second recommendation: 19 MiB, t=2).
pub(crate) fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("hashing password: {e}")))
}

fn verify_password(password: &str, stored_hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored_hash)
        .is_ok()
}

/// A hash no password matches, verified against when the username is unknown so
/// that both failures cost the same time and cannot be told apart.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        hash_password(&hex::encode(random)).unwrap_or_default()
    })
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
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginOutcome> {
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
        let now = self.now();
        let settings = self.settings();
        let pool = self.store.pool();
        let (attempts, window_start) =
            login_failures::count_attempt(pool, username, now, settings.login_window_secs).await?;
        if attempts > settings.login_max_failures {
            return Err(Error::LoginThrottled {
                retry_after_secs: window_start + settings.login_window_secs - now,
            });
        }
        let account = accounts::find_by_username(pool, username).await?;
        let stored_hash = account
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |a| a.password_hash.clone());
        let candidate = password.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || verify_password(&candidate, &stored_hash))
                .await
                .map_err(|e| Error::Internal(format!("password check: {e}")))?;
        let account = match account {
            Some(account) if matches => account,
            _ => return Err(Error::InvalidCredentials),
        };
        if account.status != "active" {
            return Err(Error::AccountSuspended);
        }
        login_failures::clear(pool, username).await?;
        let token = new_token();
        let expires_at = now + settings.token_ttl_secs;
        tokens::insert(pool, account.id, &hash_token(&token), now, expires_at).await?;
        tracing::info!(account = account.id, "login");
        Ok(LoginOutcome {
            token,
            expires_at,
            account_id: account.id,
            username: account.username,
        })
    }

    /// The account a bearer token speaks for.
    pub async fn authenticate(&self, token: &str) -> Result<i64> {
        let token = token.trim();
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(Error::Unauthorized);
        }
        let hash = hash_token(token);
        let now = self.now();
        if let Some(account_id) = self.tokens.get(&hash, now) {
            return Ok(account_id);
        }
        let (account_id, expires_at) = tokens::find_live_account(self.store.pool(), &hash, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        self.tokens.put(hash, account_id, expires_at, now);
        Ok(account_id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("anything", decoy_hash()));
    }

    #[test]
    fn tokens_carry_256_random_bits_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
    }
}
