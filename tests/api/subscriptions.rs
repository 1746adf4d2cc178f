//! Realtime subscriptions over `graphql-transport-ws`: events after commit and in order, rules
//! and filters per subscriber, credentials, slow clients, several instances.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, PUBLIC_RULES};
use crate::ws::Ws;

const RULES: &str = r#"version: 1
collections:
  diary:
    rules: { read: owner, create: authenticated, update: owner, delete: owner }
  news:
    rules: { read: public, create: authenticated, update: owner, delete: owner }
  posts:
    rules:
      read: { _or: [ { status: { _eq: published } }, { ownerId: { _eq: "$auth.id" } } ] }
      create: authenticated
      update: owner
      delete: owner
"#;

const UPDATE: &str = "mutation($c: String!, $id: ID!, $d: JSON!) { updateDocument(collection: $c, id: $id, data: $d) { version } }";
const DELETE: &str =
    "mutation($c: String!, $id: ID!) { deleteDocument(collection: $c, id: $id) { id } }";

/// `/metrics` once it shows `line` (asserted; bounded wait).
async fn metrics_showing(app: &crate::helpers::TestApp, line: &str) -> String {
    let text =
        crate::helpers::settle(|| metrics(app), |m| m.contains(&format!("\n{line}\n"))).await;
    assert!(
        text.contains(&format!("\n{line}\n")),
        "no `{line}` in:\n{text}"
    );
    text
}

/// Text of `/metrics`.
async fn metrics(app: &crate::helpers::TestApp) -> String {
    app.metrics().await
}

