//! The shipped `hooks.yaml`, as an attacker meets it: what people copy must hold. Every
//! collection it writes has deliberate rules, its security hooks fail closed, and its invite
//! lookup cannot be tricked by an operator in a client's value.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::Bystander;
use crate::helpers::{spawn_app_with, with_admin, TestApp, NO_HOOKS, PASSWORD};

const DOCS: &str = "query($c: String!, $f: JSON) { documents(collection: $c, filter: $f) { totalCount items { id data } } }";
const CREATE: &str =
    "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id } }";
const UPDATE: &str = "mutation($c: String!, $id: ID!, $d: JSON!) { updateDocument(collection: $c, id: $id, data: $d) { id } }";
const REGISTER: &str = "mutation($e: String!, $p: String!, $d: JSON) { register(email: $e, password: $p, data: $d) { user { id } } }";

/// The shipped hooks.yaml and its scripts, copied into a folder with `edit` applied to the
/// YAML (the folder must outlive the server).
fn shipped_copy(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("hooks.yaml")).expect("hooks.yaml");
    std::fs::write(dir.path().join("hooks.yaml"), edit(yaml)).expect("write");
    std::fs::create_dir(dir.path().join("hooks")).expect("hooks dir");
    for entry in std::fs::read_dir(root.join("hooks")).expect("scripts") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            dir.path().join("hooks").join(path.file_name().unwrap()),
        )
        .expect("copy script");
    }
    let path = dir.path().join("hooks.yaml");
    (dir, path)
}

async fn shipped_app(edit: impl Fn(String) -> String) -> (tempfile::TempDir, TestApp) {
    let (dir, path) = shipped_copy(edit);
    let app = spawn_app_with(NO_HOOKS, |s| {
        s.hooks = Some(path);
        with_admin(s);
    })
    .await;
    (dir, app)
}

/// The shipped hooks with `HOOKQL_INVITE_ONLY` on, an admin token, and one unused invite
/// `code` made by the admin (its `createDocument` answer).
async fn invite_only_app(code: &str) -> (tempfile::TempDir, TestApp, String, Value) {
    let (dir, app) = shipped_app(|y| y.replace("${HOOKQL_INVITE_ONLY:-false}", "\"true\"")).await;
    let admin = app.admin_token().await;
    let invite = app
        .data_as(
            Some(&admin),
            CREATE,
            json!({"c": "invites", "d": {"code": code, "used": false}}),
        )
        .await;
    (dir, app, admin, invite)
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("none")
}

#[tokio::test]
async fn an_ordinary_user_cannot_touch_what_the_shipped_rules_keep_private() {
    let (_dir, app) = shipped_app(|y| y).await;
    let admin = app.admin_token().await;
    app.data_as(
        Some(&admin),
        CREATE,
        json!({"c": "invites", "d": {"code": "ADMIN-CODE", "used": false}}),
    )
    .await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let post = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "Draft", "status": "draft"}),
        )
        .await;
    app.data_as(
        Some(&ann.token),
        "mutation($id: ID!) { deleteDocument(collection: \"posts\", id: $id) { id } }",
        json!({"id": post["id"]}),
    )
    .await;
    let bob_token = Some(bob.token.as_str());
    for collection in ["invites", "posts_archive"] {
        let read = app.gql_as(bob_token, DOCS, json!({"c": collection})).await;
        assert_eq!(code(&read), "FORBIDDEN", "{collection}: {read}");
        let made = app
            .gql_as(
                bob_token,
                CREATE,
                json!({"c": collection, "d": {"code": "MINE"}}),
            )
            .await;
        assert_eq!(code(&made), "FORBIDDEN", "{collection}: {made}");
    }
    // Settings: each user sees and changes only their own, and nobody makes more.
    let settings = crate::helpers::settle(
        async || {
            app.data_as(Some(&ann.token), DOCS, json!({"c": "settings"}))
                .await
        },
        |s| s["documents"]["totalCount"] == 1,
    )
    .await;
    let ann_settings = settings["documents"]["items"][0]["id"].clone();
    let seen = app.data_as(bob_token, DOCS, json!({"c": "settings"})).await;
    assert!(
        seen["documents"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != ann_settings),
        "{seen}"
    );
    let changed = app
        .gql_as(
            bob_token,
            UPDATE,
            json!({"c": "settings", "id": ann_settings, "d": {"theme": "x"}}),
        )
        .await;
    assert_eq!(code(&changed), "NOT_FOUND", "{changed}");
    let made = app
        .gql_as(
            bob_token,
            CREATE,
            json!({"c": "settings", "d": {"theme": "x"}}),
        )
        .await;
    assert_eq!(code(&made), "FORBIDDEN", "{made}");
    // Orders: private to their owner.
    let order = app
        .create_as(Some(&ann.token), "orders", json!({"total": 3}))
        .await;
    let seen = app.data_as(bob_token, DOCS, json!({"c": "orders"})).await;
    assert_eq!(seen["documents"]["totalCount"], 0, "{seen} / {order}");
}

