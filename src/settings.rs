//! Server settings: every flag has a `HOOKQL_*` environment variable and a default that works
//! with no configuration at all. Read once at start and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Default limit on GraphQL selection depth: deep enough for GraphiQL's introspection query
/// (15 levels with nested `ofType`), shallow enough to stop abusive nesting.
pub const DEFAULT_MAX_QUERY_DEPTH: usize = 16;
/// Default limit on GraphQL query complexity: fields selected, each list field's counted once
/// per row its `limit` asks for, so one page of 1,000 documents with a dozen fields passes and
/// fifty aliases of it do not.
pub const DEFAULT_MAX_QUERY_COMPLEXITY: usize = 20_000;
/// Default limit on the document data one request may read (see `HOOKQL_MAX_RESPONSE_BYTES`).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// Default lifetime of an access token: short, as a JWT cannot be revoked before it expires.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// Default lifetime of a refresh token (a session): 30 days.
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 30 * 24 * 60 * 60;
/// Default request body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How the server runs. Each field is a flag and an environment variable.
#[derive(Clone, Debug, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "HOOKQL_LISTEN",
        default_value = "127.0.0.1:4000",
        global = true
    )]
    pub listen: SocketAddr,

    /// Folder for the SQLite file and the generated JWT secret.
    #[arg(long, env = "HOOKQL_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`. Default: the
    /// SQLite file `hookql.db` in the data folder.
    #[arg(
        long,
        env = "HOOKQL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Most database connections, in two pools: half for reads outside a transaction (whose
    /// statements `HOOKQL_QUERY_TIMEOUT_MS` bounds), half for writes. Each pool has at least
    /// one (so 0 and 1 mean 2), and writes at least three on PostgreSQL.
    #[arg(
        long,
        env = "HOOKQL_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,

    /// The hooks file. Default `./hooks.yaml`; when the default file is missing the server
    /// starts with no hooks and picks the file up when it appears.
    #[arg(long, env = "HOOKQL_HOOKS", global = true)]
    pub hooks: Option<PathBuf>,

    /// How often to look for edits of the hooks files, in milliseconds.
    #[arg(
        long,
        env = "HOOKQL_HOOKS_POLL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub hooks_poll_ms: u64,

    /// How often the webhook delivery worker looks for due deliveries it was not told about
    /// (left by a crash, or recorded by another instance), in milliseconds.
    #[arg(
        long,
        env = "HOOKQL_DELIVERY_POLL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub delivery_poll_ms: u64,

    /// How long delivered webhook deliveries are kept (for `hookDeliveries`), in hours. Dead
    /// ones are kept until replayed.
    #[arg(
        long,
        env = "HOOKQL_DELIVERY_RETENTION_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub delivery_retention_hours: u64,

    /// How many hook runs are kept for `hookRuns` (the newest; 0 records none, metrics still
    /// count them).
    #[arg(
        long,
        env = "HOOKQL_HOOK_RUNS_KEEP",
        default_value_t = 100_000,
        global = true
    )]
    pub hook_runs_keep: u64,

    /// How long hook runs are kept, in hours.
    #[arg(
        long,
        env = "HOOKQL_HOOK_RUNS_RETENTION_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub hook_runs_retention_hours: u64,

    /// Secret for signing access tokens (HS256). Default: generated on first start and kept
    /// in the data folder (SQLite) or in the database (PostgreSQL, where every instance reads
    /// the same one).
    #[arg(long, env = "HOOKQL_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The `iss` claim of access tokens (checked on every token).
    #[arg(
        long,
        env = "HOOKQL_JWT_ISSUER",
        default_value = "hookql",
        global = true
    )]
    pub jwt_issuer: String,

    /// How long an access token is valid, in seconds.
    #[arg(
        long,
        env = "HOOKQL_ACCESS_TOKEN_TTL_SECS",
        default_value_t = DEFAULT_ACCESS_TOKEN_TTL_SECS,
        global = true
    )]
    pub access_token_ttl_secs: u64,

    /// How long a refresh token (a session) is valid, in seconds.
    #[arg(
        long,
        env = "HOOKQL_REFRESH_TOKEN_TTL_SECS",
        default_value_t = DEFAULT_REFRESH_TOKEN_TTL_SECS,
        global = true
    )]
    pub refresh_token_ttl_secs: u64,

    /// With `--admin-password`: make sure this user exists and is an admin at start (created
    /// if missing; an existing account is promoted only if its password is `--admin-password`,
    /// and its password is never changed).
    #[arg(long, env = "HOOKQL_ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,

    /// The password for a bootstrap admin created from `--admin-email`.
    #[arg(
        long,
        env = "HOOKQL_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// Serve GraphiQL's scripts from this folder instead of the CDN (air-gapped hosts): a
    /// `node_modules` folder holding the exact versions listed in docs/configuration.md (GraphiQL offline).
    #[arg(long, env = "HOOKQL_GRAPHIQL_ASSETS", global = true)]
    pub graphiql_assets: Option<PathBuf>,

    /// Origins browsers may call the API from: `*` (any; the default, as the API uses bearer
    /// tokens rather than cookies) or a comma-separated list such as
    /// `https://app.example.com,http://localhost:3000`.
    #[arg(long, env = "HOOKQL_CORS_ORIGINS", default_value = "*", global = true)]
    pub cors_origins: String,

    /// Largest request body, in bytes.
    #[arg(long, env = "HOOKQL_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,

    /// Deepest GraphQL selection nesting a query may have.
    #[arg(
        long,
        env = "HOOKQL_MAX_QUERY_DEPTH",
        default_value_t = DEFAULT_MAX_QUERY_DEPTH,
        global = true
    )]
    pub max_query_depth: usize,

    /// Largest GraphQL query complexity: fields selected, those inside a list counted once per
    /// row its `limit` asks for.
    #[arg(
        long,
        env = "HOOKQL_MAX_QUERY_COMPLEXITY",
        default_value_t = DEFAULT_MAX_QUERY_COMPLEXITY,
        global = true
    )]
    pub max_query_complexity: usize,

    /// Most bytes of document data one GraphQL request may read (all its fields together), and
    /// one WebSocket connection may hold (its running operations and the answers waiting to
    /// be sent); a query that would read more ends with a clear error before the server holds
    /// it all.
    #[arg(
        long,
        env = "HOOKQL_MAX_RESPONSE_BYTES",
        default_value_t = DEFAULT_MAX_RESPONSE_BYTES,
        global = true
    )]
    pub max_response_bytes: usize,

    /// Most aliases a GraphQL query may use (aliases multiply the work one request asks for).
    #[arg(
        long,
        env = "HOOKQL_MAX_QUERY_ALIASES",
        default_value_t = 50,
        global = true
    )]
    pub max_query_aliases: usize,

    /// Seconds a client has to send a request's headers once it has started; slower ones
    /// are disconnected (slowloris).
    #[arg(
        long,
        env = "HOOKQL_HEADER_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub header_timeout_secs: u64,

    /// Seconds an HTTP connection may sit idle (nothing read or written) before it is closed.
    #[arg(
        long,
        env = "HOOKQL_IDLE_TIMEOUT_SECS",
        default_value_t = 60,
        global = true
    )]
    pub idle_timeout_secs: u64,

    /// Seconds a graceful shutdown waits for requests in flight before it stops anyway.
    #[arg(
        long,
        env = "HOOKQL_SHUTDOWN_GRACE_SECS",
        default_value_t = 20,
        global = true
    )]
    pub shutdown_grace_secs: u64,

    /// Most concurrent GraphQL WebSocket connections; more are refused with 503.
    #[arg(
        long,
        env = "HOOKQL_WS_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub ws_max_connections: usize,

    /// Most WebSocket connections one client address (an IPv6 /64) may hold at once; more
    /// are refused with 429. 0: no per-client cap (behind a reverse proxy, which has one
    /// address for every client).
    #[arg(
        long,
        env = "HOOKQL_WS_MAX_CONNECTIONS_PER_IP",
        default_value_t = 100,
        global = true
    )]
    pub ws_max_connections_per_ip: usize,

    /// Most operations (subscriptions, and queries or mutations in flight) running at once on
    /// one WebSocket connection.
    #[arg(
        long,
        env = "HOOKQL_WS_MAX_OPERATIONS",
        default_value_t = 100,
        global = true
    )]
    pub ws_max_operations: usize,

    /// Most document lists (`documents`, and hooks' reads on their behalf do not count) one
    /// client address runs at once; the rest wait for its own turns, so that one client's
    /// costly lists cannot hold every read connection. 0: no per-client cap.
    #[arg(long, env = "HOOKQL_READS_PER_IP", default_value_t = 2, global = true)]
    pub reads_per_ip: usize,

    /// Most WebSocket operations running at once over all the connections of one client
    /// address. 0: no per-client cap.
    #[arg(
        long,
        env = "HOOKQL_WS_MAX_OPERATIONS_PER_IP",
        default_value_t = 1_000,
        global = true
    )]
    pub ws_max_operations_per_ip: usize,

    /// Most HTTP connections one client address may hold open at once (WebSockets count
    /// under `HOOKQL_WS_MAX_CONNECTIONS_PER_IP` instead); more are answered 429 and closed.
    /// 0: no per-client cap.
    #[arg(
        long,
        env = "HOOKQL_MAX_CONNECTIONS_PER_IP",
        default_value_t = 256,
        global = true
    )]
    pub max_connections_per_ip: usize,

    /// Milliseconds one read statement may run before the database stops it and the client gets
    /// `BAD_USER_INPUT` (a costly filter on a large collection); 0: no limit. Writes,
    /// migrations and index builds are not limited.
    #[arg(
        long,
        env = "HOOKQL_QUERY_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub query_timeout_ms: u64,

    /// Milliseconds a request waits for the database to answer one statement (its wait for a
    /// pooled connection included) before it gets `UNAVAILABLE` with `retryAfter`: a database
    /// that cannot be reached fails requests within this bound instead of hanging them. A
    /// commit past it answers `outcome: "unknown"`. 0: no limit (not advised).
    #[arg(
        long,
        env = "HOOKQL_DB_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub db_timeout_ms: u64,

    /// Seconds a client has to send a whole request body once its headers are in; slower
    /// ones are answered 408 and disconnected (slowloris bodies).
    #[arg(
        long,
        env = "HOOKQL_BODY_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_timeout_secs: u64,

    /// Most subscriber-side hook runs (`post_read` on a change, per subscriber) at once;
    /// the rest of a change's fan-out waits its turn. 0: twice the CPU cores, at most half
    /// the database pool.
    #[arg(
        long,
        env = "HOOKQL_FAN_OUT_CONCURRENCY",
        default_value_t = 0,
        global = true
    )]
    pub fan_out_concurrency: usize,

    /// Messages a WebSocket connection may have waiting to be sent before its client counts
    /// as too slow and is disconnected (with a reason).
    #[arg(
        long,
        env = "HOOKQL_WS_SEND_BUFFER",
        default_value_t = 256,
        global = true
    )]
    pub ws_send_buffer: usize,

    /// Seconds between keep-alive pings on WebSocket connections; a client silent for two
    /// intervals is disconnected.
    #[arg(
        long,
        env = "HOOKQL_WS_KEEPALIVE_SECS",
        default_value_t = 15,
        global = true
    )]
    pub ws_keepalive_secs: u64,
}

