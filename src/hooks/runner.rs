//! Where the service layer runs hooks: the before-chain of an operation (awaited, may change
//! or stop it) and its after-hooks (in the background, after the commit).
//!
//! After-hooks never delay or undo the operation and their errors never reach the client.
//! Scripts and `delivery: background` webhooks run in tracked tasks (a graceful shutdown
//! waits, bounded, for the ones in flight); durable webhooks are recorded by the operation
//! ([`HookRunner::deliveries`]) and sent by the [`delivery::Worker`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::task::TaskTracker;

use super::chain::{self, Passed, Stop};
use super::delivery;
use super::dry_run;
use super::matching::Target;
use super::payload::Payload;
use super::runs::{Ran, Recorder, RunOutcome};
use super::script::{self, OperationTx, ScriptEnv};
use super::webhook::{Call, WebhookClient};
use super::HookFailure;
use crate::manifest::ManifestHandle;
use crate::manifest::{Action, Binding, Manifest};
use crate::model::clock::now_micros;
use crate::store::deliveries::NewDelivery;
use crate::store::Store;

/// Runs the hooks of the configuration in force.
#[derive(Debug)]
pub struct HookRunner {
    handle: Arc<ManifestHandle>,
    store: Store,
    client: WebhookClient,
    /// Where writes hand their durable deliveries to the worker.
    outbox: Arc<delivery::Outbox>,
    after: TaskTracker,
    recorder: Arc<Recorder>,
}

impl HookRunner {
    /// A runner for the configuration `handle` holds, with `store` for scripts' `db` and
    /// `client` for webhooks and scripts' `http`.
    /// Runs are counted and recorded by `recorder`.
    pub fn new(
        handle: Arc<ManifestHandle>,
        store: Store,
        client: WebhookClient,
        recorder: Arc<Recorder>,
    ) -> Self {
        Self {
            handle,
            store,
            client,
            outbox: delivery::Outbox::new(),
            after: TaskTracker::new(),
            recorder,
        }
    }

    /// Where hook runs are counted and recorded.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The delivery worker of this runner's outbox.
    pub fn worker(&self, poll: Duration, retention: Duration) -> delivery::Worker {
        delivery::Worker::new(
            self.store.clone(),
            self.handle.clone(),
            self.client.clone(),
            self.outbox.clone(),
            self.recorder.clone(),
            poll,
            retention,
        )
    }

    /// The durable deliveries an after-write `payload` makes; the operation records them in
    /// its transaction with [`HookRunner::delivery_lease`], then hands them to
    /// [`HookRunner::outbox`].
    pub fn deliveries(
        &self,
        config: &Manifest,
        target: &Target,
        payload: &Payload,
    ) -> Vec<NewDelivery> {
        delivery::deliveries_for(config, target, payload)
    }

    /// The lease (worker name, until when) fresh deliveries are born with.
    pub fn delivery_lease(&self, config: &Manifest) -> (&str, i64) {
        let lease = i64::try_from(delivery::lease(config).as_micros()).unwrap_or(i64::MAX / 2);
        (self.outbox.owner(), now_micros().saturating_add(lease))
    }

    /// The outbox shared with the delivery worker.
    pub fn outbox(&self) -> &delivery::Outbox {
        &self.outbox
    }

    /// What scripts and webhooks of one run may reach.
    fn env(&self, config: &Manifest, tx: Option<Arc<OperationTx>>) -> ScriptEnv {
        ScriptEnv {
            store: self.store.clone(),
            tx,
            config: config.config.clone(),
            client: self.client.clone(),
            recorder: Some(self.recorder.clone()),
        }
    }

    /// The configuration in force now; take it once per operation, so its before- and
    /// after-hooks come from the same file version.
    pub fn config(&self) -> Arc<Manifest> {
        self.handle.current()
    }

