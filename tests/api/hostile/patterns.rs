//! Pathological `_like` patterns: a 60,000-`%` pattern once overflowed the stack of the
//! in-memory matcher and aborted the server on the next write; `%a%a…%b` was exponential.

use serde_json::json;

use super::Bystander;
use crate::helpers::spawn_app_with;
use crate::ws::Ws;

const WIKI: &str = "version: 1\ncollections:\n  wiki:\n    rules: { read: public, create: public, update: public, delete: public }\n";

#[tokio::test]
async fn a_60000_percent_like_subscription_is_refused_and_writes_go_on() {
    let app = spawn_app_with(WIKI, |_| {}).await;
    let page = app.create_as(None, "wiki", json!({"title": "Home"})).await;
    let bystander = Bystander::start(&app, Some(("wiki", page["id"].as_str().unwrap())));

    let mut attacker = Ws::connect(&app.address, None).await;
    let pattern = "%".repeat(60_000);
    attacker
        .subscribe("1", "wiki", Some(json!({"title": {"_like": pattern}})))
        .await;
    let refused = attacker.recv().await;
    assert_eq!(refused["type"], "error", "{refused}");
    let message = refused["payload"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("at most 256 bytes"), "{refused}");

    let mut watcher = Ws::connect(&app.address, None).await;
    watcher.subscribe("w", "wiki", None).await;
    super::subscriptions_open(&app, 1).await;
    app.create_as(None, "wiki", json!({"title": "After the attack"}))
        .await;
    assert_eq!(watcher.event("w").await["type"], "CREATED");
    bystander.assert_served().await;
}

#[tokio::test]
async fn exponential_like_patterns_cost_linear_time() {
    let app = spawn_app_with(WIKI, |_| {}).await;
    let page = app.create_as(None, "wiki", json!({"title": "Home"})).await;
    let bystander = Bystander::start(&app, Some(("wiki", page["id"].as_str().unwrap())));
    let evil = json!({"title": {"_like": "%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b"}});
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let mut ws = Ws::connect(&app.address, None).await;
        ws.subscribe("1", "wiki", Some(evil.clone())).await;
        attackers.push(ws);
    }
    let mut watcher = Ws::connect(&app.address, None).await;
    watcher.subscribe("w", "wiki", None).await;
    super::subscriptions_open(&app, 5).await;
    app.create_as(None, "wiki", json!({"title": "warm-up"}))
        .await;
    assert_eq!(watcher.event("w").await["type"], "CREATED");
    for _ in 0..5 {
        app.create_as(None, "wiki", json!({"title": "a".repeat(60)}))
            .await;
        assert_eq!(watcher.event("w").await["type"], "CREATED");
    }
    // The same patterns through SQL: answered, and nothing matches.
    let list = "query($f: JSON) { documents(collection: \"wiki\", filter: $f) { totalCount } }";
    let data = app.data_as(None, list, json!({"f": evil})).await;
    assert_eq!(data["documents"]["totalCount"], 0);
    bystander.assert_served().await;
}

#[tokio::test]
async fn a_50000_byte_like_pattern_is_bad_input_not_internal() {
    let app = spawn_app_with(WIKI, |_| {}).await;
    let list = "query($f: JSON) { documents(collection: \"wiki\", filter: $f) { totalCount } }";
    let pattern = format!("{}x", "_".repeat(49_999));
    let error = app
        .error_as(None, list, json!({"f": {"title": {"_like": pattern}}}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("filter.title._like"), "{message}");
    assert!(message.contains("at most 256 bytes"), "{message}");
}

#[tokio::test]
async fn a_costly_like_over_large_rows_is_stopped_at_the_query_timeout() {
    let app = spawn_app_with(WIKI, |s| s.query_timeout_ms = 200).await;
    let page = app.create_as(None, "wiki", json!({"title": "Home"})).await;
    for _ in 0..4 {
        app.create_as(None, "wiki", json!({"title": "a".repeat(1_000_000)}))
            .await;
    }
    let bystander = Bystander::start(&app, Some(("wiki", page["id"].as_str().unwrap())));
    // At each of a million places the database's LIKE compares up to 254 bytes and fails.
    let evil = format!("%{}b", "a".repeat(254));
    let list = "query($f: JSON) { documents(collection: \"wiki\", filter: $f) { totalCount items { id } } }";
    let error = app
        .error_as(None, list, json!({"f": {"title": {"_like": evil}}}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["field"], "filter", "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("HOOKQL_QUERY_TIMEOUT_MS"), "{message}");

    // The read connections go on serving ordinary queries, each with a fresh deadline.
    for _ in 0..3 {
        let found = app
            .data_as(None, list, json!({"f": {"id": {"_eq": page["id"]}}}))
            .await;
        assert_eq!(found["documents"]["totalCount"], 1, "{found}");
    }
    bystander.assert_served().await;
}

#[tokio::test]
async fn costly_lists_from_one_client_wait_for_its_own_turns_not_others_reads() {
    // Four read connections (half of eight); one list at a time per client.
    let app = spawn_app_with(WIKI, |s| {
        s.query_timeout_ms = 8_000;
        s.reads_per_ip = 1;
    })
    .await;
    let page = app.create_as(None, "wiki", json!({"title": "Home"})).await;
    for _ in 0..10 {
        app.create_as(None, "wiki", json!({"title": "a".repeat(1_000_000)}))
            .await;
    }
    // Eight costly lists at once from another address, each holding two read connections
    // (its page and its count) for seconds: together they would hold every one.
    let attacker = reqwest::Client::builder()
        .local_address(super::attacker())
        .build()
        .expect("client");
    let evil = json!({"f": {"title": {"_like": format!("%{}b", "a".repeat(254))}}});
    let list = "query($f: JSON) { documents(collection: \"wiki\", filter: $f) { totalCount items { id } } }";
    let attacks: Vec<_> = (0..8)
        .map(|_| {
            let request = attacker
                .post(format!("{}/graphql", app.address))
                .json(&json!({"query": list, "variables": evil}));
            tokio::spawn(request.send())
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let bystander = Bystander::start(&app, Some(("wiki", page["id"].as_str().unwrap())));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    bystander.assert_served().await;
    for attack in attacks {
        attack.abort();
    }
}
