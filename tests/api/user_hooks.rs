//! The hook chain on user events, driven over GraphQL: invite-only sign-up that consumes an
//! invite atomically, blocked domains, default records, bans and claims at login, counting
//! logins, profile updates and deletions.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{settle, spawn_app_with, TestApp, PASSWORD};
use crate::hooks::hooks_yaml;

const REGISTER: &str = "mutation($e: String!, $p: String!, $d: JSON) { register(email: $e, password: $p, data: $d) { accessToken user { id data } } }";
const UPDATE_ME: &str = "mutation($d: JSON!) { updateMe(data: $d) { data } }";
const DELETE_ME: &str = "mutation($p: String!) { deleteMe(password: $p) }";
const DOCS: &str =
    "query($c: String!) { documents(collection: $c) { totalCount items { data ownerId } } }";

async fn app(hooks: &str) -> TestApp {
    spawn_app_with(&hooks_yaml(hooks), |_| {}).await
}

async fn register(app: &TestApp, email: &str, data: Value) -> Value {
    app.gql_as(
        None,
        REGISTER,
        json!({"e": email, "p": PASSWORD, "d": data}),
    )
    .await
}

async fn docs(app: &TestApp, collection: &str) -> Value {
    app.data_as(None, DOCS, json!({"c": collection})).await["documents"].clone()
}

