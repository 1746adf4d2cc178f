//! A deadline for a request's whole body. hyper bounds how long headers may take, and our
//! idle timeout closes a connection that sends nothing, but a body trickling one byte every
//! few seconds passes both and holds a connection (and a task) as long as it likes (issue 15:
//! 500 such bodies held 500 connections past 80 s). The body must be complete within
//! `HOOKQL_BODY_TIMEOUT_SECS` of the headers; the handler then answers 408.

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

/// The error a body gives when it did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimedOut(pub Duration);

/// Middleware: the body of `request` must be complete within `limit`. Requests that cannot
/// carry a body (GET, HEAD) pass untouched, which keeps WebSocket upgrades apart.
pub async fn within(limit: Duration, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let deadline = tokio::time::Instant::now() + limit;
    let request = request.map(|body| {
        let chunks = body.into_data_stream();
        Body::from_stream(futures_util::stream::unfold(
            Some(chunks),
            move |chunks| async move {
                let mut chunks = chunks?;
                match tokio::time::timeout_at(deadline, chunks.next()).await {
                    Ok(Some(chunk)) => Some((chunk, Some(chunks))),
                    Ok(None) => None,
                    Err(_) => Some((Err(axum::Error::new(BodyTimedOut(limit))), None)),
                }
            },
        ))
    });
    next.run(request).await
}

/// Whether reading a body failed because of [`within`]'s deadline; the deadline, if so.
pub fn timed_out(rejection: &BytesRejection) -> Option<Duration> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if let Some(BodyTimedOut(limit)) = error.downcast_ref::<BodyTimedOut>() {
            return Some(*limit);
        }
        cause = error.source();
    }
    None
}
