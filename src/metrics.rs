//! Counters, gauges and histograms for `GET /metrics`, in the Prometheus text format.
//!
//! Plain atomics rather than a metrics crate: the set is small and fixed. Labelled figures
//! (per GraphQL operation, per hook) live in a [`Family`], whose label sets are bounded by
//! the schema and by hooks.yaml, never by what a client sends.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
    /// GraphQL requests over HTTP, by `operation="…",outcome="…"`.
    pub requests: Family<AtomicU64>,
    /// GraphQL request latency, by `operation="…"`.
    pub request_seconds: Family<Histogram>,
    /// Hook runs, by `hook="…",outcome="…"`.
    pub hook_runs: Family<AtomicU64>,
    /// Hook run latency, by `hook="…"`.
    pub hook_seconds: Family<Histogram>,
    /// Hook runs not recorded in `hook_runs` because the recorder was behind.
    pub hook_runs_unrecorded_total: AtomicU64,
    /// Claim queries the delivery worker ran (a worker that spins shows here).
    pub delivery_claims_total: AtomicU64,
}

/// Figures read from the database when `/metrics` is scraped.
#[derive(Debug, Default)]
pub struct DatabaseFigures {
    /// Connections open in the pool.
    pub pool_size: u64,
    /// Of those, idle ones.
    pub pool_idle: u64,
    /// The pool's maximum.
    pub pool_max: u64,
    /// Durable deliveries by status.
    pub deliveries: Vec<(String, u64)>,
    /// Age of the oldest pending delivery, in seconds.
    pub oldest_pending_seconds: Option<f64>,
    /// Whether the database answered this scrape's queries in time (1) or not (0: the
    /// delivery figures are then missing).
    pub up: u64,
}

