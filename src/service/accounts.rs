//! Operator use cases on accounts: create, credit, settings, balances, ledger.

use super::admin::{AccountUpdate, Posting, account_target, record};
use super::{Error, LedgerEntry, Operator, Result, Service};
use crate::domain::Currency;
use crate::store::{self, accounts, ledger, tokens};

#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub id: i64,
    pub username: String,
    pub currency: Currency,
    pub balance_minor: i64,
    pub pbx_host: Option<String>,
    pub created_at: i64,
    /// active, suspended or closed.
    pub status: String,
}

impl From<accounts::AccountRow> for AccountSummary {
    fn from(row: accounts::AccountRow) -> AccountSummary {
        AccountSummary {
            currency: Currency::parse(&row.currency).unwrap_or(Currency::USD),
            id: row.id,
            username: row.username,
            balance_minor: row.balance_minor,
            pbx_host: row.pbx_host,
            created_at: row.created_at,
            status: row.status,
        }
    }
}

pub(super) fn valid_username(username: &str) -> bool {
    (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// A PBX host for `extension` forwards: a hostname or IP, optional port.
pub(super) fn valid_pbx_host(host: &str) -> bool {
    let probe = format!("sip:probe@{host}");
    // The country only matters for PSTN targets; any will do for a SIP URI.
    let Some(any_country) = crate::domain::CountryCode::parse("US") else {
        return false;
    };
    crate::domain::ForwardTarget::parse(
        crate::domain::ForwardType::Sip,
        &probe,
        &any_country,
        crate::domain::ForwardPolicy {
            allow_local_addresses: true,
        },
    )
    .is_ok()
        && !host.contains(';')
}

impl Service {
    pub async fn create_account(
        &self,
        username: &str,
        password: &str,
        currency: Option<Currency>,
        opening_balance_minor: i64,
    ) -> Result<AccountSummary> {
        self.create_account_as(None, username, password, currency, opening_balance_minor)
            .await
    }

    /// [`Service::create_account`], recorded in the audit log when an operator acts.
    pub async fn create_account_as(
        &self,
        actor: Option<&Operator>,
        username: &str,
        password: &str,
        currency: Option<Currency>,
        opening_balance_minor: i64,
    ) -> Result<AccountSummary> {
        if !valid_username(username) {
            return Err(Error::bad_request(
                "invalid_username",
                "username must be 3 to 64 characters of letters, digits and ._@-",
            ));
        }
        check_password(password)?;
        if opening_balance_minor < 0 {
            return Err(Error::bad_request(
                "invalid_amount",
                "opening balance cannot be negative",
            ));
        }
        let currency = currency.unwrap_or(self.settings().default_currency);
        let hash = self.passwords.hash(password).await?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let id = match accounts::insert(&mut *tx, username, &hash, currency.code(), now).await {
            Ok(id) => id,
            Err(e) if store::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "account {username} already exists"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if opening_balance_minor > 0 {
            post_adjustment(
                &mut tx,
                id,
                "credit",
                opening_balance_minor,
                "opening balance",
                now,
            )
            .await?;
        }
        let after = serde_json::json!({
            "id": id, "username": username, "currency": currency.code(),
            "balance": currency.format_minor(opening_balance_minor),
        });
        record(
            &mut tx,
            actor,
            "account.create",
            &account_target(id),
            None,
            Some(after),
            now,
        )
        .await?;
        tx.commit().await?;
        self.account_summary(id).await
    }

    pub async fn account_by_username(&self, username: &str) -> Result<AccountSummary> {
        accounts::find_by_username(self.store.pool(), username)
            .await?
            .map(AccountSummary::from)
            .ok_or_else(|| Error::NotFound(format!("no account named {username}")))
    }

    pub async fn account_by_id(&self, account_id: i64) -> Result<AccountSummary> {
        accounts::find_by_id(self.store.pool(), account_id)
            .await?
            .map(AccountSummary::from)
            .ok_or_else(|| Error::NotFound(format!("no account {account_id}")))
    }

    pub async fn account_summary(&self, account_id: i64) -> Result<AccountSummary> {
        accounts::find_by_id(self.store.pool(), account_id)
            .await?
            .map(AccountSummary::from)
            .ok_or(Error::Unauthorized)
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountSummary>> {
        Ok(accounts::list(self.store.pool())
            .await?
            .into_iter()
            .map(AccountSummary::from)
            .collect())
    }

    /// Adds (or, with a negative amount and kind `adjustment`, removes) money, as one ledger entry.
    pub async fn post_to_balance(
        &self,
        username: &str,
        kind: &'static str,
        amount_minor: i64,
        description: &str,
    ) -> Result<AccountSummary> {
        let account = self.account_by_username(username).await?;
        let posting = Posting {
            kind,
            amount_minor,
            reason: description,
            reference: None,
            allow_negative: false,
        };
        self.post_money_as(None, account.id, &posting, None).await?;
        self.account_summary(account.id).await
    }

    pub async fn set_pbx_host(
        &self,
        username: &str,
        pbx_host: Option<&str>,
    ) -> Result<AccountSummary> {
        if let Some(host) = pbx_host
            && !valid_pbx_host(host)
        {
            return Err(Error::bad_request(
                "invalid_pbx_host",
                "PBX host must be a hostname or IP address with an optional port",
            ));
        }
        let account = self.account_by_username(username).await?;
        self.update_account_as(
            None,
            account.id,
            &AccountUpdate {
                status: None,
                pbx_host: Some(pbx_host.map(str::to_owned)),
            },
        )
        .await
    }

    pub async fn set_password(&self, username: &str, password: &str) -> Result<()> {
        let account = self.account_by_username(username).await?;
        self.set_password_as(None, account.id, password).await
    }

    /// Replaces the password and revokes every token of the account.
    pub async fn set_password_as(
        &self,
        actor: Option<&Operator>,
        account_id: i64,
        password: &str,
    ) -> Result<()> {
        check_password(password)?;
        let account = self.account_by_id(account_id).await?;
        let hash = self.passwords.hash(password).await?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        accounts::set_password_hash(&mut *tx, account.id, &hash).await?;
        self.revoke_tokens_in(&mut tx, account.id).await?;
        record(
            &mut tx,
            actor,
            "account.reset_password",
            &account_target(account.id),
            None,
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        self.tokens.evict_account(account.id);
        Ok(())
    }

    pub(super) async fn revoke_tokens_in(&self, tx: &mut store::Tx, account_id: i64) -> Result<()> {
        tokens::revoke_all_for_account(&mut **tx, account_id, self.now()).await?;
        self.announce(tx, &format!("tokens:{account_id}")).await
    }

    pub async fn ledger(
        &self,
        account_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        Ok(ledger::list_for_account(
            self.store.pool(),
            account_id,
            before_id,
            limit.clamp(1, 1000),
        )
        .await?
        .into_iter()
        .map(LedgerEntry::from)
        .collect())
    }

    /// Balance and ledger sum of an account; they must always be equal.
    pub async fn audit_account(&self, account_id: i64) -> Result<(i64, i64)> {
        let mut tx = self.store.begin_write().await?;
        let balance = accounts::find_by_id(&mut *tx, account_id)
            .await?
            .map(|a| a.balance_minor)
            .ok_or_else(|| Error::NotFound(format!("no account {account_id}")))?;
        let sum = ledger::sum_for_account(&mut *tx, account_id).await?;
        tx.commit().await?;
        Ok((balance, sum))
    }
}

/// Changes a balance and records it, inside the caller's transaction.
pub(crate) async fn post_adjustment(
    tx: &mut store::Tx,
    account_id: i64,
    kind: &str,
    amount_minor: i64,
    description: &str,
    now: i64,
) -> Result<i64> {
    post_entry(tx, account_id, kind, amount_minor, description, now)
        .await
        .map(|(balance, _)| balance)
}

/// [`post_adjustment`], also returning the new ledger entry's id.
pub(super) async fn post_entry(
    tx: &mut store::Tx,
    account_id: i64,
    kind: &str,
    amount_minor: i64,
    description: &str,
    now: i64,
) -> Result<(i64, i64)> {
    let balance = accounts::adjust_balance(&mut **tx, account_id, amount_minor).await?;
    let entry_id = ledger::insert(
        &mut **tx,
        &ledger::NewEntry {
            account_id,
            kind,
            amount_minor,
            balance_after_minor: balance,
            did_id: None,
            did_number: None,
            description,
            created_at: now,
        },
    )
    .await?;
    Ok((balance, entry_id))
}

fn check_password(password: &str) -> Result<()> {
    if password.len() < 8 || password.len() > super::PASSWORD_MAX_LEN {
        return Err(Error::bad_request(
            "invalid_password",
            "password must be 8 to 1024 characters",
        ));
    }
    Ok(())
}