impl Settings {
    /// The hooks file path, and whether it was asked for explicitly (then it must exist).
    pub fn hooks_file(&self) -> (PathBuf, bool) {
        match &self.hooks {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from("./hooks.yaml"), false),
        }
    }

    /// How long a request waits for the database to answer one statement
    /// (`HOOKQL_DB_TIMEOUT_MS`; 0: as long as it takes, a day).
    pub fn db_timeout(&self) -> std::time::Duration {
        match self.db_timeout_ms {
            0 => std::time::Duration::from_secs(86_400),
            ms => std::time::Duration::from_millis(ms.max(100)),
        }
    }

    /// How long one read statement may run (`HOOKQL_QUERY_TIMEOUT_MS`); `None`: no limit.
    pub fn query_timeout(&self) -> Option<std::time::Duration> {
        // PostgreSQL takes at most i32::MAX ms (about 24 days).
        let ms = self.query_timeout_ms.min(i32::MAX as u64);
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// How many subscriber-side hook runs may go on at once: the setting, or (0) twice the
    /// cores, leaving at least half the database pool and the async workers' share of the
    /// CPU to other requests.
    pub fn fan_out_concurrency(&self) -> usize {
        if self.fan_out_concurrency > 0 {
            return self.fan_out_concurrency;
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let half_pool = usize::try_from(self.db_max_connections / 2).unwrap_or(usize::MAX);
        (cores * 2).min(half_pool).max(1)
    }

    /// The database URL, defaulting to the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("hookql.db").display()),
        }
    }
}
