//! PostgreSQL unreachable: `/healthz` hung for the whole outage, then answered 200.

use std::time::{Duration, Instant};

use super::proxy::Proxy;
use crate::helpers::{fresh_database, settle_within, spawn_app_in, PUBLIC_RULES};

#[tokio::test]
async fn health_says_unavailable_within_its_bound_during_a_partition_and_recovers() {
    let Ok(url) = std::env::var("HOOKQL_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED: needs PostgreSQL (HOOKQL_TEST_DATABASE_URL)");
        return;
    };
    if url.is_empty() {
        eprintln!("SKIPPED: needs PostgreSQL (HOOKQL_TEST_DATABASE_URL)");
        return;
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
    let app = spawn_app_in(dir, through.to_string(), PUBLIC_RULES, |_| {}).await;
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
