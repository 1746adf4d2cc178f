//! Calling a webhook: one pooled client (keep-alive, HTTP/1.1 and h2 over rustls, redirects
//! never followed), a signed JSON POST, and a bounded read of the answer.
//!
//! A failure says what went wrong in our words (status, timeout, refused connection, not
//! JSON); it never carries the receiver's body or the URL (which may hold a token), so it is
//! safe to log and to show admins.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;

use super::sign;
use crate::hooks::HookFailure;
use crate::manifest::Webhook;
use crate::model::Event;

/// Largest response body read from a receiver or a script's `http` call.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Longest wait a receiver's `Retry-After` can ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The one HTTP client of the server; cheap to clone (a pool inside).
#[derive(Clone, Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
}

/// One call of a webhook.
pub struct Call<'a> {
    /// The binding's name (`X-Hook-Name`).
    pub hook: &'a str,
    /// The event (`X-Hook-Event`).
    pub event: Event,
    /// Where and how.
    pub webhook: &'a Webhook,
    /// The event id: `webhook-id`, the same on every attempt.
    pub message_id: &'a str,
    /// The payload as JSON.
    pub body: Vec<u8>,
    /// How long the whole call may take.
    pub timeout: Duration,
}

/// A receiver's 2xx answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its body as JSON (`null` when empty).
    pub body: Value,
}

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// What went wrong, in our words: timed out, or failed.
    pub why: HookFailure,
    /// How long the receiver asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn network(why: HookFailure) -> Self {
        Self {
            status: None,
            why,
            retry_after: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.why.fmt(f)
    }
}

/// The HTTP client could not be built (no TLS roots, say): the server cannot start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientSetupError(#[from] reqwest::Error);

impl WebhookClient {
    /// Builds the pooled client.
    pub fn new() -> Result<Self, ClientSetupError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookql/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { http })
    }

    /// The underlying client, for scripts' `http` helpers.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs the payload; the receiver's answer on a 2xx.
    pub async fn post(&self, call: Call<'_>) -> Result<Answer, Failure> {
        let timeout = call.timeout;
        let ms = timeout.as_millis();
        match tokio::time::timeout(timeout, self.send(call)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::network(HookFailure::TimedOut { ms })),
        }
    }

    async fn send(&self, call: Call<'_>) -> Result<Answer, Failure> {
        let ms = call.timeout.as_millis();
        let deadline = std::time::Instant::now() + call.timeout;
        let headers = headers(&call);
        let response = self
            .http
            .post(call.webhook.url.clone())
            .headers(headers)
            .timeout(call.timeout)
            .body(call.body)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => Failure::network(HookFailure::TimedOut { ms }),
                false => Failure::network(HookFailure::Failed(describe(&e, ms))),
            })?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let what = if status.is_redirection() {
                "a redirect, which is not followed"
            } else {
                status.canonical_reason().unwrap_or("")
            };
            return Err(Failure {
                status: Some(status.as_u16()),
                why: HookFailure::Failed(format!(
                    "the receiver answered HTTP {} {what}",
                    status.as_u16()
                )),
                retry_after,
            });
        }
        let failed = |message: String| Failure {
            status: Some(status.as_u16()),
            why: HookFailure::Failed(message),
            retry_after: None,
        };
        // A body that stops coming is the call running out of its time, whoever notices
        // first (reqwest's timeout ends the read; see `post` for the other).
        let body = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|message| match std::time::Instant::now() >= deadline {
                true => Failure::network(HookFailure::TimedOut { ms }),
                false => failed(message),
            })?;
        Ok(Answer {
            status: status.as_u16(),
            body: parse_answer(&body).map_err(failed)?,
        })
    }
}

/// Headers of a call: ours, the binding's, then the Standard Webhooks ones.
fn headers(call: &Call<'_>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-hook-event", HeaderValue::from_static(call.event.name()));
    if let Ok(name) = HeaderValue::from_str(call.hook) {
        headers.insert("x-hook-name", name);
    }
    for (name, value) in &call.webhook.headers {
        // Names and values were checked at load.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let timestamp = chrono::Utc::now().timestamp();
    if let Ok(id) = HeaderValue::from_str(call.message_id) {
        headers.insert("webhook-id", id);
    }
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    if !call.webhook.secrets.is_empty() {
        let signature = sign::signature(
            &call.webhook.secrets,
            call.message_id,
            timestamp,
            &call.body,
        );
        if let Ok(value) = HeaderValue::from_str(&signature) {
            headers.insert("webhook-signature", value);
        }
    }
    headers
}

/// A transport error in our words, without the URL.
pub fn describe(error: &reqwest::Error, timeout_ms: u128) -> String {
    if error.is_timeout() {
        format!("timed out after {timeout_ms} ms")
    } else if error.is_connect() {
        "cannot connect to the receiver (refused, unreachable or TLS failed)".to_string()
    } else if error.is_body() || error.is_decode() {
        "the response broke off".to_string()
    } else {
        "the request failed before a response came".to_string()
    }
}

/// Reads a body up to `limit` bytes.
pub async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "the response broke off".to_string())?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "the response body is larger than {} KiB",
                limit / 1024
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An answer of a 2xx: empty (go on), or JSON for the result contract.
fn parse_answer(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "the response is not JSON (line {}, column {}); answer nothing, {{}} or a result object",
            e.line(),
            e.column()
        )
    })
}

/// `Retry-After` as seconds or an HTTP date, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_go_on_and_garbage_is_a_failure_that_quotes_nothing() {
        assert_eq!(parse_answer(b""), Ok(Value::Null));
        assert_eq!(parse_answer(b" \n"), Ok(Value::Null));
        assert_eq!(parse_answer(b"{}"), Ok(serde_json::json!({})));
        let e = parse_answer(b"<html>secret stack trace</html>").unwrap_err();
        assert!(e.contains("not JSON") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
