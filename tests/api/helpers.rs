//! `spawn_app()`: a real hookql server on 127.0.0.1:0 with its own database and hooks file,
//! and a small GraphQL client for it.

use std::path::PathBuf;
use std::time::Duration;

use hookql::state::AppState;
use hookql::{App, Settings};
use serde_json::{json, Value};

/// A hooks file with no hooks.
pub const NO_HOOKS: &str = "version: 1\n";
/// Every collection open to anyone: for tests about transport, not access.
pub const PUBLIC_RULES: &str =
    "version: 1\ndefaults:\n  rules: { read: public, create: public, update: public, delete: public }\n";
/// A script for timeout tests: it runs until its hook's timeout stops it, and without one for
/// far longer than any test's bound. Each of its few, cheaply counted operations copies 1 MB,
/// so the sandbox's operation limit stops it only after about 40 s (measured in a debug
/// build). A loop like `loop { i += 1 }` will not do: the operation limit stops it within
/// half a second, timeout or not.
pub const SLOW_SCRIPT: &str = "let s = \"\"; s.pad(1000000, 'x'); loop { s.to_upper(); }";
/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A signed-in test user.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user id.
    pub id: String,
    /// The access token.
    pub token: String,
    /// The refresh token.
    pub refresh: String,
}

impl Session {
    /// From an `AuthPayload` JSON.
    pub fn from_payload(payload: &Value) -> Self {
        Self {
            id: payload["user"]["id"].as_str().expect("user id").to_string(),
            token: payload["accessToken"]
                .as_str()
                .expect("access token")
                .to_string(),
            refresh: payload["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_string(),
        }
    }
}

/// A running server for one test; stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client for it.
    pub client: reqwest::Client,
    /// The hooks file the server watches (tests edit it).
    pub hooks_path: PathBuf,
    /// The server's state, for observing what has no GraphQL API yet (hooks reloads).
    pub state: AppState,
    /// The access token `gql` sends: a user signed up by `spawn_app`, or none.
    pub token: Option<String>,
    /// That user's id.
    pub user_id: Option<String>,
    /// The database it runs on (another instance can share it).
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The database for a test: a fresh SQLite file, or a fresh schema in the PostgreSQL database
/// named by HOOKQL_TEST_DATABASE_URL.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("HOOKQL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            use sea_orm::sqlx::Connection;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut connection = sea_orm::sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| {
                    panic!("HOOKQL_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
                });
            sea_orm::sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut connection)
                .await
                .expect("create schema");
            let _ = connection.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}options=-c%20search_path%3D{schema}")
        }
        _ => format!("sqlite://{}", dir.join("test.db").display()),
    }
}

/// Settings for a test server in `dir`.
pub fn test_settings(dir: &std::path::Path, database_url: String) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.to_path_buf(),
        database_url: Some(database_url),
        db_max_connections: 8,
        hooks: Some(dir.join("hooks.yaml")),
        hooks_poll_ms: 50,
        delivery_poll_ms: 200,
        delivery_retention_hours: 168,
        jwt_secret: Some("a-test-secret-of-at-least-32-bytes!".into()),
        jwt_issuer: "hookql".into(),
        access_token_ttl_secs: hookql::settings::DEFAULT_ACCESS_TOKEN_TTL_SECS,
        refresh_token_ttl_secs: hookql::settings::DEFAULT_REFRESH_TOKEN_TTL_SECS,
        admin_email: None,
        admin_password: None,
        graphiql_assets: None,
        cors_origins: "*".into(),
        max_body_bytes: hookql::settings::DEFAULT_MAX_BODY_BYTES,
        max_query_depth: hookql::settings::DEFAULT_MAX_QUERY_DEPTH,
        max_query_complexity: hookql::settings::DEFAULT_MAX_QUERY_COMPLEXITY,
        max_response_bytes: hookql::settings::DEFAULT_MAX_RESPONSE_BYTES,
        ws_max_connections: 10_000,
        ws_send_buffer: 256,
        ws_keepalive_secs: 15,
        ws_max_connections_per_ip: 100,
        ws_max_operations: 100,
        ws_max_operations_per_ip: 1_000,
        max_connections_per_ip: 256,
        body_timeout_secs: 30,
        query_timeout_ms: 5_000,
        db_timeout_ms: 30_000,
        reads_per_ip: 2,
        fan_out_concurrency: 0,
        max_query_aliases: 50,
        header_timeout_secs: 10,
        idle_timeout_secs: 60,
        shutdown_grace_secs: 20,
        hook_runs_keep: 100_000,
        hook_runs_retention_hours: 168,
    }
}