#[tokio::test]
async fn an_operator_in_the_invite_code_cannot_burn_the_admins_invite() {
    let (_dir, app, admin, invite) = invite_only_app("ADMIN-CODE").await;
    let bystander = Bystander::start(&app, None);
    for crafted in [
        json!({"_neq": ""}),
        json!({"_like": "%"}),
        json!(["ADMIN-CODE"]),
        json!({"deep": {"x": 1}}),
        json!(null),
        json!("x".repeat(100_000)),
    ] {
        let attempt = app
            .gql_as(
                None,
                REGISTER,
                json!({"e": "mallory@example.com", "p": PASSWORD, "d": {"invite": crafted}}),
            )
            .await;
        assert!(
            matches!(
                code(&attempt),
                "HOOK_BLOCKED" | "HOOK_FAILED" | "BAD_USER_INPUT"
            ),
            "{crafted}: {attempt}"
        );
    }
    let login = app.login("mallory@example.com", PASSWORD).await;
    assert!(login["errors"].is_array(), "no account was made: {login}");
    let stored = app
        .data_as(Some(&admin), DOCS, json!({"c": "invites"}))
        .await;
    assert_eq!(
        stored["documents"]["items"][0]["data"]["used"], false,
        "{stored}"
    );

    let joined = app
        .gql_as(
            None,
            REGISTER,
            json!({"e": "guest@example.com", "p": PASSWORD, "d": {"invite": "ADMIN-CODE"}}),
        )
        .await;
    assert!(joined["errors"].is_null(), "{joined} / {invite}");
    bystander.assert_served().await;
}

#[tokio::test]
async fn a_huge_filter_cannot_make_hide_drafts_fail_open() {
    let (_dir, app) = shipped_app(|y| y).await;
    let ann = app.sign_up("ann@example.com").await;
    app.create_as(
        Some(&ann.token),
        "posts",
        json!({"title": "Secret", "status": "draft"}),
    )
    .await;
    let public = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "Out", "status": "published"}),
        )
        .await;
    let bystander = Bystander::start(&app, Some(("posts", public["id"].as_str().unwrap())));
    let huge = json!({"title": {"_neq": "x".repeat(1_100_000)}});
    let refused = app
        .gql_as(None, DOCS, json!({"c": "posts", "f": huge}))
        .await;
    assert_eq!(
        code(&refused),
        "BAD_USER_INPUT",
        "{}",
        &refused.to_string()[..300]
    );
    // Within every limit, many strings: still only the published post.
    let wide: Vec<String> = (0..15)
        .map(|i| format!("{i}{}", "y".repeat(4000)))
        .collect();
    let seen = app
        .data_as(
            None,
            DOCS,
            json!({"c": "posts", "f": {"title": {"_nin": wide}}}),
        )
        .await;
    assert_eq!(seen["documents"]["totalCount"], 1, "{seen}");
    assert_eq!(seen["documents"]["items"][0]["data"]["title"], "Out");
    bystander.assert_served().await;
}

