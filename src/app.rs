//! Building and running a server: `App::build` does every start-up step and binds the
//! listener (so tests can ask for port 0 and read the real port), `run_until_stopped` serves
//! until SIGINT/SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::auth::tokens::MIN_SECRET_BYTES;
use crate::auth::Auth;
use crate::graphql::build_schema;
use crate::hooks::webhook::WebhookClient;
use crate::manifest::{reload, ManifestHandle};
use crate::model::Secret;
use crate::service::users::{ensure_admin, Bootstrap};
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::{describe_database_url, DatabaseKind, Store};
use crate::{secret_key, server};

/// A server that is ready to serve: database migrated, hooks loaded, port bound.
pub struct App {
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
    /// PostgreSQL: this instance's ear on every instance's committed changes.
    changes: Option<crate::store::changes::postgres::Listener>,
    /// PostgreSQL: this instance's ear on the other instances' user deletions.
    revocations: Option<crate::store::revoked_users::RevocationListener>,
}

impl App {
    /// Runs every start-up step. Fails (with every hooks.yaml error listed) rather than start
    /// half-configured.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let (hooks_path, required) = settings.hooks_file();
        if !required && !hooks_path.exists() {
            tracing::warn!(file = %hooks_path.display(), "no hooks file; running with no hooks until it appears");
        }
        let hooks = ManifestHandle::load(&hooks_path, required)
            .map_err(|errors| anyhow::anyhow!("{errors}"))?;
        let database_url = settings.database_url();
        if DatabaseKind::of_url(&database_url)? == DatabaseKind::Sqlite
            && settings.database_url.is_none()
        {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!(
                    "cannot create the data folder {}",
                    settings.data_dir.display()
                )
            })?;
        }
        let store = Store::connect_bounded(
            &database_url,
            settings.db_max_connections,
            settings.query_timeout(),
            settings.db_timeout(),
        )
        .await?;
        store.migrate().await.context("database migration failed")?;
        store
            .ensure_indexes(&hooks.current().indexes)
            .await
            .context("cannot create the indexes hooks.yaml declares")?;
        // Listening starts before the port is bound, so no subscriber can miss a change.
        let changes = store.listen_for_changes().await?;
        // Likewise for deleted users: listening first, then reading, so that none is missed.
        let revocations = store.listen_for_revocations().await?;
        let revoked = store
            .revoked_users()
            .await
            .context("cannot read the revoked users")?;
        let jwt_secret = match (&settings.jwt_secret, store.kind()) {
            (Some(secret), _) => Secret::new(secret.clone()),
            (None, DatabaseKind::Postgres) => Secret::new(
                store
                    .shared_secret("jwt", secret_key::generate())
                    .await
                    .context("cannot keep the JWT secret in the database")?,
            ),
            (None, DatabaseKind::Sqlite) => secret_key::load_or_create(&settings.data_dir)
                .with_context(|| {
                    format!(
                        "cannot keep the JWT secret in {}",
                        settings.data_dir.display()
                    )
                })?,
        };
        if jwt_secret.expose().len() < MIN_SECRET_BYTES {
            anyhow::bail!(
                "HOOKQL_JWT_SECRET must have at least {MIN_SECRET_BYTES} bytes (a short HS256 secret can be guessed from any token); leave it unset to have one generated"
            );
        }
        let auth = Auth::new(&settings, &jwt_secret).map_err(|e| anyhow::anyhow!(e))?;
        auth.revoked
            .extend(revoked, chrono::Utc::now().timestamp_micros());
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let bindings = hooks.current().bindings.len();
        let client = WebhookClient::new().map_err(|e| anyhow::anyhow!(e))?;
        let state = AppState::new(store, Arc::new(hooks), settings, auth, client);
        bootstrap_admin(&state).await?;
        let schema = build_schema(state.clone(), state.settings());
        let cors = server::cors(&state.settings().cors_origins)?;
        let router = server::router(state.clone(), schema, cors);
        let address = listener.local_addr()?;
        tracing::info!(
            "hookql listening on http://{address} (GraphiQL at http://{address}/graphql); database {}; hooks {} ({bindings} bindings)",
            describe_database_url(&database_url),
            hooks_path.display(),
        );
        Ok(App {
            listener,
            state,
            router,
            changes,
            revocations,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The state, for tests and embedding.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then stops accepting, lets in-flight requests finish
    /// (up to `HOOKQL_SHUTDOWN_GRACE_SECS`), says goodbye to WebSockets, waits (bounded) for
    /// after-hooks in flight, stops the background tasks and closes the database pool.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let poll = Duration::from_millis(self.state.settings().hooks_poll_ms.max(10));
        let watcher = crate::tasks::spawn(
            "hooks watcher",
            reload::watch(self.state.hooks().clone(), poll, background_stopped.clone()),
        );
        let feed = self.changes.map(|listener| {
            let feed = self.state.store().changes().clone();
            crate::tasks::spawn(
                "change feed",
                listener.run(feed, background_stopped.clone()),
            )
        });
        let revocations = self.revocations.map(|listener| {
            let state = self.state.clone();
            let revoke = move |rows| {
                let now = chrono::Utc::now().timestamp_micros();
                state.auth().revoked.extend(rows, now);
            };
            crate::tasks::spawn(
                "revocations listener",
                listener.run(revoke, background_stopped.clone()),
            )
        });
        let indexer = crate::tasks::spawn(
            "index keeper",
            keep_indexes(self.state.clone(), poll, background_stopped.clone()),
        );
        let pruner = crate::tasks::spawn(
            "row pruner",
            prune_old_rows(self.state.store().clone(), background_stopped.clone()),
        );
        let settings = self.state.settings();
        let recorder = self.state.runner().recorder().clone();
        let runs = crate::tasks::spawn("hook run writer", {
            let store = self.state.store().clone();
            let (keep, hours) = (settings.hook_runs_keep, settings.hook_runs_retention_hours);
            let stopped = background_stopped.clone();
            async move {
                let max_age = Duration::from_secs(hours.saturating_mul(3600));
                recorder.write(store, keep, max_age, stopped).await;
            }
        });
        let deliveries = crate::tasks::spawn(
            "delivery worker",
            self.state
                .runner()
                .worker(
                    Duration::from_millis(settings.delivery_poll_ms.max(10)),
                    Duration::from_secs(settings.delivery_retention_hours.saturating_mul(3600)),
                )
                .run(background_stopped, AFTER_HOOKS_GRACE),
        );
        let patience = server::listen::Patience {
            headers: Duration::from_secs(settings.header_timeout_secs.max(1)),
            idle: Duration::from_secs(settings.idle_timeout_secs.max(1)),
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
            connections_per_ip: settings.max_connections_per_ip,
        };
        let closing = self.state.closing().clone();
        let clients = self.state.clients().http.clone();
        let stopped_at = Arc::new(std::sync::OnceLock::new());
        let stop = {
            let stopped_at = stopped_at.clone();
            async move {
                stop.await;
                let _ = stopped_at.set(std::time::Instant::now());
            }
        };
        let grace = patience.shutdown_grace;
        server::listen::serve(self.listener, self.router, patience, clients, closing, stop).await;
        // The whole shutdown has a bound whatever the database does (issue 16: with the disk
        // full it took 85-135 s): what is left of it after the requests goes to the rest,
        // and what is not done then is abandoned (deliveries stay in the outbox).
        let bound = grace.saturating_add(SHUTDOWN_MARGIN);
        let spent = stopped_at.get().map_or(Duration::ZERO, |at| at.elapsed());
        let left = bound.saturating_sub(spent).max(WIND_DOWN_LEAST);
        let state = self.state.clone();
        let wind_down = async move {
            // WebSockets were told goodbye when the stop came; give them a moment to go.
            let connections = state.connections();
            connections.close();
            if tokio::time::timeout(WEBSOCKETS_GRACE, connections.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    open = connections.len(),
                    "WebSocket connections still open at shutdown"
                );
            }
            state.runner().drain(AFTER_HOOKS_GRACE).await;
            let _ = stop_background.send(true);
            let _ = watcher.await;
            let _ = pruner.await;
            let _ = indexer.await;
            if let Some(feed) = feed {
                let _ = feed.await;
            }
            if let Some(revocations) = revocations {
                let _ = revocations.await;
            }
            let _ = deliveries.await;
            let _ = runs.await;
            state.store().clone().close().await;
        };
        if tokio::time::timeout(left, wind_down).await.is_err() {
            tracing::warn!(
                "background work still running {:?} after the stop; stopping anyway (deliveries not sent stay in the outbox)",
                bound
            );
        }
        tracing::info!("hookql stopped");
        Ok(())
    }
}

