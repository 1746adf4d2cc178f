//! Slows down password guessing for one email, without locking the real owner out for long.
//!
//! The first [`FREE_FAILURES`] failed logins for an email cost nothing. Each failure after
//! that locks the email for twice as long as the last (1 s, 2 s, 4 s … at most
//! [`MAX_LOCK`]); while locked, logins for it are refused without checking the password. A
//! success, or [`FORGET_AFTER`] without failures, clears the record. Unknown emails are treated
//! exactly like known ones, so the limiter reveals nothing. The state is per instance (several
//! instances each allow their own budget), which is stated in the README.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// The first lock's length.
pub const FIRST_LOCK: Duration = Duration::from_secs(1);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A record with no failure for this long is dropped.
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
/// Records kept at most; beyond it the stalest are dropped (bounded memory under a spray).
const MAX_RECORDS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Failed-login records by email.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    records: Mutex<HashMap<String, Record>>,
}

impl LoginLimiter {
    /// `Err(wait)` while `email` is locked.
    pub fn check(&self, email: &str, now: Instant) -> Result<(), Duration> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(email).and_then(|r| r.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed login for `email`.
    pub fn failure(&self, email: &str, now: Instant) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= MAX_RECORDS && !records.contains_key(email) {
            records.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
            if records.len() >= MAX_RECORDS {
                if let Some(stalest) = records
                    .iter()
                    .min_by_key(|(_, r)| r.last_failure)
                    .map(|(k, _)| k.clone())
                {
                    records.remove(&stalest);
                }
            }
        }
        let record = records.entry(email.to_string()).or_insert(Record {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(record.last_failure) >= FORGET_AFTER {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        if record.failures > FREE_FAILURES {
            let doublings = (record.failures - FREE_FAILURES - 1).min(20);
            let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
            record.locked_until = Some(now + lock);
        }
    }

    /// Clears `email`'s record after a successful login.
    pub fn success(&self, email: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_after_the_free_failures_and_end() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert!(limiter.check("a@x.io", t0).is_ok());
            limiter.failure("a@x.io", t0);
        }
        assert!(limiter.check("a@x.io", t0).is_ok());
        limiter.failure("a@x.io", t0);
        assert_eq!(limiter.check("a@x.io", t0), Err(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(1);
        assert!(limiter.check("a@x.io", t1).is_ok());
        limiter.failure("a@x.io", t1);
        assert_eq!(limiter.check("a@x.io", t1), Err(Duration::from_secs(2)));
        assert!(
            limiter.check("b@x.io", t1).is_ok(),
            "other emails are not affected"
        );
        for _ in 0..30 {
            limiter.failure("a@x.io", t1);
        }
        assert_eq!(limiter.check("a@x.io", t1), Err(MAX_LOCK));
        assert!(limiter.check("a@x.io", t1 + MAX_LOCK).is_ok());
        limiter.success("a@x.io");
        limiter.failure("a@x.io", t1);
        assert!(limiter.check("a@x.io", t1).is_ok(), "a success starts over");
    }
}
