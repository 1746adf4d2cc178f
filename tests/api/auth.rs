//! App users and tokens: sign-up, sign-in, sessions, bad tokens, profiles, admin operations.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use std::time::Duration;

use crate::helpers::{
    signed_in, spawn_app, spawn_app_sharing, spawn_app_with, with_admin, Session, TestApp,
    NO_HOOKS, PASSWORD, PUBLIC_RULES,
};
use crate::ws::{Next, Ws};

const ME: &str = "{ me { id email role data lastLoginAt } }";
const REFRESH: &str =
    "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken expiresIn user { id } } }";
const LOGOUT: &str = "mutation($r: String!) { logout(refreshToken: $r) }";
const UPDATE_ME: &str = "mutation($d: JSON, $e: String, $p: String, $c: String) { updateMe(data: $d, email: $e, password: $p, currentPassword: $c) { id email data updatedAt } }";
const TEST_SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

fn code(error: &Value) -> &str {
    error["extensions"]["code"].as_str().unwrap_or("")
}

async fn anonymous() -> TestApp {
    spawn_app_with(NO_HOOKS, |_| {}).await
}

async fn admin_app() -> TestApp {
    spawn_app_with(NO_HOOKS, |s| {
        s.admin_email = Some("Root@Example.com".into());
        s.admin_password = Some("root password".into());
    })
    .await
}

async fn login_session(app: &TestApp, email: &str, password: &str) -> Session {
    let response = app.login(email, password).await;
    assert!(response.get("errors").is_none(), "{response}");
    Session::from_payload(&response["data"]["login"])
}

/// A JWT signed with HMAC-SHA256 over whatever header and claims a test wants.
fn jwt(header: Value, claims: Value, secret: &str) -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn claims(user_id: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user_id, "email": "tester@example.com", "role": "admin", "iat": now, "exp": now + exp_offset, "iss": "hookql"})
}

#[tokio::test]
async fn sign_up_then_sign_in_and_ask_who_i_am() {
    let app = anonymous().await;
    let response = app
        .data_as(
            None,
            "mutation { register(email: \" Ann@Example.com\", password: \"long enough\", data: {name: \"Ann\"}) { accessToken refreshToken expiresIn user { id email role data lastLoginAt } } }",
            json!({}),
        )
        .await;
    let payload = &response["register"];
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["email"], "ann@example.com");
    assert_eq!(payload["user"]["role"], "user");
    assert_eq!(payload["user"]["data"], json!({"name": "Ann"}));
    assert!(payload["user"]["lastLoginAt"].is_string());
    let token = payload["accessToken"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let me = app.data_as(Some(token), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "ann@example.com");
    assert_eq!(app.data_as(None, ME, json!({})).await["me"], Value::Null);

    let session = login_session(&app, "ANN@example.com", "long enough").await;
    assert_ne!(session.token, token);
    let me = app.data_as(Some(&session.token), ME, json!({})).await;
    assert_eq!(me["me"]["id"], payload["user"]["id"]);
}

