//! GraphQL over WebSocket at `/graphql` (`graphql-transport-ws`): realtime subscriptions, and
//! queries and mutations for clients that keep one socket.
//!
//! Each connection has a reader (this module's loop: protocol, credentials, closing), a
//! writer task that owns the socket's sending half, and one task per operation. Operations
//! hand finished messages to the writer through a bounded queue and never wait on it: when
//! the queue is full the client is too slow, and the connection is closed with a reason
//! (1013) instead of slowing writers or other subscribers, or silently skipping changes.

mod operation;
pub mod protocol;
mod writer;

use self::operation::Operation;
use self::writer::{send, write, Goodbye, Outgoing};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::Variables;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use self::protocol::{close, ClientMessage, SubscribePayload, SUBPROTOCOL};
use super::HttpState;
use crate::graphql::error::code::{BAD_USER_INPUT, RATE_LIMITED};
use crate::graphql::{ApiSchema, Disconnect};
use crate::metrics::{Metrics, Open};
use crate::model::caller::RequestAuth;
use crate::model::Caller;
use crate::state::AppState;
use crate::store::budget::ConnectionBudget;

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts the upgrade (unless the server, or the client's address `peer`, is at its
/// connection cap) and runs the connection. `header` is the upgrade request's
/// `Authorization`, used when `connection_init` has none.
pub fn upgrade(
    http: &HttpState,
    upgrade: WebSocketUpgrade,
    header: Option<String>,
    peer: Option<IpAddr>,
) -> Response {
    let app = http.app.clone();
    let settings = app.settings();
    let open = app
        .metrics()
        .ws_connections
        .load(std::sync::atomic::Ordering::Relaxed);
    if open >= settings.ws_max_connections as u64 {
        Metrics::count(&app.metrics().ws_refused_total);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections on this server; retry later",
        )
            .into_response();
    }
    // Held for the connection's life: one client cannot take every slot.
    let slot = match peer {
        Some(ip) => {
            let cap = settings.ws_max_connections_per_ip;
            match app.clients().websockets.try_hold(ip, cap) {
                Some(slot) => Some(slot),
                None => {
                    Metrics::count(&app.metrics().ws_refused_total);
                    let message = format!("too many WebSocket connections from your address (at most {cap}); close some or retry later");
                    return (StatusCode::TOO_MANY_REQUESTS, message).into_response();
                }
            }
        }
        None => None,
    };
    let offered = upgrade
        .requested_protocols()
        .any(|p| p.as_bytes() == SUBPROTOCOL.as_bytes());
    let schema = http.schema.clone();
    let max_message = settings.max_body_bytes;
    // The connection's operations share the upgrade request's id.
    let (id, span) = (crate::request_id::current(), tracing::Span::current());
    // Small initial buffers (they grow for large messages): an idle connection should cost
    // kilobytes, not the 128 KiB tungstenite reserves by default.
    upgrade
        .protocols([SUBPROTOCOL])
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| {
            let tracker = app.connections().clone();
            tracker.track_future(crate::request_id::within(id, span, async move {
                let connection = Connection::new(app, schema, header, peer);
                connection.run(socket, offered).await;
                drop(slot);
            }))
        })
}

/// The operations running on one connection, each under a serial number so that a finished
/// operation never removes a newer one that reused its id.
type Operations = Arc<Mutex<HashMap<String, (u64, AbortHandle)>>>;

struct Connection {
    app: AppState,
    schema: ApiSchema,
    header: Option<String>,
    caller: Option<Caller>,
    operations: Operations,
    serial: u64,
    /// The client's address, for the per-client operation cap (none: not counted).
    peer: Option<IpAddr>,
    /// What the operations' answers may hold together, running or waiting to be sent.
    budget: ConnectionBudget,
}

impl Connection {
    fn new(app: AppState, schema: ApiSchema, header: Option<String>, peer: Option<IpAddr>) -> Self {
        let limit = app.settings().max_response_bytes;
        let budget = app.clients().connection_budget(limit, peer);
        Self {
            app,
            schema,
            header,
            peer,
            caller: None,
            budget,
            operations: Operations::default(),
            serial: 0,
        }
    }