/// Added to `HOOKQL_SHUTDOWN_GRACE_SECS` to make the bound of a whole shutdown.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// The least time the work after the requests gets, even when they used up the bound.
const WIND_DOWN_LEAST: Duration = Duration::from_secs(2);

/// How long a graceful shutdown waits for WebSocket connections to close.
const WEBSOCKETS_GRACE: Duration = Duration::from_secs(3);

/// How long a graceful shutdown waits for after-hooks still running.
const AFTER_HOOKS_GRACE: Duration = Duration::from_secs(10);

/// How often expired refresh tokens, old spilled changes and run-out revocations are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes expired refresh tokens (each rotation leaves a used row behind), large changes
/// every listener has read and revocations whose tokens have all expired, now and then, until
/// `stopped` turns true. Several instances may all do it: the deletes are idempotent.
async fn prune_old_rows(store: Store, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        match store.prune_expired_refresh_tokens().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tokens = n, "deleted expired refresh tokens"),
            Err(e) => tracing::warn!("cannot delete expired refresh tokens: {e}"),
        }
        if let Err(e) = store.prune_spilled_changes().await {
            tracing::warn!("cannot delete old spilled changes: {e}");
        }
        if let Err(e) = store.prune_revoked_users().await {
            tracing::warn!("cannot delete run-out revocations: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Creates the indexes a reloaded hooks file declares, looking every `poll` until `stopped`.
async fn keep_indexes(
    state: AppState,
    poll: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut indexed = state.hooks().current();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stopped.changed() => return,
        }
        let current = state.hooks().current();
        if Arc::ptr_eq(&current, &indexed) {
            continue;
        }
        if current.indexes != indexed.indexes {
            match state.store().ensure_indexes(&current.indexes).await {
                Ok(()) => tracing::info!(
                    indexes = current.indexes.len(),
                    "indexes declared in the hooks file are in place"
                ),
                Err(e) => tracing::error!("cannot create the indexes the hooks file declares: {e}"),
            }
        }
        indexed = current;
    }
}

