//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request
//! and answers as the test planned (status, body, delay, headers), per path.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Request headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: Bytes,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A header.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    /// 200 with `body` as JSON.
    pub fn json(body: Value) -> Self {
        Self {
            body: body.to_string(),
            ..Self::status(200)
        }
    }

    /// 200 with `body` as it is.
    pub fn text(body: &str) -> Self {
        Self {
            body: body.to_string(),
            ..Self::status(200)
        }
    }

    /// This reply, after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// This reply with a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

#[derive(Default)]
struct Book {
    received: HashMap<String, Vec<Received>>,
    planned: HashMap<String, VecDeque<Reply>>,
    usual: HashMap<String, Reply>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    book: Arc<Mutex<Book>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts a receiver on `port`.
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("receiver port");
        let address = format!("http://{}", listener.local_addr().expect("bound"));
        let book = Arc::new(Mutex::new(Book::default()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(book.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            address,
            book,
            _stop: stop,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Answers the next requests to `path` with `replies`, in order; then as usual.
    pub fn plan(&self, path: &str, replies: Vec<Reply>) {
        let mut book = self.book.lock().unwrap();
        book.planned
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Answers requests to `path` with `reply` once planned replies run out (default: 200).
    pub fn usually(&self, path: &str, reply: Reply) {
        self.book
            .lock()
            .unwrap()
            .usual
            .insert(path.to_string(), reply);
    }

    /// Every request `path` got so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let book = self.book.lock().unwrap();
        book.received.get(path).cloned().unwrap_or_default()
    }
}

/// A port nobody listens on (for a receiver that is down, then started on it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("bound")
        .port()
}

async fn answer(
    State(book): State<Arc<Mutex<Book>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let reply = {
        let mut book = book.lock().unwrap();
        let headers = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        book.received
            .entry(path.clone())
            .or_default()
            .push(Received { headers, body });
        let planned = book.planned.get_mut(&path).and_then(VecDeque::pop_front);
        planned
            .or_else(|| book.usual.get(&path).cloned())
            .unwrap_or_else(|| Reply::status(200))
    };
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).expect("status");
    let mut response = (status, reply.body).into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}
