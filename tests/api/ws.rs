//! A `graphql-transport-ws` client for the tests, on tokio-tungstenite (a real WebSocket
//! client, not our own code).

use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a message before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// What [`Ws::next_within`] saw.
#[derive(Debug)]
pub enum Next {
    /// A protocol message.
    Message(Value),
    /// The server closed the connection with this code.
    Closed(u16),
    /// Nothing in time.
    Nothing,
}

/// One WebSocket connection to `/graphql`.
pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Keep-alive pings seen so far.
    pub pings: usize,
}

/// The query most tests subscribe with.
pub const DOCUMENT_CHANGED: &str = "subscription($c: String!, $f: JSON) { documentChanged(collection: $c, filter: $f) { type oldData document { id collection data ownerId version createdAt updatedAt } } }";

impl Ws {
    /// Opens a socket to `address` (`http://…`) offering `protocol`, without `connection_init`.
    pub async fn open(address: &str, protocol: Option<&str>) -> Ws {
        Ws::try_open_from(address, protocol, None)
            .await
            .expect("the WebSocket upgrade is accepted")
    }

    /// Opens a socket as [`Ws::open`] does, from local address `from` (another loopback
    /// address is another client to the server); the upgrade's refusal, if refused.
    pub async fn try_open_from(
        address: &str,
        protocol: Option<&str>,
        from: Option<IpAddr>,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/graphql", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("a WebSocket URL");
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(protocol).expect("header"),
            );
        }
        let socket = match from {
            None => tokio_tungstenite::connect_async(request).await?.0,
            Some(from) => {
                let server = address
                    .trim_start_matches("http://")
                    .parse()
                    .expect("address");
                let tcp = crate::helpers::tcp_from(from, server).await;
                tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
                    .await?
                    .0
            }
        };
        Ok(Ws { socket, pings: 0 })
    }

    /// [`Ws::connect`] from local address `from`.
    pub async fn connect_from(address: &str, token: Option<&str>, from: IpAddr) -> Ws {
        let ws = Ws::try_open_from(address, Some("graphql-transport-ws"), Some(from))
            .await
            .expect("the WebSocket upgrade is accepted");
        ws.init(token).await
    }

    /// Opens a `graphql-transport-ws` connection as `token` (none: anonymous) and waits for
    /// `connection_ack`.
    pub async fn connect(address: &str, token: Option<&str>) -> Ws {
        Ws::open(address, Some("graphql-transport-ws"))
            .await
            .init(token)
            .await
    }

    /// Sends `connection_init` as `token` and waits for `connection_ack`.
    async fn init(self, token: Option<&str>) -> Ws {
        let mut ws = self;
        let payload = match token {
            Some(token) => json!({"Authorization": format!("Bearer {token}")}),
            None => json!({}),
        };
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let ack = ws.recv().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("sent");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("sent");
    }

    /// Sends raw text; false when the connection is gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.socket.send(Message::text(text)).await.is_ok()
    }

    /// What arrives within `limit`: a message, the close (its code), or nothing.
    pub async fn next_within(&mut self, limit: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let Ok(frame) = tokio::time::timeout_at(deadline, self.socket.next()).await else {
                return Next::Nothing;
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Next::Message(
                        serde_json::from_str(text.as_str()).expect("JSON message"),
                    )
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Next::Closed(u16::from(frame.code))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return Next::Closed(u16::from(CloseCode::Abnormal)),
            }
        }
    }

    /// Starts `documentChanged` on `collection` as operation `id`.
    pub async fn subscribe(&mut self, id: &str, collection: &str, filter: Option<Value>) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {
            "query": DOCUMENT_CHANGED,
            "variables": {"c": collection, "f": filter},
        }}))
        .await;
    }

    /// The next protocol message (keep-alive frames are counted and skipped); panics on a
    /// close or after [`PATIENCE`].
    pub async fn recv(&mut self) -> Value {
        match self.recv_within(PATIENCE).await {
            Some(message) => message,
            None => panic!("no message within {PATIENCE:?}"),
        }
    }

    /// The next protocol message within `limit`, if any.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON message"))
                }
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(Message::Pong(_))) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The next event of subscription `id`: `documentChanged`.
    pub async fn event(&mut self, id: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["documentChanged"].clone()
    }

    /// Closes the connection as a polite client does (a close frame) and waits, bounded, for
    /// the server's answer.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.socket.next()).await {}
    }

    /// Waits for the server to close the connection: its code and reason. Messages before
    /// the close are skipped.
    pub async fn closed(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("not closed within {PATIENCE:?}"));
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return (u16::from(CloseCode::Abnormal), String::new())
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