#[tokio::test]
async fn bad_sign_up_input_names_the_field_and_creates_nothing() {
    let app = anonymous().await;
    let register = "mutation($e: String!, $p: String!, $d: JSON) { register(email: $e, password: $p, data: $d) { accessToken } }";
    for (email, password, data, field, fragment) in [
        (
            "ann@example.com",
            "short",
            Value::Null,
            "password",
            "at least 8",
        ),
        (
            "not-an-email",
            "long enough",
            Value::Null,
            "email",
            "name@domain",
        ),
        (
            "ann@example.com",
            "long enough",
            json!([1]),
            "data",
            "JSON object",
        ),
    ] {
        let error = app
            .error_as(
                None,
                register,
                json!({"e": email, "p": password, "d": data}),
            )
            .await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], field, "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(fragment),
            "{error}"
        );
    }
    let login = app.login("ann@example.com", "long enough").await;
    assert_eq!(code(&login["errors"][0]), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_duplicate_email_in_another_case_is_a_conflict() {
    let app = anonymous().await;
    app.sign_up("Ann@Example.com").await;
    let error = app
        .error_as(
            None,
            "mutation { register(email: \"ann@EXAMPLE.com\", password: \"another password\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&error), "CONFLICT");
    assert_eq!(
        error["message"],
        "an account with this email already exists"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = anonymous().await;
    app.sign_up("ann@example.com").await;
    let wrong = app.login("ann@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", "not the password").await;
    assert_eq!(code(&wrong["errors"][0]), "UNAUTHENTICATED");
    assert_eq!(wrong["errors"][0]["message"], "invalid email or password");
    assert_eq!(wrong["errors"], unknown["errors"]);
}

#[tokio::test]
async fn repeated_failures_for_one_email_are_slowed_down_then_allowed_again() {
    let app = anonymous().await;
    app.sign_up("ann@example.com").await;
    for _ in 0..6 {
        let failed = app.login("ann@example.com", "guess guess").await;
        assert_eq!(code(&failed["errors"][0]), "UNAUTHENTICATED");
    }
    // Locked now, even for the right password; other emails are not affected.
    let locked = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(code(&locked["errors"][0]), "RATE_LIMITED", "{locked}");
    assert_eq!(locked["errors"][0]["extensions"]["retryAfter"], 1);
    app.sign_up("bob@example.com").await;
    login_session(&app, "bob@example.com", PASSWORD).await;
    // The lock ends by itself.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    login_session(&app, "ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_ends_the_session() {
    let app = anonymous().await;
    let first = app.sign_up("ann@example.com").await;
    let other_session = login_session(&app, "ann@example.com", PASSWORD).await;

    let rotated = app
        .data_as(None, REFRESH, json!({"r": first.refresh}))
        .await;
    let second = Session::from_payload(&rotated["refreshToken"]);
    assert_eq!(second.id, first.id);
    assert_ne!(second.refresh, first.refresh);
    let me = app.data_as(Some(&second.token), ME, json!({})).await;
    assert_eq!(me["me"]["id"], first.id.as_str());

    // The used token again: refused, and the whole session (its successor too) is revoked.
    let reuse = app
        .error_as(None, REFRESH, json!({"r": first.refresh}))
        .await;
    assert_eq!(code(&reuse), "UNAUTHENTICATED");
    assert!(reuse["message"].as_str().unwrap().contains("already used"));
    let successor = app
        .error_as(None, REFRESH, json!({"r": second.refresh}))
        .await;
    assert_eq!(code(&successor), "UNAUTHENTICATED");
    // Another sign-in of the same user is a separate session and still works.
    app.data_as(None, REFRESH, json!({"r": other_session.refresh}))
        .await;
    let unknown = app.error_as(None, REFRESH, json!({"r": "made-up"})).await;
    assert_eq!(code(&unknown), "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = anonymous().await;
    let session = app.sign_up("ann@example.com").await;
    let out = app
        .data_as(None, LOGOUT, json!({"r": session.refresh}))
        .await;
    assert_eq!(out["logout"], true);
    let refused = app
        .error_as(None, REFRESH, json!({"r": session.refresh}))
        .await;
    assert_eq!(code(&refused), "UNAUTHENTICATED");
    let again = app
        .data_as(None, LOGOUT, json!({"r": session.refresh}))
        .await;
    assert_eq!(again["logout"], false);
}

#[tokio::test]
async fn bad_access_tokens_are_refused_with_unauthenticated() {
    let app = anonymous().await;
    let ann = app.sign_up("ann@example.com").await;
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let mut tampered = ann.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let none = {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims(&ann.id, 600))
        )
    };
    let cases = [
        (
            "expired",
            jwt(hs256.clone(), claims(&ann.id, -120), TEST_SECRET),
        ),
        ("tampered signature", tampered),
        ("alg none", none),
        (
            "another secret",
            jwt(
                hs256.clone(),
                claims(&ann.id, 600),
                "some-other-secret-of-32-bytes-or-more",
            ),
        ),
        (
            "RS256 header over an HMAC",
            jwt(
                json!({"alg": "RS256", "typ": "JWT"}),
                claims(&ann.id, 600),
                TEST_SECRET,
            ),
        ),
        (
            "another issuer",
            jwt(
                hs256.clone(),
                {
                    let mut c = claims(&ann.id, 600);
                    c["iss"] = json!("evil");
                    c
                },
                TEST_SECRET,
            ),
        ),
        (
            "exp as a string",
            jwt(
                hs256.clone(),
                {
                    let mut c = claims(&ann.id, 600);
                    c["exp"] = json!("never");
                    c
                },
                TEST_SECRET,
            ),
        ),
        ("malformed", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        for query in [ME, "{ documents(collection: \"posts\") { totalCount } }"] {
            let error = app.error_as(Some(&token), query, json!({})).await;
            assert_eq!(code(&error), "UNAUTHENTICATED", "{what}: {error}");
        }
    }
    // A well-formed token signed with our secret is accepted: the checks above are not vacuous.
    let forged_but_valid = jwt(hs256, claims(&ann.id, 600), TEST_SECRET);
    let me = app.data_as(Some(&forged_but_valid), ME, json!({})).await;
    assert_eq!(me["me"]["id"], ann.id.as_str());
    // A stale token does not stop a client from signing in again.
    let stale = jwt(json!({"alg": "HS256"}), claims(&ann.id, -120), TEST_SECRET);
    let response = app
        .gql_as(
            Some(&stale),
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({"e": "ann@example.com", "p": PASSWORD}),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response}");
}

#[tokio::test]
async fn update_me_merges_the_profile_and_needs_the_current_password_for_credentials() {
    let app = signed_in(anonymous().await).await;
    let merged = app
        .data(
            UPDATE_ME,
            json!({"d": {"name": "Tess", "prefs": {"dark": true}}}),
        )
        .await;
    assert_eq!(
        merged["updateMe"]["data"],
        json!({"name": "Tess", "prefs": {"dark": true}})
    );
    let merged = app
        .data(UPDATE_ME, json!({"d": {"prefs": {"dark": null}}}))
        .await;
    assert_eq!(
        merged["updateMe"]["data"],
        json!({"name": "Tess", "prefs": {}})
    );

    let missing = app.error(UPDATE_ME, json!({"e": "tess@example.com"})).await;
    assert_eq!(code(&missing), "BAD_USER_INPUT");
    assert_eq!(missing["extensions"]["field"], "currentPassword");
    let wrong = app
        .error(
            UPDATE_ME,
            json!({"p": "a new password", "c": "not it at all"}),
        )
        .await;
    assert_eq!(code(&wrong), "FORBIDDEN");
    login_session(&app, "tester@example.com", PASSWORD).await;
    app.sign_up("taken@example.com").await;
    let taken = app
        .error(UPDATE_ME, json!({"e": "TAKEN@example.com", "c": PASSWORD}))
        .await;
    assert_eq!(code(&taken), "CONFLICT");

    let old_session = login_session(&app, "tester@example.com", PASSWORD).await;
    let changed = app
        .data(
            UPDATE_ME,
            json!({"e": "Tess@Example.com", "p": "a new password", "c": PASSWORD}),
        )
        .await;
    assert_eq!(changed["updateMe"]["email"], "tess@example.com");
    login_session(&app, "tess@example.com", "a new password").await;
    let old = app.login("tess@example.com", PASSWORD).await;
    assert_eq!(code(&old["errors"][0]), "UNAUTHENTICATED");
    // A new password ends the sessions started before it.
    let revoked = app
        .error_as(None, REFRESH, json!({"r": old_session.refresh}))
        .await;
    assert_eq!(code(&revoked), "UNAUTHENTICATED");
    // Anonymous callers have no "me" to change.
    let anonymous = app.error_as(None, UPDATE_ME, json!({"d": {"x": 1}})).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn delete_me_needs_the_password_and_ends_everything() {
    let app = anonymous().await;
    let ann = app.sign_up("ann@example.com").await;
    let delete = "mutation($p: String!) { deleteMe(password: $p) }";
    let wrong = app
        .error_as(Some(&ann.token), delete, json!({"p": "wrong password"}))
        .await;
    assert_eq!(code(&wrong), "FORBIDDEN");
    let done = app
        .data_as(Some(&ann.token), delete, json!({"p": PASSWORD}))
        .await;
    assert_eq!(done["deleteMe"], true);
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(code(&login["errors"][0]), "UNAUTHENTICATED");
    let refresh = app.error_as(None, REFRESH, json!({"r": ann.refresh})).await;
    assert_eq!(code(&refresh), "UNAUTHENTICATED");
    // Its access token stops too.
    let me = app.error_as(Some(&ann.token), ME, json!({})).await;
    assert_eq!(code(&me), "UNAUTHENTICATED");
}

#[tokio::test]
async fn admin_operations_are_refused_to_users_and_anonymous_callers() {
    let app = spawn_app().await;
    let user = app.token.clone();
    for query in [
        "{ users { totalCount } }",
        "{ user(id: \"01a2133e-8321-7030-a1d0-0dd8b7981235\") { id } }",
        "mutation { updateUser(id: \"01a2133e-8321-7030-a1d0-0dd8b7981235\", role: \"admin\") { id } }",
        "mutation { deleteUser(id: \"01a2133e-8321-7030-a1d0-0dd8b7981235\") }",
    ] {
        assert_eq!(code(&app.error_as(user.as_deref(), query, json!({})).await), "FORBIDDEN", "{query}");
        assert_eq!(code(&app.error_as(None, query, json!({})).await), "UNAUTHENTICATED", "{query}");
    }
    // Promoting oneself is exactly what a user cannot do.
    let me = app.data(ME, json!({})).await;
    assert_eq!(me["me"]["role"], "user");
}

#[tokio::test]
async fn the_bootstrap_admin_manages_users() {
    let app = admin_app().await;
    let admin = login_session(&app, "root@example.com", "root password").await;
    let ann = app.sign_up("ann@example.com").await;
    app.sign_up("bob@example.com").await;
    let token = Some(admin.token.as_str());

    let page = app
        .data_as(token, "{ users(filter: {email: {_like: \"%@example.com\"}}, limit: 2) { totalCount limit offset items { email role } } }", json!({}))
        .await;
    assert_eq!(page["users"]["totalCount"], 3);
    assert_eq!(
        page["users"]["items"][0],
        json!({"email": "root@example.com", "role": "admin"})
    );
    assert_eq!(page["users"]["items"].as_array().unwrap().len(), 2);
    let admins = app
        .data_as(
            token,
            "{ users(filter: {role: \"admin\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(admins["users"]["totalCount"], 1);

    let updated = app
        .data_as(
            token,
            "mutation($id: ID!) { updateUser(id: $id, role: \"editor\", data: {plan: \"pro\"}) { role data } }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(
        updated["updateUser"],
        json!({"role": "editor", "data": {"plan": "pro"}})
    );
    let pro = app
        .data_as(token, "{ users(filter: {plan: \"pro\", createdAt: {_gte: \"2020-01-01T00:00:00Z\"}}) { items { email } } }", json!({}))
        .await;
    assert_eq!(
        pro["users"]["items"],
        json!([{"email": "ann@example.com"}]),
        "profile fields filter by name"
    );
    let bad_role = app
        .error_as(
            token,
            "mutation($id: ID!) { updateUser(id: $id, role: \"Super Admin\") { role } }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(bad_role["extensions"]["field"], "role");
    let one = app
        .data_as(
            token,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(one["user"]["email"], "ann@example.com");

    let deleted = app
        .data_as(
            token,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(deleted["deleteUser"], true);
    let refresh = app.error_as(None, REFRESH, json!({"r": ann.refresh})).await;
    assert_eq!(
        code(&refresh),
        "UNAUTHENTICATED",
        "deleting a user revokes its tokens"
    );
    let gone = app
        .data_as(
            token,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(gone["user"], Value::Null);
    let again = app
        .error_as(
            token,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": ann.id}),
        )
        .await;
    assert_eq!(code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn the_bootstrap_promotes_an_existing_user_only_with_its_password() {
    use hookql::service::users::{ensure_admin, Bootstrap};
    let app = anonymous().await;
    let ann = app.sign_up("ann@example.com").await;
    let state = &app.state;
    let passwords = &state.auth().passwords;
    let refused = ensure_admin(
        state.store(),
        passwords,
        "ANN@example.com",
        "another password",
    )
    .await
    .unwrap();
    assert_eq!(refused, Bootstrap::Refused);
    let me = app.data_as(Some(&ann.token), ME, json!({})).await;
    assert_eq!(me["me"]["role"], "user");

    let promoted = ensure_admin(state.store(), passwords, "ANN@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(promoted, Bootstrap::Promoted);
    let session = login_session(&app, "ann@example.com", PASSWORD).await;
    let me = app.data_as(Some(&session.token), ME, json!({})).await;
    assert_eq!(me["me"]["role"], "admin");
    assert_eq!(me["me"]["id"], ann.id.as_str());
    // An admin already: nothing to prove, nothing changed (whatever the password given).
    let again = ensure_admin(
        state.store(),
        passwords,
        "ann@example.com",
        "another password",
    )
    .await
    .unwrap();
    assert_eq!(again, Bootstrap::AlreadyAdmin);
    login_session(&app, "ann@example.com", PASSWORD).await;
}

/// The admin moves to another email, a stranger signs up with the configured one, and the
/// server restarts with the same environment: the stranger must not become an admin.
#[tokio::test]
async fn bootstrap_never_promotes_a_stranger_with_the_admin_email() {
    let app = admin_app().await;
    let admin = login_session(&app, "root@example.com", "root password").await;
    app.data_as(
        Some(&admin.token),
        UPDATE_ME,
        json!({"e": "boss@example.com", "c": "root password"}),
    )
    .await;
    let stranger = app.sign_up("root@example.com").await;

    let restarted = spawn_app_sharing(&app, NO_HOOKS, |s| {
        s.admin_email = Some("Root@Example.com".into());
        s.admin_password = Some("root password".into());
    })
    .await;
    let me = restarted
        .data_as(Some(&stranger.token), ME, json!({}))
        .await;
    assert_eq!(me["me"]["role"], "user", "the stranger was promoted");
    let denied = restarted
        .error_as(
            Some(&stranger.token),
            "{ users { items { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&denied), "FORBIDDEN");
    // The real admin still is one, under her new email.
    let boss = login_session(&restarted, "boss@example.com", "root password").await;
    let me = restarted.data_as(Some(&boss.token), ME, json!({})).await;
    assert_eq!(me["me"]["role"], "admin");
}

const DELETE_USER: &str = "mutation($id: ID!) { deleteUser(id: $id) }";

/// A deleted user's access token is refused at once (not when it expires): over HTTP, at a
/// WebSocket's `connection_init`, in a subscription already open, and by a server started
/// afterwards on the same database.
#[tokio::test]
async fn deleted_users_token_stops_at_once() {
    let app = spawn_app_with(PUBLIC_RULES, with_admin).await;
    let root = app.admin_token().await;
    let ann = app.sign_up("ann@example.com").await;
    let me = app.data_as(Some(&ann.token), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "ann@example.com");
    let mut ws = Ws::connect(&app.address, Some(&ann.token)).await;
    ws.subscribe("1", "posts", None).await;
    // Live once it hears a write (the subscription is set up in the background).
    let mut live = false;
    for _ in 0..20 {
        app.create_as(Some(&root), "posts", json!({"n": 1})).await;
        if let Next::Message(_) = ws.next_within(Duration::from_millis(250)).await {
            live = true;
            break;
        }
    }
    assert!(live, "the subscription never heard a write");

    app.data_as(Some(&root), DELETE_USER, json!({"id": ann.id}))
        .await;

    let refused = app.error_as(Some(&ann.token), ME, json!({})).await;
    assert_eq!(code(&refused), "UNAUTHENTICATED", "{refused}");
    let write = app
        .error_as(
            Some(&ann.token),
            "mutation { createDocument(collection: \"posts\", data: {n: 2}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&write), "UNAUTHENTICATED", "{write}");

    let mut init = Ws::open(&app.address, Some("graphql-transport-ws")).await;
    init.send(json!({"type": "connection_init", "payload": {"authToken": ann.token}}))
        .await;
    let (close, reason) = init.closed().await;
    assert_eq!(close, 4403, "{reason}");

    // The open subscription sees no change made after the deletion: it ends instead.
    app.create_as(Some(&root), "posts", json!({"n": 3})).await;
    let ended = loop {
        match ws.next_within(Duration::from_secs(5)).await {
            Next::Message(m)
                if m["payload"]["data"]["documentChanged"]["document"]["data"]["n"] == 1 =>
            {
                continue
            }
            other => break other,
        }
    };
    let Next::Message(ended) = ended else {
        panic!("the subscription neither ended nor answered: {ended:?}");
    };
    assert_eq!(ended["id"], "1", "{ended}");
    assert_eq!(
        ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{ended}"
    );

    let later = spawn_app_sharing(&app, PUBLIC_RULES, |_| {}).await;
    let refused = later.error_as(Some(&ann.token), ME, json!({})).await;
    assert_eq!(code(&refused), "UNAUTHENTICATED", "{refused}");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_and_pruned() {
    let app = spawn_app_with(NO_HOOKS, |s| s.refresh_token_ttl_secs = 1).await;
    let ann = app.sign_up("ann@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = app.error_as(None, REFRESH, json!({"r": ann.refresh})).await;
    assert_eq!(code(&refused), "UNAUTHENTICATED");
    let pruned = app
        .state
        .store()
        .prune_expired_refresh_tokens()
        .await
        .unwrap();
    assert_eq!(pruned, 1);
}
