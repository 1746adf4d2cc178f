//! Attacks on connection slots: sockets that close or vanish, and one client opening many.

use std::time::Duration;

use serde_json::json;

use super::Bystander;
use crate::helpers::{settle_within, spawn_app_with, TestApp, PUBLIC_RULES};
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
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;
    let url = format!("{}/graphql", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("a WebSocket URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => None,
        Err(Error::Http(response)) => Some(response.status().as_u16()),
        Err(e) => panic!("the upgrade failed without an HTTP answer: {e}"),
    }
}

/// A publicly readable document for the bystander.
async fn public_document(app: &TestApp) -> String {
    let created = app
        .create_as(None, "posts", json!({"title": "hello"}))
        .await;
    created["id"].as_str().expect("id").to_string()
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
