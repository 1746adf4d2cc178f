//! The ceiling of `bench/run`: a bare axum handler answering every POST to `/graphql` with a
//! constant, on the same runtime configuration hookql uses. What hookql achieves is reported
//! as a share of what this achieves on the same machine with the same load generator.
//!
//!     cargo run --release --example bench_ceiling -- 4190

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4190);
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(|| async {
            (
                [("content-type", "application/json")],
                r#"{"data":{"ok":true}}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
