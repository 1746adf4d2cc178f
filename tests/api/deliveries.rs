//! Durable delivery of URL after-hooks: recorded with the write, retried with the same
//! `webhook-id`, kept when the receiver is down, dead and replayable, in per-document order,
//! shared safely by two instances, and surviving a SIGKILL.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    settle, settle_within, spawn_app_sharing, spawn_app_with, with_admin, TestApp, PUBLIC_RULES,
};
use crate::process::Server;
use crate::receiver::{free_port, Receiver, Reply};

const DELIVERIES: &str = "query($s: DeliveryStatus, $h: String) { hookDeliveries(status: $s, hook: $h, limit: 100) { totalCount items { id eventId hook event status attempts lastStatus lastError nextAttemptAt payload } } }";

/// `PUBLIC_RULES` with one durable `post_save` hook `audit` to `url`, plus `extra` keys.
fn audit_hooks(url: &str, extra: &str) -> String {
    format!("{PUBLIC_RULES}hooks:\n  - name: audit\n    on: [post_save, post_delete]\n    url: \"{url}\"\n    timeout_ms: 1000\n{extra}")
}

/// How many deliveries a page lists (its items, not its count: the two are read one after
/// the other, and a delivery may change status in between).
fn listed(page: &Value) -> usize {
    page["items"].as_array().map_or(0, Vec::len)
}

async fn deliveries(app: &TestApp, admin: &str, status: Option<&str>) -> Value {
    app.data_as(Some(admin), DELIVERIES, json!({"s": status}))
        .await["hookDeliveries"]
        .clone()
}

