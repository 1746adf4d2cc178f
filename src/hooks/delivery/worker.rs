//! The delivery worker: sends deliveries (many at once, bounded), keeps the leases of those
//! it holds, and has each outcome recorded: delivered, retried later with backoff, deferred
//! while the URL's circuit is open, or dead. How one delivery is sent is [`super::send`].
//!
//! Fresh deliveries are handed over by the operation that committed them, already leased to
//! this worker, so the common case costs no claim query. Everything else is claimed from the
//! outbox: when woken (an ordered delivery was committed or ended, an admin asked for a
//! retry, a paused URL answered), when a retry falls due, and at least every poll interval,
//! which is how rows left by a crash, past their lease, or recorded by another instance are
//! found. Rows waiting in memory have their leases renewed, so however long a slow receiver
//! keeps them waiting, no other claim takes them (issue 16). Outcomes are written by a
//! recorder task in batches, so a busy worker adds few writes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::{self, JoinSet};

use super::breaker::Breakers;
use super::record::{record, Outcome, Recording};
use super::send::attempt;
use super::{lease, Outbox, Shared};
use crate::hooks::runs::Recorder;
use crate::hooks::webhook::WebhookClient;
use crate::manifest::Manifest;
use crate::manifest::ManifestHandle;
use crate::metrics::Metrics;
use crate::model::clock::now_micros;
use crate::store::deliveries::Delivery;
use crate::store::Store;

/// Sends in flight at once per instance.
const MAX_IN_FLIGHT: usize = 64;
/// Handed-over deliveries waiting for a send slot; past this they are released to be claimed
/// later, by any worker.
const MAX_QUEUED: usize = 4096;
/// Most rows claimed by one statement.
const CLAIM_BATCH: usize = 32;
/// How often delivered rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often waiting rows that nothing is ahead of any more are freed (a repair: see
/// `Store::free_waiting_deliveries`).
const FREE_EVERY: Duration = Duration::from_secs(60);

/// One instance's delivery worker.
pub struct Worker {
    shared: Arc<Shared>,
    results: mpsc::UnboundedReceiver<Outcome>,
    poll: Duration,
    retention: Duration,
}

/// The rows a worker holds: waiting for a send slot, or being sent (by task).
#[derive(Default)]
struct Held {
    queued: VecDeque<Delivery>,
    sending: HashMap<task::Id, (i64, i32)>,
    /// Leases to give back without an attempt.
    released: Vec<(i64, i32)>,
}

impl Worker {
    /// A worker for `outbox`, sending through `client`, polling every `poll`, keeping
    /// delivered rows for `retention`.
    pub fn new(
        store: Store,
        hooks: Arc<ManifestHandle>,
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
            recording: Arc::new(Recording::default()),
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
        let metrics = shared.recorder.metrics().clone();
        let recorder = crate::tasks::spawn(
            "delivery recorder",
            record(
                shared.store.clone(),
                shared.outbox.clone(),
                shared.recording.clone(),
                self.results,
            ),
        );
        // Apart from the loop, so that a long delete never holds up lease renewals.
        let pruner = crate::tasks::spawn(
            "delivery pruner",
            prune(shared.store.clone(), self.retention, stopped.clone()),
        );
        let owner = shared.outbox.owner().to_string();
        let mut sends = JoinSet::new();
        let mut held = Held::default();
        let mut claim_now = true;
        let mut next_look = Instant::now();
        let mut next_renewal = Instant::now();
        loop {
            let config = shared.hooks.current();
            let lease = lease(&config);
            // A reload may have shortened the lease.
            next_renewal = next_renewal.min(Instant::now() + lease / 3);
            if Instant::now() >= next_renewal {
                next_renewal = Instant::now() + lease / 3;
                renew(&shared, &owner, lease, &mut held).await;
            }
            while sends.len() < MAX_IN_FLIGHT {
                let Some(row) = held.queued.pop_front() else {
                    break;
                };
                if held.sending.values().any(|(id, _)| *id == row.id) {
                    continue; // claimed back after its lease ran out; the old copy is stale
                }
                held.send(&mut sends, &shared, &config, row);
            }
            held.released.extend(shared.outbox.take_overflow());
            if !held.released.is_empty() {
                release(&shared.store, &owner, std::mem::take(&mut held.released)).await;
                claim_now = true;
            }
            let room = MAX_IN_FLIGHT.saturating_sub(sends.len()).min(CLAIM_BATCH);
            if claim_now && room > 0 {
                claim_now = false;
                Metrics::count(&metrics.delivery_claims_total);
                match shared.store.claim_deliveries(&owner, lease, room).await {
                    Ok(rows) => {
                        claim_now = rows.len() == room;
                        for row in rows {
                            held.send(&mut sends, &shared, &config, row);
                        }
                    }
                    Err(e) => tracing::warn!("cannot claim hook deliveries: {e}"),
                }
                let nap = match shared.store.next_delivery_due().await {
                    Ok(Some(due)) => until(due).min(self.poll),
                    _ => self.poll,
                };
                next_look = Instant::now() + nap;
            }
            if claim_now && sends.len() < MAX_IN_FLIGHT {
                continue;
            }
            tokio::select! {
                Some(row) = inbox.recv() => {
                    take(&mut held, row);
                    while let Ok(row) = inbox.try_recv() {
                        take(&mut held, row);
                    }
                }
                _ = shared.outbox.wake.notified() => claim_now = true,
                Some(ended) = sends.join_next_with_id(), if !sends.is_empty() => {
                    let (id, retry_at) = match ended {
                        Ok((id, retry_at)) => (id, retry_at),
                        Err(e) => (e.id(), None),
                    };
                    held.sending.remove(&id);
                    // A retry this worker just scheduled: look again when it falls due.
                    if let Some(due) = retry_at {
                        next_look = next_look.min(Instant::now() + until(due));
                    }
                }
                _ = tokio::time::sleep_until(next_look.into()) => {
                    claim_now = true;
                    next_look = Instant::now() + self.poll;
                }
                _ = tokio::time::sleep_until(next_renewal.into()) => {}
                _ = stopped.changed() => break,
            }
        }
        // Rows never sent go back without an attempt, for the next start or another instance.
        while let Ok(row) = inbox.try_recv() {
            held.released.push((row.id, row.attempts));
        }
        held.released.extend(shared.outbox.take_overflow());
        held.released
            .extend(held.queued.drain(..).map(|r| (r.id, r.attempts)));
        release(&shared.store, &owner, std::mem::take(&mut held.released)).await;
        if tokio::time::timeout(grace, async { while sends.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = sends.len(),
                "stopped waiting for hook deliveries; they stay in the outbox"
            );
        }
        drop(sends);
        drop(shared);
        let _ = tokio::time::timeout(grace, recorder).await;
        let _ = pruner.await;
    }
}

