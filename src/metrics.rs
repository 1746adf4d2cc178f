//! Counters and gauges for `GET /metrics`, in the Prometheus text format.
//!
//! Plain atomics rather than a metrics crate: the set is small and fixed, and reading it costs
//! no allocation on the hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every figure `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub ws_connections: AtomicU64,
    /// WebSocket connections accepted since start.
    pub ws_connections_total: AtomicU64,
    /// WebSocket connections refused at the connection cap.
    pub ws_refused_total: AtomicU64,
    /// Active subscriptions (over all connections).
    pub subscriptions: AtomicU64,
    /// `next` messages sent to subscribers.
    pub subscription_events_total: AtomicU64,
    /// Connections closed because a subscriber could not be told every change.
    pub ws_slow_disconnects_total: AtomicU64,
}

/// Counts one open thing (a connection, a subscription) for as long as it lives.
#[derive(Debug)]
pub struct Open<'a>(&'a AtomicU64);

impl<'a> Open<'a> {
    /// Counts one more in `gauge` until dropped.
    pub fn new(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition of every figure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        };
        metric(
            "hookql_websocket_connections",
            "gauge",
            "Open GraphQL WebSocket connections.",
            &self.ws_connections,
        );
        metric(
            "hookql_websocket_connections_total",
            "counter",
            "GraphQL WebSocket connections accepted.",
            &self.ws_connections_total,
        );
        metric(
            "hookql_websocket_refused_total",
            "counter",
            "WebSocket connections refused at HOOKQL_WS_MAX_CONNECTIONS.",
            &self.ws_refused_total,
        );
        metric(
            "hookql_websocket_slow_disconnects_total",
            "counter",
            "Connections closed because a subscriber could not be told every change (too slow, or the change feed was interrupted).",
            &self.ws_slow_disconnects_total,
        );
        metric(
            "hookql_subscriptions",
            "gauge",
            "Active GraphQL subscriptions.",
            &self.subscriptions,
        );
        metric(
            "hookql_subscription_events_total",
            "counter",
            "Subscription events (next messages) sent.",
            &self.subscription_events_total,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_follow_what_is_open() {
        let metrics = Metrics::default();
        {
            let _a = Open::new(&metrics.subscriptions);
            let _b = Open::new(&metrics.subscriptions);
            assert!(metrics.render().contains("\nhookql_subscriptions 2\n"));
        }
        assert!(metrics.render().contains("\nhookql_subscriptions 0\n"));
    }
}
