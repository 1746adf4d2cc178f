//! SQLite on a full disk: creates of 20 KB documents were acknowledged for rows never stored
//! (2,784 of 3,947 in one run), and once space was back no write worked until a restart.

use std::time::Duration;

use serde_json::{json, Value};

use super::small_disk::SmallDisk;
use crate::helpers::{settle_within, spawn_app_in, TestApp, PUBLIC_RULES};

const CREATE: &str =
    "mutation($d: JSON!) { createDocument(collection: \"notes\", data: $d) { id } }";

/// Creates `n` documents of `bytes` each; the ids of those acknowledged, and the errors.
async fn create_many(app: &TestApp, n: usize, bytes: usize) -> (Vec<String>, Vec<Value>) {
    let (mut stored, mut errors) = (Vec::new(), Vec::new());
    for i in 0..n {
        let answer = app
            .gql_as(
                None,
                CREATE,
                json!({"d": {"i": i, "pad": "y".repeat(bytes)}}),
            )
            .await;
        match answer["data"]["createDocument"]["id"].as_str() {
            Some(id) => stored.push(id.to_string()),
            None => errors.push(answer["errors"][0].clone()),
        }
    }
    (stored, errors)
}

/// Whether document `id` is stored.
async fn stored(app: &TestApp, id: &str) -> bool {
    let read = "query($id: ID!) { document(collection: \"notes\", id: $id) { id } }";
    let answer = app.gql_as(None, read, json!({"id": id})).await;
    answer["data"]["document"]["id"] == json!(id)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_loses_none_and_writes_resume_once_space_is_back() {
    full_disk(PUBLIC_RULES).await;
}

#[tokio::test]
async fn a_full_disk_fails_transactions_cleanly_and_they_resume_once_space_is_back() {
    // A durable webhook makes every write a transaction with its delivery (to a port where
    // nothing listens: the deliveries wait, and their retries write too).
    let hooks = format!(
        "{PUBLIC_RULES}hooks:\n  - name: audit\n    on: post_save\n    url: \"http://127.0.0.1:9/\"\n"
    );
    full_disk(&hooks).await;
}

/// Fills the disk under a server running `hooks`, then frees it.
async fn full_disk(hooks: &str) {
    if std::env::var("HOOKQL_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("SKIPPED on PostgreSQL: a full disk is a SQLite fault here");
        return;
    }
    let Some(disk) = SmallDisk::mount(24) else {
        return;
    };
    let dir = disk.data_dir();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let app = spawn_app_in(dir, url, hooks, |_| {}).await;
    let (before, errors) = create_many(&app, 20, 20_000).await;
    assert!(errors.is_empty(), "{errors:?}");

    disk.fill_leaving(600_000);
    let (during, errors) = create_many(&app, 150, 20_000).await;
    let mut lost = 0;
    for id in before.iter().chain(&during) {
        lost += usize::from(!stored(&app, id).await);
    }
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged creates were not stored",
        during.len()
    );
    assert!(!errors.is_empty(), "the disk never filled");
    // Refusals say to come back later, not that the server broke.
    for error in &errors {
        assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{error}");
        assert!(error["extensions"]["retryAfter"].is_number(), "{error}");
    }

    disk.free();
    let resumed = settle_within(
        Duration::from_secs(10),
        async || create_many(&app, 1, 20_000).await,
        |(ok, _)| ok.len() == 1,
    )
    .await;
    assert_eq!(resumed.0.len(), 1, "writes did not resume: {:?}", resumed.1);
    let (after, errors) = create_many(&app, 20, 20_000).await;
    assert!(errors.is_empty(), "{errors:?}");
    for id in after.iter().chain(&resumed.0) {
        assert!(stored(&app, id).await, "acknowledged {id} was not stored");
    }
    drop(app);
    drop(disk);
}
