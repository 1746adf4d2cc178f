//! An instance frozen (SIGSTOP): requests sent meanwhile are answered once it resumes, and
//! with another instance sharing the database for longer than the delivery leases, the other
//! takes its deliveries over, each delivery arrives, and a delivery sent by both is an honest
//! new attempt (its `attempt` counts up), never a copy.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::shutdown::{response, REQUEST};
use crate::helpers::{fresh_database, settle_within, spawn_app_in, PUBLIC_RULES};
use crate::process::Server;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn deliveries_of_a_stopped_instance_are_taken_over_as_new_attempts() {
    if !std::env::var("HOOKQL_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("SKIPPED: several instances need PostgreSQL (HOOKQL_TEST_DATABASE_URL)");
        return;
    }
    let receiver = Receiver::start().await;
    receiver.usually(
        "/audit",
        Reply::status(200).after(Duration::from_millis(1000)),
    );
    let yaml = format!(
        "{PUBLIC_RULES}hooks:\n  - name: audit\n    on: [post_save]\n    url: \"{}\"\n    timeout_ms: 1500\n",
        receiver.url("/audit")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(dir.path()).await;
    std::fs::write(dir.path().join("hooks.yaml"), &yaml).expect("hooks.yaml");
    let frozen = Server::start(dir.path(), &database_url);
    let other_dir = tempfile::tempdir().expect("temp dir");
    let _other = spawn_app_in(other_dir, database_url.clone(), &yaml, |_| {}).await;

    // 300 deliveries at 64 a second: most still wait in the first instance's memory when it
    // stops, for longer than their lease (1.5 s + 5 s).
    let count = 300;
    for _ in 0..count {
        frozen.create_post().await;
    }
    frozen.signal("STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    frozen.signal("CONT");

    let seen = settle_within(
        Duration::from_secs(60),
        async || {
            let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
            for request in receiver.received("/audit") {
                seen.entry(request.header("webhook-id").to_string())
                    .or_default()
                    .push(request.json()["attempt"].as_i64().expect("attempt"));
            }
            seen
        },
        |seen| seen.len() >= count,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen.len(), count, "every delivery arrives");
    let mut repeated = 0;
    for (id, mut attempts) in seen {
        if attempts.len() > 1 {
            repeated += 1;
            attempts.sort();
            let before = attempts.len();
            attempts.dedup();
            assert_eq!(
                attempts.len(),
                before,
                "{id} was sent twice as the same attempt"
            );
        }
    }
    // Only what was on the wire when the instance stopped (64 at most) may go twice.
    assert!(
        repeated <= 64,
        "{repeated} of {count} deliveries were sent twice"
    );
}

#[tokio::test]
async fn requests_sent_while_the_server_is_stopped_are_answered_when_it_resumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(dir.path()).await;
    std::fs::write(dir.path().join("hooks.yaml"), PUBLIC_RULES).expect("hooks.yaml");
    // Stopped for twice the header timeout, and longer than the idle timeout.
    let server = Server::start_with(
        dir.path(),
        &database_url,
        &[
            ("HOOKQL_HEADER_TIMEOUT_SECS", "2"),
            ("HOOKQL_IDLE_TIMEOUT_SECS", "3"),
        ],
    );
    server.create_post().await; // up and answering
    let address = server.address.trim_start_matches("http://").to_string();
    let mut streams = Vec::new();
    for _ in 0..7 {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream.write_all(REQUEST.as_bytes()).await.expect("write");
        assert!(response(&mut stream).await.starts_with("HTTP/1.1 200"));
        streams.push(stream);
    }
    server.signal("STOP");
    for stream in &mut streams {
        stream.write_all(REQUEST.as_bytes()).await.expect("write");
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.signal("CONT");
    for (n, stream) in streams.iter_mut().enumerate() {
        let answer = response(stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "connection {n}: the request sent during the stop got {answer:?}"
        );
    }
}
