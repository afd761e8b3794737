//! Settings from flags, each with a `DIDHUB_*` environment variable.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// SQLite file path or sqlite:/postgres:// URL.
    #[arg(
        long = "database",
        env = "DIDHUB_DATABASE_URL",
        default_value = "./didhub.db",
        global = true
    )]
    pub database: String,
    /// Largest number of pooled database connections.
    #[arg(
        long,
        env = "DIDHUB_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
    /// Milliseconds a request waits for a database connection before answering 503.
    #[arg(
        long,
        env = "DIDHUB_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub db_acquire_timeout_ms: u64,
    /// Longest a statement may run (PostgreSQL) or wait for the write lock (SQLite), in ms.
    #[arg(
        long,
        env = "DIDHUB_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub db_statement_timeout_ms: u64,
}

impl DatabaseArgs {
    pub fn pool_settings(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms),
            statement_timeout: std::time::Duration::from_millis(self.db_statement_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address for the HTTP API.
    #[arg(long, env = "DIDHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed a demo inventory (145 countries) and a demo account when empty.
    #[arg(long, env = "DIDHUB_DEMO")]
    pub demo: bool,
    /// Username of the demo account.
    #[arg(long, env = "DIDHUB_DEMO_USERNAME", default_value = "demo")]
    pub demo_username: String,
    /// Password of the demo account.
    #[arg(
        long,
        env = "DIDHUB_DEMO_PASSWORD",
        default_value = "demo-password",
        hide_env_values = true
    )]
    pub demo_password: String,
    /// How long a login token lives, in seconds.
    #[arg(long, env = "DIDHUB_TOKEN_TTL_SECS", default_value_t = 86_400)]
    pub token_ttl_secs: i64,
    /// Quarantine after release before a number is sold again, in days.
    #[arg(long, env = "DIDHUB_AGING_DAYS", default_value_t = 90)]
    pub aging_days: i64,
    /// Days an unpaid renewal is tolerated before the number is taken back.
    #[arg(long, env = "DIDHUB_RENEWAL_GRACE_DAYS", default_value_t = 7)]
    pub renewal_grace_days: i64,
    /// Allow forwards to loopback, link-local, multicast and unspecified addresses.
    #[arg(long, env = "DIDHUB_ALLOW_LOCAL_TARGETS")]
    pub allow_local_targets: bool,
    /// SIP URI of the operator's DISA service; enables `access_number` forwards.
    /// `{did}` and `{code}` are replaced by the dialled DID and the forward's code.
    #[arg(long, env = "DIDHUB_DISA_URI")]
    pub disa_uri: Option<String>,
    /// `host[:port]` of the PSTN gateway: PSTN forwards become
    /// `sip:+E164@gateway;user=phone` instead of `tel:+E164`.
    #[arg(long, env = "DIDHUB_PSTN_GATEWAY")]
    pub pstn_gateway: Option<String>,
    /// Key the operator's SBC presents to the routing lookups (`/v1/routing/…`);
    /// without one those endpoints are off.
    #[arg(long, env = "DIDHUB_ROUTING_KEY", hide_env_values = true)]
    pub routing_key: Option<String>,
    #[command(flatten)]
    pub interop: InteropArgs,
    /// Address (UDP and TCP) of the SIP redirect server; `off` disables it.
    /// Default: off, or 127.0.0.1:5060 with --demo.
    #[arg(long, env = "DIDHUB_SIP_LISTEN")]
    pub sip_listen: Option<String>,
    /// Peers the SIP server answers: comma-separated addresses and networks
    /// (`192.0.2.7,10.0.0.0/8,2001:db8::/32`), i.e. your SBCs and carriers.
    /// Others get no answer. Default: anyone who can reach --sip-listen.
    #[arg(long, env = "DIDHUB_SIP_ALLOW")]
    pub sip_allow: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DIDHUB_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds between maintenance runs (renewals, end of aging, clean-up); 0 disables.
    #[arg(long, env = "DIDHUB_MAINTENANCE_INTERVAL_SECS", default_value_t = 60)]
    pub maintenance_interval_secs: u64,
    /// Failed logins per username from one client address allowed in one window before 429.
    #[arg(long, env = "DIDHUB_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: i64,
    /// Length of the login and failed-authentication windows, in seconds.
    #[arg(long, env = "DIDHUB_LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: i64,
    /// Write the bound HTTP address to this file once listening (useful with port 0).
    #[arg(long, env = "DIDHUB_ADDRESS_FILE")]
    pub address_file: Option<PathBuf>,
    /// SIP TCP connections one peer (an IPv4 address or an IPv6 /64) may hold at once.
    #[arg(long, env = "DIDHUB_SIP_TCP_MAX_PER_PEER", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sip_tcp_max_per_peer: u32,
    /// Seconds a SIP TCP message may take to arrive once its first byte has.
    #[arg(long, env = "DIDHUB_SIP_TCP_MESSAGE_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sip_tcp_message_timeout_secs: u64,
    /// Seconds without traffic after which a SIP TCP connection is closed.
    #[arg(long, env = "DIDHUB_SIP_TCP_IDLE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sip_tcp_idle_secs: u64,
    /// File of E.164 prefixes that `pstn` forwards (and `access_number` codes) may
    /// not use, one per line, `#` comments. Default: the built-in premium-rate and
    /// satellite list (data/deny-destinations.txt); an empty file refuses nothing.
    #[arg(long, env = "DIDHUB_DENY_DESTINATIONS")]
    pub deny_destinations: Option<PathBuf>,
    /// Failed logins per username from all addresses together in one window before 429.
    #[arg(
        long,
        env = "DIDHUB_LOGIN_MAX_FAILURES_PER_USER",
        default_value_t = 100
    )]
    pub login_max_failures_per_user: i64,
    /// Failed authentications (passwords, tokens) per client address in one window before 429.
    #[arg(
        long,
        env = "DIDHUB_AUTH_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 100
    )]
    pub auth_max_failures_per_address: i64,
    /// Login attempts, right or wrong, per client address in one window before 429.
    #[arg(long, env = "DIDHUB_LOGIN_MAX_PER_ADDRESS", default_value_t = 120)]
    pub login_max_per_address: i64,
    /// Threads that hash and check passwords (19 MiB each); 0: one per core.
    #[arg(long, env = "DIDHUB_PASSWORD_WORKERS", default_value_t = 0)]
    pub password_workers: usize,
    /// Password checks that may wait for a worker; beyond, logins answer 503 `busy`.
    #[arg(long, env = "DIDHUB_PASSWORD_QUEUE", default_value_t = 64)]
    pub password_queue: usize,
    /// Bearer key that opens `/metrics` (Prometheus text). Without it the
    /// routing key does; without either, `/metrics` is off (404).
    #[arg(long, env = "DIDHUB_METRICS_KEY", hide_env_values = true)]
    pub metrics_key: Option<String>,
    /// Seconds a client has to send a request's headers (from connecting, or
    /// from the first byte of a later request on a kept-alive connection).
    #[arg(long, env = "DIDHUB_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request body may pause between two pieces before the request fails.
    #[arg(long, env = "DIDHUB_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "DIDHUB_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Most HTTP connections open at once; further ones wait to be accepted.
    /// 0: three quarters of the open-file limit, at most 65536.
    #[arg(long, env = "DIDHUB_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Seconds SIGTERM/SIGINT waits for requests in flight before exiting anyway (status 1).
    #[arg(
        long,
        visible_alias = "shutdown-timeout",
        env = "DIDHUB_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub shutdown_timeout_secs: u64,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub suspension: SuspensionArgs,
    #[command(flatten)]
    pub calls: CallRecordArgs,
}