/// Gives leases back without an attempt.
async fn release(store: &Store, owner: &str, rows: Vec<(i64, i32)>) {
    if let Err(e) = store.release_deliveries(owner, &rows).await {
        tracing::warn!("cannot release hook deliveries (their leases run out by themselves): {e}");
    }
}

impl Held {
    /// Starts sending `row`, held until its send ends.
    fn send(
        &mut self,
        sends: &mut JoinSet<Option<i64>>,
        shared: &Arc<Shared>,
        config: &Arc<Manifest>,
        row: Delivery,
    ) {
        let key = (row.id, row.attempts);
        let handle = sends.spawn(attempt(shared.clone(), config.clone(), row));
        self.sending.insert(handle.id(), key);
    }
}

/// How long from now until `due` (microseconds since the epoch); zero when past.
fn until(due: i64) -> Duration {
    Duration::from_micros(u64::try_from(due - now_micros()).unwrap_or(0))
}

/// Queues a handed-over row, or gives it back when the queue is full.
fn take(held: &mut Held, row: Delivery) {
    if held.queued.len() < MAX_QUEUED {
        held.queued.push_back(row);
    } else {
        held.released.push((row.id, row.attempts));
    }
}

/// Renews the leases of every row held (queued, being sent, or sent with the outcome not yet
/// written); queued rows whose lease was lost (taken over while this instance was stopped,
/// say) are dropped, since another worker sends them now.
async fn renew(shared: &Shared, owner: &str, lease: Duration, held: &mut Held) {
    let rows: Vec<(i64, i32)> = held
        .queued
        .iter()
        .map(|r| (r.id, r.attempts))
        .chain(held.sending.values().copied())
        .chain(shared.recording.held())
        .collect();
    match shared.store.renew_deliveries(owner, lease, &rows).await {
        Ok(kept) => {
            let kept: std::collections::HashSet<i64> = kept.into_iter().collect();
            let before = held.queued.len();
            held.queued.retain(|r| kept.contains(&r.id));
            if held.queued.len() < before {
                tracing::warn!(
                    lost = before - held.queued.len(),
                    "hook deliveries waiting here were taken over by another worker; not sending them"
                );
            }
        }
        Err(e) => tracing::warn!("cannot renew hook delivery leases: {e}"),
    }
}

/// Every hour deletes delivered rows past their retention; every minute frees waiting rows
/// nothing is ahead of. Ends when `stopped` turns true.
async fn prune(store: Store, retention: Duration, mut stopped: watch::Receiver<bool>) {
    let mut last_prune: Option<Instant> = None;
    loop {
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            match store.prune_delivered(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "pruned delivered hook deliveries"),
                Err(e) => tracing::warn!("cannot prune hook deliveries: {e}"),
            }
        }
        match store.free_waiting_deliveries().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "freed hook deliveries left waiting"),
            Err(e) => tracing::warn!("cannot free waiting hook deliveries: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(FREE_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
