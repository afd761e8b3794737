//! Use cases. Every transaction starts and ends here; the HTTP, SIP and CLI
//! layers call these and never the store directly.

mod accounts;
mod admin;
mod auth;
mod billing;
mod calls;
mod changes;
mod error;
mod events;
mod holds;
mod import_stream;
mod inventory;
mod limits;
mod numbers;
mod operators;
mod order;
mod passwords;
mod purchase;
mod quotes;
mod resolve;
mod restore;
mod routing;
mod search;
mod shelf;
mod statement;
mod suspension;
mod token_cache;
mod upcoming;
mod views;
mod webhooks;
mod withdraw;

pub use accounts::AccountSummary;
pub use admin::{AccountDetail, AccountUpdate, NumberDetail, Posted, Posting, Repricing};
pub use auth::{LoginOutcome, PASSWORD_MAX_LEN};
pub use billing::{MaintenanceReport, RenewalReport};
pub use calls::{Call, CallCounts, CallQuery, Recorded};
pub use error::{Error, Result};
pub use events::Event;
pub use holds::Hold;
pub use import_stream::{InventoryImport, Line, LineSplitter, MAX_REPORTED_PROBLEMS};
pub use inventory::{CsvMode, GenerateReport, ImportReport, RowProblem};
pub use order::{Order, OrderCriteria, OrderFailure, OrderRequest, Quote, QuoteLine};

/// The CSV columns `inventory import` reads.
pub fn inventory_columns() -> &'static str {
    inventory::IMPORT_COLUMNS
}
pub use numbers::{ForwardRequest, Released};
pub use operators::{OPERATOR_KEY_PREFIX, Operator, OperatorKeyInfo};
pub use purchase::{AssignRequest, Charge, Purchase};
pub use quotes::{PurchaseQuote, RenewalProjection};
pub use resolve::{HostResolver, Resolution, ResolveError, SystemResolver};
pub use restore::Restored;
pub use routing::{Destination, Limits, Route, RouteStatus, RouteTable};
pub use search::{SearchPage, SearchQuery};
pub use shelf::OnSale;
pub use statement::Statement;
pub use upcoming::{BillingSettings, Upcoming, UpcomingRenewal};
pub use views::{Did, DidStatus, Forward, LedgerEntry};
pub use webhooks::{Endpoint, WebhookSettings, event_body, parse_event_types, start_delivery};
pub use withdraw::{MAX_WITHDRAW_LISTED, NotWithdrawn, Withdrawal, Withdrawn};

use crate::clock::Clock;
use crate::domain::deny::DenyList;
use crate::domain::routing::RoutingPolicy;
use crate::domain::{Currency, ForwardPolicy};
use crate::store::Store;
use std::sync::Arc;

/// The operator's choices that shape the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token_ttl_secs: i64,
    /// Quarantine after release before a number is sold again.
    pub aging_secs: i64,
    /// How long an unpaid renewal is tolerated before the number is taken back.
    pub renewal_grace_secs: i64,
    pub forward_policy: ForwardPolicy,
    /// Currency of accounts created without one.
    pub default_currency: Currency,
    /// PSTN gateway and DISA service; `access_number` forwards need the DISA.
    pub routing: RoutingPolicy,
    /// Failed logins per (username, client address) in a window.
    pub login_max_failures: i64,
    pub login_window_secs: i64,
    /// Destination prefixes `pstn` forwards (and `access_number` codes) may not use.
    pub deny_destinations: DenyList,
    /// Resolves the host names of `sip` forwards, which are judged by their addresses.
    pub resolver: Arc<dyn HostResolver>,
    /// Failed logins per username from all addresses together in a window.
    pub login_max_failures_per_user: i64,
    /// Failed authentications (passwords and tokens) per client address in a window.
    pub auth_max_failures_per_address: i64,
    /// Login attempts, right or wrong, per client address in a window.
    pub login_max_per_address: i64,
    /// Threads hashing and checking passwords; 0: one per core.
    pub password_workers: usize,
    /// Password jobs that may wait for a worker before logins answer 503 `busy`.
    pub password_queue: usize,
    /// Webhook URL rules and delivery (issue 14).
    pub webhooks: WebhookSettings,
    // Suspension and restore (issue 12).
    /// Where calls to a number suspended for non-payment are redirected (an
    /// announcement); `None`: they are refused with 480.
    pub suspended_uri: Option<String>,
    /// How long after a release its former owner may restore a number.
    pub restore_secs: i64,
    /// Call records: how long they are kept (seconds since the call started).
    pub call_retention_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl_secs: 24 * 3600,
            aging_secs: 90 * 86400,
            renewal_grace_secs: 7 * 86400,
            forward_policy: ForwardPolicy::default(),
            default_currency: Currency::USD,
            routing: RoutingPolicy::default(),
            login_max_failures: 5,
            login_window_secs: 300,
            deny_destinations: DenyList::builtin(),
            resolver: Arc::new(SystemResolver::default()),
            login_max_failures_per_user: 100,
            auth_max_failures_per_address: 100,
            login_max_per_address: 120,
            password_workers: 0,
            password_queue: 64,
            webhooks: WebhookSettings::default(),
            suspended_uri: None,
            restore_secs: 10 * 86400,
            call_retention_secs: 90 * 86400,
        }
    }
}

#[derive(Clone)]
pub struct Service {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    routes: Arc<RouteTable>,
    shelf: Arc<shelf::Shelf>,
    tokens: Arc<token_cache::TokenCache>,
    passwords: passwords::PasswordPool,
    key_throttle: Arc<operators::KeyThrottle>,
}

impl Service {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> Service {
        Service {
            store,
            clock,
            passwords: passwords::PasswordPool::start(
                settings.password_workers,
                settings.password_queue,
            ),
            settings: Arc::new(settings),
            routes: Arc::new(RouteTable::default()),
            shelf: Arc::new(shelf::Shelf::default()),
            tokens: Arc::new(token_cache::TokenCache::default()),
            key_throttle: Arc::new(operators::KeyThrottle::default()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How many numbers are on sale (in memory).
    pub fn shelf_len(&self) -> usize {
        self.shelf.len()
    }

    /// Whether the database answers: what a readiness probe asks.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await.map_err(Error::from)
    }
}