/// Suspension for non-payment and restore after release (issue 12).
#[derive(Debug, Clone, Args)]
pub struct SuspensionArgs {
    /// SIP URI (an announcement) that calls to numbers suspended for
    /// non-payment are redirected to; unset: they are refused with 480.
    #[arg(long, env = "DIDHUB_SUSPENDED_URI")]
    pub suspended_uri: Option<String>,
    /// Days after a release during which the former owner may restore the
    /// number (never past aging).
    #[arg(long, env = "DIDHUB_RESTORE_DAYS", default_value_t = 10)]
    pub restore_days: i64,
}

/// Call records reported by the SBC (`POST /v1/calls`, `/api/did/calls`).
#[derive(Debug, Clone, Args)]
pub struct CallRecordArgs {
    /// Days a call record is kept (from the call's start); maintenance deletes older ones.
    #[arg(long, env = "DIDHUB_CALL_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub call_retention_days: i64,
}

impl ServeArgs {
    pub fn connection_limits(&self) -> crate::http::server::ConnectionLimits {
        use std::time::Duration;
        crate::http::server::ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: match self.max_connections {
                0 => crate::http::server::default_max_connections(),
                n => n,
            },
        }
    }
}

/// Bounds on the operator files didhub reads (inventory CSV, catalogue, deny list).
#[derive(Debug, Clone, Copy, Args)]
pub struct ReadLimitArgs {
    /// Largest file accepted, in bytes; larger ones are refused unread past the limit.
    #[arg(long, env = "DIDHUB_MAX_IMPORT_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_import_bytes: u64,
    /// Longest line accepted, in bytes.
    #[arg(long, env = "DIDHUB_MAX_LINE_BYTES", default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,
}

