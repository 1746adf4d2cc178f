//! Receivers that are slow, flap, or hold up one document's deliveries: each delivery of an
//! acknowledged write arrives, without duplicates caused by load, without the worker spinning,
//! and soon after a receiver that was down answers again.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{settle_within, spawn_app_sharing, spawn_app_with, TestApp, PUBLIC_RULES};
use crate::receiver::{Receiver, Reply};

/// `PUBLIC_RULES` with one durable hook `audit` on `post_save`, to `url`, plus `extra` keys.
fn audit(url: &str, extra: &str) -> String {
    format!(
        "{PUBLIC_RULES}hooks:\n  - name: audit\n    on: [post_save]\n    url: \"{url}\"\n{extra}"
    )
}

/// Creates `count` documents in `posts`, sixteen at a time; their ids.
async fn create_many(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for start in (0..count).step_by(16) {
        let batch = (start..count.min(start + 16)).map(|n| app.create("posts", json!({"n": n})));
        for created in futures_util::future::join_all(batch).await {
            ids.push(created["id"].as_str().expect("an id").to_string());
        }
    }
    ids
}

/// How many times each event id arrived.
fn arrivals(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for request in receiver.received("/audit") {
        *seen
            .entry(request.header("webhook-id").to_string())
            .or_default() += 1;
    }
    seen
}

/// A counter from `/metrics`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

#[tokio::test]
async fn a_slow_receiver_gets_each_delivery_once_even_when_they_wait_longer_than_a_lease() {
    // The receiver: 1.5 s a call, 2 s timeout. At 64 calls at a time, 600 deliveries
    // wait up to ~14 s in memory, twice their lease (2 s + 5 s). A second instance claims
    // whatever a lease leaves.
    let receiver = Receiver::start().await;
    receiver.usually(
        "/audit",
        Reply::status(200).after(Duration::from_millis(1500)),
    );
    let yaml = audit(&receiver.url("/audit"), "    timeout_ms: 2000\n");
    let app = spawn_app_with(&yaml, |_| {}).await;
    let _other = spawn_app_sharing(&app, &yaml, |_| {}).await;
    let count = 600;
    create_many(&app, count).await;

    let seen = settle_within(
        Duration::from_secs(60),
        async || arrivals(&receiver),
        |seen| seen.len() >= count,
    )
    .await;
    assert_eq!(seen.len(), count, "every delivery arrives");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = arrivals(&receiver);
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "{} of {count} deliveries were sent more than once with no fault at all",
        repeated.len()
    );
}

#[tokio::test]
async fn deliveries_waiting_behind_a_slow_one_of_their_document_do_not_make_the_worker_spin() {
    let receiver = Receiver::start().await;
    receiver.plan(
        "/audit",
        vec![Reply::status(200).after(Duration::from_secs(3))],
    );
    let yaml = audit(
        &receiver.url("/audit"),
        "    timeout_ms: 5000\n    ordering: per_document\n",
    );
    // A long poll: the waiting deliveries must go because the one ahead ended, not because
    // the worker happened to look.
    let app = spawn_app_with(&yaml, |s| s.delivery_poll_ms = 5_000).await;
    let started = std::time::Instant::now();
    let created = app.create("posts", json!({"n": 0})).await;
    let id = created["id"].as_str().expect("an id").to_string();
    for n in 1..=10 {
        app.data(
            "mutation($id: ID!, $d: JSON!) { updateDocument(collection: \"posts\", id: $id, data: $d) { version } }",
            json!({"id": id, "d": {"n": n}}),
        )
        .await;
    }
    let before = counter(&app, "hookql_delivery_claims_total").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let claims = counter(&app, "hookql_delivery_claims_total").await - before;
    assert!(
        claims <= 5,
        "{claims} claims in 2 s while ten deliveries wait"
    );

    let got = settle_within(
        Duration::from_secs(30),
        async || receiver.received("/audit"),
        |r| r.len() >= 11,
    )
    .await;
    let took = started.elapsed();
    let order: Vec<Value> = got
        .iter()
        .map(|r| r.json()["document"]["n"].clone())
        .collect();
    assert_eq!(order, (0..=10).map(Value::from).collect::<Vec<_>>());
    // 3 s for the first; the ten behind it follow one another at once.
    assert!(took < Duration::from_secs(7), "the eleven took {took:?}");
}

#[tokio::test]
async fn a_receiver_back_from_a_long_outage_gets_its_backlog_within_seconds() {
    let receiver = Receiver::start().await;
    receiver.usually("/audit", Reply::status(503));
    // The default retry policy (8 attempts, backoff from 0.5 s): the probe must keep its pace
    // and never die while the URL is paused.
    let yaml = audit(&receiver.url("/audit"), "    timeout_ms: 1000\n");
    let app = spawn_app_with(&yaml, |_| {}).await;
    let ids = create_many(&app, 20).await;

    // Down for 16 s: long enough for the pause to grow past 10 s (5, then 10, then 20 s).
    tokio::time::sleep(Duration::from_secs(16)).await;
    let failures_while_down = receiver.received("/audit").len();
    receiver.usually("/audit", Reply::status(200));
    let back = std::time::Instant::now();
    let seen = settle_within(
        Duration::from_secs(30),
        async || {
            receiver
                .received("/audit")
                .iter()
                .skip(failures_while_down)
                .filter(|r| r.json()["attempt"].is_number())
                .count()
        },
        |n| *n >= ids.len(),
    )
    .await;
    let took = back.elapsed();
    assert!(seen >= ids.len());
    // Probes go every 3 s at most, and the backlog goes as soon as one succeeds.
    assert!(
        took < Duration::from_secs(8),
        "the backlog took {took:?} to arrive after the receiver came back"
    );
    assert!(
        failures_while_down < 60,
        "{failures_while_down} calls to a receiver that was down for 16 s: it was hammered"
    );
}

#[tokio::test]
async fn a_flapping_receiver_gets_deliveries_in_every_window_it_is_up() {
    let receiver = Receiver::start().await;
    receiver.usually("/audit", Reply::status(503));
    let yaml = audit(&receiver.url("/audit"), "    timeout_ms: 1000\n");
    let app = spawn_app_with(&yaml, |_| {}).await;
    for round in 0..2 {
        let ids = create_many(&app, 10).await;
        // Down long enough for the circuit to open and its pause to grow.
        tokio::time::sleep(Duration::from_secs(7)).await;
        let from = receiver.received("/audit").len();
        receiver.usually("/audit", Reply::status(200));
        let up = std::time::Instant::now();
        let seen = settle_within(
            Duration::from_secs(5),
            async || {
                let answered: std::collections::HashSet<String> = receiver
                    .received("/audit")
                    .iter()
                    .skip(from)
                    .map(|r| r.json()["document_id"].as_str().unwrap_or("").to_string())
                    .collect();
                ids.iter().filter(|id| answered.contains(*id)).count()
            },
            |n| *n == ids.len(),
        )
        .await;
        assert_eq!(
            seen,
            ids.len(),
            "round {round}: {seen} of {} documents reached the receiver in the {:?} it was up",
            ids.len(),
            up.elapsed()
        );
        receiver.usually("/audit", Reply::status(503));
    }
}
