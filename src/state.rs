//! The state every request shares: one cheap-to-clone handle.

use std::sync::Arc;

use crate::auth::Auth;
use crate::hooks::webhook::WebhookClient;
use crate::hooks::{HookRunner, HooksHandle};
use crate::settings::Settings;
use crate::store::Store;

/// Shared state of a running server (`Arc` inside: clone freely).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    hooks: Arc<HooksHandle>,
    runner: HookRunner,
    settings: Settings,
    auth: Auth,
}

impl AppState {
    /// Bundles the parts built at start.
    pub fn new(
        store: Store,
        hooks: Arc<HooksHandle>,
        settings: Settings,
        auth: Auth,
        client: WebhookClient,
    ) -> Self {
        Self(Arc::new(Inner {
            runner: HookRunner::new(hooks.clone(), store.clone(), client),
            store,
            hooks,
            settings,
            auth,
        }))
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
    pub fn hooks(&self) -> &Arc<HooksHandle> {
        &self.0.hooks
    }

    /// Runs hook chains with the configuration in force.
    pub fn runner(&self) -> &HookRunner {
        &self.0.runner
    }

    /// The settings the server started with.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
}
