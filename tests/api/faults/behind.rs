//! A server whose database connections pass through the fault proxy, and the write load the
//! fault tests put on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookql::settings::Settings;
use serde_json::{json, Value};

use super::proxy::Proxy;
use crate::helpers::{fresh_database, settle_within, spawn_app_in, TestApp, PUBLIC_RULES};

/// A server whose database connections go through a proxy the test controls, with
/// statements bounded by `db_timeout_ms`; `None` (and a SKIPPED line) without PostgreSQL.
pub async fn behind_proxy(db_timeout_ms: u64) -> Option<(TestApp, Proxy)> {
    behind_proxy_with(|s| s.db_timeout_ms = db_timeout_ms).await
}

/// [`behind_proxy`] with settings of the test's choosing.
pub async fn behind_proxy_with(adjust: impl FnOnce(&mut Settings)) -> Option<(TestApp, Proxy)> {
    behind_proxy_hooked(PUBLIC_RULES, adjust).await
}

/// [`behind_proxy_with`] serving `hooks_yaml`.
pub async fn behind_proxy_hooked(
    hooks_yaml: &str,
    adjust: impl FnOnce(&mut Settings),
) -> Option<(TestApp, Proxy)> {
    let url = std::env::var("HOOKQL_TEST_DATABASE_URL").unwrap_or_default();
    if url.is_empty() {
        eprintln!("SKIPPED: needs PostgreSQL (HOOKQL_TEST_DATABASE_URL)");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let direct = fresh_database(dir.path()).await;
    let parsed = url::Url::parse(&direct).expect("a database URL");
    let upstream = format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream.parse().expect("an address")).await;
    let mut through = parsed.clone();
    through.set_port(Some(proxy.address.port())).expect("port");
    // In clear, so that the proxy can see which statement passes.
    through.query_pairs_mut().append_pair("sslmode", "disable");
    let app = spawn_app_in(dir, through.to_string(), hooks_yaml, adjust).await;
    Some((app, proxy))
}

/// A create of `{"n": n}` in `posts`, its whole answer, and how long it took.
pub async fn create(app: &TestApp, n: i64) -> (Value, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        app.gql(
            "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }",
            json!({"d": {"n": n}}),
        ),
    )
    .await
    .expect("the create answers within 30 s");
    (answer, started.elapsed())
}

/// Four clients creating documents until `stop`: the ids acknowledged, and the errors the
/// others got.
pub struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<(Vec<String>, Vec<Value>)>>,
}

impl Load {
    /// Starts the four writers.
    pub fn start(app: &Arc<TestApp>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..4)
            .map(|w| {
                let (app, stop) = (app.clone(), stop.clone());
                tokio::spawn(async move {
                    let (mut acked, mut errors) = (Vec::new(), Vec::new());
                    let mut n = w * 1_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let (answer, _) = create(&app, n).await;
                        match answer["data"]["createDocument"]["id"].as_str() {
                            Some(id) => acked.push(id.to_string()),
                            None => errors.push(answer["errors"][0].clone()),
                        }
                    }
                    (acked, errors)
                })
            })
            .collect();
        Self { stop, writers }
    }

    /// Stops the writers: every id acknowledged, and every error.
    pub async fn stop(self) -> (Vec<String>, Vec<Value>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut acked, mut errors) = (Vec::new(), Vec::new());
        for writer in self.writers {
            let (a, e) = writer.await.expect("writer");
            acked.extend(a);
            errors.extend(e);
        }
        (acked, errors)
    }
}

/// Every document id in `posts`, read page by page once the server answers again.
pub async fn stored_posts(app: &TestApp) -> HashSet<String> {
    let mut stored = HashSet::new();
    loop {
        let page = settle_within(
            Duration::from_secs(10),
            async || {
                app.gql(
                    "query($o: Int!) { documents(collection: \"posts\", limit: 100, offset: $o) { items { id } } }",
                    json!({"o": stored.len()}),
                )
                .await
            },
            |p| p["data"]["documents"]["items"].is_array(),
        )
        .await;
        let items = page["data"]["documents"]["items"]
            .as_array()
            .expect("items")
            .clone();
        if items.is_empty() {
            return stored;
        }
        stored.extend(
            items
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_string()),
        );
    }
}

/// Asserts that every error told the client to retry.
pub fn all_say_retry(errors: &[Value]) {
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "UNAVAILABLE"),
        "clients were told something other than to retry: {errors:?}"
    );
}

/// How long a test waits for a server to recover after a fault ends.
pub const RECOVERY: Duration = Duration::from_secs(10);

/// Waits until a create succeeds again; how long that took.
pub async fn recovered(app: &TestApp) -> Duration {
    let started = Instant::now();
    let (after, _) = settle_within(
        RECOVERY,
        async || create(app, -1).await,
        |(a, _)| a["data"]["createDocument"]["id"].is_string(),
    )
    .await;
    assert!(
        after["data"]["createDocument"]["id"].is_string(),
        "not recovered within {RECOVERY:?}: {after}"
    );
    started.elapsed()
}
