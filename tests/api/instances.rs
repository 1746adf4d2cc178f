//! Several hookql instances on one PostgreSQL database, as behind a load balancer. (SQLite is
//! one process's database: these tests are skipped there.)

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    fresh_database, settle, spawn_app_sharing, spawn_app_with, test_settings, with_admin,
    PUBLIC_RULES,
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

/// The next notification's payload within half a second, if any.
async fn heard(listener: &mut sea_orm::sqlx::postgres::PgListener) -> Option<String> {
    let notification = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    notification
        .ok()
        .map(|n| n.expect("notification").payload().to_string())
}

/// Writes notify only while some instance watches their collection (NOTIFY is not free), and
/// do from the moment a subscriber is set up.
#[tokio::test]
async fn writes_notify_only_watched_collections() {
    if !on_postgres() {
        return;
    }
    use sea_orm::sqlx::postgres::PgListener;
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let mut listener = PgListener::connect(&app.database_url)
        .await
        .expect("listener");
    let (schema,): (String,) = sea_orm::sqlx::query_as("SELECT current_schema()")
        .fetch_one(&mut listener)
        .await
        .expect("schema");
    listener
        .listen(&format!("hookql_changes:{schema}"))
        .await
        .expect("listen");

    app.create("quiet", json!({"n": 1})).await;
    assert_eq!(
        heard(&mut listener).await,
        None,
        "an unwatched write notified"
    );

    let mut ws = Ws::connect(&app.address, None).await;
    ws.subscribe("1", "quiet", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.create("quiet", json!({"n": 2})).await;
    let payload = heard(&mut listener)
        .await
        .expect("a watched write notifies");
    let change: serde_json::Value = serde_json::from_str(&payload).expect("JSON");
    assert_eq!(change["document"]["data"]["n"], 2, "{payload}");
    assert_eq!(ws.event("1").await["document"]["data"]["n"], 2);
    app.create("other", json!({"n": 3})).await;
    assert_eq!(
        heard(&mut listener).await,
        None,
        "another collection notified"
    );
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
    crate::helpers::subscriptions_open_at(&second.address, 1).await;
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
    crate::helpers::subscriptions_open_at(&first.address, 1).await;
    second
        .gql(
            "",
            "mutation { createDocument(collection: \"posts\", data: {from: \"second\"}) { id } }",
            json!({}),
        )
        .await;
    // The first instance may hear of its own earlier writes only now (the large one is read
    // back from the database), and a subscription opened meanwhile gets them too: at most
    // those, in commit order, before the new one.
    let mut heard = local.event("1").await;
    for _ in 0..2 {
        if heard["document"]["data"]["from"] != "first" {
            break;
        }
        heard = local.event("1").await;
    }
    assert_eq!(heard["document"]["data"]["from"], "second", "{heard}");
    assert_eq!(ws.event("1").await["document"]["data"]["from"], "second");
}

/// A user deleted through one instance is refused by every other at once, though each checks
/// tokens in memory (and had this one's verified token cached).
#[tokio::test]
async fn deleted_users_token_stops_on_every_instance() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app_with(PUBLIC_RULES, with_admin).await;
    let second = spawn_app_sharing(&first, PUBLIC_RULES, |_| {}).await;
    let root = first.admin_token().await;
    let ann = first.sign_up("ann@example.com").await;
    let me = second
        .data_as(Some(&ann.token), "{ me { email } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "ann@example.com");

    first
        .data_as(
            Some(&root),
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": ann.id}),
        )
        .await;
    let started = std::time::Instant::now();
    let answer = settle(
        async || {
            second
                .gql_as(Some(&ann.token), "{ me { email } }", json!({}))
                .await
        },
        |answer| answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "the other instance still accepts the token: {answer}"
    );
    eprintln!(
        "refused on the other instance after {:?}",
        started.elapsed()
    );
}
