//! Access rules from hooks.yaml, applied to every document operation for each kind of caller.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Session, TestApp};

const RULES: &str = r#"version: 1
collections:
  open:
    rules: { read: public, create: public, update: public, delete: public }
  members:
    rules: { read: authenticated, create: authenticated, update: authenticated, delete: authenticated }
  private:
    rules: { read: owner, create: authenticated, update: owner, delete: owner }
  staff:
    rules: { read: admin, create: admin, update: admin, delete: admin }
  posts:
    rules:
      read: { _or: [ { status: { _eq: published } }, { ownerId: { _eq: "$auth.id" } } ] }
      create: authenticated
      update: { ownerId: { _eq: "$auth.id" } }
      delete: { _and: [ { ownerId: { _eq: "$auth.id" } }, { status: { _eq: draft } } ] }
  drafts:
    rules: { create: { status: { _eq: draft } } }
"#;

const GET: &str = "query($c: String!, $id: ID!) { document(collection: $c, id: $id) { id data } }";
const LIST: &str =
    "query($c: String!, $l: Int, $o: Int) { documents(collection: $c, limit: $l, offset: $o) { totalCount items { id data } } }";
const UPDATE: &str =
    "mutation($c: String!, $id: ID!) { updateDocument(collection: $c, id: $id, data: {touched: true}) { version } }";
const DELETE: &str =
    "mutation($c: String!, $id: ID!) { deleteDocument(collection: $c, id: $id) { id } }";

struct World {
    app: TestApp,
    ann: Session,
    bob: Session,
    admin: Session,
}

async fn world(rules: &str) -> World {
    let app = spawn_app_with(rules, |s| {
        s.admin_email = Some("root@example.com".into());
        s.admin_password = Some("root password".into());
    })
    .await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let admin = Session::from_payload(
        &app.login("root@example.com", "root password").await["data"]["login"],
    );
    World {
        app,
        ann,
        bob,
        admin,
    }
}

fn code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("(no error)")
        .to_string()
}

impl World {
    async fn call(&self, who: Option<&Session>, query: &str, c: &str, id: &str) -> Value {
        self.app
            .gql_as(
                who.map(|s| s.token.as_str()),
                query,
                json!({"c": c, "id": id}),
            )
            .await
    }

    /// The outcome codes of `document` then `updateDocument` on one document (`OK`: success).
    async fn outcomes(&self, who: Option<&Session>, c: &str, id: &str) -> [String; 2] {
        let mut out = [String::new(), String::new()];
        for (i, query) in [GET, UPDATE].into_iter().enumerate() {
            let response = self.call(who, query, c, id).await;
            out[i] = if response.get("errors").is_none() {
                "OK".into()
            } else {
                code(&response)
            };
        }
        out
    }

    async fn list_count(&self, who: Option<&Session>, c: &str) -> Result<i64, String> {
        let response = self
            .app
            .gql_as(who.map(|s| s.token.as_str()), LIST, json!({"c": c}))
            .await;
        match response.get("errors") {
            None => Ok(response["data"]["documents"]["totalCount"]
                .as_i64()
                .unwrap()),
            Some(_) => Err(code(&response)),
        }
    }
}

#[tokio::test]
async fn public_collections_are_open_to_anonymous_callers() {
    let w = world(RULES).await;
    let doc = w.app.create_as(None, "open", json!({"n": 1})).await;
    assert_eq!(
        doc["ownerId"],
        Value::Null,
        "anonymous documents have no owner"
    );
    let id = doc["id"].as_str().unwrap();
    assert_eq!(w.outcomes(None, "open", id).await, ["OK", "OK"]);
    assert_eq!(w.list_count(None, "open").await, Ok(1));
    assert!(w
        .call(None, DELETE, "open", id)
        .await
        .get("errors")
        .is_none());
}

