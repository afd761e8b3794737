//! The route table: every owned number and where its calls go, held in memory
//! so that the routing plane answers without a database query. Changes made
//! here are applied before the API answers; changes made by other processes
//! arrive as announcements (see `changes`).

use super::{Result, Service};
use crate::domain::renewal::Suspension;
use crate::domain::routing::{RoutingPolicy, contact_uri};
use crate::domain::{ForwardTarget, ForwardType};
use crate::store::dids::{self, RouteRow};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub did_id: i64,
    /// The DID, E.164.
    pub did: Arc<str>,
    pub account_id: i64,
    pub username: Arc<str>,
    /// The forward type, when the number is forwarded.
    pub kind: Option<ForwardType>,
    /// Where calls go; `None` when the number is not forwarded (or its target
    /// needs configuration that is missing, such as the account's PBX host).
    pub contact: Option<Arc<str>>,
    /// Why calls are refused although the number is owned, if they are.
    pub suspension: Option<Suspension>,
}

/// Numbers are keyed by their digits as an integer: an E.164 number has at
/// most 15 digits and never a leading zero, so the key is exact, and a lookup
/// (once per INVITE, over a table of millions of numbers) compares two
/// integers in the table's own memory instead of following a pointer to a
/// string; foldhash hashes it in a few instructions where SipHash's DoS
/// resistance buys nothing (keys are numbers the operator sells, not input).
type Routes = foldhash::HashMap<u64, Arc<Route>>;

/// "+33123456789" → 33123456789; `None` for anything that is not "+" and
/// 1 to 15 digits.
fn key(number: &str) -> Option<u64> {
    let digits = number.strip_prefix('+')?;
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Default)]
pub struct RouteTable {
    routes: RwLock<Routes>,
    /// While a full reload runs, the numbers refreshed meanwhile; they are
    /// refreshed again afterwards so that the reload's older snapshot cannot
    /// undo them.
    touched_during_reload: Mutex<Option<HashSet<String>>>,
}

impl RouteTable {
    /// The route of an E.164 number ("+33123456789").
    pub fn get(&self, number: &str) -> Option<Arc<Route>> {
        let key = key(number)?;
        self.routes.read().ok()?.get(&key).cloned()
    }

    pub fn len(&self) -> usize {
        self.routes.read().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn put(&self, number: &str, route: Option<Route>) {
        if let Ok(mut touched) = self.touched_during_reload.lock()
            && let Some(set) = touched.as_mut()
        {
            set.insert(number.to_owned());
        }
        let Some(key) = key(number) else {
            return;
        };
        let Ok(mut routes) = self.routes.write() else {
            return;
        };
        match route {
            Some(route) => {
                routes.insert(key, Arc::new(route));
            }
            None => {
                routes.remove(&key);
            }
        }
    }
}

fn route_from(row: RouteRow, policy: &RoutingPolicy) -> Route {
    let kind = row.forward_type.as_deref().and_then(ForwardType::parse);
    let suspension = if row.owner_inactive {
        Some(Suspension::Account)
    } else if row.unpaid {
        Some(Suspension::NonPayment)
    } else {
        None
    };
    let contact = match (kind, row.forward_destination.as_deref()) {
        // A suspended number answers as unavailable (not forwarded).
        _ if suspension.is_some() => None,
        (Some(kind), Some(destination)) => ForwardTarget::from_stored(kind, destination)
            .and_then(|target| contact_uri(&row.number, &target, row.pbx_host.as_deref(), policy))
            .map(Arc::from),
        _ => None,
    };
    Route {
        did_id: row.did_id,
        did: Arc::from(row.number),
        account_id: row.account_id,
        username: Arc::from(row.username),
        kind: contact.as_ref().and(kind),
        contact,
        suspension,
    }
}

impl Service {
    pub fn route_table(&self) -> Arc<RouteTable> {
        Arc::clone(&self.routes)
    }

    pub fn route(&self, number: &str) -> Option<Arc<Route>> {
        self.routes.get(number)
    }

    /// Loads every route from the database, replacing the table.
    pub async fn reload_routes(&self) -> Result<usize> {
        if let Ok(mut touched) = self.routes.touched_during_reload.lock() {
            *touched = Some(HashSet::new());
        }
        let loaded = dids::list_routes(self.store.pool()).await;
        let touched = self
            .routes
            .touched_during_reload
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .unwrap_or_default();
        let policy = &self.settings().routing;
        let fresh: Routes = loaded?
            .into_iter()
            .filter_map(|row| {
                let route = route_from(row, policy);
                Some((key(&route.did)?, Arc::new(route)))
            })
            .collect();
        let count = fresh.len();
        if let Ok(mut routes) = self.routes.routes.write() {
            *routes = fresh;
        }
        for number in touched {
            self.refresh_route(&number).await?;
        }
        Ok(count)
    }

    /// Re-reads one number's route into the table.
    pub async fn refresh_route(&self, number: &str) -> Result<()> {
        let row = dids::route_for_number(self.store.pool(), number).await?;
        let policy = &self.settings().routing;
        self.routes.put(number, row.map(|r| route_from(r, policy)));
        Ok(())
    }

    pub async fn refresh_account_routes(&self, account_id: i64) -> Result<()> {
        let rows = dids::routes_for_account(self.store.pool(), account_id).await?;
        let policy = &self.settings().routing;
        for row in rows {
            let number = row.number.clone();
            self.routes.put(&number, Some(route_from(row, policy)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn only_plus_and_one_to_fifteen_digits_make_a_key() {
        assert_eq!(key("+33123456789"), Some(33_123_456_789));
        assert_eq!(key("+999999999999999"), Some(999_999_999_999_999));
        for not_a_key in [
            "33123456789",
            "+",
            "",
            "+1234567890123456",
            "+33 1",
            "+3a",
            "++33",
            "+-1",
        ] {
            assert_eq!(key(not_a_key), None, "{not_a_key}");
        }
    }
}
