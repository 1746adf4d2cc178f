//! The change feed: every committed document write, in commit order, for realtime
//! subscriptions.
//!
//! Why it lives in the store: commit order is a property of the database. On SQLite (one
//! process, one writer at a time) a change is published while the writer still holds the
//! write turn, so publishing order is commit order. On PostgreSQL each write statement calls
//! `pg_notify` itself ([`postgres`]) when some instance watches the collection, so the
//! notification is part of the transaction: sent only if it commits, and delivered to every
//! instance's listener in commit order. Local and remote writes then reach subscribers the
//! same way, and several instances need nothing else to share one feed.

pub mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::model::Document;

/// How many changes of one collection wait for its slowest subscriber before that subscriber
/// counts as too far behind (and is disconnected rather than silently skipping changes).
pub const FEED_CAPACITY: usize = 1024;

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A new document.
    Created,
    /// New data over old.
    Updated,
    /// The document is gone; the change carries its last state.
    Deleted,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One committed write.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Created, updated or deleted.
    pub kind: ChangeKind,
    /// The document as written (for a delete, as it was).
    pub document: Document,
    /// The data before an update.
    pub old_data: Option<Value>,
}

/// Why a subscriber's feed ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEnded {
    /// The subscriber fell this many changes behind the writers.
    Behind(u64),
    /// This instance stopped hearing the database (its listener reconnected): changes may
    /// have been missed.
    Interrupted,
}

/// In-process fan-out of committed changes, one broadcast channel per collection that has
/// subscribers (publishing to a collection nobody watches costs a map lookup).
#[derive(Clone, Debug, Default)]
pub struct ChangeFeed {
    channels: Arc<Mutex<Channels>>,
}

/// The open channels, each with the number it was opened under (so a subscription from before
/// an interruption cannot close its successor).
#[derive(Debug, Default)]
struct Channels {
    opened: u64,
    by_collection: HashMap<String, Channel>,
}

/// One watched collection's channel.
#[derive(Debug)]
struct Channel {
    opened: u64,
    sender: broadcast::Sender<Arc<Change>>,
    /// PostgreSQL: set once this instance's interest in the collection is registered.
    registered: Arc<tokio::sync::OnceCell<()>>,
}

impl ChangeFeed {
    fn channels(&self) -> std::sync::MutexGuard<'_, Channels> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether anyone on this instance watches `collection` (so a writer can skip building
    /// the change).
    pub fn is_watched(&self, collection: &str) -> bool {
        self.channels().by_collection.contains_key(collection)
    }

    /// Sends `change` to the subscribers of its collection.
    pub fn publish(&self, change: Change) {
        let channels = self.channels();
        if let Some(channel) = channels.by_collection.get(&change.document.collection) {
            // No receiver left: the last one is being dropped and will remove the channel.
            let _ = channel.sender.send(Arc::new(change));
        }
    }

    /// Ends every subscription with [`FeedEnded::Interrupted`]: their subscribers may have
    /// missed changes and must resubscribe (and re-read).
    pub fn interrupt(&self) {
        self.channels().by_collection.clear();
    }

    /// The collections watched on this instance.
    pub fn watched(&self) -> Vec<String> {
        self.channels().by_collection.keys().cloned().collect()
    }

    /// Starts receiving the changes of `collection` committed from now on (on PostgreSQL, once
    /// [`FeedSubscription::registration`] is done: `Store::watch` sees to it).
    pub fn subscribe(&self, collection: &str) -> FeedSubscription {
        let mut channels = self.channels();
        let next = channels.opened + 1;
        let channel = channels
            .by_collection
            .entry(collection.to_string())
            .or_insert_with(|| Channel {
                opened: next,
                sender: broadcast::channel(FEED_CAPACITY).0,
                registered: Arc::default(),
            });
        let (opened, receiver) = (channel.opened, channel.sender.subscribe());
        let registration = channel.registered.clone();
        channels.opened = channels.opened.max(opened);
        FeedSubscription {
            receiver,
            feed: self.clone(),
            collection: collection.to_string(),
            opened,
            registration,
        }
    }
}

/// One subscriber's view of a collection's changes; dropping it unsubscribes.
#[derive(Debug)]
pub struct FeedSubscription {
    receiver: broadcast::Receiver<Arc<Change>>,
    feed: ChangeFeed,
    collection: String,
    opened: u64,
    registration: Arc<tokio::sync::OnceCell<()>>,
}

impl FeedSubscription {
    /// Whether (and, once done, that) this instance's interest in the collection is
    /// registered: shared by every subscriber of the collection, done by the first.
    pub fn registration(&self) -> &tokio::sync::OnceCell<()> {
        &self.registration
    }

    /// The next change, in commit order; an error once the subscriber cannot be told every
    /// change any more.
    pub async fn next(&mut self) -> Result<Arc<Change>, FeedEnded> {
        match self.receiver.recv().await {
            Ok(change) => Ok(change),
            Err(broadcast::error::RecvError::Lagged(missed)) => Err(FeedEnded::Behind(missed)),
            Err(broadcast::error::RecvError::Closed) => Err(FeedEnded::Interrupted),
        }
    }
}

impl Drop for FeedSubscription {
    fn drop(&mut self) {
        let mut channels = self.feed.channels();
        // Only the channel this subscription came from: after an interruption a new one may
        // have taken its place.
        let last = channels
            .by_collection
            .get(&self.collection)
            .is_some_and(|c| c.opened == self.opened && c.sender.receiver_count() <= 1);
        if last {
            channels.by_collection.remove(&self.collection);
        }
    }
}