/// `HOOKQL_ADMIN_EMAIL` + `HOOKQL_ADMIN_PASSWORD`: make sure that admin exists, and say in
/// the log what was done or refused.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let settings = state.settings();
    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), Some(password)) => {
            let passwords = &state.auth().passwords;
            let outcome = ensure_admin(state.store(), passwords, email, password)
                .await
                .map_err(|e| anyhow::anyhow!("HOOKQL_ADMIN_EMAIL/HOOKQL_ADMIN_PASSWORD: {e}"))?;
            match outcome {
                // Not fatal: the server is fine, only the bootstrap is not; the setting must
                // be fixed (or removed), which the warning says.
                Bootstrap::Refused => tracing::warn!(
                    email = %email,
                    "bootstrap admin: {outcome}. (The password checked is HOOKQL_ADMIN_PASSWORD: fix HOOKQL_ADMIN_EMAIL/HOOKQL_ADMIN_PASSWORD, or remove them once the admin exists.)"
                ),
                _ => tracing::info!(email = %email, "bootstrap admin: {outcome}"),
            }
            Ok(())
        }
        (Some(_), None) | (None, Some(_)) => anyhow::bail!(
            "set both HOOKQL_ADMIN_EMAIL and HOOKQL_ADMIN_PASSWORD to bootstrap an admin, or neither"
        ),
        (None, None) => Ok(()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
