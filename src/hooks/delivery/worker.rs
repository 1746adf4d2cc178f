//! The delivery worker: sends deliveries (many at once, bounded), and records each outcome:
//! delivered, retried later with backoff, deferred while the URL's circuit is open, or dead.
//!
//! Fresh deliveries are handed over by the operation that committed them, already leased to
//! this worker, so the common case costs no claim query. Everything else is claimed from the
//! outbox: when woken (an ordered delivery was committed or finished, an admin asked for a
//! retry), when a retry falls due, and at least every poll interval, which is how rows left
//! by a crash, past their lease, or recorded by another instance are found. Outcomes are
//! written by a recorder task in batches, so a busy worker adds few writes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::breaker::{Admit, Breakers};
use super::{lease, Outbox};
use crate::hooks::config::{Binding, HooksConfig, Webhook};
use crate::hooks::runs::{Ran, Recorder, RunOutcome};
use crate::hooks::webhook::{Call, WebhookClient};
use crate::hooks::{Event, HooksHandle};
use crate::store::deliveries::{now_micros, Attempted, Delivery};
use crate::store::Store;

/// Sends in flight at once per instance.
const MAX_IN_FLIGHT: usize = 64;
/// Handed-over deliveries waiting for a send slot; past this the hand-off channel fills.
const MAX_QUEUED: usize = 1024;
/// Most rows claimed by one statement.
const CLAIM_BATCH: usize = 32;
/// Most outcomes written in one go.
const RECORD_BATCH: usize = 256;
/// How often delivered rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the worker and its sends share.
struct Shared {
    store: Store,
    hooks: Arc<HooksHandle>,
    client: WebhookClient,
    breakers: Breakers,
    outbox: Arc<Outbox>,
    outcomes: mpsc::UnboundedSender<(i64, Attempted)>,
    recorder: Arc<Recorder>,
}

/// One instance's delivery worker.
pub struct Worker {
    shared: Arc<Shared>,
    results: mpsc::UnboundedReceiver<(i64, Attempted)>,
    poll: Duration,
    retention: Duration,
}

