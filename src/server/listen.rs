//! Accepting connections and serving HTTP on them, with the protections `axum::serve` does
//! not offer: a deadline for a request's headers (slowloris), a limit on how long a
//! connection may sit idle, and a shutdown that stops accepting, lets requests in flight
//! finish, and gives up on them after a grace period rather than hanging forever. Each
//! request learns its client's address ([`Peer`]), and one address may hold only so many
//! connections at once.
//!
//! HTTP/1.1 and HTTP/2 (prior knowledge) are both served; WebSocket upgrades leave this
//! module's care once upgraded (their own keep-alive applies).

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::awake_timer::{self, AwakeTimer, StallClock};
use crate::state::per_ip::{Peer, PerIp};

/// What a client over its connection cap is told before the connection closes.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 66\r\n\r\ntoo many connections from your address; close some or retry later\n";

/// How patient the server is with clients.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Time allowed for a request's headers, from its first byte.
    pub headers: Duration,
    /// Time a connection may go without reading or writing anything.
    pub idle: Duration,
    /// Time a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Most HTTP connections one client address may hold (0: no cap).
    pub connections_per_ip: usize,
}

/// Serves `router` on `listener` until `stop` completes; then stops accepting, cancels
/// `closing` (WebSockets say goodbye), closes idle connections, and waits up to
/// `patience.shutdown_grace` for requests in flight. `clients` counts each address's
/// connections.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    patience: Patience,
    clients: PerIp,
    closing: CancellationToken,
    stop: impl Future<Output = ()>,
) {
    let clock = Arc::new(StallClock::default());
    let heartbeat = CancellationToken::new();
    crate::tasks::spawn("stall clock", clock.clone().beat(heartbeat.clone()));
    let _heartbeat = heartbeat.drop_guard();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(AwakeTimer::new(clock.clone()))
        .header_read_timeout(patience.headers)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let connections = TaskTracker::new();
    let mut stop = pin!(stop);
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Some(held) = clients.try_hold(peer.ip(), patience.connections_per_ip) else {
            tracing::debug!(%peer, "refused a connection: the address holds its cap");
            connections.spawn(async move {
                let refusal = stream.write_all(TOO_MANY_CONNECTIONS);
                let _ = tokio::time::timeout(Duration::from_secs(1), refusal).await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Every request carries its client's address (for the per-client caps).
        let router = TowerToHyperService::new(router.clone());
        let answering = closing.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(Peer(peer.ip()));
            let http1 = request.version() < hyper::Version::HTTP_2;
            let answer = hyper::service::Service::call(&router, request);
            let answering = answering.clone();
            async move {
                let mut response = answer.await?;
                // Tells a keep-alive client not to send another request on this connection.
                if http1 && answering.is_cancelled() {
                    response.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let builder = builder.clone();
        let closing = closing.clone();
        let clock = clock.clone();
        connections.spawn(async move {
            let activity = Activity::default();
            activity.touch();
            let io = TokioIo::new(Watched {
                stream,
                activity: activity.clone(),
            });
            let connection = builder.serve_connection_with_upgrades(io, service);
            watch(connection, activity, patience.idle, closing, clock).await;
            // Held until served (an upgraded WebSocket counts under its own cap from then).
            drop(held);
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    if tokio::time::timeout(patience.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "requests still in flight after the shutdown grace period; stopping anyway"
        );
    }
}

/// How long a keep-alive connection must have been quiet before a closing server shuts it:
/// a request its client sent just before the stop is answered (with `Connection: close`)
/// rather than met by a closed connection (issue 16).
const CLOSING_LINGER: Duration = Duration::from_millis(250);

/// The longest a closing server waits for a connection to go quiet: a busy HTTP/2 client
/// (which `Connection: close` does not reach) is then told to go away all the same.
const CLOSING_MOST: Duration = Duration::from_secs(1);

/// Drives one connection; closes it gracefully (requests in flight finish) once it has been
/// idle for `idle`, or, once the server is closing, quiet for [`CLOSING_LINGER`].
/// Time the process spent stopped (see [`StallClock`]) does not count as quiet: a request
/// sent to a stopped server is read when it resumes, not met by a closed connection.
async fn watch<C>(
    connection: C,
    activity: Activity,
    idle: Duration,
    closing: CancellationToken,
    clock: Arc<StallClock>,
) where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulShutdown,
{
    let mut connection = pin!(connection);
    let mut shutting_down = false;
    let mut stalled = clock.stalled();
    let mut closing_since: Option<Instant> = None;
    loop {
        if clock.stalled() > stalled {
            stalled = clock.stalled();
            activity.touch();
        }
        let quiet_for = activity.quiet_for();
        if closing.is_cancelled() {
            closing_since.get_or_insert_with(Instant::now);
        }
        let patience = if closing_since.is_some() {
            CLOSING_LINGER
        } else {
            idle
        };
        let closed_long = closing_since.is_some_and(|at| at.elapsed() >= CLOSING_MOST);
        if !shutting_down && (quiet_for >= patience || closed_long) {
            // A moment for the heartbeat to notice a stop we may just have woken from.
            tokio::time::sleep(awake_timer::CONFIRM).await;
            if clock.stalled() > stalled && !closed_long {
                continue;
            }
            connection.as_mut().shut_down();
            shutting_down = true;
        }
        let next_look = patience
            .saturating_sub(quiet_for)
            .max(Duration::from_millis(50));
        tokio::select! {
            // The connection first: bytes that arrived with the stop are read and answered.
            biased;
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended with an error: {e}");
                }
                return;
            }
            _ = tokio::time::sleep(next_look), if !shutting_down => {}
            _ = closing.cancelled(), if !shutting_down && !closing.is_cancelled() => {}
        }
    }
}

/// A connection that can be asked to finish what it is doing and close.
pub trait GracefulShutdown {
    /// Stops taking new requests; the connection ends once those in flight are answered.
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulShutdown
    for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, TokioExecutor>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// When a connection last read or wrote something.
#[derive(Clone, Debug, Default)]
struct Activity(Arc<AtomicU64>);

/// Milliseconds since the first connection, the clock [`Activity`] counts in.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    fn touch(&self) {
        self.0.store(clock(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        Duration::from_millis(clock().saturating_sub(self.0.load(Ordering::Relaxed)))
    }
}

/// A TCP stream that notes when it was last used.
struct Watched {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