/// Upper bounds of the latency buckets, in microseconds (250 µs to 10 s).
const BUCKETS_MICROS: [u64; 14] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative; the last one is `+Inf`).
    buckets: [AtomicU64; BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BUCKETS_MICROS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = BUCKETS_MICROS
                .get(i)
                .map_or("+Inf".to_string(), |b| (*b as f64 / 1e6).to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// One figure per label set, created on first use.
#[derive(Debug, Default)]
pub struct Family<V> {
    members: RwLock<HashMap<String, Arc<V>>>,
}

impl<V: Default> Family<V> {
    /// The member for `labels` (`name="value",…`; see [`labels`]).
    pub fn get(&self, labels: &str) -> Arc<V> {
        if let Some(member) = self
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(labels)
        {
            return member.clone();
        }
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(labels.to_string())
            .or_default()
            .clone()
    }

    /// Every member, sorted by labels.
    fn sorted(&self) -> Vec<(String, Arc<V>)> {
        let mut all: Vec<_> = self
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// A label set in the exposition format, values escaped.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"");
        if value.contains(['\\', '"', '\n']) {
            out.push_str(
                &value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n"),
            );
        } else {
            // The usual case (operation and hook names): no copies on the request path.
            out.push_str(value);
        }
        out.push('"');
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counters(out: &mut String, name: &str, help: &str, family: &Family<AtomicU64>) {
    header(out, name, "counter", help);
    for (labels, value) in family.sorted() {
        let _ = writeln!(out, "{name}{{{labels}}} {}", value.load(Ordering::Relaxed));
    }
}

fn histograms(out: &mut String, name: &str, help: &str, family: &Family<Histogram>) {
    header(out, name, "histogram", help);
    for (labels, histogram) in family.sorted() {
        histogram.render(out, name, &labels);
    }
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

    /// Takes one from a gauge that [`Metrics::count`] raised, when what it counts ends
    /// without a scope to hold an [`Open`] (it lives in a struct that owns no `Metrics`).
    pub fn uncount(gauge: &AtomicU64) {
        gauge.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one GraphQL request over HTTP and its latency.
    pub fn request(&self, operation: &str, outcome: &str, elapsed: Duration) {
        Self::count(
            &self
                .requests
                .get(&labels(&[("operation", operation), ("outcome", outcome)])),
        );
        self.request_seconds
            .get(&labels(&[("operation", operation)]))
            .observe(elapsed);
    }

    /// Counts one hook run and its latency.
    pub fn hook_run(&self, hook: &str, outcome: &str, elapsed: Duration) {
        Self::count(
            &self
                .hook_runs
                .get(&labels(&[("hook", hook), ("outcome", outcome)])),
        );
        self.hook_seconds
            .get(&labels(&[("hook", hook)]))
            .observe(elapsed);
    }

    /// The text exposition of every figure, with `database`'s read at scrape time.
    pub fn render(&self, database: &DatabaseFigures) -> String {
        let mut out = String::new();
        counters(
            &mut out,
            "hookql_graphql_requests_total",
            "GraphQL requests over HTTP by operation (the first root field, or (invalid) for a request that did not parse or validate) and outcome (ok, or the first error's code).",
            &self.requests,
        );
        histograms(
            &mut out,
            "hookql_graphql_request_duration_seconds",
            "Time to answer a GraphQL request over HTTP, by operation.",
            &self.request_seconds,
        );
        counters(
            &mut out,
            "hookql_hook_runs_total",
            "Hook runs by hook and outcome (continue, changed, blocked, failed, timed_out).",
            &self.hook_runs,
        );
        histograms(
            &mut out,
            "hookql_hook_duration_seconds",
            "Time a hook run took, by hook.",
            &self.hook_seconds,
        );
        header(
            &mut out,
            "hookql_hook_deliveries",
            "gauge",
            "Durable webhook deliveries kept, by status.",
        );
        for (status, count) in &database.deliveries {
            let _ = writeln!(
                out,
                "hookql_hook_deliveries{{{}}} {count}",
                labels(&[("status", status)])
            );
        }
        // Left out, like the counts, when the database did not answer: a 0 would read as
        // "nothing pending" and clear an alert during an outage.
        if database.up == 1 {
            header(
                &mut out,
                "hookql_hook_delivery_oldest_pending_seconds",
                "gauge",
                "Age of the oldest pending durable delivery (0 when none is pending).",
            );
            let _ = writeln!(
                out,
                "hookql_hook_delivery_oldest_pending_seconds {}",
                database.oldest_pending_seconds.unwrap_or(0.0)
            );
        }
        for (name, help, value) in [
            (
                "hookql_database_up",
                "1 when the database answered this scrape in time, 0 when it did not.",
                database.up,
            ),
            (
                "hookql_db_pool_connections",
                "Database connections open in the pool.",
                database.pool_size,
            ),
            (
                "hookql_db_pool_idle_connections",
                "Open database connections not in use.",
                database.pool_idle,
            ),
            (
                "hookql_db_pool_max_connections",
                "The pool's most connections (HOOKQL_DB_MAX_CONNECTIONS).",
                database.pool_max,
            ),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
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
        metric(
            "hookql_hook_runs_unrecorded_total",
            "counter",
            "Hook runs counted here but not recorded for hookRuns (the recorder was behind).",
            &self.hook_runs_unrecorded_total,
        );
        metric(
            "hookql_delivery_claims_total",
            "counter",
            "Claim queries the delivery worker ran; it claims when told of work, when a retry falls due and once per poll interval.",
            &self.delivery_claims_total,
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
            assert!(render(&metrics).contains("\nhookql_subscriptions 2\n"));
        }
        assert!(render(&metrics).contains("\nhookql_subscriptions 0\n"));
    }

    fn render(metrics: &Metrics) -> String {
        metrics.render(&DatabaseFigures::default())
    }

    #[test]
    fn histograms_are_cumulative_and_labelled() {
        let metrics = Metrics::default();
        metrics.request("document", "ok", Duration::from_micros(300));
        metrics.request("document", "ok", Duration::from_millis(3));
        metrics.request("document", "NOT_FOUND", Duration::from_secs(20));
        let text = render(&metrics);
        for line in [
            "hookql_graphql_requests_total{operation=\"document\",outcome=\"ok\"} 2",
            "hookql_graphql_requests_total{operation=\"document\",outcome=\"NOT_FOUND\"} 1",
            "hookql_graphql_request_duration_seconds_bucket{operation=\"document\",le=\"0.00025\"} 0",
            "hookql_graphql_request_duration_seconds_bucket{operation=\"document\",le=\"0.0005\"} 1",
            "hookql_graphql_request_duration_seconds_bucket{operation=\"document\",le=\"0.005\"} 2",
            "hookql_graphql_request_duration_seconds_bucket{operation=\"document\",le=\"+Inf\"} 3",
            "hookql_graphql_request_duration_seconds_count{operation=\"document\"} 3",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y\\z\n")]), "a=\"x\\\"y\\\\z\\n\"");
    }
}