    /// Runs `event`'s before-chain on `payload` (changing it as hooks ask). `tx` is the
    /// operation's transaction slot, which `db` writes join. Free when nothing is bound.
    pub async fn before(
        &self,
        config: &Arc<Manifest>,
        target: &Target,
        payload: &mut Payload,
        tx: Option<Arc<OperationTx>>,
    ) -> Result<Passed, Stop> {
        let event = payload.event();
        if !config.has_chain(event) {
            return Ok(Passed::default());
        }
        let env = self.env(config, tx);
        chain::run_before(config.chain(event), target, payload, &env).await
    }

    /// Runs `payload`'s before-chain as a dry run: every binding's decision is reported,
    /// scripts' writes are rolled back, URL bindings are really called.
    pub async fn dry_run(
        &self,
        config: &Arc<Manifest>,
        target: &Target,
        mut payload: Payload,
    ) -> dry_run::Report {
        let slot = OperationTx::new();
        // A dry run is a test, not a run of the hook: it is neither counted nor recorded.
        let env = ScriptEnv {
            recorder: None,
            ..self.env(config, Some(slot.clone()))
        };
        let mut steps = Vec::new();
        let event = payload.event();
        let result = chain::run_traced(
            config.chain(event),
            target,
            &mut payload,
            &env,
            Some(&mut steps),
        )
        .await;
        if let Some(tx) = slot.finish().await {
            if let Err(e) = tx.rollback().await {
                tracing::warn!("cannot roll back a dry run's writes: {e}");
            }
        }
        dry_run::report(config, payload, result, steps)
    }

    /// Runs `event`'s script and background-webhook after-hooks on `payload` in the
    /// background, in file order (durable webhooks were recorded by the operation). Free when
    /// nothing is bound.
    pub fn after(&self, config: &Arc<Manifest>, target: Target, payload: Payload) {
        let event = payload.event();
        let runs_here = |b: &Binding| b.durable_webhook().is_none();
        if !config.chain(event).any(runs_here) {
            return;
        }
        let config = config.clone();
        let env = self.env(&config, None);
        self.after.spawn(async move {
            for binding in config.chain(event) {
                if !runs_here(binding) || !binding.fires(&target, &payload) {
                    continue;
                }
                let started = Instant::now();
                let (outcome, error) = match run_binding(binding, &payload, &env).await {
                    Ok(answer) => {
                        tracing::debug!(hook = %binding.name, %event, %answer, "after-hook ran");
                        (RunOutcome::Continue, None)
                    }
                    Err(error) => {
                        tracing::warn!(hook = %binding.name, %event, "after-hook failed: {error}");
                        (error.outcome(), Some(error))
                    }
                };
                chain::Execute::finished(&env, binding, &payload, outcome, started, error.as_ref());
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
    async fn execute(&self, binding: &Binding, payload: &Payload) -> Result<Value, HookFailure> {
        run_binding(binding, payload, self).await
    }

    fn mask(&self, binding: &Binding, reason: String) -> String {
        crate::hooks::runs::redact_text(&reason, &binding.secrets(&self.config))
    }

    fn finished(
        &self,
        binding: &Binding,
        payload: &Payload,
        outcome: RunOutcome,
        started: Instant,
        error: Option<&HookFailure>,
    ) {
        if let Some(recorder) = &self.recorder {
            let error = error.map(HookFailure::to_string);
            recorder.record(Ran {
                config: &self.config,
                binding,
                event: payload.event(),
                payload: payload.fields(),
                outcome,
                started,
                error: error.as_deref(),
            });
        }
    }
}

/// Runs one binding; its raw answer, or why it failed.
async fn run_binding(
    binding: &Binding,
    payload: &Payload,
    env: &ScriptEnv,
) -> Result<Value, HookFailure> {
    match &binding.action {
        Action::Script { script, .. } => script::run(script, binding, payload, env).await,
        Action::Url(webhook) => {
            let body = serde_json::to_vec(payload.fields())
                .map_err(|e| HookFailure::Failed(e.to_string()))?;
            let call = Call {
                hook: &binding.name,
                event: payload.event(),
                webhook,
                message_id: payload.id(),
                body,
                timeout: binding.timeout,
            };
            match env.client.post(call).await {
                Ok(answer) => Ok(answer.body),
                Err(failure) => Err(failure.why),
            }
        }
    }
}
