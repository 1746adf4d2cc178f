//! Request ids: every HTTP request and WebSocket connection has one (the client's
//! `X-Request-Id` when it is sensible, else a fresh one). It is echoed in the response, is a
//! field of every log line the request causes, and reaches hook payloads as `request_id`, so
//! one id follows an operation from the client through the logs to a webhook receiver.
//!
//! It travels as a task-local rather than as a parameter through every layer: hooks,
//! the store and the services below them stay unaware of transports.

use std::future::Future;
use std::sync::Arc;

/// The header a request id is read from and echoed in.
pub const HEADER: &str = "x-request-id";

/// Longest client-chosen id kept; longer ones are replaced by a fresh id.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The client's id when it is 1 to 128 visible ASCII characters, otherwise a new one (a
/// UUIDv7: unique, and sortable by time).
pub fn accept_or_make(given: Option<&str>) -> Arc<str> {
    match given {
        Some(id) if valid(id) => id.into(),
        _ => uuid::Uuid::now_v7().to_string().into(),
    }
}

fn valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Runs `future` as part of the request `id`.
pub fn scope<F: Future>(id: Arc<str>, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(id, future)
}

/// `future` made to run as part of the current request (its id and log span), for work the
/// request hands to a spawned task.
pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
    within(current(), tracing::Span::current(), future)
}

/// `future` made to run as part of request `id` and its log `span` (captured earlier).
pub fn within<F: Future>(
    id: Option<Arc<str>>,
    span: tracing::Span,
    future: F,
) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    async move {
        match id {
            Some(id) => CURRENT.scope(id, future).await,
            None => future.await,
        }
    }
    .instrument(span)
}

/// The id of the request being served, if any (none in background work).
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensible_ids_are_kept_and_others_replaced() {
        assert_eq!(&*accept_or_make(Some("abc-123")), "abc-123");
        for bad in ["", "has space", "é", &"x".repeat(129)] {
            let made = accept_or_make(Some(bad));
            assert_ne!(&*made, bad);
            assert_eq!(made.len(), 36);
        }
    }

    #[tokio::test]
    async fn the_id_is_visible_inside_its_scope_only() {
        assert!(current().is_none());
        let seen = scope("r1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("r1"));
    }
}
