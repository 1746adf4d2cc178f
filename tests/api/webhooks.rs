//! URL hooks in the chain: what a receiver gets, what its answer does, how failures follow
//! `on_error`, signatures checked as the Standard Webhooks specification says (and with its
//! Python library when installed; the specification's test vectors are in
//! src/hooks/webhook/sign.rs), scripts' `http` helpers, and dry runs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, with_admin, TestApp, PUBLIC_RULES};
use crate::receiver::{Receiver, Reply};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_b2xkLXNlY3JldC1zdGlsbC12YWxpZA==";

/// `PUBLIC_RULES` plus `hooks` (YAML list items, indented by two spaces).
fn with_hooks(hooks: &str) -> String {
    format!("{PUBLIC_RULES}hooks:\n{hooks}")
}

async fn create(app: &TestApp, collection: &str, data: Value) -> Value {
    app.gql_as(
        None,
        "mutation($c: String!, $d: JSON!) { createDocument(collection: $c, data: $d) { id data } }",
        json!({"c": collection, "d": data}),
    )
    .await
}

#[tokio::test]
async fn a_url_before_hook_gets_the_payload_signed_with_our_headers() {
    let receiver = Receiver::start().await;
    let yaml = with_hooks(&format!(
        "  - name: check\n    on: pre_save\n    url: {}\n    headers: {{ X-Env: \"${{STAGE:-test}}\" }}\n    secret: [{SECRET}, {OLD_SECRET}]\n",
        receiver.url("/check")
    ));
    let app = spawn_app_with(&yaml, |_| {}).await;
    let created = create(&app, "posts", json!({"title": "Hello"})).await;
    let id = created["data"]["createDocument"]["id"].as_str().unwrap();

    let got = receiver.received("/check");
    assert_eq!(got.len(), 1);
    let call = &got[0];
    let payload = call.json();
    assert_eq!(payload["event"], "pre_save");
    assert_eq!(payload["operation"], "create");
    assert_eq!(payload["collection"], "posts");
    assert_eq!(payload["document_id"], id);
    assert_eq!(payload["document"], json!({"title": "Hello"}));
    assert_eq!(payload["attempt"], 1);
    assert_eq!(payload["auth"], Value::Null);
    assert_eq!(call.header("content-type"), "application/json");
    assert!(call.header("user-agent").starts_with("hookql/"));
    assert_eq!(call.header("x-hook-event"), "pre_save");
    assert_eq!(call.header("x-hook-name"), "check");
    assert_eq!(call.header("x-env"), "test");
    assert_eq!(call.header("webhook-id"), payload["id"].as_str().unwrap());
    let sent_at: i64 = call.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    let signatures: Vec<&str> = call.header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "one per secret");
    assert!(signatures.iter().all(|s| s.starts_with("v1,")));

    // A verifier written from the specification accepts the call with either secret, and
    // not with a secret that was not configured or a body changed on the way.
    for secret in [SECRET, OLD_SECRET] {
        assert_eq!(
            verify_in_rust(secret, call),
            Ok(payload.clone()),
            "secret {secret}"
        );
    }
    assert!(verify_in_rust("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", call).is_err());
    let tampered = crate::receiver::Received {
        body: String::from_utf8_lossy(&call.body)
            .replace("Hello", "Hellp")
            .into_bytes()
            .into(),
        headers: call.headers.clone(),
    };
    assert!(verify_in_rust(SECRET, &tampered).is_err());

    // The official Python library agrees, where it is installed (never fetched by the test).
    if let Some(python) = python_with_standard_webhooks() {
        for secret in [SECRET, OLD_SECRET] {
            let verified = verify_with_python(python, secret, call);
            assert_eq!(verified, Ok(payload.clone()), "secret {secret}");
        }
        assert!(verify_with_python(python, SECRET, &tampered).is_err());
    }
}

/// Verifies a received call as the Standard Webhooks specification tells a receiver to,
/// written here from the specification rather than with our signing code: the key is the
/// base64 after `whsec_`, the MAC is HMAC-SHA256 over `id.timestamp.body`, and one of the
/// space-separated `v1,<base64>` signatures must match (compared in constant time); the
/// timestamp must be within 5 minutes. The parsed payload, or why it does not verify.
fn verify_in_rust(secret: &str, call: &crate::receiver::Received) -> Result<Value, String> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use hmac::{Hmac, Mac};

    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| format!("secret: {e}"))?;
    let (id, timestamp) = (call.header("webhook-id"), call.header("webhook-timestamp"));
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|e| format!("webhook-timestamp: {e}"))?;
    if (chrono::Utc::now().timestamp() - sent_at).abs() > 5 * 60 {
        return Err("the timestamp is more than 5 minutes away".into());
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&call.body);
    let matched = call
        .header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| mac.clone().verify_slice(&tag).is_ok());
    if !matched {
        return Err("no v1 signature matches".into());
    }
    serde_json::from_slice(&call.body).map_err(|e| format!("body: {e}"))
}

