//! Realtime: the committed changes one subscriber may see, from the store's change feed.
//!
//! Each change is tested in memory, per subscriber, against the collection's read rule (as it
//! stands now: a hooks reload applies to open subscriptions from the next change on) and the
//! subscription's filter, then passed through `post_read` hooks like a query result. A
//! subscriber never sees a document it could not read, nor old data it could not read: an
//! update that makes a hidden document visible arrives without `oldData` (hidden by the rule
//! or by a `pre_read` hook's narrowing alike).

use std::sync::Arc;

use serde_json::Value;

use super::access::Action;
use super::documents::{collection, read_filter, read_result, rule};
use super::{input, ServiceError};
use crate::manifest::Manifest;
use crate::metrics::Metrics;
use crate::model::filter::Filter;
use crate::model::Caller;
use crate::model::CollectionName;
use crate::model::Document;
use crate::model::Event;
use crate::state::AppState;
use crate::store::changes::{Change, ChangeKind, FeedEnded, FeedSubscription};

/// How much work (see [`Filter::work`]: bytes a `_like` scans times its pattern's words,
/// array elements a `_contains` looks through per item, …) a subscriber's test of one change
/// may do on the async workers: some ten microseconds, so that a thousand subscribers just
/// under it cost a write some ten milliseconds there. More runs on a blocking thread.
const OFFLOADED_WORK: usize = 8 * 1024;

/// What a subscriber's filters are tested on: a change's document, or the document before
/// an update. Shared, so that a costly test can move it to a blocking thread without a copy.
#[derive(Clone)]
enum Tested {
    Change(Arc<Change>),
    Before(Arc<Document>),
}

impl Tested {
    fn document(&self) -> &Document {
        match self {
            Tested::Change(change) => &change.document,
            Tested::Before(document) => document,
        }
    }
}

/// One change as a subscriber sees it.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    /// Created, updated or deleted.
    pub kind: ChangeKind,
    /// The document after the change (for a delete, its last state).
    pub document: Document,
    /// The data before an update, when the subscriber could read it.
    pub old_data: Option<Value>,
}

/// Why a subscription ended.
#[derive(Debug)]
pub enum Ended {
    /// The subscriber cannot be told every change any more (too slow, or this instance lost
    /// the database's notifications): its connection should end so the client resubscribes.
    Feed(FeedEnded),
    /// The read rule in force now refuses the subscriber.
    Refused(ServiceError),
}

/// An open subscription to one collection's changes.
pub struct DocumentChanges {
    state: AppState,
    caller: Caller,
    collection: CollectionName,
    filter: Filter,
    /// The subscriber's own filter, checked again against `hidden_fields` after a reload: a
    /// subscription opened before a field was hidden would still answer yes or no about it.
    requested: Filter,
    /// What `pre_read` hooks narrowed the subscriber's view to: the old data of an update must
    /// pass it as well as the rule, or a draft's text would leak in `oldData` (issue 15).
    narrowed: Filter,
    feed: FeedSubscription,
    /// The read rule, and the configuration it was taken from.
    visible: (Arc<Manifest>, Filter),
}

/// Subscribes `caller` to the changes in `collection` matching `filter`. Refused up front when
/// the read rule refuses the caller; `pre_read` hooks run once, here, and may narrow the
/// filter or refuse.
pub async fn subscribe(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    filter: Option<Value>,
) -> Result<DocumentChanges, ServiceError> {
    let collection = collection(collection_name)?;
    let requested = input::filter(filter.as_ref(), Filter::parse)?;
    let hooks = state.runner().config();
    super::hidden::check_filter(
        hooks.rules(collection.as_str()),
        caller,
        &collection,
        &requested,
    )?;
    let visible = rule(&hooks, caller, &collection, Action::Read)?;
    // Listen before anything else can await, so nothing committed from here on is missed.
    let feed = state.store().watch(collection.as_str()).await?;
    let narrowed = read_filter(state, &hooks, caller, &collection, |p| {
        p.with("filter", filter.unwrap_or(Value::Null))
            .with("subscription", true)
    })
    .await?;
    // Counted from here, where the feed is listening: a client that sees the gauge rise may
    // write and expect the event (a count taken earlier raced the registration).
    Metrics::count(&state.metrics().subscriptions);
    Ok(DocumentChanges {
        state: state.clone(),
        caller: caller.clone(),
        collection,
        filter: Filter::And(vec![requested.clone(), narrowed.clone()]),
        requested,
        narrowed,
        feed,
        visible: (hooks, visible),
    })
}