#[tokio::test]
async fn racing_sign_ups_cannot_share_one_invite() {
    let (_dir, app, _admin, _invite) = invite_only_app("ONE").await;
    let attempts = (0..8).map(|i| {
        let (client, url) = (app.client.clone(), format!("{}/graphql", app.address));
        let body = json!({"query": REGISTER, "variables": {
            "e": format!("racer{i}@example.com"), "p": PASSWORD, "d": {"invite": "ONE"}}});
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await?
                .json::<Value>()
                .await
        })
    });
    let mut joined = 0;
    for answer in futures_util::future::join_all(attempts).await {
        let answer = answer.expect("task").expect("answer");
        if answer["errors"].is_null() {
            joined += 1;
        } else {
            assert_eq!(code(&answer), "HOOK_BLOCKED", "{answer}");
        }
    }
    assert_eq!(joined, 1, "one invite, one account");
}

#[tokio::test]
async fn users_cannot_lift_their_own_ban_or_pick_their_plan() {
    let (_dir, app) = shipped_app(|y| y).await;
    let refused = app
        .gql_as(
            None,
            REGISTER,
            json!({"e": "rich@example.com", "p": PASSWORD, "d": {"plan": "enterprise"}}),
        )
        .await;
    assert_eq!(code(&refused), "HOOK_BLOCKED", "{refused}");
    let mallory = app.sign_up("mallory@example.com").await;
    let admin = app.admin_token().await;
    app.data_as(
        Some(&admin),
        "mutation($id: ID!) { updateUser(id: $id, data: {banned: true}) { id } }",
        json!({"id": mallory.id}),
    )
    .await;
    let unban = app
        .gql_as(
            Some(&mallory.token),
            "mutation { updateMe(data: {banned: null, plan: \"enterprise\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&unban), "HOOK_BLOCKED", "{unban}");
    let login = app.login("mallory@example.com", PASSWORD).await;
    assert_eq!(code(&login), "HOOK_BLOCKED", "still banned: {login}");
    let other = app
        .gql_as(
            None,
            REGISTER,
            json!({"e": "x@sub.mailinator.com", "p": PASSWORD}),
        )
        .await;
    assert_eq!(
        code(&other),
        "HOOK_BLOCKED",
        "subdomains of disposable domains: {other}"
    );
}

#[tokio::test]
async fn every_post_that_can_be_stored_can_be_archived() {
    let (_dir, app) = shipped_app(|y| y).await;
    let ann = app.sign_up("ann@example.com").await;
    let deep = (0..30).fold(json!(1), |inner, _| json!({"n": inner}));
    let post = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "Deep", "status": "draft", "n": deep}),
        )
        .await;
    app.data_as(
        Some(&ann.token),
        "mutation($id: ID!) { deleteDocument(collection: \"posts\", id: $id) { id } }",
        json!({"id": post["id"]}),
    )
    .await;
    let admin = app.admin_token().await;
    let archive = app
        .data_as(Some(&admin), DOCS, json!({"c": "posts_archive"}))
        .await;
    let archived = &archive["documents"]["items"][0]["data"];
    assert_eq!(archived["title"], "Deep", "{archive}");
    assert_eq!(archived["archived_post_id"], post["id"]);
    // The run is recorded in the background: wait for it, then check it did not fail.
    let runs = crate::helpers::settle(
        async || {
            app.data_as(
                Some(&admin),
                "{ hookRuns(hook: \"archive-on-delete\") { items { outcome error } } }",
                json!({}),
            )
            .await
        },
        |runs| runs["hookRuns"]["items"][0].is_object(),
    )
    .await;
    assert_eq!(
        runs["hookRuns"]["items"][0]["outcome"], "CONTINUE",
        "{runs}"
    );
}