#[tokio::test]
async fn a_subscriber_receives_creates_updates_and_deletes_in_commit_order() {
    let app = crate::helpers::signed_in(spawn_app_with(RULES, |_| {}).await).await;
    let token = app.token.clone();
    let mut ws = Ws::connect(&app.address, token.as_deref()).await;
    ws.subscribe("1", "news", None).await;
    let text = metrics_showing(&app, "hookql_subscriptions 1").await;
    assert!(
        text.contains("\nhookql_websocket_connections 1\n"),
        "{text}"
    );

    let created = app.create("news", json!({"title": "First", "n": 1})).await;
    let id = created["id"].as_str().expect("id").to_string();
    app.data(UPDATE, json!({"c": "news", "id": id, "d": {"n": 2}}))
        .await;
    app.data(DELETE, json!({"c": "news", "id": id})).await;

    let event = ws.event("1").await;
    assert_eq!(event["type"], "CREATED");
    assert_eq!(event["document"]["data"], json!({"title": "First", "n": 1}));
    assert_eq!(event["document"]["id"], created["id"]);
    assert_eq!(event["document"]["createdAt"], created["createdAt"]);
    assert_eq!(event["document"]["ownerId"], json!(app.user_id));
    assert_eq!(event["oldData"], Value::Null);
    let event = ws.event("1").await;
    assert_eq!(event["type"], "UPDATED");
    assert_eq!(event["document"]["data"], json!({"title": "First", "n": 2}));
    assert_eq!(event["document"]["version"], 2);
    assert_eq!(event["oldData"], json!({"title": "First", "n": 1}));
    let event = ws.event("1").await;
    assert_eq!(event["type"], "DELETED");
    assert_eq!(event["document"]["data"], json!({"title": "First", "n": 2}));

    // Concurrent writers: changes arrive in the order they committed, so the versions of one
    // document updated by 10 writers at once arrive as 2, 3, … 11.
    let id = app.create("news", json!({"n": 0})).await["id"].clone();
    assert_eq!(ws.event("1").await["type"], "CREATED");
    let writers = (1..=10).map(|n| {
        let (client, address, token) = (app.client.clone(), app.address.clone(), token.clone());
        let id = id.clone();
        tokio::spawn(async move {
            let mut request = client.post(format!("{address}/graphql")).json(
                &json!({"query": UPDATE, "variables": {"c": "news", "id": id, "d": {"n": n}}}),
            );
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer: Value = request
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("JSON");
            assert!(answer.get("errors").is_none(), "{answer}");
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer");
    }
    for version in 2..=11 {
        assert_eq!(ws.event("1").await["document"]["version"], version);
    }

    // `complete` stops the subscription; the gauge follows.
    ws.send(json!({"id": "1", "type": "complete"})).await;
    metrics_showing(&app, "hookql_subscriptions 0").await;
    app.create("news", json!({"after": "complete"})).await;
    assert_eq!(ws.recv_within(Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn the_read_rule_and_the_filter_decide_what_each_subscriber_sees() {
    let app = spawn_app_with(RULES, |_| {}).await;
    let alice = app.sign_up("alice@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let mut alice_ws = Ws::connect(&app.address, Some(&alice.token)).await;
    let mut bob_ws = Ws::connect(&app.address, Some(&bob.token)).await;
    alice_ws.subscribe("d", "diary", None).await;
    bob_ws.subscribe("d", "diary", None).await;
    bob_ws
        .subscribe("p", "posts", Some(json!({"tags": {"_contains": ["rust"]}})))
        .await;
    crate::helpers::subscriptions_open_at(&app.address, 3).await;

    // Owner-only: Alice's entry reaches Alice, never Bob; Bob's own entry reaches Bob (so his
    // silence about Alice's is not just slowness: events arrive in commit order).
    app.create_as(Some(&alice.token), "diary", json!({"text": "dear diary"}))
        .await;
    app.create_as(Some(&bob.token), "diary", json!({"text": "bob's"}))
        .await;
    assert_eq!(
        alice_ws.event("d").await["document"]["data"]["text"],
        "dear diary"
    );
    assert_eq!(bob_ws.event("d").await["document"]["data"]["text"], "bob's");

    // The filter, and a rule with an `_or`: a draft of Alice's is hidden from Bob; publishing
    // it shows it to him, without the old (draft) data he could never read.
    let draft = app
        .create_as(
            Some(&alice.token),
            "posts",
            json!({"status": "draft", "tags": ["rust"], "body": "secret draft"}),
        )
        .await;
    app.create_as(
        Some(&alice.token),
        "posts",
        json!({"status": "published", "tags": ["go"]}),
    )
    .await;
    app.data_as(
        Some(&alice.token),
        UPDATE,
        json!({"c": "posts", "id": draft["id"], "d": {"status": "published", "body": "final"}}),
    )
    .await;
    let event = bob_ws.event("p").await;
    assert_eq!(event["type"], "UPDATED", "{event}");
    assert_eq!(event["document"]["data"]["body"], "final");
    assert_eq!(
        event["oldData"],
        Value::Null,
        "old data Bob could not read leaked: {event}"
    );
    assert_eq!(bob_ws.recv_within(Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn anonymous_subscribers_get_public_collections_only() {
    let app = crate::helpers::signed_in(spawn_app_with(RULES, |_| {}).await).await;
    let mut ws = Ws::connect(&app.address, None).await;
    ws.subscribe("diary", "diary", None).await;
    let refused = ws.recv().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "diary");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );

    ws.subscribe("news", "news", None).await;
    crate::helpers::subscriptions_open_at(&app.address, 1).await;
    app.create("news", json!({"title": "for everyone"})).await;
    assert_eq!(
        ws.event("news").await["document"]["data"]["title"],
        "for everyone"
    );

    // Bad arguments are refused up front, naming the argument.
    ws.subscribe("bad", "news", Some(json!({"views": {"_near": 1}})))
        .await;
    let refused = ws.recv().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert!(
        refused["payload"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("filter"),
        "{refused}"
    );
}

#[tokio::test]
async fn post_read_hooks_shape_events_as_they_shape_queries() {
    let hooks = r#"version: 1
defaults:
  rules: { read: public, create: public, update: public, delete: public }
hooks:
  - name: redact
    on: post_read
    collections: [posts]
    script: |
      let kept = [];
      for d in documents { if d.data.hidden != true { d.data.remove("secret"); kept.push(d); } }
      #{ documents: kept }
"#;
    let app = spawn_app_with(hooks, |_| {}).await;
    let mut ws = Ws::connect(&app.address, None).await;
    ws.subscribe("1", "posts", None).await;
    crate::helpers::subscriptions_open_at(&app.address, 1).await;
    app.create("posts", json!({"hidden": true, "n": 1})).await;
    app.create("posts", json!({"secret": "s3cret", "n": 2}))
        .await;
    let event = ws.event("1").await;
    assert_eq!(event["document"]["data"], json!({"n": 2}), "{event}");
}

#[tokio::test]
async fn credentials_are_checked_at_init_and_expire_with_the_token() {
    let app =
        crate::helpers::signed_in(spawn_app_with(RULES, |s| s.access_token_ttl_secs = 2).await)
            .await;

    let mut ws = Ws::open(&app.address, Some("graphql-transport-ws")).await;
    ws.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}))
        .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.starts_with("Forbidden"), "{reason}");

    // `authToken` works too; the connection ends when the token does.
    let mut ws = Ws::open(&app.address, Some("graphql-transport-ws")).await;
    let token = app.token.clone().expect("token");
    ws.send(json!({"type": "connection_init", "payload": {"authToken": token}}))
        .await;
    assert_eq!(ws.recv().await["type"], "connection_ack");
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn protocol_mistakes_close_with_the_protocols_codes() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.ws_keepalive_secs = 1).await;

    let mut ws = Ws::open(&app.address, None).await;
    assert_eq!(ws.closed().await.0, 4406);

    let mut ws = Ws::open(&app.address, Some("graphql-transport-ws")).await;
    ws.subscribe("1", "posts", None).await;
    assert_eq!(ws.closed().await.0, 4401);

    let mut ws = Ws::connect(&app.address, None).await;
    ws.send(json!({"type": "connection_init"})).await;
    assert_eq!(ws.closed().await.0, 4429);

    let mut ws = Ws::connect(&app.address, None).await;
    ws.send_text("{not json").await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4400);
    assert!(reason.contains("invalid message"), "{reason}");

    let mut ws = Ws::connect(&app.address, None).await;
    ws.subscribe("1", "posts", None).await;
    ws.subscribe("1", "posts", None).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4409, "Subscriber for 1 already exists")
    );

    // Queries run over the socket too (one `next`, then `complete`); pings are answered, and
    // the server pings an idle connection.
    let mut ws = Ws::connect(&app.address, None).await;
    ws.send(json!({"type": "ping", "payload": {"t": 1}})).await;
    assert_eq!(
        ws.recv().await,
        json!({"type": "pong", "payload": {"t": 1}})
    );
    ws.send(json!({"id": "q", "type": "subscribe", "payload": {"query": "{ documents(collection: \"posts\") { totalCount } }"}}))
        .await;
    let result = ws.recv().await;
    assert_eq!(
        result["payload"]["data"]["documents"]["totalCount"], 0,
        "{result}"
    );
    assert_eq!(ws.recv().await, json!({"id": "q", "type": "complete"}));
    assert_eq!(ws.recv_within(Duration::from_millis(2500)).await, None);
    assert!(
        ws.pings >= 1,
        "no keep-alive ping in 2.5 s with a 1 s interval"
    );
}

#[tokio::test]
async fn a_slow_subscriber_is_disconnected_without_slowing_writers_or_others() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.ws_send_buffer = 8).await;
    let mut slow = Ws::connect(&app.address, None).await;
    let mut quick = Ws::connect(&app.address, None).await;
    slow.subscribe("1", "posts", None).await;
    quick.subscribe("1", "posts", None).await;
    crate::helpers::subscriptions_open_at(&app.address, 2).await;

    // `slow` reads nothing while large changes go by, until the server gives up on it: more
    // than the socket buffers and its 8-message queue hold.
    let quick_reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = quick.recv_within(Duration::from_secs(3)).await {
            seen.push(
                message["payload"]["data"]["documentChanged"]["document"]["data"]["n"].clone(),
            );
        }
        seen
    });
    let writes = app
        .write_until_slow_disconnect("posts", 128 * 1024, 400)
        .await;
    let (code, reason) = slow.closed().await;
    assert_eq!(code, 1013, "after {writes} writes: {reason}");
    assert!(reason.starts_with("too slow"), "{reason}");
    // Every write was acknowledged, and the reading subscriber got every change, in order.
    let seen = quick_reader.await.expect("the quick subscriber");
    assert_eq!(seen, (0..writes).map(Value::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn stopping_the_server_says_goodbye() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let mut ws = Ws::connect(&app.address, None).await;
    ws.subscribe("1", "posts", None).await;
    crate::helpers::subscriptions_open_at(&app.address, 1).await;
    drop(app);
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
}
