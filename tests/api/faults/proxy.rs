//! A TCP proxy the test controls, between hookql and PostgreSQL: it forwards bytes both ways
//! until told to stall, when it holds them (a partition: connections stay open, nothing
//! arrives) until told to flow again; it can also cut every open connection (a restart of
//! the database, a dropped NAT entry) and slow every chunk down (a congested link). Armed with [`Proxy::stall_after`], it stalls right
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
    pumps: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    ports: Arc<std::sync::Mutex<Vec<u16>>>,
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
        let pumps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (running, delay) = (pumps.clone(), delay_ms.clone());
        let ports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = ports.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                if let Ok(local) = server.local_addr() {
                    seen.lock().expect("ports").push(local.port());
                }
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let mut running = running.lock().expect("pumps");
                running.retain(|p: &tokio::task::JoinHandle<()>| !p.is_finished());
                running.push(tokio::spawn(pump(
                    client_read,
                    server_write,
                    gate.clone(),
                    Some(armed.clone()),
                    delay.clone(),
                )));
                running.push(tokio::spawn(pump(
                    server_read,
                    client_write,
                    gate.clone(),
                    None,
                    delay.clone(),
                )));
            }
        });
        Self {
            address,
            stalled,
            trap,
            pumps,
            delay_ms,
            ports,
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

    /// The local ports of every connection it opened to the database (as PostgreSQL's
    /// `pg_stat_activity.client_port` shows them).
    pub fn upstream_ports(&self) -> Vec<i32> {
        let ports = self.ports.lock().expect("ports");
        ports.iter().map(|p| i32::from(*p)).collect()
    }

    /// Whether the proxy holds bytes now (after [`Proxy::stall_after`] caught its text).
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    /// Closes every connection open now, both ways; new ones go through as before.
    pub fn cut(&self) {
        for pump in self.pumps.lock().expect("pumps").drain(..) {
            pump.abort();
        }
    }

    /// Holds every chunk for `delay` before passing it on (zero: no delay).
    pub fn slow(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
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
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
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
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
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