const INVITE_ONLY: &str = r#"  - name: invite-only
    on: pre_register
    script: |
      let code = data.invite ?? "";
      let invite = db.find_one("invites", #{ code: code, used: false });
      if invite == () { block("sign-up needs a valid invite code") }
      db.update("invites", invite.id, #{ used: true, by: email });
      data.remove("invite");
      #{ data: data }
  - name: no-disposable-email
    on: pre_register
    script: |
      if email.ends_with("@mailinator.com") { block("disposable email addresses are not accepted") }
  - name: welcome
    on: post_register
    script: |
      db.create("welcome", #{ user: user.id, email: user.email });
"#;

#[tokio::test]
async fn invite_only_sign_up_consumes_the_invite_atomically() {
    let app = spawn_app_with(&hooks_yaml(INVITE_ONLY), |s| {
        s.admin_email = Some("root@example.com".into());
        s.admin_password = Some(PASSWORD.into());
    })
    .await;
    let admin = app.login("root@example.com", PASSWORD).await;
    let admin = admin["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.create_as(
        Some(&admin),
        "invites",
        json!({"code": "abc", "used": false}),
    )
    .await;
    app.create_as(
        Some(&admin),
        "invites",
        json!({"code": "xyz", "used": false}),
    )
    .await;

    let refused = register(&app, "ann@example.com", json!({"invite": "nope"})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "HOOK_BLOCKED",
        "{refused}"
    );
    assert_eq!(refused["errors"][0]["extensions"]["hook"], "invite-only");

    let ok = register(
        &app,
        "ann@example.com",
        json!({"invite": "abc", "name": "Ann"}),
    )
    .await;
    assert_eq!(
        ok["data"]["register"]["user"]["data"],
        json!({"name": "Ann"}),
        "{ok}"
    );
    let reuse = register(&app, "bob@example.com", json!({"invite": "abc"})).await;
    assert_eq!(
        reuse["errors"][0]["extensions"]["reason"],
        "sign-up needs a valid invite code"
    );

    // The invite is used up only if the sign-up itself succeeds.
    let taken = register(&app, "ann@example.com", json!({"invite": "xyz"})).await;
    assert_eq!(
        taken["errors"][0]["extensions"]["code"], "CONFLICT",
        "{taken}"
    );
    let disposable = register(&app, "x@mailinator.com", json!({"invite": "xyz"})).await;
    assert_eq!(
        disposable["errors"][0]["extensions"]["code"],
        "HOOK_BLOCKED"
    );
    let invites = docs(&app, "invites").await;
    let used: Vec<&Value> = invites["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["data"]["used"] == true)
        .collect();
    assert_eq!(used.len(), 1, "{invites}");
    assert_eq!(used[0]["data"]["by"], "ann@example.com");

    let welcomed = settle(
        async || docs(&app, "welcome").await["totalCount"].as_i64().unwrap(),
        |n| *n == 1,
    )
    .await;
    assert_eq!(welcomed, 1, "post_register ran once, for Ann only");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn pre_login_bans_and_adds_claims_and_post_login_counts() {
    let app = app(r#"  - name: banned
    on: pre_login
    script: |
      if user.data.banned == true { block("this account is suspended") }
      #{ claims: #{ plan: user.data.plan ?? "free", role: "admin" } }
  - name: count-logins
    on: post_login
    script: |
      db.update_user(user.id, #{ logins: (user.data.logins ?? 0) + 1 });
"#)
    .await;
    app.sign_up("ann@example.com").await;
    let login = app.login("ann@example.com", PASSWORD).await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("signed in");
    let claims = claims_of(token);
    assert_eq!(claims["plan"], "free", "{claims}");
    assert_eq!(
        claims["role"], "user",
        "a reserved claim cannot be overridden"
    );

    let logins = settle(
        async || {
            app.data_as(Some(token), "{ me { data } }", json!({})).await["me"]["data"]["logins"]
                .clone()
        },
        |logins| *logins == 1,
    )
    .await;
    assert_eq!(logins, 1);

    // Ban Ann through her own profile, then try again.
    app.data_as(Some(token), UPDATE_ME, json!({"d": {"banned": true}}))
        .await;
    let banned = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(
        banned["errors"][0]["extensions"]["code"], "HOOK_BLOCKED",
        "{banned}"
    );
    assert_eq!(
        banned["errors"][0]["extensions"]["reason"],
        "this account is suspended"
    );
}

#[tokio::test]
async fn profile_updates_and_deletions_run_their_hooks() {
    let app = app(r#"  - name: tidy-profile
    on: pre_user_update
    script: |
      if data.nickname == "admin" { block("that nickname is reserved") }
      #{ patch: #{ updated_by_hook: true, previous: old.nickname } }
  - name: keep-the-founder
    on: pre_user_delete
    script: |
      if user.data.founder == true { block("the founder's account cannot be deleted") }
  - name: farewell
    on: [post_user_delete, post_user_update]
    script: |
      db.create("log", #{ event: event, email: user.email });
"#)
    .await;
    let ann = app.sign_up("ann@example.com").await;
    let updated = app
        .data_as(
            Some(&ann.token),
            UPDATE_ME,
            json!({"d": {"nickname": "annie"}}),
        )
        .await;
    assert_eq!(
        updated["updateMe"]["data"],
        json!({"nickname": "annie", "updated_by_hook": true})
    );
    let refused = app
        .error_as(
            Some(&ann.token),
            UPDATE_ME,
            json!({"d": {"nickname": "admin"}}),
        )
        .await;
    assert_eq!(refused["extensions"]["reason"], "that nickname is reserved");

    app.data_as(Some(&ann.token), UPDATE_ME, json!({"d": {"founder": true}}))
        .await;
    let kept = app
        .error_as(Some(&ann.token), DELETE_ME, json!({"p": PASSWORD}))
        .await;
    assert_eq!(kept["extensions"]["code"], "HOOK_BLOCKED", "{kept}");

    let bob = app.sign_up("bob@example.com").await;
    let gone = app
        .data_as(Some(&bob.token), DELETE_ME, json!({"p": PASSWORD}))
        .await;
    assert_eq!(gone["deleteMe"], true);
    let logged = async || -> Vec<String> {
        let log = docs(&app, "log").await;
        let items = log["items"].as_array().unwrap();
        items
            .iter()
            .map(|i| i["data"]["event"].as_str().unwrap().to_string())
            .collect()
    };
    let mut events = settle(logged, |events| events.len() == 3).await;
    events.sort();
    assert_eq!(
        events,
        ["post_user_delete", "post_user_update", "post_user_update"]
    );
}

/// The sample hooks.yaml's examples do what its comments say.
#[tokio::test]
async fn the_shipped_hooks_yaml_examples_work() {
    let app = spawn_app_with(crate::helpers::NO_HOOKS, |s| {
        s.hooks = Some(crate::readme::shipped_hooks());
        crate::helpers::with_admin(s);
    })
    .await;
    let disposable = register(&app, "x@mailinator.com", json!({})).await;
    assert_eq!(
        disposable["errors"][0]["extensions"]["hook"], "no-disposable-email",
        "{disposable}"
    );
    let ann = app.sign_up("ann@example.com").await;
    let no_title = app
        .gql_as(
            Some(&ann.token),
            "mutation { createDocument(collection: \"posts\", data: {body: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        no_title["errors"][0]["extensions"]["reason"],
        "A post needs a title."
    );
    let draft = app
        .create_as(
            Some(&ann.token),
            "posts",
            json!({"title": "My Draft", "status": "draft"}),
        )
        .await;
    assert_eq!(draft["data"]["slug"], "my-draft");
    app.create_as(
        Some(&ann.token),
        "posts",
        json!({"title": "Out", "status": "published"}),
    )
    .await;
    assert_eq!(
        docs(&app, "posts").await["totalCount"],
        1,
        "anonymous callers see no drafts"
    );
    let mine = app
        .data_as(Some(&ann.token), DOCS, json!({"c": "posts"}))
        .await;
    assert_eq!(mine["documents"]["totalCount"], 2);
    app.data_as(
        Some(&ann.token),
        "mutation($id: ID!) { deleteDocument(collection: \"posts\", id: $id) { id } }",
        json!({"id": draft["id"]}),
    )
    .await;
    let admin = app.admin_token().await;
    let archive = app
        .data_as(Some(&admin), DOCS, json!({"c": "posts_archive"}))
        .await;
    assert_eq!(
        archive["documents"]["items"][0]["data"]["title"], "My Draft",
        "{archive}"
    );
    let login = app.login("ann@example.com", PASSWORD).await;
    let token = login["data"]["login"]["accessToken"].as_str().unwrap();
    assert_eq!(claims_of(token)["plan"], "free");
    let seen = settle(
        async || {
            let settings = app
                .data_as(Some(token), DOCS, json!({"c": "settings"}))
                .await;
            let me = app
                .data_as(Some(token), "{ me { id data } }", json!({}))
                .await;
            (
                settings["documents"]["items"][0].clone(),
                me["me"]["data"]["logins"].clone(),
            )
        },
        |seen| seen.1 == 1 && !seen.0.is_null(),
    )
    .await;
    assert_eq!(
        seen.0["ownerId"],
        Value::from(ann.id.clone()),
        "default settings belong to Ann"
    );
    assert_eq!(
        seen.0["data"],
        json!({"theme": "light", "notifications": true})
    );
    assert_eq!(seen.1, 1, "logins are counted");
}

/// A token issued while a slow `pre_user_delete` hook runs is refused once the deletion
/// commits, for as long as it would have lived: the revocation is dated from the write, not
/// from before the hooks (the hooked-write refactor once dated it from before them).
#[tokio::test]
async fn a_token_issued_while_pre_user_delete_runs_is_revoked_for_its_whole_life() {
    use std::time::{Duration, Instant};

    use crate::receiver::{Receiver, Reply};

    let receiver = Receiver::start().await;
    receiver.usually(
        "/slow",
        Reply::json(json!({})).after(Duration::from_secs(3)),
    );
    let hooks = format!(
        "  - name: slow\n    on: pre_user_delete\n    timeout_ms: 20000\n    url: {}\n",
        receiver.url("/slow")
    );
    let app = spawn_app_with(&hooks_yaml(&hooks), |s| {
        crate::helpers::with_admin(s);
        s.access_token_ttl_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let user = app.sign_up("leaver@example.com").await;
    let started = Instant::now();
    let deleting = {
        let (client, url) = (app.client.clone(), format!("{}/graphql", app.address));
        let body = json!({"query": "mutation($id: ID!) { deleteUser(id: $id) }", "variables": {"id": user.id}});
        tokio::spawn(async move {
            let sent = client.post(url).bearer_auth(admin).json(&body).send().await;
            sent.expect("the delete is answered").json::<Value>().await
        })
    };
    // Signed in 2 s into the hook's 3 s: this token lives until about 2 + 1 s, plus the 5 s
    // leeway every expiry gets.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let login = app.login("leaver@example.com", PASSWORD).await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("signed in while the hook runs")
        .to_string();
    let deleted = deleting.await.expect("the delete ran").expect("JSON");
    assert_eq!(deleted["data"]["deleteUser"], true, "{deleted}");
    let create = "mutation { createDocument(collection: \"notes\", data: {}) { id } }";
    while started.elapsed() < Duration::from_secs(9) {
        let answer = app.gql_as(Some(&token), create, json!({})).await;
        assert!(
            answer.get("errors").is_some(),
            "a deleted user's token was accepted {:?} after the delete began: {answer}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