async fn create(app: &TestApp, data: Value) -> String {
    let response = app
        .data_as(
            None,
            "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }",
            json!({"d": data}),
        )
        .await;
    response["createDocument"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn update(app: &TestApp, id: &str, data: Value) {
    app.data_as(
        None,
        "mutation($id: ID!, $d: JSON!) { updateDocument(collection: \"posts\", id: $id, data: $d) { version } }",
        json!({"id": id, "d": data}),
    )
    .await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_the_same_webhook_id_until_it_succeeds() {
    let receiver = Receiver::start().await;
    receiver.plan(
        "/audit",
        vec![
            Reply::status(500),
            Reply::status(503).header("retry-after", "0"),
        ],
    );
    let yaml = audit_hooks(&receiver.url("/audit"), "    retry: { backoff_ms: 50 }\n");
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    let id = create(&app, json!({"title": "Hello"})).await;

    let got = settle(async || receiver.received("/audit"), |r| r.len() >= 3).await;
    assert_eq!(got.len(), 3, "two failures, then success");
    let ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let attempts: Vec<Value> = got.iter().map(|r| r.json()["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let payload = got[2].json();
    assert_eq!(payload["event"], "post_save");
    assert_eq!(payload["document_id"], id);
    assert_eq!(payload["id"], ids[0]);

    let page = settle(
        async || deliveries(&app, &admin, Some("DELIVERED")).await,
        |p| listed(p) == 1,
    )
    .await;
    let delivery = &page["items"][0];
    assert_eq!(delivery["attempts"], 3, "{page}");
    assert_eq!(delivery["lastStatus"], 200);
    assert_eq!(delivery["eventId"], ids[0]);
    assert_eq!(delivery["nextAttemptAt"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received("/audit").len(),
        3,
        "nothing sent after success"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_during_the_write_gets_the_event_when_it_is_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/audit");
    let yaml = audit_hooks(
        &url,
        "    retry: { backoff_ms: 100, max_backoff_ms: 200 }\n",
    );
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    create(&app, json!({"title": "Hello"})).await;

    let pending = settle(
        async || deliveries(&app, &admin, Some("PENDING")).await,
        |p| p["items"][0]["attempts"].as_i64().unwrap_or(0) >= 1,
    )
    .await;
    let delivery = &pending["items"][0];
    assert!(
        delivery["lastError"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{pending}"
    );
    assert!(delivery["nextAttemptAt"].is_string());

    let receiver = Receiver::start_on(port).await;
    let got = settle(async || receiver.received("/audit"), |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["document"]["title"], "Hello");
    let done = settle(
        async || deliveries(&app, &admin, Some("DELIVERED")).await,
        |p| listed(p) == 1,
    )
    .await;
    assert_eq!(done["totalCount"], 1, "{done}");
}

#[tokio::test]
async fn dead_deliveries_are_listed_and_replayed() {
    let receiver = Receiver::start().await;
    receiver.usually("/audit", Reply::status(500));
    receiver.usually("/gone", Reply::status(404));
    let yaml = format!(
        "{PUBLIC_RULES}hooks:\n  - {{ name: audit, on: post_save, url: \"{}\", retry: {{ max_attempts: 2, backoff_ms: 20 }} }}\n  - {{ name: gone, on: post_delete, url: \"{}\" }}\n",
        receiver.url("/audit"),
        receiver.url("/gone"),
    );
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    let first = create(&app, json!({"n": 1})).await;
    create(&app, json!({"n": 2})).await;

    let dead = settle(
        async || deliveries(&app, &admin, Some("DEAD")).await,
        |p| listed(p) == 2,
    )
    .await;
    assert_eq!(dead["totalCount"], 2, "{dead}");
    for delivery in dead["items"].as_array().unwrap() {
        assert_eq!(delivery["attempts"], 2);
        assert_eq!(delivery["lastStatus"], 500);
        assert!(
            delivery["lastError"].as_str().unwrap().contains("HTTP 500"),
            "{delivery}"
        );
        assert!(!delivery["lastError"].as_str().unwrap().contains("Hello"));
    }
    assert_eq!(receiver.received("/audit").len(), 4);

    // A status that is not retried kills the delivery at once.
    app.data_as(
        None,
        "mutation($id: ID!) { deleteDocument(collection: \"posts\", id: $id) { id } }",
        json!({"id": first}),
    )
    .await;
    let gone = settle(
        async || {
            app.data_as(Some(&admin), DELIVERIES, json!({"s": "DEAD", "h": "gone"}))
                .await["hookDeliveries"]
                .clone()
        },
        |p| listed(p) == 1,
    )
    .await;
    assert_eq!(gone["items"][0]["attempts"], 1, "{gone}");
    assert!(gone["items"][0]["lastError"]
        .as_str()
        .unwrap()
        .contains("not retried"));

    // The receiver is fixed: replay one, then the rest of `audit`'s.
    receiver.usually("/audit", Reply::status(204));
    let one = dead["items"][0]["id"].as_str().unwrap();
    let retried = app
        .data_as(
            Some(&admin),
            "mutation($id: ID!) { retryDelivery(id: $id) { status attempts eventId } }",
            json!({"id": one}),
        )
        .await;
    assert_eq!(retried["retryDelivery"]["status"], "PENDING");
    assert_eq!(
        retried["retryDelivery"]["eventId"],
        dead["items"][0]["eventId"]
    );
    settle(async || receiver.received("/audit"), |r| r.len() >= 5).await;
    let replayed = app
        .data_as(
            Some(&admin),
            "mutation { retryDeadDeliveries(hook: \"audit\") }",
            json!({}),
        )
        .await;
    assert_eq!(replayed["retryDeadDeliveries"], 1);
    let delivered = settle(
        async || {
            app.data_as(
                Some(&admin),
                DELIVERIES,
                json!({"s": "DELIVERED", "h": "audit"}),
            )
            .await["hookDeliveries"]
                .clone()
        },
        |p| listed(p) == 2,
    )
    .await;
    assert_eq!(delivered["totalCount"], 2, "{delivered}");
    assert_eq!(receiver.received("/audit").len(), 6);
    let last = receiver.received("/audit");
    assert_eq!(
        last[5].header("webhook-id"),
        dead["items"][1]["eventId"].as_str().unwrap()
    );

    let missing = app
        .error_as(
            Some(&admin),
            "mutation { retryDelivery(id: \"999999\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(missing["extensions"]["code"], "NOT_FOUND");
    let user = app.sign_up("someone@example.com").await;
    let refused = app.error_as(Some(&user.token), DELIVERIES, json!({})).await;
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn a_url_that_keeps_failing_is_paused_instead_of_hammered() {
    let receiver = Receiver::start().await;
    receiver.usually("/audit", Reply::status(503));
    let yaml = audit_hooks(
        &receiver.url("/audit"),
        "    retry: { max_attempts: 50, backoff_ms: 10, max_backoff_ms: 10 }\n",
    );
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    create(&app, json!({"n": 1})).await;

    // Five failures in a row open the circuit for 5 s: the sixth attempt waits for the probe.
    let paused = settle(
        async || deliveries(&app, &admin, Some("PENDING")).await,
        |p| {
            p["items"][0]["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("circuit breaker"))
        },
    )
    .await;
    let delivery = &paused["items"][0];
    assert!(
        delivery["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("circuit breaker"),
        "{paused}"
    );
    assert_eq!(
        delivery["attempts"], 5,
        "a paused delivery spends no attempts"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received("/audit").len(),
        5,
        "nothing is sent while paused"
    );
}

#[tokio::test]
async fn per_document_ordering_delivers_one_documents_events_in_commit_order() {
    let receiver = Receiver::start().await;
    receiver.plan("/audit", vec![Reply::status(500)]);
    let yaml = audit_hooks(
        &receiver.url("/audit"),
        "    ordering: per_document\n    retry: { backoff_ms: 300 }\n",
    );
    let app = spawn_app_with(&yaml, |_| {}).await;
    let id = create(&app, json!({"n": 1})).await;
    update(&app, &id, json!({"n": 2})).await;
    update(&app, &id, json!({"n": 3})).await;

    let got = settle(async || receiver.received("/audit"), |r| r.len() >= 4).await;
    let seen: Vec<Value> = got
        .iter()
        .map(|r| r.json()["document"]["n"].clone())
        .collect();
    assert_eq!(
        seen,
        [json!(1), json!(1), json!(2), json!(3)],
        "the updates waited for the create's retry"
    );
}

#[tokio::test]
async fn user_events_are_delivered_durably_too() {
    let receiver = Receiver::start().await;
    let yaml = format!(
        "{PUBLIC_RULES}hooks:\n  - {{ name: welcome, on: post_register, url: \"{}\" }}\n",
        receiver.url("/welcome")
    );
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    let user = app.sign_up("new@example.com").await;
    let got = settle(async || receiver.received("/welcome"), |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["user"]["id"], user.id.as_str());
    assert_eq!(got[0].json()["user"]["email"], "new@example.com");
    let page = settle(
        async || deliveries(&app, &admin, Some("DELIVERED")).await,
        |p| listed(p) == 1,
    )
    .await;
    assert_eq!(page["items"][0]["event"], "post_register", "{page}");
}

#[tokio::test]
async fn background_delivery_is_sent_once_and_not_recorded() {
    let receiver = Receiver::start().await;
    receiver.usually("/ping", Reply::status(500));
    let yaml = format!(
        "{PUBLIC_RULES}hooks:\n  - {{ name: ping, on: post_save, url: \"{}\", delivery: background }}\n",
        receiver.url("/ping")
    );
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    create(&app, json!({"n": 1})).await;
    settle(async || receiver.received("/ping"), |r| !r.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received("/ping").len(),
        1,
        "fire-and-forget: no retry"
    );
    assert_eq!(deliveries(&app, &admin, None).await["totalCount"], 0);
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_an_attempt_twice() {
    let receiver = Receiver::start().await;
    receiver.usually(
        "/audit",
        Reply::status(200).after(Duration::from_millis(20)),
    );
    let yaml = audit_hooks(&receiver.url("/audit"), "");
    let first = spawn_app_with(&yaml, with_admin).await;
    let second = spawn_app_sharing(&first, &yaml, |_| {}).await;
    let admin = first.admin_token().await;
    const WRITES: usize = 40;
    let mut writes = Vec::new();
    for i in 0..WRITES {
        let app = if i % 2 == 0 { &first } else { &second };
        writes.push(create(app, json!({"n": i})));
    }
    futures_util::future::join_all(writes).await;

    let got = settle(async || receiver.received("/audit"), |r| r.len() >= WRITES).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got_now = receiver.received("/audit");
    assert_eq!(got_now.len(), got.len());
    let mut ids: Vec<String> = got_now
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(ids.len(), WRITES, "each event sent exactly once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), WRITES);
    let page = settle(
        async || deliveries(&first, &admin, Some("DELIVERED")).await,
        |p| listed(p) == WRITES,
    )
    .await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["attempts"] == 1),
        "{page}"
    );
}

#[tokio::test]
async fn a_delivery_survives_the_server_being_killed_right_after_the_write() {
    let receiver = Receiver::start().await;
    receiver.plan(
        "/audit",
        vec![Reply::status(200).after(Duration::from_secs(3))],
    );
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    std::fs::write(
        dir.path().join("hooks.yaml"),
        audit_hooks(&receiver.url("/audit"), ""),
    )
    .unwrap();
    let start = || Server::start(dir.path(), &database_url);

    let mut server = start();
    let id = server.create_post().await;
    server.kill();
    let mut server = start();
    // The killed instance's claim must run out first (the hook's timeout + 5 s).
    let got = settle_within(
        Duration::from_secs(20),
        async || receiver.received("/audit"),
        |r| r.len() >= 2,
    )
    .await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|r| r.json()["document_id"] == id));
    let event_id = got[0].header("webhook-id").to_string();
    assert!(
        got.iter().all(|r| r.header("webhook-id") == event_id),
        "same webhook-id on every try"
    );

    let admin = server.admin_token().await;
    let page = settle(
        async || server.gql(&admin, DELIVERIES, json!({})).await["data"]["hookDeliveries"].clone(),
        |p| p["items"][0]["status"] == "DELIVERED",
    )
    .await;
    assert_eq!(page["totalCount"], 1, "one delivery: {page}");
    assert_eq!(page["items"][0]["status"], "DELIVERED", "{page}");
    assert_eq!(page["items"][0]["eventId"], event_id);
    server.kill();
}