/// `python3` when it can import `standardwebhooks` (`pip install standardwebhooks`); otherwise
/// none, saying once that the optional cross-check is skipped. Never installs anything:
/// `cargo test` needs no network.
fn python_with_standard_webhooks() -> Option<&'static str> {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ready = *READY.get_or_init(|| {
        let ready = std::process::Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ready {
            eprintln!(
                "skipped: the cross-check with the Python `standardwebhooks` library (python3 cannot import it; \
                 `pip install standardwebhooks` to run it); the Rust verifier and the specification's test vectors \
                 (src/hooks/webhook/sign.rs) still ran"
            );
        }
        ready
    });
    ready.then_some("python3")
}

/// Verifies a received call with the Python `standardwebhooks` package: the parsed payload,
/// or the error.
fn verify_with_python(
    python: &str,
    secret: &str,
    call: &crate::receiver::Received,
) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body"), &call.body).unwrap();
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| (h.to_string(), Value::from(call.header(h))))
            .collect();
    std::fs::write(
        dir.path().join("headers"),
        Value::Object(headers).to_string(),
    )
    .unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
body = open(sys.argv[2], "rb").read()
headers = json.load(open(sys.argv[3]))
print(json.dumps(Webhook(sys.argv[1]).verify(body, headers)))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, secret])
        .arg(dir.path().join("body"))
        .arg(dir.path().join("headers"))
        .output()
        .expect("python runs");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON from python"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn a_url_before_hook_can_block_or_patch() {
    let receiver = Receiver::start().await;
    receiver.usually(
        "/block",
        Reply::json(json!({"block": true, "reason": "Not today."})),
    );
    receiver.usually("/patch", Reply::json(json!({"patch": {"slug": "hello"}})));
    receiver.usually("/empty", Reply::text(""));
    let yaml = with_hooks(&format!(
        "  - {{ name: nope, on: pre_save, collections: [closed], url: \"{}\" }}\n  - {{ name: slugger, on: pre_save, collections: [posts], url: \"{}\" }}\n  - {{ name: quiet, on: pre_save, collections: [posts], url: \"{}\" }}\n",
        receiver.url("/block"),
        receiver.url("/patch"),
        receiver.url("/empty"),
    ));
    let app = spawn_app_with(&yaml, |_| {}).await;

    let blocked = create(&app, "closed", json!({"title": "x"})).await;
    let error = &blocked["errors"][0];
    assert_eq!(error["extensions"]["code"], "HOOK_BLOCKED", "{blocked}");
    assert_eq!(error["extensions"]["reason"], "Not today.");
    assert_eq!(error["extensions"]["hook"], "nope");
    assert_eq!(
        app.gql_as(
            None,
            "{ documents(collection: \"closed\") { totalCount } }",
            json!({})
        )
        .await["data"]["documents"]["totalCount"],
        0
    );

    let created = create(&app, "posts", json!({"title": "Hello"})).await;
    assert_eq!(
        created["data"]["createDocument"]["data"],
        json!({"title": "Hello", "slug": "hello"}),
        "{created}"
    );
    assert_eq!(
        receiver.received("/empty")[0].json()["document"]["slug"],
        "hello",
        "the next hook sees the patch"
    );
}

#[tokio::test]
async fn failing_url_hooks_follow_on_error_and_never_leak_the_receivers_answer() {
    let receiver = Receiver::start().await;
    // Far slower than any bound below: without the timeout a request would take 30 s.
    receiver.usually(
        "/slow",
        Reply::json(json!({})).after(Duration::from_secs(30)),
    );
    receiver.usually(
        "/error",
        Reply {
            body: "secret stack trace".into(),
            ..Reply::status(500)
        },
    );
    receiver.usually("/garbage", Reply::text("<html>secret page</html>"));
    receiver.usually(
        "/redirect",
        Reply::status(302).header("location", "http://127.0.0.1:1/"),
    );
    let mut hooks = String::new();
    for (name, path, on_error) in [
        ("slow-allow", "/slow", "allow"),
        ("slow-block", "/slow", "block"),
        ("error", "/error", "block"),
        ("garbage", "/garbage", "block"),
        ("redirect", "/redirect", "block"),
    ] {
        hooks.push_str(&format!(
            "  - {{ name: {name}, on: pre_save, collections: [{}], url: \"{}\", timeout_ms: 300, on_error: {on_error} }}\n",
            name.replace('-', "_"),
            receiver.url(path)
        ));
    }
    let app = spawn_app_with(&with_hooks(&hooks), |_| {}).await;

    // The hooks give up at their 300 ms: the whole request well within 2 s (the margin is for
    // a busy machine; a timeout not applied would wait the receiver's 30 s).
    let bound = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let allowed = create(&app, "slow_allow", json!({"n": 1})).await;
    let took = started.elapsed();
    assert!(
        allowed.get("errors").is_none(),
        "fail-open goes on: {allowed}"
    );
    assert!(
        took < bound,
        "took {took:?}: the hook should give up at its timeout_ms (300 ms)"
    );
    assert!(took >= Duration::from_millis(300), "it did wait: {took:?}");

    for collection in ["slow_block", "error", "garbage", "redirect"] {
        let started = std::time::Instant::now();
        let response = create(&app, collection, json!({"n": 1})).await;
        let took = started.elapsed();
        assert!(took < bound, "{collection}: took {took:?}");
        let error = &response["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "HOOK_FAILED",
            "{collection}: {response}"
        );
        assert!(!response.to_string().contains("secret"), "{response}");
        let count = app
            .gql_as(
                None,
                "query($c: String!) { documents(collection: $c) { totalCount } }",
                json!({"c": collection}),
            )
            .await;
        assert_eq!(
            count["data"]["documents"]["totalCount"], 0,
            "{collection}: nothing written"
        );
    }
    assert!(
        receiver.received("/redirect").len() == 1,
        "the redirect is not followed"
    );
}

