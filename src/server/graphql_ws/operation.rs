//! One operation on a WebSocket connection (a subscription, or a query or mutation): its
//! task runs the GraphQL request and queues each result for the writer without waiting.

use std::sync::PoisonError;

use axum::extract::ws::Message;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::protocol;
use super::writer::Outgoing;
use super::Operations;
use crate::graphql::error::tag_uncoded_error;
use crate::graphql::{ApiSchema, Disconnect};
use crate::metrics::Metrics;
use crate::state::per_ip::Held;
use crate::state::AppState;
use crate::store::budget::{ConnectionBudget, ReadBudget};

/// One running operation.
pub(super) struct Operation {
    pub(super) id: String,
    pub(super) serial: u64,
    pub(super) app: AppState,
    pub(super) outbox: mpsc::Sender<Outgoing>,
    pub(super) disconnect: Disconnect,
    pub(super) operations: Operations,
    /// The client's share of the per-address operation cap, given back when this ends
    /// (the task owns it, so an abort gives it back too).
    #[allow(dead_code)]
    pub(super) slot: Option<Held>,
    /// The operation's share of the connection's read budget, held by its reads until its
    /// answer exists (which then holds its own size until sent).
    pub(super) budget: ReadBudget,
    /// The connection's read budget, for the share each event holds.
    pub(super) connection: ConnectionBudget,
}

impl Operation {
    pub(super) async fn run(self, schema: ApiSchema, request: async_graphql::Request) {
        let metrics = self.app.metrics();
        let mut responses = schema.execute_stream(request);
        let mut first = true;
        while let Some(mut response) = responses.next().await {
            for error in &mut response.errors {
                tag_uncoded_error(error, self.app.settings());
            }
            // Errors before any result (parse, validation, a refused subscription) are the
            // protocol's `error` message, which ends the operation without `complete`.
            if first && response.data == async_graphql::Value::Null && !response.errors.is_empty() {
                let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
                self.forget();
                self.queue(protocol::error(&self.id, errors));
                return;
            }
            first = false;
            if !self.queue_answer(protocol::next(&self.id, &response)) {
                return;
            }
            Metrics::count(&metrics.subscription_events_total);
        }
        self.forget();
        self.queue(protocol::complete(&self.id));
    }

    /// Queues an answer holding its own size of the connection's read budget until it is
    /// sent, in place of what the operation's reads held (every answer, a subscription's
    /// first event too). When what the connection holds already passed the budget, answers
    /// are waiting that the client does not read: it is told so and disconnected, as when
    /// too many messages wait. An answer itself may cross the limit (a query that read just
    /// under it writes a little more text than it read), as a mutation's answer may.
    fn queue_answer(&self, text: String) -> bool {
        self.budget.release();
        if self.connection.is_spent() {
            let most = self.app.settings().max_response_bytes;
            self.disconnect.request(format!("too slow: more than {most} bytes were waiting to be sent (HOOKQL_MAX_RESPONSE_BYTES); reconnect and read again"));
            return false;
        }
        let share = self.connection.operation(usize::MAX);
        share.take(text.len());
        self.send(Outgoing::holding(Message::Text(text.into()), Some(share)))
    }

    /// Queues a protocol message that holds no document data.
    fn queue(&self, text: String) -> bool {
        self.send(Message::Text(text.into()).into())
    }

    /// Hands `message` to the writer; `false` when the connection is going away (full: the
    /// client is too slow, and is told so).
    fn send(&self, message: Outgoing) -> bool {
        match self.outbox.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let waiting = self.outbox.max_capacity();
                self.disconnect.request(format!(
                    "too slow: {waiting} messages were waiting to be sent; reconnect and read again"
                ));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Removes this operation from the connection's list (unless its id was reused).
    fn forget(&self) {
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if operations
            .get(&self.id)
            .is_some_and(|(s, _)| *s == self.serial)
        {
            operations.remove(&self.id);
        }
    }
}
