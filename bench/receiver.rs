//! A minimal webhook receiver for the benchmarks: answers every POST with an empty 200;
//! `GET /count` says how many POSTs `/audit` got (the durable deliveries). Its own time per request is what
//! `bench/url_hooks.sh` measures directly, to separate it from what hookql adds.
//!
//!     cargo run --release --example bench_receiver -- 4199

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::get;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4199);
    let count = Arc::new(AtomicU64::new(0));
    let posts = count.clone();
    let app = axum::Router::new()
        .route(
            "/count",
            get(move || {
                let count = count.clone();
                async move { count.load(Ordering::Relaxed).to_string() }
            }),
        )
        .route(
            "/audit",
            axum::routing::post(move || {
                posts.fetch_add(1, Ordering::Relaxed);
                async { "" }
            }),
        )
        .fallback(|| async { "" });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
