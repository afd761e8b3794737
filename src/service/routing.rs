//! The route table: every owned number and where its calls go, held in memory
//! so that the routing plane answers without a database query. Changes made
//! here are applied before the API answers; changes made by other processes
//! arrive as announcements (see `changes`).

use super::{Result, Service};
use crate::domain::routing::{RoutingPolicy, contact_uri};
use crate::domain::{ForwardTarget, ForwardType};
use crate::store::dids::{self, RouteRow};
use std::collections::{HashMap, HashSet};
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
}

#[derive(Default)]
pub struct RouteTable {
    routes: RwLock<HashMap<Arc<str>, Arc<Route>>>,
    /// While a full reload runs, the numbers refreshed meanwhile; they are
    /// refreshed again afterwards so that the reload's older snapshot cannot
    /// undo them.
    touched_during_reload: Mutex<Option<HashSet<String>>>,
}

impl RouteTable {
    /// The route of an E.164 number ("+33123456789").
    pub fn get(&self, number: &str) -> Option<Arc<Route>> {
        self.routes.read().ok()?.get(number).cloned()
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
        let Ok(mut routes) = self.routes.write() else {
            return;
        };
        match route {
            Some(route) => {
                routes.insert(Arc::clone(&route.did), Arc::new(route));
            }
            None => {
                routes.remove(number);
            }
        }
    }
}

fn route_from(row: RouteRow, policy: &RoutingPolicy) -> Route {
    let kind = row.forward_type.as_deref().and_then(ForwardType::parse);
    let contact = match (kind, row.forward_destination.as_deref()) {
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
        let fresh: HashMap<Arc<str>, Arc<Route>> = loaded?
            .into_iter()
            .map(|row| {
                let route = route_from(row, policy);
                (Arc::clone(&route.did), Arc::new(route))
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
