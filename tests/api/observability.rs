//! What operators see: request ids, the record of hook runs, `/metrics`, and the hooks
//! configuration's status and reload.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, with_admin, TestApp, SLOW_SCRIPT};
use crate::receiver::{Receiver, Reply};

const RUNS: &str = "query($h: String, $e: String, $o: HookRunOutcome, $s: DateTime) { hookRuns(hook: $h, event: $e, outcome: $o, since: $s) { totalCount items { hook event collection kind outcome durationMs error requestId payload at } } }";

/// POSTs a create with `X-Request-Id: id` as `token`; the echoed id and the response.
async fn create_with_id(
    app: &TestApp,
    token: &str,
    id: Option<&str>,
    data: Value,
) -> (String, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id data } }",
            "variables": {"d": data},
        }));
    if let Some(id) = id {
        request = request.header("X-Request-Id", id);
    }
    let response = request.send().await.expect("sent");
    let echoed = response
        .headers()
        .get("x-request-id")
        .expect("every response has a request id")
        .to_str()
        .expect("text")
        .to_string();
    (echoed, response.json().await.expect("json"))
}

/// Waits until `hookRuns` (as admin, with `variables`) has `n` runs.
async fn runs(app: &TestApp, admin: &str, variables: Value, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let data = app.data_as(Some(admin), RUNS, variables.clone()).await;
        let items = data["hookRuns"]["items"].as_array().expect("items").clone();
        if items.len() >= n {
            assert_eq!(items.len(), n, "{data}");
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} runs recorded for {variables}");
}

#[tokio::test]
async fn request_ids_are_echoed_and_reach_hook_payloads() {
    let receiver = Receiver::start().await;
    receiver.usually("/before", Reply::json(json!({})));
    let hooks = format!(
        "version: 1\ndefaults:\n  rules: {{ read: public, create: public }}\nhooks:\n  - {{ name: look, on: pre_save, url: '{}' }}\n",
        receiver.url("/before")
    );
    let app = spawn_app_with(&hooks, with_admin).await;
    let token = app.admin_token().await;
    let (echoed, body) = create_with_id(&app, &token, Some("trace-42"), json!({"n": 1})).await;
    assert_eq!(echoed, "trace-42", "{body}");
    let sent = receiver.received("/before");
    assert_eq!(sent[0].json()["request_id"], "trace-42");
    // No id, or one that is not sensible: a fresh one, different each time.
    let (first, _) = create_with_id(&app, &token, None, json!({"n": 2})).await;
    let (second, _) =
        create_with_id(&app, &token, Some("bad id with spaces"), json!({"n": 3})).await;
    assert_eq!(first.len(), 36);
    assert_ne!(first, second);
    assert_ne!(second, "bad id with spaces");
    assert_eq!(
        receiver.received("/before")[2].json()["request_id"],
        second.as_str()
    );
}

