//! PostgreSQL unreachable: `/healthz` hung for the whole outage, then answered 200; requests
//! hung as long as the partition lasted; a create whose commit got no answer said INTERNAL
//! although it had been saved.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hookql::settings::Settings;

use super::proxy::Proxy;
use crate::helpers::{fresh_database, settle_within, spawn_app_in, TestApp, PUBLIC_RULES};

/// A server whose database connections go through a proxy the test controls, with
/// statements bounded by `db_timeout_ms`; `None` (and a SKIPPED line) without PostgreSQL.
async fn behind_proxy(db_timeout_ms: u64) -> Option<(TestApp, Proxy)> {
    behind_proxy_with(|s| s.db_timeout_ms = db_timeout_ms).await
}

/// [`behind_proxy`] with settings of the test's choosing.
async fn behind_proxy_with(adjust: impl FnOnce(&mut Settings)) -> Option<(TestApp, Proxy)> {
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
    let app = spawn_app_in(dir, through.to_string(), PUBLIC_RULES, adjust).await;
    Some((app, proxy))
}

/// A create of `{"n": n}` in `posts`, its whole answer, and how long it took.
async fn create(app: &TestApp, n: i64) -> (Value, Duration) {
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
