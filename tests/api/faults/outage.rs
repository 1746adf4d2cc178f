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

#[tokio::test]
async fn acknowledged_writes_survive_cuts_and_a_slow_link_and_errors_say_retry() {
    let Some((app, proxy)) = behind_proxy(3_000).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut codes) = (Vec::new(), Vec::new());
            let mut n = w * 1_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (answer, _) = create(&app, n).await;
                match answer["data"]["createDocument"]["id"].as_str() {
                    Some(id) => acked.push(id.to_string()),
                    None => codes.push(answer["errors"][0]["extensions"]["code"].clone()),
                }
            }
            (acked, codes)
        }));
    }
    // Cuts of connections busy at the time (held a moment first, then cut): the pool
    // replaces them; statements cut after they were sent are the test above.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.stall();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
        proxy.flow();
    }
    proxy.slow(Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    proxy.slow(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut codes) = (Vec::new(), Vec::new());
    for writer in writers {
        let (a, c) = writer.await.expect("writer");
        acked.extend(a);
        codes.extend(c);
    }
    assert!(acked.len() > 20, "only {} writes went through", acked.len());
    assert!(
        codes.iter().all(|c| c == "UNAVAILABLE"),
        "clients were told something other than to retry: {codes:?}"
    );

    // Recovered by itself, and every acknowledged write is there.
    let (after, _) = settle_within(
        Duration::from_secs(10),
        async || create(&app, -1).await,
        |(a, _)| a["data"]["createDocument"]["id"].is_string(),
    )
    .await;
    assert!(after["data"]["createDocument"]["id"].is_string(), "{after}");
    let mut stored = std::collections::HashSet::new();
    loop {
        let page = app
            .data(
                "query($o: Int!) { documents(collection: \"posts\", limit: 100, offset: $o) { items { id } } }",
                json!({"o": stored.len()}),
            )
            .await;
        let items = page["documents"]["items"]
            .as_array()
            .expect("items")
            .clone();
        if items.is_empty() {
            break;
        }
        stored.extend(
            items
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_string()),
        );
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes were lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "cut twice and slowed: {} writes acknowledged, {} refused with UNAVAILABLE",
        acked.len(),
        codes.len()
    );
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

#[tokio::test]
async fn connections_the_database_terminates_say_retry_and_lose_nothing() {
    let Some((app, proxy)) = behind_proxy(3_000).await else {
        return;
    };
    let admin_url = std::env::var("HOOKQL_TEST_DATABASE_URL").expect("set");
    let admin = sea_orm::sqlx::PgPool::connect(&admin_url)
        .await
        .expect("an admin connection");
    let app = std::sync::Arc::new(app);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut codes) = (Vec::new(), Vec::new());
            let mut n = w * 1_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (answer, _) = create(&app, n).await;
                match answer["data"]["createDocument"]["id"].as_str() {
                    Some(id) => acked.push(id.to_string()),
                    None => codes.push(answer["errors"][0].clone()),
                }
            }
            (acked, codes)
        }));
    }
    // As a fast restart or a failover does: every backend of this server ends, again and again.
    let mut terminated = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ended: Vec<(bool,)> = sea_orm::sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1)",
        )
        .bind(proxy.upstream_ports())
        .fetch_all(&admin)
        .await
        .expect("terminate");
        terminated += ended.len();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut errors) = (Vec::new(), Vec::new());
    for writer in writers {
        let (a, e) = writer.await.expect("writer");
        acked.extend(a);
        errors.extend(e);
    }
    assert!(terminated > 0, "no backend was terminated");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "UNAVAILABLE"),
        "clients were told something other than to retry: {errors:?}"
    );
    let mut stored = std::collections::HashSet::new();
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
            break;
        }
        stored.extend(
            items
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_string()),
        );
    }
    let lost = acked.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(lost, 0, "acknowledged writes were lost");
    eprintln!(
        "{terminated} backends terminated: {} writes acknowledged, {} told UNAVAILABLE",
        acked.len(),
        errors.len()
    );
}
