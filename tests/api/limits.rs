//! Limits against abusive or broken clients (each with a clear error), and the graceful
//! shutdown.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, PUBLIC_RULES};
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn too_many_aliases_are_refused() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_query_aliases = 3).await;
    let three = "{ a: documents(collection: \"x\") { totalCount } b: documents(collection: \"x\") { totalCount } c: documents(collection: \"x\") { totalCount } }";
    let ok = app.gql(three, json!({})).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let four = "{ a: documents(collection: \"x\") { totalCount } b: documents(collection: \"x\") { totalCount } c: documents(collection: \"x\") { totalCount } d: documents(collection: \"x\") { t: totalCount } }";
    let refused = app.error(four, json!({})).await;
    assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("5 aliases") && message.contains("at most 3"),
        "{message}"
    );
}

#[tokio::test]
async fn oversized_documents_and_filters_are_refused_and_change_nothing() {
    let app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
    let create = "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }";
    let big = json!({"text": "x".repeat(1024 * 1024 + 1)});
    let error = app.error(create, json!({"d": big})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("data"),
        "{error}"
    );
    assert_eq!(app.count("posts").await, 0);
    // PostgreSQL cannot hold a NUL character in text; refused on both databases alike.
    let error = app
        .error(create, json!({"d": {"a": [{"b": "x\u{0}y"}]}}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("a[0].b"),
        "{error}"
    );
    assert_eq!(app.count("posts").await, 0);

    let list = "query($f: JSON) { documents(collection: \"posts\", filter: $f) { totalCount } }";
    let mut deep = json!({"n": {"_eq": 1}});
    for _ in 0..20 {
        deep = json!({"_and": [deep]});
    }
    let error = app.error(list, json!({"f": deep})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("deep"),
        "{error}"
    );
    let wide: Vec<Value> = (0..300).map(|i| json!({"n": {"_eq": i}})).collect();
    let error = app.error(list, json!({"f": {"_or": wide}})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
}

/// Reads until the server closes the connection; false if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let app = spawn_app_with(PUBLIC_RULES, |s| {
        s.header_timeout_secs = 1;
        s.idle_timeout_secs = 1;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    // Half a request, then nothing: cut off after the header timeout.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(4)).await,
        "slow headers"
    );
    // A finished request on a keep-alive connection, then silence: closed when idle.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_secs(4)).await,
        "idle connection"
    );
    // The server itself is fine.
    assert_eq!(app.health().await, 200);
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_then_refuses_new_ones() {
    let receiver = Receiver::start().await;
    receiver.usually(
        "/slow",
        Reply::json(json!({})).after(Duration::from_millis(800)),
    );
    let hooks = format!(
        "{PUBLIC_RULES}hooks:\n  - {{ name: slow, on: pre_save, url: '{}' }}\n",
        receiver.url("/slow")
    );
    let mut app = spawn_app_with(&hooks, |_| {}).await;
    let request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": "mutation { createDocument(collection: \"posts\", data: {n: 1}) { id } }"}))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = app.shut_down().await;
    let answered = in_flight.await.unwrap().expect("answered, not cut off");
    let body: Value = answered.json().await.unwrap();
    assert!(body["data"]["createDocument"]["id"].is_string(), "{body}");
    assert!(
        took >= Duration::from_millis(300),
        "it waited for the request: {took:?}"
    );
    let refused = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert!(refused.is_err(), "no longer accepting");
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_after_the_grace_period() {
    let receiver = Receiver::start().await;
    receiver.usually(
        "/stuck",
        Reply::json(json!({})).after(Duration::from_secs(30)),
    );
    let hooks = format!(
        "{PUBLIC_RULES}hooks:\n  - {{ name: stuck, on: pre_save, url: '{}', timeout_ms: 60000 }}\n",
        receiver.url("/stuck")
    );
    let mut app = spawn_app_with(&hooks, |s| s.shutdown_grace_secs = 1).await;
    let request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": "mutation { createDocument(collection: \"posts\", data: {n: 1}) { id } }"}))
        .send();
    let _in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = app.shut_down().await;
    assert!(
        took < Duration::from_secs(10),
        "bounded by the grace period: {took:?}"
    );
}