#[tokio::test]
async fn scripts_reach_allowed_hosts_with_http_helpers_and_nothing_else() {
    let receiver = Receiver::start().await;
    receiver.usually("/index", Reply::json(json!({"indexed": true})));
    let host = receiver.address.trim_start_matches("http://").to_string();
    let yaml = with_hooks(&format!(
        r#"  - name: sync
    on: pre_save
    collections: [posts]
    allow_hosts: ["{host}"]
    script: |
      let r = http.post("{index}", #{{ title: data.title }}, #{{ "X-Token": "t0k" }});
      #{{ patch: #{{ indexed: r.body.indexed, status: r.status }} }}
  - name: sneaky
    on: pre_save
    collections: [other]
    on_error: block
    allow_hosts: ["example.com"]
    script: |
      http.get("{index}");
"#,
        index = receiver.url("/index")
    ));
    let app = spawn_app_with(&yaml, |_| {}).await;
    let created = create(&app, "posts", json!({"title": "Hi"})).await;
    assert_eq!(
        created["data"]["createDocument"]["data"],
        json!({"title": "Hi", "indexed": true, "status": 200}),
        "{created}"
    );
    let call = &receiver.received("/index")[0];
    assert_eq!(call.json(), json!({"title": "Hi"}));
    assert_eq!(call.header("x-token"), "t0k");

    let refused = create(&app, "other", json!({})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "HOOK_FAILED",
        "{refused}"
    );
    assert_eq!(
        receiver.received("/index").len(),
        1,
        "the host is not allowed"
    );
}

#[tokio::test]
async fn a_dry_run_reports_each_hook_and_writes_nothing() {
    let receiver = Receiver::start().await;
    receiver.usually(
        "/check",
        Reply::json(json!({"block": true, "reason": "Too short."})),
    );
    let yaml = with_hooks(&format!(
        r#"  - name: other-collection
    on: pre_save
    collections: [comments]
    script: block("never")
  - name: slug
    on: pre_save
    script: |
      db.create("log", #{{ saw: data.title }});
      #{{ patch: #{{ slug: data.title.to_lower() }} }}
  - name: length
    on: pre_save
    url: "{}"
"#,
        receiver.url("/check")
    ));
    let app = spawn_app_with(&yaml, with_admin).await;
    let admin = app.admin_token().await;
    let query = "mutation($e: String!, $p: JSON!) { dryRunHooks(event: $e, payload: $p) { event outcome stoppedBy reason payload steps { hook kind decision reason changes error stopped durationMs } } }";
    let payload =
        json!({"collection": "posts", "operation": "create", "document": {"title": "Hi"}});
    let report = app
        .data_as(Some(&admin), query, json!({"e": "pre_save", "p": payload}))
        .await["dryRunHooks"]
        .clone();
    assert_eq!(report["outcome"], "blocked", "{report}");
    assert_eq!(report["stoppedBy"], "length");
    assert_eq!(report["reason"], "Too short.");
    let steps = report["steps"].as_array().unwrap();
    let decisions: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["hook"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("other-collection", "script", "skipped"),
            ("slug", "script", "changed"),
            ("length", "url", "blocked")
        ]
    );
    assert_eq!(
        steps[1]["changes"]["document"],
        json!({"title": "Hi", "slug": "hi"})
    );
    assert_eq!(
        receiver.received("/check")[0].json()["document"]["slug"],
        "hi",
        "URL hooks are really called"
    );
    let logged = app
        .data_as(
            Some(&admin),
            "{ documents(collection: \"log\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        logged["documents"]["totalCount"], 0,
        "the script's write was rolled back"
    );

    let bad = app
        .error_as(Some(&admin), query, json!({"e": "post_save", "p": {}}))
        .await;
    assert_eq!(bad["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
    let user = app.sign_up("someone@example.com").await;
    let refused = app
        .error_as(
            Some(&user.token),
            query,
            json!({"e": "pre_save", "p": payload}),
        )
        .await;
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN");
}
