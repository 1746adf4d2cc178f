//! Where the service layer runs hooks: the before-chain of an operation (awaited, may change
//! or stop it) and its after-hooks (in the background, after the commit).
//!
//! After-hooks never delay or undo the operation and their errors never reach the client.
//! They are tracked, so a graceful shutdown waits (bounded) for the ones in flight.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::task::TaskTracker;

use super::chain::{self, Passed, Stop};
use super::config::{Action, Binding, HooksConfig};
use super::matching::Target;
use super::payload::Payload;
use super::script::{self, OperationTx, ScriptEnv};
use super::HooksHandle;
use crate::store::Store;

/// Runs the hooks of the configuration in force.
#[derive(Debug)]
pub struct HookRunner {
    handle: Arc<HooksHandle>,
    store: Store,
    after: TaskTracker,
}

impl HookRunner {
    /// A runner for the configuration `handle` holds, with `store` for scripts' `db`.
    pub fn new(handle: Arc<HooksHandle>, store: Store) -> Self {
        Self {
            handle,
            store,
            after: TaskTracker::new(),
        }
    }

    /// The configuration in force now; take it once per operation, so its before- and
    /// after-hooks come from the same file version.
    pub fn config(&self) -> Arc<HooksConfig> {
        self.handle.current()
    }

    /// Runs `event`'s before-chain on `payload` (changing it as hooks ask). `tx` is the
    /// operation's transaction slot, which `db` writes join. Free when nothing is bound.
    pub async fn before(
        &self,
        config: &Arc<HooksConfig>,
        target: &Target,
        payload: &mut Payload,
        tx: Option<Arc<OperationTx>>,
    ) -> Result<Passed, Stop> {
        let event = payload.event();
        if !config.has_chain(event) {
            return Ok(Passed::default());
        }
        let env = ScriptEnv {
            store: self.store.clone(),
            tx,
            config: config.config.clone(),
        };
        chain::run_before(config.chain(event), target, payload, &env).await
    }

    /// Runs `event`'s after-hooks on `payload` in the background, in file order. Free when
    /// nothing is bound.
    pub fn after(&self, config: &Arc<HooksConfig>, target: Target, payload: Payload) {
        let event = payload.event();
        if !config.has_chain(event) {
            return;
        }
        let config = config.clone();
        let env = ScriptEnv {
            store: self.store.clone(),
            tx: None,
            config: config.config.clone(),
        };
        self.after.spawn(async move {
            for binding in config.chain(event) {
                if !binding.fires(&target, &payload) {
                    continue;
                }
                match run_binding(binding, &payload, &env).await {
                    Ok(answer) => {
                        tracing::debug!(hook = %binding.name, %event, %answer, "after-hook ran")
                    }
                    Err(error) => {
                        tracing::warn!(hook = %binding.name, %event, "after-hook failed: {error}")
                    }
                }
            }
        });
    }

    /// Waits up to `limit` for after-hooks in flight; new ones are no longer accepted.
    pub async fn drain(&self, limit: Duration) {
        self.after.close();
        if tokio::time::timeout(limit, self.after.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = self.after.len(),
                "stopped waiting for after-hooks still running"
            );
        }
    }
}

impl chain::Execute for ScriptEnv {
    async fn execute(&self, binding: &Binding, payload: &Payload) -> Result<Value, String> {
        run_binding(binding, payload, self).await
    }
}

/// Runs one binding; its raw answer, or why it failed.
async fn run_binding(
    binding: &Binding,
    payload: &Payload,
    env: &ScriptEnv,
) -> Result<Value, String> {
    match &binding.action {
        Action::Script { script, .. } => {
            script::run(script, &binding.name, binding.timeout, payload, env).await
        }
        // URL bindings are validated and loaded; calling them arrives with webhook delivery.
        Action::Url { .. } => {
            tracing::debug!(hook = %binding.name, "url hooks are not called yet; skipped");
            Ok(Value::Null)
        }
    }
}
