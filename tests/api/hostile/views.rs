//! What `pre_read` hides and `post_read` redacts stays hidden on every path: mutation answers,
//! not-found versus conflict, and the `oldData` of subscription events.

use serde_json::json;

use crate::helpers::{spawn_app_with, TestApp};
use crate::ws::Ws;

const HOOKS: &str = r#"version: 1
collections:
  posts:
    rules: { read: public, create: authenticated, update: authenticated, delete: authenticated }
hooks:
  - name: hide-drafts
    on: pre_read
    collections: [posts]
    script: |
      let visible = if auth == () { #{ status: "published" } }
                    else { #{ _or: [ #{ status: "published" }, #{ ownerId: auth.id } ] } };
      #{ filter: if filter == () { visible } else { #{ _and: [filter, visible] } } }
  - name: redact
    on: post_read
    collections: [posts]
    script: |
      #{ documents: documents.map(|d| { d.data.remove("secret"); d }) }
"#;

const UPDATE: &str = "mutation($id: ID!, $d: JSON!, $v: Int) { updateDocument(collection: \"posts\", id: $id, data: $d, expectedVersion: $v) { id version data } }";
const DELETE: &str =
    "mutation($id: ID!) { deleteDocument(collection: \"posts\", id: $id) { id version data } }";
const GET: &str =
    "query($id: ID!) { document(collection: \"posts\", id: $id) { id version data } }";

async fn app() -> TestApp {
    spawn_app_with(HOOKS, |_| {}).await
}

fn code(response: &serde_json::Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("none")
}

#[tokio::test]
async fn mutations_cannot_touch_or_reveal_what_pre_read_hides() {
    let app = app().await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let draft = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "Draft", "status": "draft", "secret": "s1"}),
        )
        .await;
    assert!(
        draft["data"].get("secret").is_none(),
        "create answers through post_read: {draft}"
    );
    let id = draft["id"].clone();
    let bob_token = Some(bob.token.as_str());

    let touched = app
        .gql_as(bob_token, UPDATE, json!({"id": id, "d": {}}))
        .await;
    assert_eq!(code(&touched), "NOT_FOUND", "{touched}");
    let pinned = app
        .gql_as(bob_token, UPDATE, json!({"id": id, "d": {}, "v": 7}))
        .await;
    assert_eq!(
        code(&pinned),
        "NOT_FOUND",
        "no version leaks through a conflict: {pinned}"
    );
    let deleted = app.gql_as(bob_token, DELETE, json!({"id": id})).await;
    assert_eq!(code(&deleted), "NOT_FOUND", "{deleted}");

    let still = app.data_as(Some(&ann.token), GET, json!({"id": id})).await;
    assert_eq!(still["document"]["version"], 1, "{still}");
    let updated = app
        .data_as(
            Some(&ann.token),
            UPDATE,
            json!({"id": id, "d": {"title": "Draft 2"}}),
        )
        .await;
    assert_eq!(
        updated["updateDocument"]["data"],
        json!({"title": "Draft 2", "status": "draft"})
    );
    let gone = app
        .data_as(Some(&ann.token), DELETE, json!({"id": id}))
        .await;
    assert_eq!(
        gone["deleteDocument"]["data"],
        json!({"title": "Draft 2", "status": "draft"})
    );
}

#[tokio::test]
async fn subscribers_never_get_old_data_that_pre_read_hides() {
    let app = app().await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let mut ws = Ws::connect(&app.address, Some(&bob.token)).await;
    ws.subscribe("1", "posts", None).await;
    super::subscriptions_open(&app, 1).await;
    let warm = app
        .create_as(
            Some(&bob.token),
            "posts",
            json!({"title": "Mine", "status": "draft"}),
        )
        .await;
    assert_eq!(ws.event("1").await["document"]["id"], warm["id"]);

    let draft = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "Draft", "status": "draft", "body": "unfinished thoughts"}),
        )
        .await;
    app.data_as(
        Some(&ann.token),
        UPDATE,
        json!({"id": draft["id"], "d": {"status": "published", "body": "final"}}),
    )
    .await;
    let event = ws.event("1").await;
    assert_eq!(event["type"], "UPDATED", "{event}");
    assert_eq!(event["document"]["id"], draft["id"]);
    assert_eq!(event["document"]["data"]["body"], "final");
    assert!(
        event["oldData"].is_null(),
        "the draft must not leak: {event}"
    );
}
