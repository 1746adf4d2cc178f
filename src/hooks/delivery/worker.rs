//! The delivery worker: claims due deliveries from the outbox, sends them (many at once,
//! bounded), and records each outcome: delivered, retried later with backoff, deferred while
//! the URL's circuit is open, or dead.
//!
//! It wakes at once when a write records a delivery (a [`Notify`]), when one of its sends
//! ends (a per-document successor may now go), when a retry falls due, and at least every
//! poll interval, which is how rows left by a crash (or written by another instance) are
//! found. Each instance has its own worker; claims keep them from sending the same attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::breaker::{Admit, Breakers};
use crate::hooks::config::{Binding, HooksConfig, Webhook, DEFAULT_TIMEOUT};
use crate::hooks::webhook::{Call, WebhookClient};
use crate::hooks::{Event, HooksHandle};
use crate::store::deliveries::{now_micros, Attempted, Delivery};
use crate::store::Store;

/// Sends in flight at once per instance.
const MAX_IN_FLIGHT: usize = 64;
/// Most rows claimed by one statement.
const CLAIM_BATCH: usize = 32;
/// Added to the longest hook timeout to make a claim's lease: a row is taken over only when
/// its holder cannot still be sending it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often delivered rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the worker and its sends share.
struct Shared {
    store: Store,
    hooks: Arc<HooksHandle>,
    client: WebhookClient,
    breakers: Breakers,
    /// This worker's name in `lease_owner`.
    owner: String,
    wake: Arc<Notify>,
}

/// One instance's delivery worker.
pub struct Worker {
    shared: Arc<Shared>,
    poll: Duration,
    retention: Duration,
}

impl Worker {
    /// A worker sending through `client`, woken by `wake`, polling every `poll`, keeping
    /// delivered rows for `retention`.
    pub fn new(
        store: Store,
        hooks: Arc<HooksHandle>,
        client: WebhookClient,
        wake: Arc<Notify>,
        poll: Duration,
        retention: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                hooks,
                client,
                breakers: Breakers::default(),
                owner: uuid::Uuid::new_v4().to_string(),
                wake,
            }),
            poll,
            retention,
        }
    }

    /// Delivers until `stopped` turns true, then waits up to `grace` for sends in flight
    /// (whatever is not finished stays in the outbox for the next start).
    pub async fn run(self, mut stopped: watch::Receiver<bool>, grace: Duration) {
        let shared = self.shared;
        let mut sends = JoinSet::new();
        let mut last_prune: Option<Instant> = None;
        loop {
            while sends.try_join_next().is_some() {}
            let room = MAX_IN_FLIGHT.saturating_sub(sends.len()).min(CLAIM_BATCH);
            let mut full = false;
            if room > 0 {
                let config = shared.hooks.current();
                match shared
                    .store
                    .claim_deliveries(&shared.owner, lease(&config), room)
                    .await
                {
                    Ok(rows) => {
                        full = rows.len() == room;
                        for row in rows {
                            sends.spawn(attempt(shared.clone(), config.clone(), row));
                        }
                    }
                    Err(e) => tracing::warn!("cannot claim hook deliveries: {e}"),
                }
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                match shared.store.prune_delivered(self.retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deliveries = n, "pruned delivered hook deliveries"),
                    Err(e) => tracing::warn!("cannot prune hook deliveries: {e}"),
                }
            }
            if full && sends.len() < MAX_IN_FLIGHT {
                continue;
            }
            let nap = match shared.store.next_delivery_due().await {
                Ok(Some(due)) => {
                    let wait = u64::try_from(due - now_micros()).unwrap_or(0);
                    Duration::from_micros(wait).min(self.poll)
                }
                _ => self.poll,
            };
            tokio::select! {
                _ = shared.wake.notified() => {}
                Some(_) = sends.join_next(), if !sends.is_empty() => {}
                _ = tokio::time::sleep(nap) => {}
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
    }
}

/// How long a claim holds its rows: longer than any durable hook's call can take.
fn lease(config: &HooksConfig) -> Duration {
    config
        .bindings
        .iter()
        .filter(|b| b.durable_webhook().is_some())
        .map(|b| b.timeout)
        .max()
        .unwrap_or(DEFAULT_TIMEOUT)
        + LEASE_MARGIN
}

/// Sends one claimed delivery and records how it went.
async fn attempt(shared: Arc<Shared>, config: Arc<HooksConfig>, row: Delivery) {
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
        Some((binding, webhook)) => send(&shared, binding, &webhook, &row).await,
    };
    log(&row, &outcome);
    match shared
        .store
        .finish_delivery(row.id, &shared.owner, outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = row.id,
            "a delivery's lease ran out before its attempt ended; its result was dropped"
        ),
        Err(e) => tracing::warn!(delivery = row.id, "cannot record a delivery attempt: {e}"),
    }
    // A per-document successor may be free to go now.
    shared.wake.notify_one();
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
    let body = match serde_json::from_str::<Value>(&row.payload) {
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
