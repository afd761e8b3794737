//! Builds the running service from settings: database, service, HTTP server,
//! background maintenance. Used by `didhub serve` and by the integration tests.

use crate::clock::Clock;
use crate::domain::catalogue::{Catalogue, DEFAULT_CATALOGUE};
use crate::domain::renewal::Suspension;
use crate::domain::routing::RoutingPolicy;
use crate::domain::{Currency, ForwardPolicy};
use crate::http::{self, HttpSettings};
use crate::service::{self, RouteTable, Service};
use crate::sip::{Lookup, RouteSource, SipConfig};
use crate::store::notify::ChangeListener;
use crate::store::sqlite_file::{DatabaseLock, sqlite_path};
use crate::store::{Backend, PoolSettings, Store};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Demo numbers generated per country and type.
pub const DEMO_NUMBERS_PER_TYPE: usize = 20;
/// Opening balance of the demo account, in minor units.
pub const DEMO_BALANCE_MINOR: i64 = 10_000;

pub struct AppConfig {
    pub listen: SocketAddr,
    pub database: String,
    pub pool: PoolSettings,
    pub service: service::Settings,
    pub http: HttpSettings,
    pub maintenance_interval: Option<Duration>,
    pub demo: Option<DemoAccount>,
    /// The SIP redirect server; `None` leaves it off.
    pub sip: Option<SipConfig>,
}

#[derive(Clone)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
}

impl AppConfig {
    pub fn from_args(
        db: &crate::config::DatabaseArgs,
        args: &crate::config::ServeArgs,
    ) -> AppConfig {
        AppConfig {
            listen: args.listen,
            database: db.database.clone(),
            pool: db.pool_settings(),
            service: service::Settings {
                token_ttl_secs: args.token_ttl_secs,
                aging_secs: args.aging_days * 86_400,
                renewal_grace_secs: args.renewal_grace_days * 86_400,
                forward_policy: ForwardPolicy {
                    allow_local_addresses: args.allow_local_targets,
                },
                default_currency: Currency::USD,
                routing: RoutingPolicy {
                    pstn_gateway: args.pstn_gateway.clone(),
                    disa_uri: args.disa_uri.clone(),
                    sip_domain: args.interop.sip_domain.clone(),
                    require_pstn_gateway: args.interop.require_pstn_gateway,
                    freeswitch_profile: Some(args.interop.freeswitch_profile.clone()),
                },
                login_max_failures: args.login_max_failures,
                login_window_secs: args.login_window_secs,
                // Replaced by the operator's file, if any, when `serve` reads it.
                deny_destinations: crate::domain::deny::DenyList::builtin(),
                resolver: Arc::new(service::SystemResolver::default()),
                login_max_failures_per_user: args.login_max_failures_per_user,
                auth_max_failures_per_address: args.auth_max_failures_per_address,
                login_max_per_address: args.login_max_per_address,
                password_workers: args.password_workers,
                password_queue: args.password_queue,
                webhooks: args.webhooks.settings(),
                suspended_uri: args.suspension.suspended_uri.clone(),
                restore_secs: args.suspension.restore_days.max(0) * 86_400,
                call_retention_secs: args.calls.call_retention_days * 86_400,
            },
            http: HttpSettings {
                max_body_bytes: args.max_body_bytes,
                routing_key: args.routing_key.clone(),
                metrics_key: args.metrics_key.clone(),
                connections: args.connection_limits(),
            },
            maintenance_interval: (args.maintenance_interval_secs > 0)
                .then(|| Duration::from_secs(args.maintenance_interval_secs)),
            demo: args.demo.then(|| DemoAccount {
                username: args.demo_username.clone(),
                password: args.demo_password.clone(),
            }),
            sip: None,
        }
    }
}

/// Where the SIP server listens: `--sip-listen` (`off` disables it), else
/// 127.0.0.1:5060 in demo mode and off otherwise.
pub fn sip_listen(option: Option<&str>, demo: bool) -> anyhow::Result<Option<SocketAddr>> {
    match option.map(str::trim) {
        Some("off") | Some("") => Ok(None),
        Some(address) => address.parse().map(Some).with_context(|| {
            format!("--sip-listen {address:?} is not an address like 127.0.0.1:5060")
        }),
        None if demo => Ok(Some(SocketAddr::from(([127, 0, 0, 1], 5060)))),
        None => Ok(None),
    }
}

/// The service's route table as the SIP server sees it.
struct RoutesForSip {
    table: Arc<RouteTable>,
    /// `--sip-domain`, the host of our `Diversion` URI.
    sip_domain: Option<String>,
    /// `--suspended-uri`: where calls to numbers suspended for non-payment
    /// go (an announcement), as a one-Contact list built once.
    suspended_contacts: Option<Arc<[Arc<str>]>>,
}