    async fn run(mut self, socket: WebSocket, offered: bool) {
        let app = self.app.clone();
        let _open = Open::new(&app.metrics().ws_connections);
        Metrics::count(&app.metrics().ws_connections_total);
        let settings = app.settings();
        let keepalive = Duration::from_secs(settings.ws_keepalive_secs.max(1));
        let (sink, mut stream) = socket.split();
        let (outbox, queued) = mpsc::channel::<Outgoing>(settings.ws_send_buffer.max(1));
        let (say_goodbye, goodbye) = oneshot::channel::<Goodbye>();
        let writer = tokio::spawn(write(sink, queued, goodbye));
        let disconnect = Disconnect::default();

        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        tokio::pin!(init_deadline);
        let expiry = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(expiry);
        let mut liveness = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        let mut last_heard = Instant::now();

        let farewell: Option<Goodbye> = if !offered {
            Some((
                close::SUBPROTOCOL_NOT_ACCEPTABLE,
                format!("Subprotocol not acceptable: use {SUBPROTOCOL}"),
            ))
        } else {
            loop {
                let acked = self.caller.is_some();
                tokio::select! {
                    frame = stream.next() => {
                        let Some(Ok(frame)) = frame else { break None };
                        last_heard = Instant::now();
                        match self.receive(frame, &outbox, &disconnect) {
                            Step::Continue => {}
                            Step::Acked(expires) => {
                                if let Some(at) = expires {
                                    expiry.as_mut().reset(at);
                                }
                            }
                            Step::Close(goodbye) => break goodbye,
                        }
                    }
                    _ = &mut init_deadline, if !acked => {
                        break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".into()));
                    }
                    _ = &mut expiry => {
                        break Some((close::FORBIDDEN, "the access token expired; reconnect with a fresh one".into()));
                    }
                    reason = disconnect.requested() => {
                        Metrics::count(&app.metrics().ws_slow_disconnects_total);
                        break Some((close::TRY_AGAIN_LATER, reason));
                    }
                    _ = liveness.tick() => {
                        if last_heard.elapsed() > keepalive * 2 {
                            break Some((close::GOING_AWAY, "no answer to keep-alive pings".into()));
                        }
                        let _ = outbox.try_send(Message::Ping(Default::default()).into());
                    }
                    _ = app.closing().cancelled() => {
                        break Some((close::GOING_AWAY, "the server is shutting down; reconnect shortly".into()));
                    }
                }
            }
        };
        for (_, operation) in self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
        {
            operation.1.abort();
        }
        // The writer waits for a goodbye or for its absence: when the client closed or
        // vanished there is none, and dropping the sender is what tells the writer so (held
        // until after `writer.await`, it kept both tasks, the socket and the slot forever).
        match farewell {
            Some((code, reason)) => {
                let _ = say_goodbye.send((code, protocol::close_reason(&reason)));
            }
            None => drop(say_goodbye),
        }
        drop(outbox);
        let _ = writer.await;
    }