impl Default for ReadLimitArgs {
    fn default() -> Self {
        ReadLimitArgs {
            max_import_bytes: 100 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// Webhooks (issue 14): which URLs may receive events, and how this instance
/// delivers them.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub urls: WebhookUrlArgs,
    /// Milliseconds an idle instance waits before looking for due deliveries (0: deliver none).
    #[arg(long, env = "DIDHUB_WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,
    /// Seconds a claimed delivery stays this instance's; after a crash, others retry it then.
    #[arg(long, env = "DIDHUB_WEBHOOK_LEASE_SECS", default_value_t = 60)]
    pub webhook_lease_secs: i64,
    /// Attempts in flight to one endpoint from this instance.
    #[arg(long, env = "DIDHUB_WEBHOOK_PER_ENDPOINT", default_value_t = 4)]
    pub webhook_per_endpoint: usize,
}

/// The URL rules of webhooks, shared by `serve` and `didhub webhook add`.
#[derive(Debug, Clone, Args)]
pub struct WebhookUrlArgs {
    /// Hosts webhooks may reach over plain http (comma-separated); all others need https.
    #[arg(long, env = "DIDHUB_WEBHOOK_ALLOW_HTTP", value_delimiter = ',')]
    pub webhook_allow_http: Vec<String>,
    /// Let webhook URLs reach loopback, private, link-local and metadata addresses.
    #[arg(long, env = "DIDHUB_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

impl WebhookUrlArgs {
    pub fn policy(&self) -> crate::domain::webhook::UrlPolicy {
        crate::domain::webhook::UrlPolicy {
            allow_http_hosts: self
                .webhook_allow_http
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            allow_private: self.webhook_allow_private,
        }
    }
}

impl WebhookArgs {
    pub fn settings(&self) -> crate::service::WebhookSettings {
        crate::service::WebhookSettings {
            urls: self.urls.policy(),
            poll_interval: (self.webhook_poll_ms > 0)
                .then(|| std::time::Duration::from_millis(self.webhook_poll_ms)),
            // Longer than one attempt can take (10 s timeout), so that a live
            // instance never loses a lease mid-attempt.
            lease_secs: self.webhook_lease_secs.max(15),
            per_endpoint: self.webhook_per_endpoint.max(1),
        }
    }
}

/// SBC interop (issue 13): how lookups and 302s name things for the
/// operator's Kamailio, FreeSWITCH or carrier.
#[derive(Debug, Clone, Args)]
pub struct InteropArgs {
    /// Host of the `Diversion` URI (`<sip:+DID@HOST>`) in 302s and in the
    /// routing lookups, e.g. the operator's SIP domain. Default: the host the
    /// INVITE was addressed to in 302s, `didhub.invalid` in lookups.
    #[arg(long, env = "DIDHUB_SIP_DOMAIN")]
    pub sip_domain: Option<String>,
    /// Refuse `pstn` forwards while no --pstn-gateway is set (they would
    /// otherwise route to a `tel:` URI, which the SBC must route itself).
    #[arg(long, env = "DIDHUB_REQUIRE_PSTN_GATEWAY")]
    pub require_pstn_gateway: bool,
    /// The sofia profile FreeSWITCH bridges calls through.
    #[arg(long, env = "DIDHUB_FREESWITCH_PROFILE", default_value = "external")]
    pub freeswitch_profile: String,
}