/// Starts a server with no hooks; `gql` calls it as a freshly signed-up user
/// (`tester@example.com`), as the default rules want a signed-in caller.
pub async fn spawn_app() -> TestApp {
    signed_in(spawn_app_with(NO_HOOKS, |_| {}).await).await
}

/// Makes `gql` call `app` as a newly signed-up `tester@example.com`.
pub async fn signed_in(mut app: TestApp) -> TestApp {
    let session = app.sign_up("tester@example.com").await;
    app.token = Some(session.token);
    app.user_id = Some(session.id);
    app
}

/// Starts a server with `hooks_yaml`, after `adjust` has changed its settings.
pub async fn spawn_app_with(hooks_yaml: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(dir.path()).await;
    spawn_app_in(dir, database_url, hooks_yaml, adjust).await
}

/// Starts another instance on `app`'s database (as several instances behind a load balancer
/// would run), with its own hooks file holding `hooks_yaml`.
pub async fn spawn_app_sharing(
    app: &TestApp,
    hooks_yaml: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(dir, app.database_url.clone(), hooks_yaml, adjust).await
}

/// The bootstrap admin `admin_token` signs in as.
pub fn with_admin(settings: &mut Settings) {
    settings.admin_email = Some("root@example.com".into());
    settings.admin_password = Some("root password".into());
}