impl RouteSource for RoutesForSip {
    fn lookup(&self, number: &str) -> Lookup {
        let Some(route) = self.table.get(number) else {
            return Lookup::Unknown;
        };
        match (route.suspension, &self.suspended_contacts) {
            (Some(Suspension::NonPayment), Some(announcement)) => Lookup::Redirect {
                did: Arc::clone(&route.did),
                contacts: Arc::clone(announcement),
            },
            (Some(why), _) => Lookup::Suspended {
                reason: why.reason(),
            },
            (None, _) if route.contacts.is_empty() => Lookup::NoForward,
            (None, _) => Lookup::Redirect {
                did: Arc::clone(&route.did),
                contacts: Arc::clone(&route.contacts),
            },
        }
    }

    fn diversion_host(&self) -> Option<&str> {
        self.sip_domain.as_deref()
    }
}

pub async fn open_store(database: &str, pool: &PoolSettings) -> anyhow::Result<Store> {
    let store = Store::connect(database, pool)
        .await
        .with_context(|| format!("opening database {}", redact(database)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// A database URL as it may be logged: without its password.
pub fn redact(database: &str) -> String {
    match (database.find("://"), database.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &database[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    &database[..scheme_end + 3],
                    &database[at..]
                ),
                None => database.to_owned(),
            }
        }
        _ => database.to_owned(),
    }
}

/// Fills an empty inventory with the demo catalogue and creates the demo account.
pub async fn seed_demo(service: &Service, demo: &DemoAccount) -> anyhow::Result<()> {
    if service.inventory_size().await? == 0 {
        let catalogue = Catalogue::parse(DEFAULT_CATALOGUE).context("built-in catalogue")?;
        let report = service
            .generate_inventory(&catalogue, DEMO_NUMBERS_PER_TYPE, 1)
            .await?;
        tracing::info!(
            countries = report.countries,
            numbers = report.inserted,
            "demo inventory generated"
        );
    }
    match service.account_by_username(&demo.username).await {
        Ok(_) => {}
        Err(service::Error::NotFound(_)) => {
            service
                .create_account(&demo.username, &demo.password, None, DEMO_BALANCE_MINOR)
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The shared lock every process using a SQLite database holds, so that
/// `didhub restore` (which needs it exclusive) never swaps the file under one.
pub fn lock_database(database: &str) -> anyhow::Result<Option<DatabaseLock>> {
    let Some(path) = sqlite_path(database) else {
        return Ok(None);
    };
    match DatabaseLock::shared(&path)? {
        Some(lock) => Ok(Some(lock)),
        None => anyhow::bail!(
            "a restore is replacing {}; try again when it is done",
            path.display()
        ),
    }
}

/// A server that is running; dropping it does not stop it, `shutdown` does.
pub struct RunningServer {
    pub address: SocketAddr,
    /// UDP and TCP, when the SIP server runs.
    pub sip_address: Option<SocketAddr>,
    pub service: Service,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Held while the server runs, so that `didhub restore` refuses.
    _database_lock: Option<DatabaseLock>,
}

impl RunningServer {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.service.store().close().await;
    }

    /// Waits until the server stops (it stops on `shutdown` or a fatal error).
    pub async fn wait(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

pub async fn start(config: AppConfig, clock: Arc<dyn Clock>) -> anyhow::Result<RunningServer> {
    // Every listener is bound before the database is touched: an address in
    // use fails the start with nothing migrated or seeded.
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen for HTTP on {}: choose a free address with --listen ADDR \
             (or DIDHUB_LISTEN), or stop what holds it",
            config.listen
        )
    })?;
    let address = listener.local_addr()?;
    let sip =
        match config.sip.clone() {
            Some(sip) => Some(crate::sip::BoundSip::bind(sip.clone()).await.with_context(
                || {
                    format!(
                        "cannot listen for SIP on {} (UDP and TCP): choose another address with \
                 --sip-listen ADDR (or DIDHUB_SIP_LISTEN), or turn SIP off with --sip-listen off",
                        sip.listen
                    )
                },
            )?),
            None => None,
        };

    let database_lock = lock_database(&config.database)?;
    let store = open_store(&config.database, &config.pool).await?;
    let service = Service::new(store, clock, config.service.clone());
    if let Some(demo) = &config.demo {
        seed_demo(&service, demo).await?;
    }
    // Changes announced from here on are applied by the follower below, so
    // none falls between the load and the follow.
    let first_unseen_change = match service.store().backend() {
        Backend::Sqlite => service.store().latest_change_id().await?,
        Backend::Postgres => 0,
    };
    let changes = match service.store().backend() {
        Backend::Postgres => Some(
            ChangeListener::connect(service.store().url())
                .await
                .context("listening for changes")?,
        ),
        Backend::Sqlite => None,
    };
    let (routes, on_sale) = service.load_memory().await?;
    tracing::info!(routes, on_sale, "route table and shelf loaded");
    let (stop, stopped) = watch::channel(false);
    let router = http::router(service.clone(), &config.http);
    let limits = config.http.connections;
    tracing::info!(
        %address,
        max_connections = limits.max_connections,
        header_timeout_secs = limits.header_timeout.as_secs_f64(),
        body_timeout_secs = limits.body_timeout.as_secs_f64(),
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        "HTTP listening"
    );
    let http_task = tokio::spawn(http::server::serve(
        listener,
        router,
        limits,
        stopped.clone(),
    ));
    let mut tasks = vec![http_task];

    let mut sip_address = None;
    if let Some(sip) = sip {
        let routes = Arc::new(RoutesForSip {
            table: service.route_table(),
            sip_domain: service.settings().routing.sip_domain.clone(),
            suspended_contacts: service
                .settings()
                .suspended_uri
                .as_deref()
                .map(|uri| Arc::from([Arc::<str>::from(uri)])),
        });
        let server = sip
            .serve(routes, stopped.clone())
            .context("starting the SIP server")?;
        sip_address = Some(server.local_addr);
        tasks.push(tokio::spawn(server.wait()));
    }

    tasks.push(tokio::spawn(match service.store().backend() {
        Backend::Postgres => Box::pin(follow_notifications(
            service.clone(),
            changes,
            stopped.clone(),
        ))
            as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        Backend::Sqlite => Box::pin(follow_change_log(
            service.clone(),
            first_unseen_change,
            stopped.clone(),
        )),
    }));

    if let Some(interval) = config.maintenance_interval {
        let service = service.clone();
        let mut maintenance_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        match service.run_maintenance().await {
                            Ok(report) => tracing::debug!(?report, "maintenance"),
                            Err(error) => tracing::warn!(%error, "maintenance failed"),
                        }
                    }
                    _ = maintenance_stop.changed() => break,
                }
            }
        }));
    }

    tasks.extend(service::start_delivery(service.clone(), stopped.clone()));

    Ok(RunningServer {
        address,
        sip_address,
        service,
        stop,
        tasks,
        _database_lock: database_lock,
    })
}