impl Drop for DocumentChanges {
    fn drop(&mut self) {
        Metrics::uncount(&self.state.metrics().subscriptions);
    }
}

impl DocumentChanges {
    /// The next change this subscriber may see, in commit order.
    pub async fn next(&mut self) -> Result<ChangeEvent, Ended> {
        loop {
            let change = self.feed.next().await.map_err(Ended::Feed)?;
            // A subscriber deleted since it subscribed sees nothing more: its subscription ends.
            if self.state.auth().is_revoked(&self.caller) {
                return Err(Ended::Refused(ServiceError::Unauthenticated(
                    crate::auth::REVOKED.to_string(),
                )));
            }
            // Boxed: the hooks' futures are large, and an idle subscription should only hold
            // what waiting for the feed needs.
            if let Some(event) = Box::pin(self.visible_part(&change)).await? {
                return Ok(event);
            }
        }
    }

    /// What of `change` this subscriber sees, if anything.
    async fn visible_part(&mut self, change: &Arc<Change>) -> Result<Option<ChangeEvent>, Ended> {
        let hooks = self.state.runner().config();
        if !Arc::ptr_eq(&hooks, &self.visible.0) {
            let visible = rule(&hooks, &self.caller, &self.collection, Action::Read)
                .map_err(Ended::Refused)?;
            super::hidden::check_filter(
                hooks.rules(self.collection.as_str()),
                &self.caller,
                &self.collection,
                &self.requested,
            )
            .map_err(Ended::Refused)?;
            self.visible = (hooks.clone(), visible);
        }
        let visible = &self.visible.1;
        let document = &change.document;
        if !self
            .passes(&[visible, &self.filter], Tested::Change(change.clone()))
            .await
        {
            return Ok(None);
        }
        // `post_read` hooks run once per subscriber per change: thousands of runs for one
        // write. They take turns (a bounded number at once, `HOOKQL_FAN_OUT_CONCURRENCY`) so
        // that a slow hook delays this change's delivery, not every other request. Without
        // hooks the rest is a few comparisons and needs no turn.
        let _turn = if hooks.has_chain(Event::PostRead) {
            self.state.fan_out().acquire().await.ok()
        } else {
            None
        };
        let Some(document) = self.after_post_read(&hooks, document.clone()).await else {
            return Ok(None);
        };
        let old_data = match (&change.old_data, change.kind) {
            (Some(old), ChangeKind::Updated) => {
                let before = Arc::new(Document {
                    data: old.clone(),
                    version: change.document.version - 1,
                    ..change.document.clone()
                });
                if self
                    .passes(&[visible, &self.narrowed], Tested::Before(before.clone()))
                    .await
                {
                    let before = Arc::unwrap_or_clone(before);
                    self.after_post_read(&hooks, before).await.map(|d| d.data)
                } else {
                    None
                }
            }
            _ => None,
        };
        Ok(Some(ChangeEvent {
            kind: change.kind,
            document,
            old_data,
        }))
    }

    /// Whether `document` passes every filter. Most filters cost a few comparisons; `_like`
    /// over a long text or `_contains` over a long array costs time in proportion to it, once
    /// per subscriber per change, so such a test takes a fan-out turn and runs on a blocking
    /// thread: a thousand subscribers matching a megabyte each delay that change's delivery,
    /// not every other request.
    async fn passes(&self, filters: &[&Filter], tested: Tested) -> bool {
        let document = tested.document();
        let work = filters
            .iter()
            .fold(0usize, |sum, f| sum.saturating_add(f.work(document)));
        if work < OFFLOADED_WORK {
            return filters.iter().all(|f| f.matches(document));
        }
        // The turn goes with the work, so an aborted subscription cannot free it early; the
        // document is shared, not copied (a copy of a large one costs the workers too).
        let Ok(turn) = self.state.fan_out().clone().acquire_owned().await else {
            return false;
        };
        let filters: Vec<Filter> = filters.iter().map(|f| (*f).clone()).collect();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            filters.iter().all(|f| f.matches(tested.document()))
        })
        .await
        .unwrap_or(false)
    }

    /// `document` as `post_read` hooks leave it for this subscriber; `None` when they remove
    /// it, block, or fail (an event is only sent when it is certainly readable).
    async fn after_post_read(&self, hooks: &Arc<Manifest>, document: Document) -> Option<Document> {
        match read_result(
            &self.state,
            hooks,
            &self.caller,
            &self.collection,
            vec![document],
        )
        .await
        {
            Ok(mut documents) => documents.pop(),
            Err(e) => {
                tracing::debug!(collection = %self.collection, "a change is not sent: {e}");
                None
            }
        }
    }
}
