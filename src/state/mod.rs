//! The state every request shares: one cheap-to-clone handle, and what it counts per client
//! ([`per_ip`]).

pub mod per_ip;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::auth::Auth;
use crate::hooks::runs::Recorder;
use crate::hooks::webhook::WebhookClient;
use crate::hooks::HookRunner;
use crate::manifest::ManifestHandle;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::Store;
use per_ip::Clients;

/// Shared state of a running server (`Arc` inside: clone freely).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    hooks: Arc<ManifestHandle>,
    runner: HookRunner,
    settings: Settings,
    auth: Auth,
    metrics: Arc<Metrics>,
    /// Cancelled at shutdown: WebSocket connections close politely.
    closing: tokio_util::sync::CancellationToken,
    /// The WebSocket connections, so shutdown can wait for their goodbyes.
    connections: tokio_util::task::TaskTracker,
    /// What each client address holds, for the per-client caps.
    clients: Clients,
    /// Permits for realtime fan-out work that runs hooks (one per subscriber per change).
    fan_out: Arc<Semaphore>,
}

impl AppState {
    /// Bundles the parts built at start.
    pub fn new(
        store: Store,
        hooks: Arc<ManifestHandle>,
        settings: Settings,
        auth: Auth,
        client: WebhookClient,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let recorder = Arc::new(Recorder::new(metrics.clone(), settings.hook_runs_keep > 0));
        let fan_out = Arc::new(Semaphore::new(settings.fan_out_concurrency()));
        let clients = Clients::new(&settings);
        Self(Arc::new(Inner {
            runner: HookRunner::new(hooks.clone(), store.clone(), client, recorder),
            store,
            hooks,
            settings,
            auth,
            metrics,
            closing: tokio_util::sync::CancellationToken::new(),
            connections: tokio_util::task::TaskTracker::new(),
            clients,
            fan_out,
        }))
    }

    /// Figures for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Cancelled when the server begins to shut down.
    pub fn closing(&self) -> &tokio_util::sync::CancellationToken {
        &self.0.closing
    }

    /// Long-lived connections (WebSockets) shutdown waits for.
    pub fn connections(&self) -> &tokio_util::task::TaskTracker {
        &self.0.connections
    }

    /// Tokens, passwords and the login limiter.
    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    /// The document store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The hooks configuration in force (swapped on reload).
    pub fn hooks(&self) -> &Arc<ManifestHandle> {
        &self.0.hooks
    }

    /// Runs hook chains with the configuration in force.
    pub fn runner(&self) -> &HookRunner {
        &self.0.runner
    }

    /// What each client address holds (connections, operations), for the per-client caps.
    pub fn clients(&self) -> &Clients {
        &self.0.clients
    }

    /// Bounds how much realtime fan-out work that runs hooks goes on at once: a change seen
    /// by thousands of subscribers must not take every thread, every database connection
    /// and every core from other requests (`HOOKQL_FAN_OUT_CONCURRENCY`).
    pub fn fan_out(&self) -> &Arc<Semaphore> {
        &self.0.fan_out
    }

    /// The settings the server started with.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
}
