//! One attempt at one delivery: asks the URL's circuit breaker, signs and posts the payload
//! with its `attempt`, decides what the failure means (retry, dead, deferred), records the
//! attempt as a hook run, and hands the outcome to the worker's recorder.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::breaker::{Admit, Turned};
use super::record::Outcome;
use super::Shared;
use crate::hooks::runs::{Ran, RunOutcome};
use crate::hooks::webhook::Call;
use crate::hooks::HookFailure;
use crate::manifest::{Binding, Manifest, Webhook};
use crate::model::clock::now_micros;
use crate::model::Event;
use crate::store::deliveries::{Attempted, Delivery, Finished};

/// Sends one delivery and hands its outcome to the recorder; when it is to be retried, when.
pub(super) async fn attempt(
    shared: Arc<Shared>,
    config: Arc<Manifest>,
    row: Delivery,
) -> Option<i64> {
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
            let (outcome, ran) = send(&shared, &config, binding, &webhook, &row).await;
            record_run(&shared, &config, binding, &row, (&outcome, ran), started);
            outcome
        }
    };
    log(&row, &outcome);
    let retry_at = match &outcome {
        Attempted::Retry { at, .. } | Attempted::Deferred { at, .. } => Some(*at),
        _ => None,
    };
    shared.recording.hold(row.id, row.attempts);
    let _ = shared.outcomes.send(Outcome::Finished(Finished {
        id: row.id,
        attempts: row.attempts,
        ordering_key: row.ordering_key.clone(),
        outcome,
    }));
    retry_at
}

/// Counts and records an attempt as a run of its hook (a paused URL's skipped turn is not a
/// run).
fn record_run(
    shared: &Shared,
    config: &Manifest,
    binding: &Binding,
    row: &Delivery,
    (attempted, outcome): (&Attempted, RunOutcome),
    started: Instant,
) {
    let error = match attempted {
        Attempted::Delivered { .. } => None,
        Attempted::Retry { error, .. } | Attempted::Dead { error, .. } => Some(error.as_str()),
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

async fn send(
    shared: &Shared,
    config: &Manifest,
    binding: &Binding,
    webhook: &Webhook,
    row: &Delivery,
) -> (Attempted, RunOutcome) {
    let url = webhook.url.as_str();
    let attempt = row.attempts + 1;
    // Before the breaker is asked: a probe must end in a recorded result.
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
                let dead = Attempted::Dead {
                    status: None,
                    error: "the stored payload is not a JSON object".into(),
                };
                return (dead, RunOutcome::Failed);
            }
        }
    };
    let admit = shared.breakers.admit(url, Instant::now());
    if let Admit::Wait(wait) = admit {
        let refused = HookFailure::Refused("paused: the URL keeps failing (circuit breaker); it is probed before deliveries resume".into());
        let deferred = Attempted::Deferred {
            at: micros_from_now(wait),
            note: refused.to_string(),
        };
        return (deferred, refused.outcome());
    }
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
            if shared.breakers.record(url, false, Instant::now()) == Turned::Resumed {
                resume(shared, config, url);
            }
            let delivered = Attempted::Delivered {
                status: answer.status,
            };
            (delivered, RunOutcome::Continue)
        }
        Err(failure) => {
            let ran = failure.why.outcome();
            let policy = &webhook.retry;
            let retried = policy.retries(failure.status);
            let now = Instant::now();
            if shared.breakers.record(url, retried, now) == Turned::Paused {
                tracing::warn!(hook = %binding.name, "the hook's URL keeps failing; pausing its deliveries");
            }
            let probe_again = shared.breakers.until_probe(url, now);
            let attempted = if let (true, Admit::Probe, Some(wait)) = (retried, admit, probe_again)
            {
                // The attempt counts, but a paused URL's probe neither backs off nor dies:
                // it goes again at the next probe time, so probes keep their pace.
                Attempted::Retry {
                    at: micros_from_now(wait),
                    status: failure.status,
                    error: failure.why.to_string(),
                }
            } else if retried && (attempt as u32) < policy.max_attempts {
                let wait = policy
                    .delay_after(attempt as u32)
                    .max(failure.retry_after.unwrap_or_default());
                Attempted::Retry {
                    at: micros_from_now(wait),
                    status: failure.status,
                    error: failure.why.to_string(),
                }
            } else {
                let why = if retried {
                    format!(
                        "{} (attempt {attempt} of {})",
                        failure.why, policy.max_attempts
                    )
                } else {
                    format!(
                        "{} (not retried: see the hook's retry.retry_on)",
                        failure.why
                    )
                };
                Attempted::Dead {
                    status: failure.status,
                    error: why,
                }
            };
            (attempted, ran)
        }
    }
}

/// A paused URL answered: the recorder makes its deliveries put off to later due now, once
/// the outcomes queued before this one are written (one of them may be such a deferral).
fn resume(shared: &Shared, config: &Manifest, url: &str) {
    let hooks: Vec<String> = config
        .bindings
        .iter()
        .filter(|b| b.durable_webhook().is_some_and(|w| w.url.as_str() == url))
        .map(|b| b.name.clone())
        .collect();
    tracing::info!(url, "a paused hook URL answers again; sending its backlog");
    let _ = shared.outcomes.send(Outcome::Hurry(hooks));
}

/// The time `wait` from now, in microseconds since the epoch.
fn micros_from_now(wait: std::time::Duration) -> i64 {
    now_micros().saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2))
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
