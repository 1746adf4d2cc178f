//! A TCP proxy the test controls, between hookql and PostgreSQL: it forwards bytes both ways
//! until told to stall, when it holds them (a partition: connections stay open, nothing
//! arrives) until told to flow again. Armed with [`Proxy::stall_after`], it stalls right
//! after passing on the next statement holding a given text, so the database runs it and its
//! answer is lost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; it stops accepting when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub address: SocketAddr,
    stalled: Arc<AtomicBool>,
    trap: Arc<std::sync::Mutex<Option<&'static [u8]>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<a free port> to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stalled = Arc::new(AtomicBool::new(false));
        let trap = Arc::new(std::sync::Mutex::new(None));
        let (gate, armed) = (stalled.clone(), trap.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(
                    client_read,
                    server_write,
                    gate.clone(),
                    Some(armed.clone()),
                ));
                tokio::spawn(pump(server_read, client_write, gate.clone(), None));
            }
        });
        Self {
            address,
            stalled,
            trap,
            accept,
        }
    }

    /// Holds every byte from now on (a partition).
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Lets bytes through again (and disarms [`Proxy::stall_after`]).
    pub fn flow(&self) {
        *self.trap.lock().expect("trap") = None;
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// Stalls everything right after a client's bytes holding `text` have been passed on.
    pub fn stall_after(&self, text: &'static [u8]) {
        *self.trap.lock().expect("trap") = Some(text);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to`, holding what it read while `stalled`; with a `trap` armed, stalls
/// once it has passed on a chunk holding the trap's text.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
    trap: Option<Arc<std::sync::Mutex<Option<&'static [u8]>>>>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
        if let Some(trap) = &trap {
            let mut armed = trap.lock().expect("trap");
            if armed.is_some_and(|text| buffer[..n].windows(text.len()).any(|w| w == text)) {
                *armed = None;
                stalled.store(true, Ordering::SeqCst);
            }
        }
    }
}