    /// Handles one frame from the client.
    fn receive(
        &mut self,
        frame: Message,
        outbox: &mpsc::Sender<Outgoing>,
        disconnect: &Disconnect,
    ) -> Step {
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => return Step::Close(None),
            Message::Ping(_) | Message::Pong(_) => return Step::Continue,
            Message::Binary(_) => {
                return Step::Close(Some((
                    close::BAD_REQUEST,
                    "binary frames are not part of graphql-transport-ws; send JSON text".into(),
                )))
            }
        };
        let message = match protocol::parse(text.as_str()) {
            Ok(message) => message,
            Err(reason) => return Step::Close(Some((close::BAD_REQUEST, reason))),
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.init(payload.as_ref(), outbox),
            ClientMessage::Ping { payload } => {
                send(outbox, protocol::pong(payload));
                Step::Continue
            }
            ClientMessage::Pong { .. } => Step::Continue,
            ClientMessage::Subscribe { id, payload } => {
                let Some(caller) = self.caller.clone() else {
                    return Step::Close(Some((close::UNAUTHORIZED, "Unauthorized".into())));
                };
                self.start(id, payload, caller, outbox, disconnect)
            }
            ClientMessage::Complete { id } => {
                let stopped = self
                    .operations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                if let Some((_, operation)) = stopped {
                    operation.abort();
                }
                Step::Continue
            }
        }
    }

    /// `connection_init`: checks the credentials and acknowledges, or closes with 4403.
    fn init(&mut self, payload: Option<&Value>, outbox: &mpsc::Sender<Outgoing>) -> Step {
        if self.caller.is_some() {
            return Step::Close(Some((
                close::TOO_MANY_INIT,
                "Too many initialisation requests".into(),
            )));
        }
        let authorization = protocol::authorization(payload, self.header.as_deref());
        match self.app.auth().caller(authorization.as_deref()) {
            Ok(caller) => {
                let expires = caller.claims().map(|claims| {
                    let left = claims.exp - chrono::Utc::now().timestamp();
                    Instant::now() + Duration::from_secs(left.max(0) as u64)
                });
                self.caller = Some(caller);
                send(outbox, protocol::ack());
                Step::Acked(expires)
            }
            Err(reason) => Step::Close(Some((close::FORBIDDEN, format!("Forbidden: {reason}")))),
        }
    }

    /// `subscribe`: runs the operation in its own task.
    fn start(
        &mut self,
        id: String,
        payload: SubscribePayload,
        caller: Caller,
        outbox: &mpsc::Sender<Outgoing>,
        disconnect: &Disconnect,
    ) -> Step {
        let mut operations = self
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if operations.contains_key(&id) {
            let reason = format!("Subscriber for {id} already exists");
            return Step::Close(Some((close::SUBSCRIBER_EXISTS, reason)));
        }
        let settings = self.app.settings();
        let most = settings.ws_max_operations;
        if operations.len() >= most {
            let message = format!(
                "at most {most} operations may run at once on one connection; complete one first"
            );
            send(outbox, protocol::refusal(&id, BAD_USER_INPUT, &message));
            return Step::Continue;
        }
        // Held while the operation runs (its task owns it, so an abort gives it back).
        let slot = match self.peer {
            Some(ip) => {
                let most = settings.ws_max_operations_per_ip;
                match self.app.clients().operations.try_hold(ip, most) {
                    Some(slot) => Some(slot),
                    None => {
                        let message = format!("at most {most} operations may run at once from one address; complete some first");
                        send(outbox, protocol::refusal(&id, RATE_LIMITED, &message));
                        return Step::Continue;
                    }
                }
            }
            None => None,
        };
        let budget = self
            .budget
            .operation(self.app.settings().max_response_bytes);
        let mut request = async_graphql::Request::new(payload.query)
            .data::<RequestAuth>(Ok(caller))
            .data(disconnect.clone())
            .data(budget.clone());
        if let Some(variables) = payload.variables {
            request = request.variables(Variables::from_json(Value::Object(variables)));
        }
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        self.serial += 1;
        let operation = Operation {
            id: id.clone(),
            serial: self.serial,
            app: self.app.clone(),
            outbox: outbox.clone(),
            disconnect: disconnect.clone(),
            operations: self.operations.clone(),
            slot,
            budget,
            connection: self.budget.clone(),
        };
        let task = tokio::spawn(crate::request_id::carry(
            operation.run(self.schema.clone(), request),
        ));
        operations.insert(id, (self.serial, task.abort_handle()));
        Step::Continue
    }
}

/// What the reader does after a frame.
enum Step {
    Continue,
    /// Acknowledged; the credentials expire then (never for anonymous callers).
    Acked(Option<Instant>),
    /// Close (with a goodbye, or silently when the client closed).
    Close(Option<Goodbye>),
}
