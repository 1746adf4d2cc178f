//! Attacks on connection slots: sockets that close or vanish, and one client opening many.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error;

use super::{attacker, public_document, server, Bystander};
use crate::helpers::{settle_within, spawn_app_with, tcp_from, TestApp, PUBLIC_RULES};
use crate::ws::Ws;

/// Open WebSocket connections, as the server counts them.
fn open_websockets(app: &TestApp) -> u64 {
    app.state
        .metrics()
        .ws_connections
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The status a WebSocket upgrade is answered with when it is refused (`None`: accepted).
async fn upgrade_refusal(app: &TestApp) -> Option<u16> {
    refusal_of(Ws::try_open_from(&app.address, Some("graphql-transport-ws"), None).await)
}

/// The status of a refused upgrade (`None`: accepted).
fn refusal_of(opened: Result<Ws, Error>) -> Option<u16> {
    match opened {
        Ok(_) => None,
        Err(Error::Http(response)) => Some(response.status().as_u16()),
        Err(e) => panic!("the upgrade failed without an HTTP answer: {e}"),
    }
}

#[tokio::test]
async fn closed_websockets_release_their_slot() {
    const CAP: usize = 6;
    let app = spawn_app_with(PUBLIC_RULES, |s| {
        s.ws_max_connections = CAP;
        s.ws_keepalive_secs = 1;
    })
    .await;
    let id = public_document(&app).await;
    let bystander = Bystander::start(&app, Some(("posts", &id)));

    // Twice over, fill every slot, then leave in each way a client can: a close frame, a TCP
    // drop without one, and a half-open socket (never read from again, never answering pings).
    let mut half_open = Vec::new();
    for round in 0..2 {
        let mut sockets = Vec::new();
        for _ in 0..CAP {
            sockets.push(Ws::connect(&app.address, None).await);
        }
        assert_eq!(
            upgrade_refusal(&app).await,
            Some(503),
            "round {round}: the cap holds while every slot is taken"
        );
        for (n, ws) in sockets.into_iter().enumerate() {
            match n % 3 {
                0 => ws.close().await,
                1 => drop(ws),
                _ => half_open.push(ws),
            }
        }
        let open = settle_within(
            Duration::from_secs(15),
            async || open_websockets(&app),
            |open| *open == 0,
        )
        .await;
        assert_eq!(
            open, 0,
            "round {round}: closed connections still hold slots"
        );
    }
    assert_eq!(upgrade_refusal(&app).await, None, "a new client is let in");
    drop(half_open);
    bystander.assert_served().await;
}

#[tokio::test]
async fn one_client_cannot_fill_every_websocket_slot() {
    const PER_CLIENT: usize = 3;
    let app = spawn_app_with(PUBLIC_RULES, |s| {
        s.ws_max_connections = 8;
        s.ws_max_connections_per_ip = PER_CLIENT;
    })
    .await;
    let id = public_document(&app).await;
    let bystander = Bystander::start(&app, Some(("posts", &id)));

    // The attacker asks for every slot the server has; it gets its share, then 429s.
    let (mut held, mut refusals) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let from = Some(attacker());
        match Ws::try_open_from(&app.address, Some("graphql-transport-ws"), from).await {
            Ok(ws) => held.push(ws),
            refused => refusals.push(refusal_of(refused)),
        }
    }
    assert_eq!(held.len(), PER_CLIENT, "the attacker holds only its share");
    assert!(refusals.iter().all(|r| *r == Some(429)), "{refusals:?}");
    // Another client still gets in, and can subscribe.
    let mut other = Ws::connect(&app.address, None).await;
    other.subscribe("1", "posts", None).await;
    drop(held);
    bystander.assert_served().await;
}

/// Sends a POST's headers announcing `length` bytes of body.
async fn post_headers(stream: &mut TcpStream, length: usize) {
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: hookql\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("headers sent");
}

/// What the server says on `stream` before closing it, waiting at most `limit` (`None`: it
/// kept the connection open and said nothing).
async fn answer_within(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) if answer.is_empty() => None,
        Err(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
    }
}

#[tokio::test]
async fn slow_body_is_cut_off() {
    let app = spawn_app_with(PUBLIC_RULES, |s| s.body_timeout_secs = 2).await;
    let id = public_document(&app).await;
    let bystander = Bystander::start(&app, Some(("posts", &id)));

    // Twenty bodies, each trickling a byte every 300 ms: each keeps the connection busy (so
    // the idle timeout never fires) and would take a minute to finish.
    let server = server(&app);
    let mut attacks = Vec::new();
    for _ in 0..20 {
        attacks.push(tokio::spawn(async move {
            let mut stream = tcp_from(attacker(), server).await;
            post_headers(&mut stream, 200).await;
            let (mut reader, mut writer) = stream.into_split();
            let trickle = tokio::spawn(async move {
                while writer.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
            let mut answer = Vec::new();
            let read = reader.read_to_end(&mut answer);
            let answered = tokio::time::timeout(Duration::from_secs(20), read).await;
            trickle.abort();
            answered.map(|_| String::from_utf8_lossy(&answer).into_owned())
        }));
    }
    for attack in attacks {
        let answer = attack.await.expect("the attack task");
        let answer = answer.expect("the server cut the slow body off (within 20 s)");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("did not arrive within 2 s"), "{answer}");
    }
    bystander.assert_served().await;
}

#[tokio::test]
async fn one_client_cannot_hold_every_http_connection() {
    const PER_CLIENT: usize = 5;
    let app = spawn_app_with(PUBLIC_RULES, |s| s.max_connections_per_ip = PER_CLIENT).await;
    let id = public_document(&app).await;
    let bystander = Bystander::start(&app, Some(("posts", &id)));

    // The attacker's connections each start a request and never finish it.
    let server = server(&app);
    let mut held = Vec::new();
    for _ in 0..PER_CLIENT {
        let mut stream = tcp_from(attacker(), server).await;
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\n")
            .await
            .expect("sent");
        held.push(stream);
    }
    // Its next ones are told why and closed; other clients are served all along.
    for _ in 0..3 {
        let mut stream = tcp_from(attacker(), server).await;
        let answer = answer_within(&mut stream, Duration::from_secs(5)).await;
        let answer = answer.expect("the connection over the cap is answered and closed");
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    }
    assert!(app.health().await.is_success());
    // A connection given back is a slot free again.
    drop(held.pop());
    let freed = settle_within(
        Duration::from_secs(5),
        async || {
            let mut stream = tcp_from(attacker(), server).await;
            post_headers(&mut stream, 2).await;
            stream.write_all(b"{}").await.expect("sent");
            answer_within(&mut stream, Duration::from_millis(500)).await
        },
        |answer| {
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("HTTP/1.1 400"))
        },
    )
    .await;
    assert!(freed.is_some_and(|a| a.starts_with("HTTP/1.1 400")));
    bystander.assert_served().await;
}
