//! The writer task: the only owner of a connection's sending half. It sends what operations
//! and the reader queue, and the goodbye the reader decides on, within bounded time.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};

use crate::store::budget::ReadBudget;

/// A close the reader decided on.
pub(super) type Goodbye = (u16, String);

/// How long a goodbye may take to send before the socket is simply dropped (a slow client
/// has this long to read what is buffered and learn why it was disconnected).
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);

/// A message for the client, with the share of the connection's read budget its text holds,
/// given back once it is sent (a client that stops reading holds the budget, not memory
/// beyond it).
pub(super) struct Outgoing {
    message: Message,
    _holds: Option<ReadBudget>,
}

impl Outgoing {
    /// `message`, holding `budget` until it is sent.
    pub(super) fn holding(message: Message, budget: Option<ReadBudget>) -> Self {
        Self {
            message,
            _holds: budget,
        }
    }
}

impl From<Message> for Outgoing {
    fn from(message: Message) -> Self {
        Self::holding(message, None)
    }
}

/// Queues a protocol message from the reader; a full queue means the client is not reading,
/// which the operations' own sends detect.
pub(super) fn send(outbox: &mpsc::Sender<Outgoing>, text: String) {
    let _ = outbox.try_send(Message::Text(text.into()).into());
}

/// The writer: sends queued messages (keep-alive pings among them) until the reader says
/// goodbye (sent even if the client has stopped reading, within [`GOODBYE_TIMEOUT`]) or the
/// queue closes.
pub(super) async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Outgoing>,
    mut goodbye: oneshot::Receiver<Goodbye>,
) {
    loop {
        let message = tokio::select! {
            biased;
            farewell = &mut goodbye => return farewell_then_close(sink, farewell.ok()).await,
            message = queued.recv() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let Outgoing { message, _holds } = message;
        tokio::select! {
            sent = sink.send(message) => if sent.is_err() { return },
            farewell = &mut goodbye => return farewell_then_close(sink, farewell.ok()).await,
        }
    }
    // The reader is done: a goodbye may still be on its way.
    let farewell = goodbye.await.ok();
    farewell_then_close(sink, farewell).await;
}

async fn farewell_then_close(mut sink: SplitSink<WebSocket, Message>, farewell: Option<Goodbye>) {
    let frame = farewell.map(|(code, reason)| CloseFrame {
        code,
        reason: reason.into(),
    });
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, sink.send(Message::Close(frame))).await;
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, sink.close()).await;
}
