//! The recorder of one worker: writes how attempts ended, in batches, and what must follow
//! them in order: the next delivery of a document woken only once the previous one's end is
//! committed (woken earlier, the worker found it still waiting and slept a whole poll), a
//! resumed URL's backlog made due only once every deferral before it is written.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Outbox;
use crate::store::deliveries::Finished;
use crate::store::Store;

/// Most outcomes written in one go.
const RECORD_BATCH: usize = 256;
/// How often a batch that could not be written is tried again before it is given up (its
/// deliveries are then sent again once their leases end: at least once).
const RECORD_TRIES: u32 = 10;
/// The wait between two tries.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What sends hand to the recorder.
#[derive(Debug)]
pub(super) enum Outcome {
    /// How one attempt ended.
    Finished(Finished),
    /// A paused URL answered: the deliveries of these hooks that wait for later are due now.
    Hurry(Vec<String>),
}

/// Deliveries whose outcome is not written yet (id, attempts): the worker keeps renewing
/// their leases meanwhile, so a recorder that is behind causes no repeats.
#[derive(Debug, Default)]
pub(super) struct Recording(Mutex<HashSet<(i64, i32)>>);

impl Recording {
    /// Holds a delivery until its outcome is written.
    pub(super) fn hold(&self, id: i64, attempts: i32) {
        self.lock().insert((id, attempts));
    }

    /// Every delivery held.
    pub(super) fn held(&self) -> Vec<(i64, i32)> {
        self.lock().iter().copied().collect()
    }

    fn release(&self, finished: &[Finished]) {
        let mut held = self.lock();
        for f in finished {
            held.remove(&(f.id, f.attempts));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(i64, i32)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes outcomes as they come, batching whatever has piled up meanwhile; ends when every
/// sender is gone.
pub(super) async fn record(
    store: Store,
    outbox: Arc<Outbox>,
    recording: Arc<Recording>,
    mut results: mpsc::UnboundedReceiver<Outcome>,
) {
    let mut batch = Vec::new();
    while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let mut finished = Vec::new();
        for outcome in batch.drain(..) {
            match outcome {
                Outcome::Finished(f) => finished.push(f),
                Outcome::Hurry(hooks) => {
                    write(&store, &outbox, &recording, std::mem::take(&mut finished)).await;
                    match store.hurry_deliveries(&hooks).await {
                        Ok(n) => tracing::info!(deliveries = n, "deliveries of a resumed URL are due now"),
                        Err(e) => tracing::warn!("cannot hurry the deliveries of a resumed URL (they go at their times): {e}"),
                    }
                    outbox.wake();
                }
            }
        }
        write(&store, &outbox, &recording, finished).await;
    }
}

/// Writes `finished`, trying again a while when the database fails; wakes the worker when
/// a delivery of a document ended, as the next one may go now.
async fn write(store: &Store, outbox: &Outbox, recording: &Recording, finished: Vec<Finished>) {
    if finished.is_empty() {
        return;
    }
    let count = finished.len() as u64;
    let ordered = finished.iter().any(|f| f.ordering_key.is_some());
    for tries in 1..=RECORD_TRIES {
        match store
            .finish_deliveries(outbox.owner(), finished.clone())
            .await
        {
            Ok(n) => {
                if n < count {
                    tracing::warn!(
                        dropped = count - n,
                        "some delivery leases ran out before their attempts ended; those results were dropped"
                    );
                }
                recording.release(&finished);
                if ordered {
                    outbox.wake();
                }
                return;
            }
            Err(e) if tries < RECORD_TRIES => {
                tracing::warn!("cannot record delivery attempts (trying again): {e}");
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(e) => tracing::error!(
                deliveries = count,
                "cannot record delivery attempts; they are sent again once their leases end: {e}"
            ),
        }
    }
    recording.release(&finished);
}
