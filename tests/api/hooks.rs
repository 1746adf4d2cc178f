//! The hook chain on document events, driven over GraphQL: results (allow, block, data, patch,
//! filter, documents), chain order, narrowing, on_error, the sandbox, transactions, after-hooks
//! and hot reload.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{settle, signed_in, spawn_app_with, TestApp, SLOW_SCRIPT};

/// All collections public, plus `hooks` (a YAML list of bindings, indented by two spaces).
pub fn hooks_yaml(hooks: &str) -> String {
    format!("version: 1\nconfig:\n  GREETING: hello\ndefaults:\n  rules: {{ read: public, create: public, update: public, delete: public }}\nhooks:\n{hooks}")
}

/// A server with `hooks`, called as a signed-up user.
pub async fn with_hooks(hooks: &str) -> TestApp {
    signed_in(spawn_app_with(&hooks_yaml(hooks), |_| {}).await).await
}

const CREATE: &str = "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id data version } }";
const UPDATE: &str = "mutation($c: String!, $id: ID!, $d: JSON!) { updateDocument(collection: $c, id: $id, data: $d) { id data version } }";
const DELETE: &str =
    "mutation($c: String!, $id: ID!) { deleteDocument(collection: $c, id: $id) { id data } }";
const LIST: &str =
    "query($c: String!) { documents(collection: $c) { totalCount items { id data } } }";
const GET: &str = "query($c: String!, $id: ID!) { document(collection: $c, id: $id) { id data } }";

