//! The route table: every owned number and where its calls go, held in memory
//! so that the routing plane answers without a database query. Changes made
//! here are applied before the API answers; changes made by other processes
//! arrive as announcements (see `changes`).

use super::{Result, Service};
use crate::domain::ForwardType;
use crate::domain::failover::{self, RingTimeout, StoredDestination};
use crate::domain::routing::{RoutingPolicy, contact_uri};
use crate::store::dids::{self, RouteRow};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

/// What a lookup says about an owned number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    /// Calls go to the destinations, in order.
    Forwarded,
    /// Owned, but calls go nowhere (no forward, or none usable): 480.
    NotForwarded,
}

impl RouteStatus {
    pub fn code(self) -> &'static str {
        match self {
            RouteStatus::Forwarded => "forwarded",
            RouteStatus::NotForwarded => "not_forwarded",
        }
    }
}

/// One place a call is sent to, in failover order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub kind: ForwardType,
    /// The `sip:`, `sips:` or `tel:` URI calls are sent to.
    pub contact: Arc<str>,
    /// How long it rings before the next destination is tried.
    pub timeout_seconds: Option<u16>,
}

/// Maximum concurrent calls, for the SBC to enforce; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub number_max_calls: Option<i64>,
    pub account_max_calls: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub did_id: i64,
    /// The DID, E.164.
    pub did: Arc<str>,
    pub account_id: i64,
    pub username: Arc<str>,
    /// Where calls go, in order; empty when the number is not forwarded
    /// (destinations whose target needs configuration that is missing, such as
    /// the account's PBX host, are left out).
    pub destinations: Vec<Destination>,
    /// The destinations' contacts, shared as is with the SIP server so that
    /// answering an INVITE copies no string.
    pub contacts: Arc<[Arc<str>]>,
    pub limits: Limits,
}

impl Route {
    pub fn status(&self) -> RouteStatus {
        if self.destinations.is_empty() {
            RouteStatus::NotForwarded
        } else {
            RouteStatus::Forwarded
        }
    }

    /// Where calls go first.
    pub fn first(&self) -> Option<&Destination> {
        self.destinations.first()
    }
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
    // A suspended owner's numbers answer as unavailable (not forwarded).
    let destinations: Vec<Destination> = if row.owner_inactive {
        Vec::new()
    } else {
        failover::decode(
            row.forwards.as_deref(),
            row.forward_type.as_deref(),
            row.forward_destination.as_deref(),
        )
        .iter()
        .filter_map(|stored| destination(&row, stored, policy))
        .collect()
    };
    Route {
        did_id: row.did_id,
        contacts: destinations
            .iter()
            .map(|d| Arc::clone(&d.contact))
            .collect(),
        destinations,
        limits: Limits {
            number_max_calls: row.number_max_calls,
            account_max_calls: row.account_max_calls,
        },
        did: Arc::from(row.number),
        account_id: row.account_id,
        username: Arc::from(row.username),
    }
}

fn destination(
    row: &RouteRow,
    stored: &StoredDestination,
    policy: &RoutingPolicy,
) -> Option<Destination> {
    let target = stored.target()?;
    let contact = contact_uri(&row.number, &target, row.pbx_host.as_deref(), policy)?;
    Some(Destination {
        kind: target.kind(),
        contact: Arc::from(contact),
        timeout_seconds: stored.timeout_seconds.map(RingTimeout::seconds),
    })
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
