//! The link to PostgreSQL breaking under load: connections cut, a slow link, sessions the
//! database terminates (a restart, a failover). No acknowledged write is lost, each of their
//! durable deliveries arrives, clients are only ever told to retry, and the server recovers
//! by itself.

use std::sync::Arc;
use std::time::Duration;

use super::behind::{
    all_say_retry, behind_proxy, behind_proxy_hooked, recovered, stored_posts, Load,
};
use crate::helpers::{settle_within, PUBLIC_RULES};
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn acknowledged_writes_and_their_deliveries_survive_cuts_and_a_slow_link() {
    let receiver = Receiver::start().await;
    receiver.usually("/audit", Reply::status(200));
    let yaml = format!(
        "{PUBLIC_RULES}hooks:\n  - name: audit\n    on: [post_save]\n    url: \"{}\"\n",
        receiver.url("/audit")
    );
    let Some((app, proxy)) = behind_proxy_hooked(&yaml, |s| s.db_timeout_ms = 3_000).await else {
        return;
    };
    let app = Arc::new(app);
    let load = Load::start(&app);
    // Cuts of connections busy at the time (held a moment first, then cut): the pool
    // replaces them; statements cut after they were sent are in outage.rs.
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
    let (acked, errors) = load.stop().await;
    assert!(acked.len() > 20, "only {} writes went through", acked.len());
    all_say_retry(&errors);

    let took = recovered(&app).await;
    let stored = stored_posts(&app).await;
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes were lost: {lost:?}",
        lost.len()
    );
    let delivered = settle_within(
        Duration::from_secs(30),
        async || {
            let got: std::collections::HashSet<String> = receiver
                .received("/audit")
                .iter()
                .map(|r| r.json()["document_id"].as_str().unwrap_or("").to_string())
                .collect();
            acked.iter().filter(|id| got.contains(*id)).count()
        },
        |n| *n == acked.len(),
    )
    .await;
    assert_eq!(
        delivered,
        acked.len(),
        "every acknowledged write's delivery arrives"
    );
    let sent = receiver.received("/audit").len();
    eprintln!(
        "cut twice and slowed: {} writes acknowledged, {} told to retry, recovered in {took:?}, {sent} deliveries sent for {} documents",
        acked.len(),
        errors.len(),
        stored.len()
    );
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
    let app = Arc::new(app);
    let load = Load::start(&app);
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
    let (acked, errors) = load.stop().await;
    assert!(terminated > 0, "no backend was terminated");
    all_say_retry(&errors);
    let took = recovered(&app).await;
    let stored = stored_posts(&app).await;
    let lost = acked.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(lost, 0, "acknowledged writes were lost");
    eprintln!(
        "{terminated} backends terminated: {} writes acknowledged, {} told to retry, recovered in {took:?}",
        acked.len(),
        errors.len()
    );
}
