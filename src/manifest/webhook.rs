//! The compiled form of a `url` binding: where to POST, with which headers and signing
//! secrets, and how its durable deliveries are retried.

use std::time::Duration;

pub use super::file::Delivery;
use crate::model::Secret;

/// Attempts of a durable delivery, the first included, unless `retry.max_attempts` says.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Wait before the second attempt, unless `retry.backoff_ms` says.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between attempts, unless `retry.max_backoff_ms` says.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A webhook binding, checked and expanded at load.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// Where, checked to be http(s).
    pub url: url::Url,
    /// Extra headers, expanded.
    pub headers: Vec<(String, String)>,
    /// Standard Webhooks signing secrets; each signs every call (several while rotating).
    pub secrets: Vec<Secret>,
    /// How after-hook calls are delivered (before-hooks are always awaited).
    pub delivery: Delivery,
    /// How failed durable deliveries are retried.
    pub retry: RetryPolicy,
}

/// When and how often a failed delivery is tried again.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all before the delivery is dead.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles after each failure.
    pub backoff: Duration,
    /// Cap of the wait.
    pub max_backoff: Duration,
    /// Which failures are retried.
    pub retry_on: Vec<RetryOn>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            retry_on: vec![
                RetryOn::Status(408),
                RetryOn::Status(429),
                RetryOn::Class(5),
                RetryOn::Network,
            ],
        }
    }
}

impl RetryPolicy {
    /// Whether a failure with this HTTP status (`None`: no response at all) is retried.
    pub fn retries(&self, status: Option<u16>) -> bool {
        self.retry_on.iter().any(|r| match (r, status) {
            (RetryOn::Network, None) => true,
            (RetryOn::Status(code), Some(status)) => *code == status,
            (RetryOn::Class(class), Some(status)) => status / 100 == *class,
            _ => false,
        })
    }

    /// The wait after failed attempt number `attempt` (from 1): `backoff · 2^(attempt-1)`,
    /// capped, then "equal jitter" (a random point in its upper half) so receivers coming back
    /// are not hit by every sender at once.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let full = self
            .backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// One `retry_on` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOn {
    /// This status code.
    Status(u16),
    /// Any status of this class (`5` for `5xx`).
    Class(u16),
    /// No usable response: refused, reset, timed out, unreadable.
    Network,
}

impl RetryOn {
    /// Reads one `retry_on` item (`503`, `"5xx"`, `"network"`).
    pub fn parse(value: &serde_json::Value) -> Result<RetryOn, String> {
        let expected =
            "expected a status code (100 to 599), a class such as \"5xx\", or \"network\"";
        match value {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(code @ 100..=599) => Ok(RetryOn::Status(code as u16)),
                _ => Err(format!("{expected}, got {n}")),
            },
            serde_json::Value::String(s) => {
                let lower = s.to_ascii_lowercase();
                match lower.as_bytes() {
                    b"network" => Ok(RetryOn::Network),
                    [d @ b'1'..=b'5', b'x', b'x'] => Ok(RetryOn::Class(u16::from(d - b'0'))),
                    _ => match lower.parse::<u16>() {
                        Ok(code @ 100..=599) => Ok(RetryOn::Status(code)),
                        _ => Err(format!("{expected}, got \"{s}\"")),
                    },
                }
            }
            other => Err(format!("{expected}, got {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_retries_timeouts_throttling_server_errors_and_network_failures() {
        let policy = RetryPolicy::default();
        for status in [Some(408), Some(429), Some(500), Some(503), None] {
            assert!(policy.retries(status), "{status:?}");
        }
        for status in [Some(400), Some(404), Some(410), Some(301)] {
            assert!(!policy.retries(status), "{status:?}");
        }
    }

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let policy = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let delay = policy.delay_after(attempt).as_millis() as u64;
            assert!(
                (full / 2..=full).contains(&delay),
                "attempt {attempt}: {delay} ms"
            );
        }
    }

    #[test]
    fn retry_on_items_parse_or_say_what_is_expected() {
        assert_eq!(RetryOn::parse(&json!(409)), Ok(RetryOn::Status(409)));
        assert_eq!(RetryOn::parse(&json!("5XX")), Ok(RetryOn::Class(5)));
        assert_eq!(RetryOn::parse(&json!("network")), Ok(RetryOn::Network));
        assert_eq!(RetryOn::parse(&json!("503")), Ok(RetryOn::Status(503)));
        let e = RetryOn::parse(&json!("sometimes")).unwrap_err();
        assert!(e.contains("expected a status code"), "{e}");
        assert!(RetryOn::parse(&json!(700)).is_err());
    }
}