/// Starts a server whose hooks file (and SQLite data) live in `dir`, on `database_url`.
pub async fn spawn_app_in(
    dir: tempfile::TempDir,
    database_url: String,
    hooks_yaml: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    if std::env::var_os("RUST_LOG").is_some() {
        hookql::telemetry::init();
    }
    std::fs::write(dir.path().join("hooks.yaml"), hooks_yaml).expect("write hooks.yaml");
    let mut settings = test_settings(dir.path(), database_url.clone());
    adjust(&mut settings);
    let hooks_path = settings.hooks.clone().expect("hooks path");
    let app = App::build(settings).await.expect("the server starts");
    let address = format!("http://{}", app.local_addr().expect("bound"));
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        hooks_path,
        state,
        token: None,
        user_id: None,
        database_url,
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// Creates documents `{"n": <count>, "pad": <pad_bytes × "x">}` in `collection` until the
    /// server has disconnected a WebSocket client as too slow (checked every ten writes), or
    /// `most` were written; how many were.
    pub async fn write_until_slow_disconnect(
        &self,
        collection: &str,
        pad_bytes: usize,
        most: usize,
    ) -> usize {
        let pad = "x".repeat(pad_bytes);
        let mut writes = 0;
        while writes < most {
            self.create(collection, json!({"n": writes, "pad": pad}))
                .await;
            writes += 1;
            if writes % 10 == 0
                && self
                    .metrics()
                    .await
                    .contains("\nhookql_websocket_slow_disconnects_total 1\n")
            {
                break;
            }
        }
        writes
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics answered");
        assert_eq!(response.status(), 200);
        response.text().await.expect("text")
    }

    /// Tells the server to stop (as SIGTERM does) without waiting for it.
    pub fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the server down gracefully (as SIGTERM does) and waits until it has stopped;
    /// how long that took.
    pub async fn shut_down(&mut self) -> Duration {
        let started = std::time::Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("a clean stop");
        }
        started.elapsed()
    }

    /// An access token of the bootstrap admin (the app must be started [`with_admin`]).
    pub async fn admin_token(&self) -> String {
        let response = self.login("root@example.com", "root password").await;
        response["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("the bootstrap admin cannot sign in: {response}"))
            .to_string()
    }

    /// The status `GET /healthz` answers with.
    pub async fn health(&self) -> reqwest::StatusCode {
        self.client
            .get(format!("{}/healthz", self.address))
            .send()
            .await
            .expect("healthz answers")
            .status()
    }

    /// POSTs a GraphQL request as the default caller and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(self.token.as_deref(), query, variables).await
    }

    /// POSTs a GraphQL request with `token` as bearer (none: anonymous).
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("JSON response")
    }

    /// Like [`gql`](Self::gql) but expects success and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        self.data_as(self.token.as_deref(), query, variables).await
    }

    /// Like [`gql_as`](Self::gql_as) but expects success and returns `data`.
    pub async fn data_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql_as(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }

    /// Expects exactly one error and returns it.
    pub async fn error(&self, query: &str, variables: Value) -> Value {
        self.error_as(self.token.as_deref(), query, variables).await
    }

    /// Like [`error`](Self::error), as the caller with `token`.
    pub async fn error_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql_as(token, query, variables).await;
        let errors = response["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("expected an error, got {response}"));
        assert_eq!(errors.len(), 1, "{response}");
        errors[0].clone()
    }

    /// Signs up `email` with [`PASSWORD`].
    pub async fn sign_up(&self, email: &str) -> Session {
        let data = self
            .data_as(
                None,
                "mutation($e: String!, $p: String!) { register(email: $e, password: $p) { accessToken refreshToken expiresIn user { id email role } } }",
                json!({"e": email, "p": PASSWORD}),
            )
            .await;
        Session::from_payload(&data["register"])
    }

    /// Signs in `email` with `password`; the whole response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.gql_as(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken expiresIn user { id email role lastLoginAt } } }",
            json!({"e": email, "p": password}),
        )
        .await
    }

    /// Creates a document as the caller with `token` and returns it.
    pub async fn create_as(&self, token: Option<&str>, collection: &str, data: Value) -> Value {
        let response = self
            .data_as(
                token,
                "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id version data ownerId } }",
                json!({"c": collection, "d": data}),
            )
            .await;
        response["createDocument"].clone()
    }

    /// Creates a document and returns it (id, version, data).
    pub async fn create(&self, collection: &str, data: Value) -> Value {
        let response = self
            .data(
                "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id version data ownerId createdAt updatedAt collection } }",
                json!({"c": collection, "d": data}),
            )
            .await;
        response["createDocument"].clone()
    }

    /// How many documents `collection` holds.
    pub async fn count(&self, collection: &str) -> i64 {
        let data = self
            .data(
                "query($c: String!) { documents(collection: $c) { totalCount } }",
                json!({"c": collection}),
            )
            .await;
        data["documents"]["totalCount"]
            .as_i64()
            .expect("totalCount")
    }

    /// Waits (bounded) until `condition` holds on the server state.
    pub async fn eventually(&self, what: &str, condition: impl Fn(&AppState) -> bool) {
        for _ in 0..200 {
            if condition(&self.state) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for: {what}");
    }
}

/// A TCP connection to `server` from local address `from` (any loopback address works on
/// Linux: to the server, another address is another client).
pub async fn tcp_from(
    from: std::net::IpAddr,
    server: std::net::SocketAddr,
) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(std::net::SocketAddr::new(from, 0))
        .expect("bind to the local address");
    socket.connect(server).await.expect("connected")
}

/// Calls `probe` until `done` holds for its answer (bounded: about 5 s) and returns the last
/// answer either way, so the caller's assertion shows what was seen. For effects of
/// background work (after-hooks) and hot reloads.
pub async fn settle<T>(probe: impl AsyncFn() -> T, done: impl Fn(&T) -> bool) -> T {
    settle_within(Duration::from_secs(5), probe, done).await
}

/// Waits (bounded) until the server at `address` reports `n` open subscriptions: from then
/// on every commit reaches them (the count grows once a subscription's feed listens, on
/// PostgreSQL once this instance's interest is registered).
pub async fn subscriptions_open_at(address: &str, n: usize) {
    let line = format!("\nhookql_subscriptions {n}\n");
    let client = reqwest::Client::new();
    let text = settle(
        async || match client.get(format!("{address}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        },
        |text| text.contains(&line),
    )
    .await;
    assert!(text.contains(&line), "never saw{line}");
}

/// [`settle`] with another bound, for effects that wait on a timer (a lease running out).
pub async fn settle_within<T>(
    limit: Duration,
    probe: impl AsyncFn() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let started = std::time::Instant::now();
    let mut last = probe().await;
    while !done(&last) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(25)).await;
        last = probe().await;
    }
    last
}
