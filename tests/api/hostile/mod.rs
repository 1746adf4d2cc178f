//! A hostile client against a real server, one module per class of attack (issue 15). Each
//! test checks two things: the attack gets a clear error or a bounded cost, and a
//! [`Bystander`] — another client reading `/healthz` and a document all along — keeps being
//! answered within [`BYSTANDER_BOUND`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestApp;

mod connections;
mod json;
mod logins;
mod patterns;
mod realtime;
mod responses;
mod sample;
mod smaller;
mod views;

/// Where attacks come from: another loopback address than the bystander's (127.0.0.1), so
/// that per-client caps tell the two apart.
pub fn attacker() -> std::net::IpAddr {
    std::net::Ipv4Addr::new(127, 0, 0, 2).into()
}

/// The server's address as a socket address.
pub fn server(app: &TestApp) -> std::net::SocketAddr {
    app.address
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

/// A publicly readable document in `posts` (the app must allow anonymous writes there), for
/// the bystander to read.
pub async fn public_document(app: &TestApp) -> String {
    let created = app
        .create_as(None, "posts", json!({"title": "hello"}))
        .await;
    created["id"].as_str().expect("id").to_string()
}

/// How slow a bystander's answer may be while an attack runs. Generous (debug builds on two
/// shared cores), yet far below what the attacks cost before they were bounded (4.5 s to
/// minutes, or a crash).
pub const BYSTANDER_BOUND: Duration = Duration::from_secs(3);

/// Another client that keeps asking for `/healthz` and one document while an attack runs.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Duration, usize, Vec<String>)>,
}

impl Bystander {
    /// Starts reading from `app` as an anonymous client: `/healthz`, and (when given) the
    /// document `id` of `collection`, which must be publicly readable.
    pub fn start(app: &TestApp, read: Option<(&str, &str)>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let address = app.address.clone();
        let read = read.map(|(c, id)| (c.to_string(), id.to_string()));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let (mut slowest, mut rounds, mut failures) = (Duration::ZERO, 0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                match client.get(format!("{address}/healthz")).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => failures.push(format!("/healthz answered {}", r.status())),
                    Err(e) => failures.push(format!("/healthz: {e}")),
                }
                if let Some((collection, id)) = &read {
                    let body = json!({
                        "query": "query($c: String!, $id: ID!) { document(collection: $c, id: $id) { id } }",
                        "variables": {"c": collection, "id": id},
                    });
                    match client
                        .post(format!("{address}/graphql"))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) => match r.json::<serde_json::Value>().await {
                            Ok(v) if v["data"]["document"]["id"] == json!(id) => {}
                            Ok(v) => failures.push(format!("the read answered {v}")),
                            Err(e) => failures.push(format!("the read: {e}")),
                        },
                        Err(e) => failures.push(format!("the read: {e}")),
                    }
                }
                slowest = slowest.max(started.elapsed());
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (slowest, rounds, failures)
        });
        Self { stop, task }
    }

    /// Stops reading and asserts that every answer came, correct, within [`BYSTANDER_BOUND`].
    pub async fn assert_served(self) {
        self.stop.store(true, Ordering::Relaxed);
        let (slowest, rounds, failures) = self.task.await.expect("bystander task");
        assert!(
            failures.is_empty(),
            "the bystander was failed: {failures:?}"
        );
        assert!(rounds > 0, "the bystander was never answered");
        assert!(
            slowest <= BYSTANDER_BOUND,
            "the bystander waited {slowest:?} (bound {BYSTANDER_BOUND:?}) over {rounds} rounds"
        );
    }
}

/// Waits (bounded) until `app` reports `n` open subscriptions: from then on every commit
/// reaches them (on PostgreSQL, interest is registered before the count grows).
pub async fn subscriptions_open(app: &TestApp, n: usize) {
    crate::helpers::subscriptions_open_at(&app.address, n).await;
}