impl Worker {
    /// A worker for `outbox`, sending through `client`, polling every `poll`, keeping
    /// delivered rows for `retention`.
    pub fn new(
        store: Store,
        hooks: Arc<HooksHandle>,
        client: WebhookClient,
        outbox: Arc<Outbox>,
        recorder: Arc<Recorder>,
        poll: Duration,
        retention: Duration,
    ) -> Self {
        let (outcomes, results) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            store,
            hooks,
            client,
            breakers: Breakers::default(),
            outbox,
            outcomes,
            recorder,
        });
        Self {
            shared,
            results,
            poll,
            retention,
        }
    }

    /// Delivers until `stopped` turns true, then waits up to `grace` for sends in flight
    /// (whatever is not finished stays in the outbox for the next start).
    pub async fn run(self, mut stopped: watch::Receiver<bool>, grace: Duration) {
        let shared = self.shared;
        let Some(mut inbox) = shared.outbox.take_inbox() else {
            tracing::error!("a second delivery worker for one outbox; not started");
            return;
        };
        let recorder = tokio::spawn(record(
            shared.store.clone(),
            shared.outbox.owner().to_string(),
            self.results,
        ));
        let mut sends = JoinSet::new();
        let mut queued: VecDeque<Delivery> = VecDeque::new();
        let mut claim_now = true;
        let mut next_look = Instant::now();
        let mut last_prune: Option<Instant> = None;
        loop {
            let config = shared.hooks.current();
            while sends.len() < MAX_IN_FLIGHT {
                let Some(row) = queued.pop_front() else { break };
                sends.spawn(attempt(shared.clone(), config.clone(), row));
            }
            let room = MAX_IN_FLIGHT.saturating_sub(sends.len()).min(CLAIM_BATCH);
            if claim_now && room > 0 {
                claim_now = false;
                let owner = shared.outbox.owner();
                match shared
                    .store
                    .claim_deliveries(owner, lease(&config), room)
                    .await
                {
                    Ok(rows) => {
                        claim_now = rows.len() == room;
                        for row in rows {
                            sends.spawn(attempt(shared.clone(), config.clone(), row));
                        }
                    }
                    Err(e) => tracing::warn!("cannot claim hook deliveries: {e}"),
                }
                let nap = match shared.store.next_delivery_due().await {
                    Ok(Some(due)) => {
                        let wait = u64::try_from(due - now_micros()).unwrap_or(0);
                        Duration::from_micros(wait).min(self.poll)
                    }
                    _ => self.poll,
                };
                next_look = Instant::now() + nap;
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                match shared.store.prune_delivered(self.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deliveries = n, "pruned delivered hook deliveries"),
                    Err(e) => tracing::warn!("cannot prune hook deliveries: {e}"),
                }
            }
            if claim_now && sends.len() < MAX_IN_FLIGHT {
                continue;
            }
            tokio::select! {
                Some(row) = inbox.recv(), if queued.len() < MAX_QUEUED => {
                    queued.push_back(row);
                    while queued.len() < MAX_QUEUED {
                        match inbox.try_recv() {
                            Ok(row) => queued.push_back(row),
                            Err(_) => break,
                        }
                    }
                }
                _ = shared.outbox.wake.notified() => claim_now = true,
                Some(ended) = sends.join_next(), if !sends.is_empty() => {
                    // A retry this worker just scheduled: look again when it falls due.
                    if let Ok(Some(due)) = ended {
                        let wait = u64::try_from(due - now_micros()).unwrap_or(0);
                        next_look = next_look.min(Instant::now() + Duration::from_micros(wait));
                    }
                }
                _ = tokio::time::sleep_until(next_look.into()) => claim_now = true,
                _ = stopped.changed() => break,
            }
        }
        if tokio::time::timeout(grace, async { while sends.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = sends.len(),
                "stopped waiting for hook deliveries; they stay in the outbox"
            );
        }
        drop(shared);
        let _ = recorder.await;
    }
}

/// Writes outcomes as they come, batching whatever has piled up meanwhile; ends when every
/// sender is gone.
async fn record(
    store: Store,
    owner: String,
    mut results: mpsc::UnboundedReceiver<(i64, Attempted)>,
) {
    let mut batch = Vec::new();
    while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let count = batch.len() as u64;
        match store.finish_deliveries(&owner, std::mem::take(&mut batch)).await {
            Ok(n) if n < count => tracing::warn!(
                dropped = count - n,
                "some delivery leases ran out before their attempts ended; those results were dropped"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot record delivery attempts (they will be retried): {e}"),
        }
    }
}

/// Sends one delivery and hands its outcome to the recorder; when it is to be retried, when.
async fn attempt(shared: Arc<Shared>, config: Arc<HooksConfig>, row: Delivery) -> Option<i64> {
    let found = config
        .binding(&row.hook)
        .and_then(|b| b.durable_webhook().map(|w| (b, w.clone())));
    let outcome = match found {
        None => Attempted::Dead {
            status: None,
            error: format!(
                "hook `{}` is no longer a durable url hook in hooks.yaml; retry the delivery once it is back",
                row.hook
            ),
        },
        Some((binding, webhook)) => {
            let started = Instant::now();
            let outcome = send(&shared, binding, &webhook, &row).await;
            record_run(&shared, &config, binding, &row, &outcome, started);
            outcome
        }
    };
    log(&row, &outcome);
    let retry_at = match &outcome {
        Attempted::Retry { at, .. } | Attempted::Deferred { at, .. } => Some(*at),
        _ => None,
    };
    let _ = shared.outcomes.send((row.id, outcome));
    if row.ordering_key.is_some() {
        // The next delivery for this document may go now.
        shared.outbox.wake();
    }
    retry_at
}

