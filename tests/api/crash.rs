//! Crash safety: the real binary killed (SIGKILL) under a steady write load loses nothing it
//! acknowledged, neither the writes nor their durable deliveries; and SIGTERM stops it
//! cleanly.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::process::Server;
use crate::receiver::free_port;

const WRITERS: usize = 8;

/// Every value of `field` (a path into each item) over all pages of a list query.
async fn all_items(
    server: &Server,
    token: &str,
    query: &str,
    root: &str,
    pick: impl Fn(&Value) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let page = server.gql(token, query, json!({"o": out.len()})).await;
        let items = page["data"][root]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .clone();
        if items.is_empty() {
            return out;
        }
        out.extend(items.iter().map(&pick));
    }
}

#[tokio::test]
async fn acknowledged_writes_and_their_deliveries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    // Nobody listens there: every delivery stays pending, waiting for its retry.
    let nowhere = format!("http://127.0.0.1:{}/audit", free_port());
    std::fs::write(
        dir.path().join("hooks.yaml"),
        format!("version: 1\ndefaults:\n  rules: {{ read: public, create: public }}\nhooks:\n  - {{ name: audit, on: post_save, url: '{nowhere}', retry: {{ backoff_ms: 600000 }} }}\n"),
    )
    .unwrap();
    let mut server = Server::start(dir.path(), &database_url);
    server.create_post().await; // up and answering
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (acked, stop, address) = (acked.clone(), stop.clone(), server.address.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let sent = client
                    .post(format!("{address}/graphql"))
                    .json(&json!({
                        "query": "mutation($d: JSON!) { createDocument(collection: \"posts\", data: $d) { id } }",
                        "variables": {"d": {"writer": w, "n": n}},
                    }))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let Ok(body) = response.json::<Value>().await else { break };
                if let Some(id) = body["data"]["createDocument"]["id"].as_str() {
                    acked.lock().unwrap().push(id.to_string());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    eprintln!("{} writes acknowledged before SIGKILL", acked.len());
    assert!(
        acked.len() > 20,
        "the load was steady: {} writes",
        acked.len()
    );

    let server = Server::start(dir.path(), &database_url);
    let admin = server.admin_token().await;
    let stored: HashSet<String> = all_items(
        &server,
        &admin,
        "query($o: Int) { documents(collection: \"posts\", limit: 1000, offset: $o) { items { id } } }",
        "documents",
        |d| d["id"].as_str().unwrap().to_string(),
    )
    .await
    .into_iter()
    .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    let delivered_for: HashSet<String> = all_items(
        &server,
        &admin,
        "query($o: Int) { hookDeliveries(limit: 1000, offset: $o) { items { payload } } }",
        "hookDeliveries",
        |d| d["payload"]["document_id"].as_str().unwrap().to_string(),
    )
    .await
    .into_iter()
    .collect();
    let missing: Vec<_> = acked.difference(&delivered_for).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost their delivery: {missing:?}",
        missing.len()
    );
    // Nothing was recorded twice either: one delivery per stored document.
    assert_eq!(delivered_for.len(), stored.len());
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    std::fs::write(dir.path().join("hooks.yaml"), crate::helpers::PUBLIC_RULES).unwrap();
    let mut server = Server::start(dir.path(), &database_url);
    server.create_post().await;
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
}
