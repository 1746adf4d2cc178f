//! Durable delivery of URL after-hooks (the outbox): which deliveries a write records
//! ([`deliveries_for`]), and the worker that sends and retries them ([`worker`]), pausing URLs
//! that keep failing ([`breaker`]).
//!
//! At least once: a delivery is recorded in the write's transaction, so an acknowledged write
//! always has it; it is marked delivered only after the receiver's 2xx, so a crash in between
//! sends it again (with the same `webhook-id`, for receivers to de-duplicate).

pub mod breaker;
mod record;
mod send;
pub mod worker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use super::matching::Target;
use super::payload::Payload;
use crate::hooks::runs::Recorder;
use crate::hooks::webhook::WebhookClient;
use crate::manifest::ManifestHandle;
use crate::manifest::{Manifest, Ordering, DEFAULT_TIMEOUT};
use crate::store::deliveries::{Delivery, NewDelivery};
use crate::store::Store;
use breaker::Breakers;
use record::{Outcome, Recording};

pub use worker::Worker;

/// What the worker and its sends share.
struct Shared {
    store: Store,
    client: WebhookClient,
    breakers: Breakers,
    outbox: Arc<Outbox>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    recording: Arc<Recording>,
    recorder: Arc<Recorder>,
    hooks: Arc<ManifestHandle>,
}

/// Deliveries handed to the worker and not yet taken in; past this, new ones are released
/// by the worker to be claimed like any other row.
const HANDOFF_CAPACITY: usize = 1024;
/// Added to the longest hook timeout to make a claim's lease: a row is taken over only when
/// its holder cannot still be sending it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// What operations and the delivery worker of one instance share: the worker's name in
/// `lease_owner`, a bell to wake it, and the hand-off of freshly committed deliveries.
#[derive(Debug)]
pub struct Outbox {
    owner: String,
    wake: Notify,
    handoff: mpsc::Sender<Delivery>,
    inbox: Mutex<Option<mpsc::Receiver<Delivery>>>,
    /// Rows the hand-off had no room for (id, attempts), for the worker to release.
    overflow: Mutex<Vec<(i64, i32)>>,
}

impl Outbox {
    /// An outbox with a fresh worker name.
    pub fn new() -> Arc<Self> {
        let (handoff, inbox) = mpsc::channel(HANDOFF_CAPACITY);
        Arc::new(Self {
            owner: uuid::Uuid::new_v4().to_string(),
            wake: Notify::new(),
            handoff,
            inbox: Mutex::new(Some(inbox)),
            overflow: Mutex::new(Vec::new()),
        })
    }

    /// This instance's worker name, in `lease_owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Wakes the worker to look for due deliveries.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Gives the worker deliveries just committed: those born leased to it go straight to
    /// sending; the others (ordered ones) are claimed in order.
    pub fn hand_over(&self, rows: Vec<Delivery>) {
        let mut claim = false;
        for row in rows {
            if row.ordering_key.is_some() {
                claim = true;
            } else if let Err(e) = self.handoff.try_send(row) {
                let row = e.into_inner();
                self.overflow
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((row.id, row.attempts));
                claim = true;
            }
        }
        if claim {
            self.wake();
        }
    }

    /// The rows the hand-off had no room for since the last call.
    fn take_overflow(&self) -> Vec<(i64, i32)> {
        std::mem::take(&mut *self.overflow.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The receiving end of the hand-off, for the one worker.
    fn take_inbox(&self) -> Option<mpsc::Receiver<Delivery>> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// How long a claim holds its rows: longer than any durable hook's call can take.
pub fn lease(config: &Manifest) -> Duration {
    config
        .bindings
        .iter()
        .filter(|b| b.durable_webhook().is_some())
        .map(|b| b.timeout)
        .max()
        .unwrap_or(DEFAULT_TIMEOUT)
        + LEASE_MARGIN
}

/// The deliveries `payload` (an after-write event) makes for the durable webhooks that fire.
pub fn deliveries_for(config: &Manifest, target: &Target, payload: &Payload) -> Vec<NewDelivery> {
    let event = payload.event();
    let mut rows = Vec::new();
    let mut body = None;
    for binding in config.chain(event) {
        if binding.durable_webhook().is_none() || !binding.fires(target, payload) {
            continue;
        }
        let payload_json = body
            .get_or_insert_with(|| serde_json::to_string(payload.fields()).unwrap_or_default())
            .clone();
        rows.push(NewDelivery {
            event_id: payload.id().to_string(),
            hook: binding.name.clone(),
            event: event.name(),
            ordering_key: (binding.ordering == Ordering::PerDocument)
                .then(|| ordering_key(&binding.name, payload))
                .flatten(),
            payload: payload_json,
        });
    }
    rows
}

/// One document's (or user's) key within one hook: its deliveries go out in commit order.
fn ordering_key(hook: &str, payload: &Payload) -> Option<String> {
    let subject = match (payload.get("collection"), payload.get("document_id")) {
        (Some(Value::String(c)), Some(Value::String(id))) => format!("{c}/{id}"),
        _ => match payload.get("user").and_then(|u| u.get("id")) {
            Some(Value::String(id)) => format!("user/{id}"),
            _ => return None,
        },
    };
    Some(format!("{hook}:{subject}"))
}