/// Counts and records an attempt as a run of its hook (a paused URL's skipped turn is not a
/// run).
fn record_run(
    shared: &Shared,
    config: &HooksConfig,
    binding: &Binding,
    row: &Delivery,
    outcome: &Attempted,
    started: Instant,
) {
    let (outcome, error) = match outcome {
        Attempted::Delivered { .. } => (RunOutcome::Continue, None),
        Attempted::Retry { error, .. } | Attempted::Dead { error, .. } => {
            (RunOutcome::of_failure(error), Some(error.as_str()))
        }
        Attempted::Deferred { .. } => return,
    };
    let payload = match serde_json::from_str::<Value>(&row.payload) {
        Ok(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    shared.recorder.record(Ran {
        config: &config.config,
        binding,
        event: Event::from_name(&row.event).unwrap_or(Event::PostSave),
        payload: &payload,
        outcome,
        started,
        error,
    });
}

async fn send(shared: &Shared, binding: &Binding, webhook: &Webhook, row: &Delivery) -> Attempted {
    let url = webhook.url.as_str();
    if let Admit::Wait(wait) = shared.breakers.admit(url, Instant::now()) {
        return Attempted::Deferred {
            at: now_micros() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2),
            note: "paused: the URL keeps failing (circuit breaker); it is probed before deliveries resume".into(),
        };
    }
    let attempt = row.attempts + 1;
    let body = if attempt == 1 {
        // Stored with `attempt: 1`.
        row.payload.clone().into_bytes()
    } else {
        match serde_json::from_str::<Value>(&row.payload) {
            Ok(Value::Object(mut fields)) => {
                fields.insert("attempt".into(), Value::from(attempt));
                serde_json::to_vec(&fields).unwrap_or_default()
            }
            _ => {
                return Attempted::Dead {
                    status: None,
                    error: "the stored payload is not a JSON object".into(),
                }
            }
        }
    };
    let event = Event::from_name(&row.event).unwrap_or(Event::PostSave);
    let result = shared
        .client
        .post(Call {
            hook: &binding.name,
            event,
            webhook,
            message_id: &row.event_id,
            body,
            timeout: binding.timeout,
        })
        .await;
    match result {
        Ok(answer) => {
            shared.breakers.record(url, false, Instant::now());
            Attempted::Delivered {
                status: answer.status,
            }
        }
        Err(failure) => {
            let policy = &webhook.retry;
            let retried = policy.retries(failure.status);
            if shared.breakers.record(url, retried, Instant::now()) {
                tracing::warn!(hook = %binding.name, "the hook's URL keeps failing; pausing its deliveries");
            }
            if retried && (attempt as u32) < policy.max_attempts {
                let wait = policy
                    .delay_after(attempt as u32)
                    .max(failure.retry_after.unwrap_or_default());
                Attempted::Retry {
                    at: now_micros() + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2),
                    status: failure.status,
                    error: failure.message,
                }
            } else {
                let why = if retried {
                    format!(
                        "{} (attempt {attempt} of {})",
                        failure.message, policy.max_attempts
                    )
                } else {
                    format!(
                        "{} (not retried: see the hook's retry.retry_on)",
                        failure.message
                    )
                };
                Attempted::Dead {
                    status: failure.status,
                    error: why,
                }
            }
        }
    }
}

fn log(row: &Delivery, outcome: &Attempted) {
    let attempt = row.attempts + 1;
    match outcome {
        Attempted::Delivered { status } => {
            tracing::debug!(hook = %row.hook, delivery = row.id, attempt, status, "delivered")
        }
        Attempted::Retry { error, .. } => {
            tracing::warn!(hook = %row.hook, delivery = row.id, attempt, "delivery failed, will retry: {error}")
        }
        Attempted::Dead { error, .. } => {
            tracing::error!(hook = %row.hook, delivery = row.id, attempt, "delivery is dead: {error}")
        }
        Attempted::Deferred { .. } => {
            tracing::debug!(hook = %row.hook, delivery = row.id, "delivery deferred: URL paused")
        }
    }
}