#[tokio::test]
async fn every_hook_run_is_recorded_with_its_outcome_and_secrets_redacted() {
    let hooks = r#"version: 1
config:
  API_TOKEN: "tok-s3cr3t-value"
defaults:
  rules: { read: public, create: public }
hooks:
  - name: stamp
    on: pre_save
    collections: [posts]
    log_payloads: true
    script: |
      if data.block == true { block("no blocks") }
      #{ patch: #{ stamped: true } }
  - name: look
    on: pre_save
    collections: [posts]
    script: '()'
  - name: leaky
    on: pre_save
    collections: [posts]
    when: { fail: true }
    script: 'throw "failed with " + config.get("API_TOKEN")'
  - name: slow
    on: pre_save
    collections: [posts]
    when: { slow: true }
    timeout_ms: 5
    script: |
      SLOW_SCRIPT
  - name: after
    on: post_save
    collections: [posts]
    script: '()'
"#;
    let hooks = hooks.replace("SLOW_SCRIPT", SLOW_SCRIPT);
    let app = spawn_app_with(&hooks, with_admin).await;
    let admin = app.admin_token().await;
    let (_, body) = create_with_id(
        &app,
        &admin,
        Some("req-ok"),
        json!({"password": "hunter2", "title": "a"}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body) = create_with_id(&app, &admin, Some("req-block"), json!({"block": true})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "HOOK_BLOCKED");
    let (_, body) = create_with_id(&app, &admin, Some("req-fail"), json!({"fail": true})).await;
    assert!(body.get("errors").is_none(), "on_error allow: {body}");
    let started = std::time::Instant::now();
    let (_, body) = create_with_id(&app, &admin, Some("req-slow"), json!({"slow": true})).await;
    let took = started.elapsed();
    assert!(body.get("errors").is_none(), "on_error allow: {body}");
    // A 5 ms timeout: well within 2 s (without it, the script would run for some 40 s).
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // stamp ran 4 times: changed 3 times, blocked once; its payload is kept, redacted.
    let stamp = runs(&app, &admin, json!({"h": "stamp"}), 4).await;
    let outcomes: Vec<&str> = stamp
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["CHANGED", "CHANGED", "BLOCKED", "CHANGED"],
        "newest first"
    );
    let first = &stamp[3];
    assert_eq!(first["requestId"], "req-ok");
    assert_eq!(first["kind"], "script");
    assert_eq!(first["event"], "pre_save");
    assert_eq!(first["collection"], "posts");
    assert_eq!(first["payload"]["document"]["password"], "[redacted]");
    assert_eq!(first["payload"]["document"]["title"], "a");
    assert!(first["durationMs"].as_f64().unwrap() >= 0.0);
    // look keeps no payload.
    let look = runs(&app, &admin, json!({"h": "look", "o": "CONTINUE"}), 3).await;
    assert!(look.iter().all(|r| r["payload"].is_null()));
    // A failure's text is kept with the secret taken out; a timeout is told apart.
    let failed = runs(&app, &admin, json!({"o": "FAILED"}), 1).await;
    assert_eq!(failed[0]["hook"], "leaky");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("[redacted]") && !error.contains("s3cr3t"),
        "{error}"
    );
    let slow = runs(&app, &admin, json!({"o": "TIMED_OUT"}), 1).await;
    assert_eq!(slow[0]["hook"], "slow");
    assert_eq!(slow[0]["requestId"], "req-slow");
    // After-hooks are runs too.
    runs(&app, &admin, json!({"h": "after", "e": "post_save"}), 3).await;
    // `since` narrows by start time.
    runs(
        &app,
        &admin,
        json!({"h": "after", "s": "2100-01-01T00:00:00Z"}),
        0,
    )
    .await;

    // Users cannot read the record; a wrong event name is a clear input error.
    let user = app.sign_up("someone@example.com").await;
    let error = app.error_as(Some(&user.token), RUNS, json!({})).await;
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    let error = app
        .error_as(Some(&admin), RUNS, json!({"e": "pre_nothing"}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");

    // And /metrics counts the same runs.
    let metrics = metrics(&app).await;
    for line in [
        "hookql_hook_runs_total{hook=\"stamp\",outcome=\"changed\"} 3",
        "hookql_hook_runs_total{hook=\"stamp\",outcome=\"blocked\"} 1",
        "hookql_hook_runs_total{hook=\"slow\",outcome=\"timed_out\"} 1",
        "hookql_hook_duration_seconds_count{hook=\"look\"} 3",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[tokio::test]
async fn runs_are_pruned_to_the_configured_count() {
    let hooks = "version: 1\ndefaults:\n  rules: { read: public, create: public }\nhooks:\n  - { name: look, on: pre_save, script: '()' }\n";
    let app = spawn_app_with(hooks, |s| {
        with_admin(s);
        s.hook_runs_keep = 3;
    })
    .await;
    let admin = app.admin_token().await;
    for n in 0..5 {
        create_with_id(&app, &admin, None, json!({ "n": n })).await;
    }
    runs(&app, &admin, json!({"h": "look"}), 5).await;
    let pruned = app
        .state
        .store()
        .prune_hook_runs(3, 0)
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    runs(&app, &admin, json!({"h": "look"}), 3).await;
}

async fn metrics(app: &TestApp) -> String {
    app.metrics().await
}

#[tokio::test]
async fn metrics_count_requests_deliveries_and_the_pool() {
    let receiver = Receiver::start().await;
    receiver.usually("/after", Reply::status(500));
    let hooks = format!(
        "version: 1\ndefaults:\n  rules: {{ read: public, create: public }}\nhooks:\n  - {{ name: notify, on: post_save, url: '{}', retry: {{ backoff_ms: 60000 }} }}\n",
        receiver.url("/after")
    );
    let app = spawn_app_with(&hooks, with_admin).await;
    let admin = app.admin_token().await;
    create_with_id(&app, &admin, None, json!({"n": 1})).await;
    let missing = app
        .gql_as(
            Some(&admin),
            "query { document(collection: \"posts\", id: \"01890000-0000-7000-8000-000000000000\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
    app.gql_as(Some(&admin), "query { nosuchfield }", json!({}))
        .await;
    // Wait for the first (failed) attempt, so one delivery is pending for a while.
    for _ in 0..100 {
        if !receiver.received("/after").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = metrics(&app).await;
    for line in [
        "hookql_graphql_requests_total{operation=\"createDocument\",outcome=\"ok\"} 1",
        "hookql_graphql_requests_total{operation=\"document\",outcome=\"NOT_FOUND\"} 1",
        "hookql_graphql_requests_total{operation=\"(invalid)\",outcome=\"BAD_USER_INPUT\"} 1",
        "hookql_graphql_request_duration_seconds_count{operation=\"createDocument\"} 1",
        "hookql_hook_deliveries{status=\"pending\"} 1",
        "hookql_hook_deliveries{status=\"delivered\"} 0",
        "# TYPE hookql_db_pool_connections gauge",
        "hookql_db_pool_max_connections 8",
        "hookql_websocket_connections 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    let oldest: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("hookql_hook_delivery_oldest_pending_seconds "))
        .expect("oldest pending")
        .parse()
        .expect("a number");
    assert!(oldest > 0.0 && oldest < 60.0, "{oldest}");
}

const STATUS: &str = "{ hooksStatus { path loadedAt hash bindings { event count } lastError { at errors { file line column message } } } }";
const RELOAD: &str = "mutation { reloadHooks { path loadedAt hash bindings { event count } lastError { at errors { file line column message } } } }";

#[tokio::test]
async fn admins_see_the_hooks_status_and_reload_on_demand() {
    let first = "version: 1\nhooks:\n  - { name: a, on: pre_save, script: '()' }\n";
    // The watcher is slowed down so that only reloadHooks picks edits up.
    let app = spawn_app_with(first, |s| {
        with_admin(s);
        s.hooks_poll_ms = 3_600_000;
    })
    .await;
    let admin = app.admin_token().await;
    let status = app.data_as(Some(&admin), STATUS, json!({})).await["hooksStatus"].clone();
    assert_eq!(
        status["bindings"],
        json!([{"event": "pre_save", "count": 1}])
    );
    assert!(status["path"].as_str().unwrap().ends_with("hooks.yaml"));
    assert_eq!(status["hash"].as_str().unwrap().len(), 64);
    assert!(status["lastError"].is_null());

    // A broken edit is refused whole, with where and why.
    std::fs::write(
        &app.hooks_path,
        "version: 1\nhooks:\n  - { name: b, on: pre_nothing, script: '()' }\n",
    )
    .unwrap();
    let refused = app.data_as(Some(&admin), RELOAD, json!({})).await["reloadHooks"].clone();
    assert_eq!(
        refused["hash"], status["hash"],
        "the old configuration stays"
    );
    assert_eq!(refused["bindings"], status["bindings"]);
    let error = &refused["lastError"]["errors"][0];
    assert_eq!(error["line"], 3, "{refused}");
    assert!(error["column"].as_i64().unwrap() > 1, "{refused}");
    assert!(
        error["message"].as_str().unwrap().contains("pre_nothing"),
        "{refused}"
    );

    // A valid one takes effect at once.
    std::fs::write(
        &app.hooks_path,
        "version: 1\nhooks:\n  - { name: b, on: [pre_save, post_save], script: '()' }\n",
    )
    .unwrap();
    let loaded = app.data_as(Some(&admin), RELOAD, json!({})).await["reloadHooks"].clone();
    assert!(loaded["lastError"].is_null(), "{loaded}");
    assert_ne!(loaded["hash"], status["hash"]);
    assert_eq!(
        loaded["bindings"],
        json!([{"event": "post_save", "count": 1}, {"event": "pre_save", "count": 1}]),
        "events in name order"
    );
    assert_ne!(loaded["loadedAt"], status["loadedAt"]);
    let user = app.sign_up("someone@example.com").await;
    let error = app.error_as(Some(&user.token), RELOAD, json!({})).await;
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
}
