//! PostgreSQL unreachable: `/healthz` hung for the whole outage, then answered 200; requests
//! hung as long as the partition lasted; a create whose commit got no answer said INTERNAL
//! although it had been saved.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::behind::{behind_proxy, behind_proxy_with, create};
use crate::helpers::settle_within;

#[tokio::test]
async fn health_says_unavailable_within_its_bound_during_a_partition_and_recovers() {
    let Some((app, proxy)) = behind_proxy(30_000).await else {
        return;
    };
    assert_eq!(app.health().await, 200);

    proxy.stall();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let asked = Instant::now();
    let answer = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("/healthz answers during the partition");
    assert_eq!(answer.status(), 503);
    let waited = asked.elapsed();
    let body: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    let live = client
        .get(format!("{}/livez", app.address))
        .send()
        .await
        .expect("/livez answers");
    assert_eq!(live.status(), 200);
    let metrics = client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("/metrics answers during the partition")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("\nhookql_database_up 0\n"), "{metrics}");

    proxy.flow();
    let status = settle_within(
        Duration::from_secs(20),
        async || app.health().await,
        |s| *s == 200,
    )
    .await;
    assert_eq!(status, 200, "ready again once the database answers");
    assert!(app.metrics().await.contains("\nhookql_database_up 1\n"));
}

#[tokio::test]
async fn requests_fail_with_a_retryable_error_within_the_bound_during_a_partition() {
    let Some((app, proxy)) = behind_proxy(1_500).await else {
        return;
    };
    let (before, _) = create(&app, 1).await;
    let saved = before["data"]["createDocument"]["id"].clone();
    assert!(saved.is_string(), "{before}");

    proxy.stall();
    let (answer, took) = create(&app, 2).await;
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{answer}");
    assert_eq!(error["extensions"]["retryAfter"], 2, "{answer}");
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    let started = Instant::now();
    let read = app
        .gql(
            "{ documents(collection: \"posts\") { items { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        read["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{read}"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the read answered after {took:?}"
    );

    proxy.flow();
    let (after, _) = settle_within(
        Duration::from_secs(20),
        async || create(&app, 3).await,
        |(a, _)| a["data"]["createDocument"]["id"].is_string(),
    )
    .await;
    assert!(after["data"]["createDocument"]["id"].is_string(), "{after}");
    let read = app
        .data(
            "{ documents(collection: \"posts\") { items { id data } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&Value> = read["documents"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert!(
        ids.contains(&&saved),
        "the write acknowledged before the partition is there"
    );
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_says_the_outcome_is_unknown() {
    let Some((app, proxy)) = behind_proxy(1_500).await else {
        return;
    };
    create(&app, 0).await;
    // A create without hooks is one INSERT that commits by itself; its statement is
    // prepared already, so the trap waits for the values it is sent with.
    proxy.stall_after(b"lost-answer");
    let started = Instant::now();
    let answer = app
        .gql(
            "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }",
            json!({"d": {"n": 7, "note": "lost-answer"}}),
        )
        .await;
    let took = started.elapsed();
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{answer}");
    assert_eq!(error["extensions"]["outcome"], "unknown", "{answer}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("may or may not"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(6), "answered after {took:?}");

    proxy.flow();
    // The database did commit it: the client that reads back finds it, as told to.
    let found = settle_within(
        Duration::from_secs(20),
        async || {
            app.gql(
                "{ documents(collection: \"posts\") { items { data } } }",
                json!({}),
            )
            .await
        },
        |r| r["data"]["documents"]["items"].is_array(),
    )
    .await;
    let items = found["data"]["documents"]["items"]
        .as_array()
        .expect("items");
    assert!(items.iter().any(|d| d["data"]["n"] == 7), "{found}");
}

#[tokio::test]
async fn shutdown_keeps_its_bound_while_the_database_does_not_answer() {
    let Some((mut app, proxy)) = behind_proxy_with(|s| s.shutdown_grace_secs = 2).await else {
        return;
    };
    create(&app, 1).await;
    proxy.stall();
    // A write in flight, stuck on the database (its own bound is 30 s).
    let stuck = {
        let (client, address) = (reqwest::Client::new(), app.address.clone());
        tokio::spawn(async move {
            let _ = client
                .post(format!("{address}/graphql"))
                .json(&json!({"query": "mutation { createDocument(collection: \"posts\", data: {n: 2}) { id } }"}))
                .send()
                .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = app.shut_down().await;
    // The grace (2 s) and the margin (5 s) for what follows the requests.
    assert!(took < Duration::from_secs(8), "the shutdown took {took:?}");
    stuck.abort();
    proxy.flow();
}

#[tokio::test]
async fn a_write_cut_off_after_it_was_sent_says_the_outcome_is_unknown() {
    // No timeout helps here: the connection breaks, it does not go quiet.
    let Some((app, proxy)) = behind_proxy(30_000).await else {
        return;
    };
    create(&app, 0).await;
    proxy.stall_after(b"cut-me");
    let app = std::sync::Arc::new(app);
    let writer = app.clone();
    let pending = tokio::spawn(async move {
        writer
            .gql(
                "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }",
                json!({"d": {"n": 8, "note": "cut-me"}}),
            )
            .await
    });
    while !proxy.is_stalled() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    proxy.flow();
    let answer = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("answered at once, not after a timeout")
        .expect("the request");
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{answer}");
    assert_eq!(error["extensions"]["outcome"], "unknown", "{answer}");
    let read = app
        .data(
            "{ documents(collection: \"posts\") { items { data } } }",
            json!({}),
        )
        .await;
    let items = read["documents"]["items"].as_array().expect("items");
    assert!(items.iter().any(|d| d["data"]["n"] == 8), "{read}");
}
