//! Attacks on realtime: one client opening subscriptions by the thousand, many subscribers
//! making a slow `post_read` hook run once each for every change, and costly `_like`
//! filters tested against every large change.

use std::time::Duration;

use serde_json::json;

use super::{attacker, public_document, Bystander};
use crate::helpers::{settle, spawn_app_with, TestApp, PUBLIC_RULES};
use crate::ws::{Next, Ws};

/// Open subscriptions, as the server counts them.
fn running(app: &TestApp) -> u64 {
    app.state
        .metrics()
        .subscriptions
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The codes of the `error` messages `ws` gets within a short while (refusals come at once).
async fn refusals(ws: &mut Ws) -> Vec<String> {
    let mut codes = Vec::new();
    while let Next::Message(message) = ws.next_within(Duration::from_millis(500)).await {
        assert_eq!(message["type"], "error", "{message}");
        codes.push(message["payload"][0]["extensions"]["code"].to_string());
    }
    codes
}

#[tokio::test]
async fn subscription_flood_is_capped_per_client() {
    let app = spawn_app_with(PUBLIC_RULES, |s| {
        s.ws_max_operations = 4;
        s.ws_max_operations_per_ip = 6;
    })
    .await;
    let id = public_document(&app).await;
    let bystander = Bystander::start(&app, Some(("posts", &id)));

    // Three connections asking for five subscriptions each: four fit a connection, and six
    // fit the client.
    let mut sockets = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..3 {
        let mut ws = Ws::connect_from(&app.address, None, attacker()).await;
        for n in 0..5 {
            ws.subscribe(&n.to_string(), "posts", None).await;
        }
        refused.extend(refusals(&mut ws).await);
        sockets.push(ws);
    }
    let per_connection = refused
        .iter()
        .filter(|c| *c == "\"BAD_USER_INPUT\"")
        .count();
    let per_client = refused.iter().filter(|c| *c == "\"RATE_LIMITED\"").count();
    assert_eq!((per_connection, per_client), (1, 8), "{refused:?}");
    assert_eq!(running(&app), 6);

    // Another client subscribes and is told of changes; so is the attacker, within its share.
    let mut other = Ws::connect(&app.address, None).await;
    other.subscribe("1", "posts", None).await;
    settle(async || running(&app), |n| *n == 7).await;
    app.create_as(None, "posts", json!({"n": 1})).await;
    assert_eq!(other.event("1").await["type"], "CREATED");
    assert_eq!(sockets[0].event("0").await["type"], "CREATED");

    // Closing a connection gives its subscriptions (the second one holds two) back.
    sockets.remove(1).close().await;
    let left = settle(async || running(&app), |n| *n == 5).await;
    assert_eq!(left, 5, "the closed connection's operations ended");
    let mut again = Ws::connect_from(&app.address, None, attacker()).await;
    again.subscribe("1", "posts", None).await;
    assert!(
        refusals(&mut again).await.is_empty(),
        "the freed share is usable again"
    );
    assert_eq!(settle(async || running(&app), |n| *n == 6).await, 6);
    bystander.assert_served().await;
}

#[tokio::test]
async fn slow_post_read_fan_out_does_not_stall_health() {
    // A `post_read` hook that looks something up and computes for up to half a second on
    // every run: once per subscriber per change.
    let hooks = r#"version: 1
defaults:
  rules: { read: public, create: public, update: public, delete: public }
hooks:
  - name: heavy
    on: post_read
    collections: [feed]
    timeout_ms: 500
    script: |
      let x = 0;
      loop { x += 1; }
"#;
    let app = spawn_app_with(hooks, |_| {}).await;
    let id = public_document(&app).await;

    // 1,000 anonymous subscribers (ten connections of 100), then a few changes.
    let mut sockets = Vec::new();
    for _ in 0..10 {
        let mut ws = Ws::connect_from(&app.address, None, attacker()).await;
        for n in 0..100 {
            ws.subscribe(&n.to_string(), "feed", None).await;
        }
        sockets.push(ws);
    }
    let subscribed = settle(async || running(&app), |n| *n == 1_000).await;
    assert_eq!(subscribed, 1_000);
    let bystander = Bystander::start(&app, Some(("posts", &id)));
    for n in 0..3 {
        app.create_as(None, "feed", json!({"n": n})).await;
    }
    // The fan-out takes minutes of CPU; the bystander is watched through several seconds of it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    bystander.assert_served().await;
    drop(sockets);
}

#[tokio::test]
async fn costly_like_subscriptions_on_megabyte_writes_do_not_stall_health() {
    // Each test of a 255-byte pattern against a megabyte scans it once per 64-byte word
    // (about 0.2 s in a debug build): forty subscribers make seconds of work per write.
    let pattern = format!("%{}b", "a".repeat(253));
    let costly = json!({"body": {"_like": pattern}});
    costly_filters_fan_out(costly, json!({"body": "a".repeat(1_000_000)}), 40).await;
}

#[tokio::test]
async fn costly_contains_subscriptions_on_long_arrays_do_not_stall_health() {
    // Each of 250 items is looked for through 450,000 elements, and found at the end (seconds
    // per test in a debug build); the marker's absence keeps the document from matching.
    let costly = json!({"list": {"_contains": vec![1; 250]}, "marker": {"_eq": "never"}});
    let mut list = vec![0; 450_000];
    list.push(1);
    costly_filters_fan_out(costly, json!({"list": list}), 4).await;
}

/// `subscribers` anonymous subscriptions whose filter `costly` does seconds of work in all on
/// the document `large`, which they do not match; a bystander is served throughout.
async fn costly_filters_fan_out(
    costly: serde_json::Value,
    large: serde_json::Value,
    subscribers: u64,
) {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let id = public_document(&app).await;
    // The marker clause tells the test when every subscriber has tested the large change.
    let filter = json!({"_or": [costly, {"marker": {"_eq": true}}]});
    let mut attacker_ws = Ws::connect_from(&app.address, None, attacker()).await;
    for n in 0..subscribers {
        attacker_ws
            .subscribe(&n.to_string(), "posts", Some(filter.clone()))
            .await;
    }
    let open = settle(async || running(&app), |n| *n == subscribers).await;
    assert_eq!(open, subscribers);
    let bystander = Bystander::start(&app, Some(("posts", &id)));
    app.create_as(None, "posts", large).await;
    app.create_as(None, "posts", json!({"marker": true})).await;
    for told in 0..subscribers {
        match attacker_ws.next_within(Duration::from_secs(120)).await {
            Next::Message(m) => {
                let data = &m["payload"]["data"]["documentChanged"]["document"]["data"];
                assert_eq!(data, &json!({"marker": true}), "{m}");
            }
            other => panic!("after {told} markers: {other:?}"),
        }
    }
    bystander.assert_served().await;
}
