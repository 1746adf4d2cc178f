//! Several hookql instances on one PostgreSQL database, as behind a load balancer. (SQLite is
//! one process's database: these tests are skipped there.)

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    fresh_database, spawn_app_sharing, spawn_app_with, test_settings, PUBLIC_RULES,
};
use crate::process::Server;
use crate::ws::Ws;

fn on_postgres() -> bool {
    let set = std::env::var("HOOKQL_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if !set {
        eprintln!("skipped: needs PostgreSQL (HOOKQL_TEST_DATABASE_URL)");
    }
    set
}

/// Instances started together on an empty database take turns migrating it.
#[tokio::test]
async fn instances_starting_at_once_migrate_one_at_a_time() {
    if !on_postgres() {
        return;
    }
    let dirs = [(); 3].map(|_| tempfile::tempdir().expect("temp dir"));
    let database_url = fresh_database(dirs[0].path()).await;
    let builds = dirs.iter().map(|dir| {
        std::fs::write(dir.path().join("hooks.yaml"), PUBLIC_RULES).expect("hooks.yaml");
        hookql::App::build(test_settings(dir.path(), database_url.clone()))
    });
    for built in futures_util::future::join_all(builds).await {
        built.expect("every instance starts");
    }
}

/// Without a configured secret, instances on one database share the one the first generated:
/// a token from one is good on the other.
#[tokio::test]
async fn instances_share_a_generated_jwt_secret() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app_with(PUBLIC_RULES, |s| s.jwt_secret = None).await;
    let second = spawn_app_sharing(&first, PUBLIC_RULES, |s| s.jwt_secret = None).await;
    let session = first.sign_up("shared@example.com").await;
    let me = second
        .data_as(Some(&session.token), "{ me { email } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "shared@example.com");
}

/// Two server processes on one database: a write on the first reaches a subscriber of the
/// second, large documents (too large for a NOTIFY payload) included, and the other way round.
#[tokio::test]
async fn a_write_on_one_instance_reaches_subscribers_of_another() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hooks.yaml"), PUBLIC_RULES).expect("hooks.yaml");
    let second = Server::start(dir.path(), &first.database_url);
    second.gql("", "{ me { id } }", json!({})).await; // waits until it answers

    let mut ws = Ws::connect(&second.address, None).await;
    ws.subscribe("1", "posts", None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.create("posts", json!({"from": "first"})).await;
    let large = "y".repeat(20_000);
    first
        .create("posts", json!({"from": "first", "large": large}))
        .await;
    assert_eq!(ws.event("1").await["document"]["data"]["from"], "first");
    let event = ws.event("1").await;
    assert_eq!(
        event["document"]["data"]["large"].as_str().map(str::len),
        Some(20_000)
    );

    // And the other way round.
    let mut local = Ws::connect(&first.address, None).await;
    local.subscribe("1", "posts", None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    second
        .gql(
            "",
            "mutation { createDocument(collection: \"posts\", data: {from: \"second\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(local.event("1").await["document"]["data"]["from"], "second");
    assert_eq!(ws.event("1").await["document"]["data"]["from"], "second");
}
