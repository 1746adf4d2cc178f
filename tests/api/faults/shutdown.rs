//! SIGTERM on a busy server: a request a keep-alive client sent just as the stop came is
//! answered (and told `Connection: close`), never met by a closed connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app_with, PUBLIC_RULES};

/// A small request, for raw keep-alive connections.
pub(super) const REQUEST: &str =
    "GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: hookql\r\n\r\n";

/// Reads one HTTP response (headers and a body of `Content-Length`) from `stream`.
pub(super) async fn response(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        if n == 0 {
            return text; // closed
        }
        got.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn a_request_sent_on_a_keep_alive_connection_as_the_stop_comes_is_answered() {
    for _ in 0..5 {
        let mut app = spawn_app_with(PUBLIC_RULES, |_| {}).await;
        let address = app.address.trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream.write_all(REQUEST.as_bytes()).await.expect("write");
        let first = response(&mut stream).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        // The client sends its next request; the stop comes a moment later.
        stream.write_all(REQUEST.as_bytes()).await.expect("write");
        app.stop_now();
        let second = response(&mut stream).await;
        assert!(
            second.starts_with("HTTP/1.1 200"),
            "the request sent as the server stopped got {second:?}"
        );
        assert!(
            second.to_ascii_lowercase().contains("connection: close"),
            "{second}"
        );
        app.shut_down().await;
    }
}
