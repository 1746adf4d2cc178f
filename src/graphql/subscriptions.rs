//! The subscription root: `documentChanged`.

use async_graphql::{Context, Json, Subscription};
use futures_util::stream::{self, Stream};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

use super::error::{resolve, to_graphql};
use super::types::DocumentEvent;
use super::{caller, state};
use crate::service::subscriptions::{self, Ended};
use crate::store::changes::FeedEnded;

/// How a subscription asks its transport to end the connection, with a reason for the
/// client, when it can no longer be told every change (the WebSocket transport puts one in
/// each operation's data). A mutex and a `Notify`: one per connection, so it must be light.
#[derive(Clone, Debug, Default)]
pub struct Disconnect(Arc<DisconnectState>);

#[derive(Debug, Default)]
struct DisconnectState {
    reason: Mutex<Option<String>>,
    asked: Notify,
}

impl Disconnect {
    /// Asks for the connection to end; the first reason given is the one the client gets.
    pub fn request(&self, reason: String) {
        self.0
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
        self.0.asked.notify_one();
    }

    /// The reason, once a disconnect has been asked for.
    pub async fn requested(&self) -> String {
        loop {
            let taken = self
                .0
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(reason) = taken {
                return reason;
            }
            self.0.asked.notified().await;
        }
    }
}

/// Subscriptions.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every change committed to `collection` from now on, in commit order, that matches
    /// `filter` and the collection's read rule (and survives `post_read` hooks). A client that
    /// falls too far behind is disconnected with a reason rather than silently skipping changes.
    async fn document_changed(
        &self,
        ctx: &Context<'_>,
        collection: String,
        filter: Option<Json<serde_json::Value>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DocumentEvent>>> {
        let state = state(ctx)?;
        let changes: subscriptions::DocumentChanges = resolve(
            subscriptions::subscribe(state, caller(ctx)?, &collection, filter.map(|f| f.0)).await,
        )?;
        let disconnect = ctx.data_opt::<Disconnect>().cloned();
        Ok(stream::unfold(Some(changes), move |open| {
            let disconnect = disconnect.clone();
            async move {
                let mut changes = open?;
                match changes.next().await {
                    Ok(event) => Some((Ok(event.into()), Some(changes))),
                    Err(Ended::Refused(e)) => Some((Err(to_graphql(e)), None)),
                    Err(Ended::Feed(ended)) => {
                        let reason = match ended {
                            FeedEnded::Behind(missed) => format!("too slow: fell {missed} changes behind; reconnect and read again"),
                            FeedEnded::Interrupted => "changes may have been missed (the server lost its database feed); reconnect and read again".to_string(),
                        };
                        match disconnect {
                            Some(disconnect) => {
                                disconnect.request(reason);
                                None
                            }
                            None => Some((Err(async_graphql::Error::new(reason)), None)),
                        }
                    }
                }
            }
        }))
    }
}