/// PostgreSQL: applies each change the other instances announce, and reloads
/// everything whenever the notification connection was (re)established, since
/// changes may have been missed meanwhile.
async fn follow_notifications(
    service: Service,
    mut listening: Option<ChangeListener>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // The first listener was connected before the start-up load.
        if let Some(listener) = listening.take() {
            if follow(&service, listener, &mut stop).await.is_break() {
                return;
            }
            continue;
        }
        let connected = tokio::select! {
            connected = ChangeListener::connect(service.store().url()) => connected,
            _ = stop.changed() => return,
        };
        let listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "change notifications unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Reconnected: whatever was announced meanwhile is lost, reload it all.
        if let Err(error) = service.load_memory().await {
            tracing::warn!(%error, "reloading routes and shelf failed");
        }
        if follow(&service, listener, &mut stop).await.is_break() {
            return;
        }
    }
}

/// Applies announcements until the connection is lost (`Continue`: reconnect)
/// or the server stops (`Break`).
async fn follow(
    service: &Service,
    mut listener: ChangeListener,
    stop: &mut watch::Receiver<bool>,
) -> std::ops::ControlFlow<()> {
    loop {
        let next = tokio::select! {
            next = listener.next() => next,
            _ = stop.changed() => return std::ops::ControlFlow::Break(()),
        };
        match next {
            Ok(Some(change)) => {
                if let Err(error) = service.apply_change(&change.subject).await {
                    tracing::warn!(%error, "applying a change failed; reloading");
                    return std::ops::ControlFlow::Continue(());
                }
                if let Some(announced_at_ms) = change.announced_at_ms {
                    let lag_ms = chrono::Utc::now().timestamp_millis() - announced_at_ms;
                    record_change_lag("postgres", lag_ms as f64 / 1000.0);
                }
            }
            Ok(None) | Err(_) => return std::ops::ControlFlow::Continue(()),
        }
    }
}

/// Time from a change's announcement by its writer to its application here
/// (clamped at zero: the two clocks may disagree a little).
fn record_change_lag(backend: &'static str, seconds: f64) {
    metrics::histogram!("didhub_change_propagation_lag_seconds", "backend" => backend)
        .record(seconds.max(0.0));
}

/// How often a SQLite-backed server looks for changes other processes (the
/// operator's commands) made to the same file.
const CHANGE_POLL: Duration = Duration::from_millis(200);

/// SQLite: applies the changes other processes logged, in order.
async fn follow_change_log(service: Service, mut last_seen: i64, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(CHANGE_POLL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let changes = match service.store().changes_after(last_seen).await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "reading the change log failed");
                continue;
            }
        };
        for (id, subject, created_at) in changes {
            if let Err(error) = service.apply_change(&subject).await {
                tracing::warn!(%error, "applying a change failed; reloading");
                if let Err(error) = service.load_memory().await {
                    tracing::warn!(%error, "reloading routes and shelf failed");
                }
            }
            // The change log is stamped by the writer's clock in whole seconds.
            record_change_lag("sqlite", (service.now() - created_at) as f64);
            last_seen = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn database_passwords_are_not_logged() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/didhub"),
            "postgres://app:***@db:5432/didhub"
        );
        assert_eq!(redact("./didhub.db"), "./didhub.db");
    }
}