async fn items(app: &TestApp, collection: &str) -> Vec<Value> {
    let data = app.data(LIST, json!({"c": collection})).await;
    data["documents"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"].clone())
        .collect()
}

const REQUIRE_TITLE: &str = r#"  - name: require-title
    on: pre_save
    collections: [posts]
    script: |
      let title = data.title ?? "";
      if title == "" { block("A post needs a title.") }
      let slug = title.to_lower();
      slug.replace(" ", "-");
      #{ patch: #{ slug: slug } }
"#;

#[tokio::test]
async fn pre_save_hook_blocks_with_reason_and_nothing_is_stored() {
    let app = with_hooks(REQUIRE_TITLE).await;
    let error = app
        .error(CREATE, json!({"c": "posts", "d": {"body": "x"}}))
        .await;
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED", "{error}");
    assert_eq!(error["extensions"]["reason"], "A post needs a title.");
    assert_eq!(error["extensions"]["hook"], "require-title");
    assert_eq!(error["message"], "A post needs a title.");
    assert_eq!(app.count("posts").await, 0);
}

#[tokio::test]
async fn pre_save_patch_derives_a_field_on_create_and_update() {
    let app = with_hooks(REQUIRE_TITLE).await;
    let doc = app.create("posts", json!({"title": "Hello World"})).await;
    assert_eq!(
        doc["data"],
        json!({"title": "Hello World", "slug": "hello-world"})
    );
    let updated = app
        .data(
            UPDATE,
            json!({"c": "posts", "id": doc["id"], "d": {"title": "Second Try"}}),
        )
        .await;
    assert_eq!(updated["updateDocument"]["data"]["slug"], "second-try");
    let error = app
        .error(
            UPDATE,
            json!({"c": "posts", "id": doc["id"], "d": {"title": ""}}),
        )
        .await;
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED");
    // Other collections are not covered by the hook.
    assert_eq!(app.create("notes", json!({})).await["data"], json!({}));
}

#[tokio::test]
async fn the_chain_runs_in_file_order_each_hook_seeing_the_last_ones_changes() {
    let app = with_hooks(
        r#"  - name: first
    on: pre_save
    script: '#{ patch: #{ n: 1, trail: "a" } }'
  - name: second
    on: pre_save
    script: '#{ patch: #{ n: data.n + 1, trail: data.trail + "b" } }'
  - name: replace
    on: pre_save
    collections: [replaced]
    script: '#{ data: #{ only: data.trail } }'
"#,
    )
    .await;
    let doc = app.create("things", json!({"keep": true})).await;
    assert_eq!(doc["data"], json!({"keep": true, "n": 2, "trail": "ab"}));
    let doc = app.create("replaced", json!({"keep": true})).await;
    assert_eq!(doc["data"], json!({"only": "ab"}));
}

#[tokio::test]
async fn operations_when_changed_and_globs_narrow_a_hook() {
    let app = with_hooks(
        r#"  - name: creates-only
    on: pre_save
    operations: [create]
    collections: ["audit_*"]
    script: '#{ patch: #{ created_by_hook: true } }'
  - name: on-publish
    on: pre_save
    when: { status: { _eq: published } }
    changed: [status]
    script: '#{ patch: #{ published_hook: (data.published_hook ?? 0) + 1 } }'
"#,
    )
    .await;
    let audit = app.create("audit_log", json!({})).await;
    assert_eq!(audit["data"]["created_by_hook"], true);
    assert!(app.create("posts", json!({})).await["data"]["created_by_hook"].is_null());
    let id = audit["id"].clone();
    let updated = app
        .data(UPDATE, json!({"c": "audit_log", "id": id, "d": {"x": 1}}))
        .await;
    assert_eq!(
        updated["updateDocument"]["data"],
        json!({"created_by_hook": true, "x": 1})
    );

    let post = app.create("posts", json!({"status": "draft"})).await;
    assert!(post["data"]["published_hook"].is_null());
    let id = post["id"].clone();
    let published = app
        .data(
            UPDATE,
            json!({"c": "posts", "id": id, "d": {"status": "published"}}),
        )
        .await;
    assert_eq!(published["updateDocument"]["data"]["published_hook"], 1);
    // Still published, status unchanged: `changed` keeps the hook quiet.
    let again = app
        .data(UPDATE, json!({"c": "posts", "id": id, "d": {"title": "t"}}))
        .await;
    assert_eq!(again["updateDocument"]["data"]["published_hook"], 1);
    // Created already published: every field counts as changed.
    let direct = app.create("posts", json!({"status": "published"})).await;
    assert_eq!(direct["data"]["published_hook"], 1);
}

#[tokio::test]
async fn on_error_allow_goes_on_and_block_refuses_with_hook_failed() {
    let app = with_hooks(
        r#"  - name: broken-open
    on: pre_save
    collections: [open]
    script: 'throw "oops"'
  - name: broken-closed
    on: pre_save
    collections: [closed]
    on_error: block
    script: 'let x = data.missing.deeper; #{ patch: #{ never: true } }'
  - name: bad-answer
    on: pre_save
    collections: [answer]
    on_error: block
    script: '#{ pacth: #{ a: 1 } }'
"#,
    )
    .await;
    assert_eq!(
        app.create("open", json!({"a": 1})).await["data"],
        json!({"a": 1})
    );
    for collection in ["closed", "answer"] {
        let error = app.error(CREATE, json!({"c": collection, "d": {}})).await;
        assert_eq!(error["extensions"]["code"], "HOOK_FAILED", "{error}");
        let hook = error["extensions"]["hook"].as_str().unwrap();
        assert!(["broken-closed", "bad-answer"].contains(&hook));
        assert!(
            !error["message"].as_str().unwrap().contains("pacth"),
            "no internals: {error}"
        );
        assert_eq!(app.count(collection).await, 0);
    }
}

#[tokio::test]
async fn the_sandbox_stops_endless_loops_and_huge_allocations_while_others_are_served() {
    // `spin` and `sleepy` run until their timeouts stop them (without: some 40 s).
    let app = with_hooks(
        &r#"  - name: spin
    on: pre_save
    collections: [spin]
    on_error: block
    timeout_ms: 1500
    script: |
      SLOW_SCRIPT
  - name: sleepy
    on: pre_save
    collections: [sleepy]
    on_error: block
    timeout_ms: 300
    script: |
      SLOW_SCRIPT
  - name: hog
    on: pre_save
    collections: [hog]
    on_error: block
    script: |
      let s = "0123456789abcdef";
      loop { s += s; }
  - name: hog-array
    on: pre_save
    collections: [hogs]
    on_error: block
    script: |
      let a = [];
      a.pad(10000000, "x");
      a
"#
        .replace("SLOW_SCRIPT", SLOW_SCRIPT),
    )
    .await;
    let spin = async {
        let started = Instant::now();
        let answer = app.gql(CREATE, json!({"c": "spin", "d": {}})).await;
        (answer, started.elapsed())
    };
    let others = async {
        let started = Instant::now();
        for i in 0..10 {
            app.create("calm", json!({"i": i})).await;
        }
        started.elapsed()
    };
    let ((spin, spun), others) = tokio::join!(spin, others);
    assert_eq!(
        spin["errors"][0]["extensions"]["code"], "HOOK_FAILED",
        "{spin}"
    );
    // Its 1.5 s, and a margin for a busy machine; far below what no timeout would take.
    assert!(
        spun < Duration::from_millis(3500),
        "spin: took {spun:?} for a 1500 ms timeout"
    );
    assert!(
        others < Duration::from_secs(5),
        "other requests were held up: {others:?}"
    );
    // `sleepy`: its 300 ms, well within 2 s.
    for (collection, bound) in [
        ("sleepy", Duration::from_secs(2)),
        ("hog", Duration::from_secs(10)),
        ("hogs", Duration::from_secs(10)),
    ] {
        let started = Instant::now();
        let error = app.error(CREATE, json!({"c": collection, "d": {}})).await;
        let took = started.elapsed();
        assert_eq!(
            error["extensions"]["code"], "HOOK_FAILED",
            "{collection}: {error}"
        );
        assert!(took < bound, "{collection}: took {took:?}");
    }
    // Stopped by their timeouts, not by anything else.
    let metrics = app.metrics().await;
    for hook in ["spin", "sleepy"] {
        let line = format!("hookql_hook_runs_total{{hook=\"{hook}\",outcome=\"timed_out\"}} 1");
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
    assert_eq!(app.count("calm").await, 10);
}

#[tokio::test]
async fn a_before_hooks_writes_commit_with_the_operation_or_roll_back_with_it() {
    let app = with_hooks(
        r#"  - name: journal
    on: pre_save
    collections: [posts]
    script: |
      db.create("journal", #{ title: data.title, at: now(), id: uuid() });
      let n = db.count("journal", #{});
      #{ patch: #{ journal_size: n } }
  - name: veto
    on: pre_save
    collections: [posts]
    script: 'if data.title == "veto" { block("vetoed") }'
"#,
    )
    .await;
    let kept = app.create("posts", json!({"title": "kept"})).await;
    assert_eq!(
        kept["data"]["journal_size"], 1,
        "the hook sees its own write"
    );
    let error = app
        .error(CREATE, json!({"c": "posts", "d": {"title": "veto"}}))
        .await;
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED");
    let journal = items(&app, "journal").await;
    assert_eq!(
        journal.len(),
        1,
        "the vetoed write was rolled back: {journal:?}"
    );
    assert_eq!(journal[0]["title"], "kept");
    assert_eq!(app.count("posts").await, 1);
}

#[tokio::test]
async fn pre_delete_archives_or_blocks_and_post_delete_runs_after() {
    let app = with_hooks(
        r#"  - name: archive
    on: pre_delete
    script: |
      if data.locked == true { block("this document is locked") }
      db.create("archive", #{ of: document_id, was: document, from: collection });
  - name: after-delete
    on: post_delete
    script: 'db.create("deletions", #{ of: document_id });'
"#,
    )
    .await;
    let doc = app.create("notes", json!({"text": "bye"})).await;
    let locked = app.create("notes", json!({"locked": true})).await;
    let deleted = app
        .data(DELETE, json!({"c": "notes", "id": doc["id"]}))
        .await;
    assert_eq!(deleted["deleteDocument"]["data"]["text"], "bye");
    let archive = items(&app, "archive").await;
    assert_eq!(
        archive,
        vec![json!({"of": doc["id"], "was": {"text": "bye"}, "from": "notes"})]
    );
    let error = app
        .error(DELETE, json!({"c": "notes", "id": locked["id"]}))
        .await;
    assert_eq!(error["extensions"]["reason"], "this document is locked");
    assert_eq!(app.count("notes").await, 1);
    let deletions = settle(async || app.count("deletions").await, |n| *n == 1).await;
    assert_eq!(deletions, 1, "the post_delete hook ran once");
}

#[tokio::test]
async fn pre_read_narrows_and_post_read_replaces_what_is_returned() {
    let app = with_hooks(
        r#"  - name: hide-drafts
    on: pre_read
    collections: [posts]
    script: |
      if auth == () { #{ filter: #{ status: "published" } } }
  - name: redact
    on: post_read
    collections: [posts]
    script: |
      for i in 0..documents.len() { documents[i].data.remove("secret"); }
      #{ documents: documents }
"#,
    )
    .await;
    let draft = app
        .create("posts", json!({"status": "draft", "secret": 1}))
        .await;
    app.create("posts", json!({"status": "published", "secret": 2}))
        .await;
    let mine = items(&app, "posts").await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|d| d.get("secret").is_none()), "{mine:?}");
    let anonymous = app.data_as(None, LIST, json!({"c": "posts"})).await;
    assert_eq!(anonymous["documents"]["totalCount"], 1, "{anonymous}");
    assert_eq!(
        anonymous["documents"]["items"][0]["data"],
        json!({"status": "published"})
    );
    let hidden = app
        .error_as(None, GET, json!({"c": "posts", "id": draft["id"]}))
        .await;
    assert_eq!(hidden["extensions"]["code"], "NOT_FOUND");
    let seen = app
        .data(GET, json!({"c": "posts", "id": draft["id"]}))
        .await;
    assert_eq!(seen["document"]["data"], json!({"status": "draft"}));
}

#[tokio::test]
async fn pre_read_can_block() {
    let app = with_hooks(
        "  - name: closed\n    on: pre_read\n    collections: [vault]\n    script: 'block(\"the vault is closed\")'\n",
    )
    .await;
    let error = app.error(LIST, json!({"c": "vault"})).await;
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED");
    assert_eq!(error["extensions"]["reason"], "the vault is closed");
}

#[tokio::test]
async fn after_hooks_run_in_the_background_with_old_data_and_config() {
    let app = with_hooks(
        r#"  - name: history
    on: post_save
    collections: [posts]
    script: |
      db.create("history", #{ op: operation, before: old, after: data, greeting: config.get("GREETING") });
      log("saved", document_id);
"#,
    )
    .await;
    let post = app.create("posts", json!({"v": 1})).await;
    app.data(
        UPDATE,
        json!({"c": "posts", "id": post["id"], "d": {"v": 2}}),
    )
    .await;
    let mut history = settle(async || items(&app, "history").await, |h| h.len() == 2).await;
    history.sort_by_key(|h| h["op"].as_str().unwrap().to_string());
    assert_eq!(
        history,
        vec![
            json!({"op": "create", "before": null, "after": {"v": 1}, "greeting": "hello"}),
            json!({"op": "update", "before": {"v": 1}, "after": {"v": 2}, "greeting": "hello"}),
        ]
    );
}

#[tokio::test]
async fn a_failing_after_hook_never_reaches_the_client() {
    let app = with_hooks(
        "  - name: broken\n    on: post_save\n    on_error: block\n    script: 'throw \"boom\"'\n",
    )
    .await;
    assert_eq!(
        app.create("posts", json!({"a": 1})).await["data"],
        json!({"a": 1})
    );
}

#[tokio::test]
async fn hot_reload_changes_a_hooks_behaviour_between_two_requests() {
    let app =
        with_hooks("  - name: gate\n    on: pre_save\n    script: 'block(\"closed\")'\n").await;
    let error = app.error(CREATE, json!({"c": "posts", "d": {}})).await;
    assert_eq!(error["extensions"]["reason"], "closed");
    std::fs::write(
        &app.hooks_path,
        hooks_yaml(
            "  - name: gate\n    on: pre_save\n    script: '#{ patch: #{ gate: \"open\" } }'\n",
        ),
    )
    .unwrap();
    let created = settle(
        async || app.gql(CREATE, json!({"c": "posts", "d": {}})).await,
        |response| response.get("errors").is_none(),
    )
    .await["data"]["createDocument"]
        .clone();
    assert_eq!(created["data"]["gate"], "open", "{created}");
}
