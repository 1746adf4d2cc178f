//! Recording hook runs: every binding run (before-chains, after-hooks, durable delivery
//! attempts) is counted in `/metrics` at once and queued for the `hook_runs` table, which a
//! background writer fills in batches. A request never waits for its record: when the queue
//! is full (the database is slower than the hooks) the run is still counted, and
//! `hookql_hook_runs_unrecorded_total` says how many records were skipped.
//!
//! Secrets never reach the record: a binding's signing secrets, header values and
//! secret-named `config` values are replaced by `[redacted]` in error texts and payloads, and
//! so are payload fields with secret-like names (`password`, `token`, …). Payloads are kept
//! only for bindings with `log_payloads: true`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use crate::manifest::{is_secret_name, Binding};
use crate::metrics::Metrics;
use crate::model::Event;
use crate::store::hook_runs::NewHookRun;
use crate::store::Store;

/// What a run decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Let the operation go on unchanged (or, for an after-hook, succeeded).
    Continue,
    /// Changed the payload.
    Changed,
    /// Blocked the operation.
    Blocked,
    /// Failed (an error, an unusable answer, a refused or failed call).
    Failed,
    /// Ran out of time.
    TimedOut,
}

impl RunOutcome {
    /// Every outcome, in the order the API lists them.
    pub const ALL: [RunOutcome; 5] = [
        Self::Continue,
        Self::Changed,
        Self::Blocked,
        Self::Failed,
        Self::TimedOut,
    ];

    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Changed => "changed",
            Self::Blocked => "blocked",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
        }
    }
}

/// How many runs may wait for the writer.
const QUEUE: usize = 16_384;
/// Most runs written in one batch.
const BATCH: usize = 2_000;
/// Pause between two batches, so a busy server writes few large batches rather than many
/// small ones (records are at most this late).
const BATCH_EVERY: Duration = Duration::from_millis(200);
/// How often old runs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Counts runs and queues their records.
#[derive(Debug)]
pub struct Recorder {
    sender: mpsc::Sender<NewHookRun>,
    receiver: Mutex<Option<mpsc::Receiver<NewHookRun>>>,
    metrics: Arc<Metrics>,
    /// Whether runs are recorded at all (`HOOKQL_HOOK_RUNS_KEEP` > 0).
    enabled: bool,
}

/// One finished run, as the chain or a worker saw it.
pub struct Ran<'a> {
    /// The `config` section it ran under (for its secrets).
    pub config: &'a BTreeMap<String, Value>,
    /// The binding.
    pub binding: &'a Binding,
    /// The event.
    pub event: Event,
    /// The payload it was given.
    pub payload: &'a Map<String, Value>,
    /// What it decided.
    pub outcome: RunOutcome,
    /// When it started.
    pub started: Instant,
    /// Why it failed.
    pub error: Option<&'a str>,
}

impl Recorder {
    /// A recorder counting into `metrics`; `enabled` false keeps no records (metrics only).
    pub fn new(metrics: Arc<Metrics>, enabled: bool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
            metrics,
            enabled,
        }
    }

    /// Where runs are counted (and the delivery worker counts its claims).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Counts `run` and queues its record; never waits.
    pub fn record(&self, run: Ran<'_>) {
        let elapsed = run.started.elapsed();
        let hook = &run.binding.name;
        self.metrics.hook_run(hook, run.outcome.as_str(), elapsed);
        if !self.enabled {
            return;
        }
        // Only text that is kept needs its secrets taken out.
        let secrets = if run.error.is_some() || run.binding.log_payloads {
            run.binding.secrets(run.config)
        } else {
            Vec::new()
        };
        let payload = run.binding.log_payloads.then(|| {
            let mut fields = Value::Object(run.payload.clone());
            redact_value(&mut fields, &secrets);
            fields.to_string()
        });
        let at =
            chrono::Utc::now().timestamp_micros() - i64::try_from(elapsed.as_micros()).unwrap_or(0);
        let record = NewHookRun {
            at,
            hook: hook.clone(),
            event: run.event.name(),
            collection: run
                .payload
                .get("collection")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind: run.binding.kind(),
            outcome: run.outcome.as_str(),
            duration_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
            error: run.error.map(|e| redact_text(e, &secrets)),
            request_id: run
                .payload
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            payload,
        };
        if self.sender.try_send(record).is_err() {
            Metrics::count(&self.metrics.hook_runs_unrecorded_total);
        }
    }

    /// Writes queued runs in batches and prunes old ones (keeping the newest `keep`, none
    /// older than `max_age`) until `stopped` turns true; what is queued then is written
    /// before it returns. Runs once: a second call returns at once.
    pub async fn write(
        &self,
        store: Store,
        keep: u64,
        max_age: Duration,
        mut stopped: watch::Receiver<bool>,
    ) {
        let taken = self.receiver.lock().map(|mut r| r.take()).unwrap_or(None);
        let Some(mut receiver) = taken else { return };
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_prune: Option<Instant> = None;
        loop {
            if self.enabled && last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                let max_age = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
                let before = chrono::Utc::now()
                    .timestamp_micros()
                    .saturating_sub(max_age);
                match store.prune_hook_runs(keep, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(runs = n, "pruned old hook runs"),
                    Err(e) => tracing::warn!("cannot prune old hook runs: {e}"),
                }
            }
            let stopping = tokio::select! {
                n = receiver.recv_many(&mut batch, BATCH) => n == 0,
                _ = stopped.changed() => true,
            };
            save(&store, &mut batch).await;
            let stopping = stopping
                || tokio::select! {
                    _ = tokio::time::sleep(BATCH_EVERY) => false,
                    _ = stopped.changed() => true,
                };
            if stopping || *stopped.borrow() {
                receiver.close();
                while receiver.recv_many(&mut batch, BATCH).await > 0 {
                    save(&store, &mut batch).await;
                }
                return;
            }
        }
    }
}

async fn save(store: &Store, batch: &mut Vec<NewHookRun>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.record_hook_runs(batch).await {
        tracing::warn!(runs = batch.len(), "cannot record hook runs: {e}");
    }
    batch.clear();
}

const REDACTED: &str = "[redacted]";

/// `text` with each secret replaced.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        if text.contains(secret) {
            text = text.replace(secret, REDACTED);
        }
    }
    text
}

/// `value` with secret-named fields and secret text replaced, all the way down.
pub fn redact_value(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if is_secret_name(name) && !field.is_null() {
                    *field = Value::from(REDACTED);
                } else {
                    redact_value(field, secrets);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, secrets)),
        Value::String(text) if secrets.iter().any(|s| text.contains(s)) => {
            *text = redact_text(text, secrets);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_and_secret_fields_are_redacted() {
        let mut value = json!({
            "password": "hunter2",
            "user": {"apiToken": "t", "name": "Ann"},
            "note": "called with sk_live_123 inside",
            "list": ["sk_live_123"],
        });
        redact_value(&mut value, &["sk_live_123"]);
        assert_eq!(
            value,
            json!({
                "password": "[redacted]",
                "user": {"apiToken": "[redacted]", "name": "Ann"},
                "note": "called with [redacted] inside",
                "list": ["[redacted]"],
            })
        );
    }
}