#[tokio::test]
async fn authenticated_collections_need_a_signed_in_caller() {
    let w = world(RULES).await;
    let create = w
        .app
        .gql_as(
            None,
            "mutation { createDocument(collection: \"members\", data: {}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&create), "UNAUTHENTICATED");
    let doc = w
        .app
        .create_as(Some(&w.ann.token), "members", json!({"n": 1}))
        .await;
    assert_eq!(
        doc["ownerId"],
        w.ann.id.as_str(),
        "createDocument sets the owner"
    );
    let id = doc["id"].as_str().unwrap();
    assert_eq!(
        w.outcomes(None, "members", id).await,
        ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    );
    assert_eq!(
        w.list_count(None, "members").await,
        Err("UNAUTHENTICATED".into())
    );
    assert_eq!(w.outcomes(Some(&w.bob), "members", id).await, ["OK", "OK"]);
    assert_eq!(w.list_count(Some(&w.bob), "members").await, Ok(1));
    assert!(w
        .call(Some(&w.bob), DELETE, "members", id)
        .await
        .get("errors")
        .is_none());
}

#[tokio::test]
async fn owner_collections_hide_other_users_documents_like_missing_ones() {
    let w = world(RULES).await;
    let doc = w
        .app
        .create_as(Some(&w.ann.token), "private", json!({"secret": 1}))
        .await;
    let id = doc["id"].as_str().unwrap();
    // Bob gets exactly what he would get for an id that does not exist.
    let missing = "01a2133e-8321-7030-a1d0-0dd8b7981235";
    for query in [GET, UPDATE, DELETE] {
        let hidden = w.call(Some(&w.bob), query, "private", id).await;
        let absent = w.call(Some(&w.bob), query, "private", missing).await;
        assert_eq!(code(&hidden), "NOT_FOUND", "{hidden}");
        assert_eq!(
            hidden["errors"][0]["message"]
                .as_str()
                .unwrap()
                .replace(id, "ID"),
            absent["errors"][0]["message"]
                .as_str()
                .unwrap()
                .replace(missing, "ID"),
        );
    }
    assert_eq!(w.list_count(Some(&w.bob), "private").await, Ok(0));
    assert_eq!(
        w.outcomes(None, "private", id).await,
        ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    );
    assert_eq!(w.outcomes(Some(&w.ann), "private", id).await, ["OK", "OK"]);
    assert_eq!(
        w.outcomes(Some(&w.admin), "private", id).await,
        ["OK", "OK"],
        "admins pass every rule"
    );
    assert_eq!(w.list_count(Some(&w.admin), "private").await, Ok(1));
    assert!(w
        .call(Some(&w.ann), DELETE, "private", id)
        .await
        .get("errors")
        .is_none());
}

#[tokio::test]
async fn admin_collections_are_for_admins_only() {
    let w = world(RULES).await;
    let refused = w
        .app
        .gql_as(
            Some(&w.ann.token),
            "mutation { createDocument(collection: \"staff\", data: {}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let doc = w
        .app
        .create_as(Some(&w.admin.token), "staff", json!({"n": 1}))
        .await;
    let id = doc["id"].as_str().unwrap();
    assert_eq!(
        w.outcomes(Some(&w.ann), "staff", id).await,
        ["FORBIDDEN", "FORBIDDEN"]
    );
    assert_eq!(
        w.list_count(Some(&w.ann), "staff").await,
        Err("FORBIDDEN".into())
    );
    assert_eq!(
        w.list_count(None, "staff").await,
        Err("UNAUTHENTICATED".into())
    );
    assert_eq!(w.outcomes(Some(&w.admin), "staff", id).await, ["OK", "OK"]);
    let deleted = w.call(Some(&w.ann), DELETE, "staff", id).await;
    assert_eq!(code(&deleted), "FORBIDDEN");
}

#[tokio::test]
async fn filter_rules_use_the_callers_id_on_list_get_update_and_delete() {
    let w = world(RULES).await;
    let ann = Some(w.ann.token.as_str());
    let draft = w
        .app
        .create_as(ann, "posts", json!({"status": "draft"}))
        .await;
    let published = w
        .app
        .create_as(ann, "posts", json!({"status": "published"}))
        .await;
    let (draft, published) = (
        draft["id"].as_str().unwrap(),
        published["id"].as_str().unwrap(),
    );

    // Others see published posts only.
    assert_eq!(w.list_count(Some(&w.bob), "posts").await, Ok(1));
    assert_eq!(w.list_count(None, "posts").await, Ok(1));
    assert_eq!(w.list_count(Some(&w.ann), "posts").await, Ok(2));
    assert_eq!(
        code(&w.call(Some(&w.bob), GET, "posts", draft).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(&w.call(Some(&w.bob), GET, "posts", published).await),
        "(no error)"
    );

    // They can read the published one but not change it.
    assert_eq!(
        code(&w.call(Some(&w.bob), UPDATE, "posts", published).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&w.call(Some(&w.bob), DELETE, "posts", published).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&w.call(None, UPDATE, "posts", published).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        code(&w.call(Some(&w.bob), UPDATE, "posts", draft).await),
        "NOT_FOUND"
    );

    // The owner can update both; the delete rule also wants a draft.
    assert_eq!(
        code(&w.call(Some(&w.ann), UPDATE, "posts", published).await),
        "(no error)"
    );
    assert_eq!(
        code(&w.call(Some(&w.ann), DELETE, "posts", published).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&w.call(Some(&w.ann), DELETE, "posts", draft).await),
        "(no error)"
    );
    // A refused update changed nothing.
    let read = w.call(Some(&w.ann), GET, "posts", published).await;
    assert_eq!(
        read["data"]["document"]["data"],
        json!({"status": "published", "touched": true})
    );
}

#[tokio::test]
async fn a_create_rule_filter_checks_the_new_document() {
    let w = world(RULES).await;
    let create = "mutation($d: JSON!) { createDocument(collection: \"drafts\", data: $d) { id } }";
    let refused = w
        .app
        .gql_as(
            Some(&w.ann.token),
            create,
            json!({"d": {"status": "published"}}),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let ok = w
        .app
        .gql_as(
            Some(&w.ann.token),
            create,
            json!({"d": {"status": "draft"}}),
        )
        .await;
    assert_eq!(code(&ok), "(no error)");
    assert_eq!(
        w.list_count(Some(&w.admin), "drafts").await,
        Ok(1),
        "the refused one was not stored"
    );
}

#[tokio::test]
async fn a_rule_that_hides_most_documents_keeps_counts_and_pages_exact() {
    let w = world(RULES).await;
    for i in 0..25 {
        w.app
            .create_as(Some(&w.bob.token), "private", json!({"i": i}))
            .await;
        if i % 8 == 0 {
            w.app
                .create_as(Some(&w.ann.token), "private", json!({"i": i}))
                .await;
        }
    }
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = w
            .app
            .data_as(
                Some(&w.ann.token),
                LIST,
                json!({"c": "private", "l": 2, "o": offset}),
            )
            .await;
        assert_eq!(page["documents"]["totalCount"], 4);
        for item in page["documents"]["items"].as_array().unwrap() {
            seen.push(item["data"]["i"].as_i64().unwrap());
        }
    }
    assert_eq!(seen, vec![0, 8, 16, 24]);
    assert_eq!(w.list_count(Some(&w.bob), "private").await, Ok(25));
}

#[tokio::test]
async fn collections_without_rules_use_the_defaults() {
    let w = world(RULES).await;
    let doc = w
        .app
        .create_as(Some(&w.ann.token), "notes", json!({"n": 1}))
        .await;
    let id = doc["id"].as_str().unwrap();
    // Built-in: read/create authenticated, update/delete owner.
    assert_eq!(
        w.outcomes(Some(&w.bob), "notes", id).await,
        ["OK", "FORBIDDEN"]
    );
    assert_eq!(
        code(&w.call(Some(&w.bob), DELETE, "notes", id).await),
        "FORBIDDEN"
    );
    assert_eq!(
        w.outcomes(None, "notes", id).await,
        ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    );
    assert_eq!(w.outcomes(Some(&w.ann), "notes", id).await, ["OK", "OK"]);
}

#[tokio::test]
async fn rules_follow_hooks_yaml_edits_without_a_restart() {
    let w = world("version: 1\ndefaults:\n  rules: { read: public }\n").await;
    w.app
        .create_as(Some(&w.ann.token), "notes", json!({}))
        .await;
    assert_eq!(w.list_count(None, "notes").await, Ok(1));
    std::fs::write(
        &w.app.hooks_path,
        "version: 1\ndefaults:\n  rules: { read: admin }\n",
    )
    .unwrap();
    w.app
        .eventually("the new rules are in force", |s| {
            s.hooks().current().default_rules.read == hookql::manifest::Rule::Admin
        })
        .await;
    assert_eq!(
        w.list_count(None, "notes").await,
        Err("UNAUTHENTICATED".into())
    );
    assert_eq!(
        w.list_count(Some(&w.ann), "notes").await,
        Err("FORBIDDEN".into())
    );
    assert_eq!(w.list_count(Some(&w.admin), "notes").await, Ok(1));
}
