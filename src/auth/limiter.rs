//! Slows down password guessing for one email, without locking the real owner out for long.
//!
//! The first [`FREE_FAILURES`] failed logins for an email cost nothing. Each failure after
//! that locks the email for twice as long as the last (1 s, 2 s, 4 s … at most
//! [`MAX_LOCK`]); while locked, logins for it are refused without checking the password. A
//! success, or [`FORGET_AFTER`] without failures, clears the record. Unknown emails are treated
//! exactly like known ones, so the limiter reveals nothing.
//!
//! Attempts count from the moment they start, not when their password check ends: a check
//! takes tens of milliseconds, and counting only finished ones let 300 parallel guesses all be
//! checked before the first failure was recorded. An attempt is let in only if, should every
//! attempt still in flight fail, the email would not be locked yet (or, once past the free
//! failures, when nothing else is in flight). So parallel guesses get exactly as many checks as
//! the same guesses one after another, and the rest are refused at once, at no cost. An
//! attempt that never reports (its request was dropped, the database failed) counts as failed.
//!
//! The state is per instance (several instances each allow their own budget), which is stated
//! in docs/operating.md (Running several instances).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
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
    /// Attempts whose password check has not ended.
    in_flight: u32,
}

impl Record {
    fn new(now: Instant) -> Self {
        Record {
            failures: 0,
            last_failure: now,
            locked_until: None,
            in_flight: 0,
        }
    }
}

/// The lock that follows the `failures`-th failure in a row, if any.
fn lock_after(failures: u32) -> Option<Duration> {
    let doublings = failures.checked_sub(FREE_FAILURES + 1)?.min(20);
    Some(FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK))
}

/// Failed-login records by email.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    records: Mutex<HashMap<String, Record>>,
}

/// One login attempt let in by [`LoginLimiter::begin`]: it counts as in flight until it is
/// settled with [`Attempt::succeeded`] or [`Attempt::failed`]; dropped unsettled, it counts as
/// failed (so hanging up does not make a guess free).
#[derive(Debug)]
#[must_use = "an attempt counts as failed unless it is settled"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    email: String,
    settled: bool,
}

impl Attempt<'_> {
    /// The password was right: the email's record starts over.
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut records = self.limiter.records();
        if let Some(record) = records.get_mut(&self.email) {
            record.in_flight = record.in_flight.saturating_sub(1);
            record.failures = 0;
            record.locked_until = None;
            if record.in_flight == 0 {
                records.remove(&self.email);
            }
        }
    }

    /// The password was wrong (or the email unknown).
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        self.limiter.failure(&self.email, now);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.failure(&self.email, Instant::now());
        }
    }
}

impl LoginLimiter {
    fn records(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets an attempt for `email` be checked, or `Err(wait)`: while the email is locked, and
    /// while the attempts already in flight would lock it if they all failed.
    pub fn begin(&self, email: &str, now: Instant) -> Result<Attempt<'_>, Duration> {
        let mut records = self.records();
        let record = record_of(&mut records, email, now);
        if record.in_flight == 0 && now.duration_since(record.last_failure) >= FORGET_AFTER {
            *record = Record::new(now);
        }
        if let Some(until) = record.locked_until.filter(|until| *until > now) {
            return Err(until - now);
        }
        let if_all_fail = record.failures + record.in_flight;
        if record.in_flight > 0 {
            if let Some(lock) = lock_after(if_all_fail) {
                return Err(lock);
            }
        }
        record.in_flight += 1;
        Ok(Attempt {
            limiter: self,
            email: email.to_string(),
            settled: false,
        })
    }

    /// Records a failed attempt for `email` (no longer in flight).
    fn failure(&self, email: &str, now: Instant) {
        let mut records = self.records();
        let record = record_of(&mut records, email, now);
        record.in_flight = record.in_flight.saturating_sub(1);
        if now.duration_since(record.last_failure) >= FORGET_AFTER {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        if let Some(lock) = lock_after(record.failures) {
            record.locked_until = Some(now + lock);
        }
    }
}

/// The record of `email`, made (room first, so the map stays bounded) if there is none.
fn record_of<'a>(
    records: &'a mut HashMap<String, Record>,
    email: &str,
    now: Instant,
) -> &'a mut Record {
    if records.len() >= MAX_RECORDS && !records.contains_key(email) {
        make_room(records, now);
    }
    records
        .entry(email.to_string())
        .or_insert_with(|| Record::new(now))
}

/// Drops forgotten records, or else the stalest one, keeping those with attempts in flight.
fn make_room(records: &mut HashMap<String, Record>, now: Instant) {
    records.retain(|_, r| r.in_flight > 0 || now.duration_since(r.last_failure) < FORGET_AFTER);
    if records.len() >= MAX_RECORDS {
        if let Some(stalest) = records
            .iter()
            .filter(|(_, r)| r.in_flight == 0)
            .min_by_key(|(_, r)| r.last_failure)
            .map(|(k, _)| k.clone())
        {
            records.remove(&stalest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(limiter: &LoginLimiter, email: &str, now: Instant) {
        limiter.begin(email, now).expect("let in").failed(now);
    }

    #[test]
    fn locks_grow_after_the_free_failures_and_end() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            fail(&limiter, "a@x.io", t0);
        }
        fail(&limiter, "a@x.io", t0);
        assert_eq!(
            limiter.begin("a@x.io", t0).map(drop),
            Err(Duration::from_secs(1))
        );
        let t1 = t0 + Duration::from_secs(1);
        fail(&limiter, "a@x.io", t1);
        assert_eq!(
            limiter.begin("a@x.io", t1).map(drop),
            Err(Duration::from_secs(2))
        );
        assert!(
            limiter.begin("b@x.io", t1).is_ok(),
            "other emails are not affected"
        );
        for _ in 0..30 {
            limiter.failure("a@x.io", t1);
        }
        assert_eq!(limiter.begin("a@x.io", t1).map(drop), Err(MAX_LOCK));
        let t2 = t1 + MAX_LOCK;
        limiter
            .begin("a@x.io", t2)
            .expect("the lock ended")
            .succeeded();
        fail(&limiter, "a@x.io", t2);
        assert!(limiter.begin("a@x.io", t2).is_ok(), "a success starts over");
    }

    #[test]
    fn attempts_in_flight_count_as_if_they_failed() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let in_flight: Vec<_> = (0..=FREE_FAILURES)
            .map(|_| limiter.begin("a@x.io", t0).expect("within the allowance"))
            .collect();
        assert_eq!(
            limiter.begin("a@x.io", t0).map(drop),
            Err(FIRST_LOCK),
            "a seventh attempt in flight would go past the first lock"
        );
        for attempt in in_flight {
            attempt.failed(t0);
        }
        assert_eq!(limiter.begin("a@x.io", t0).map(drop), Err(FIRST_LOCK));
        // Past the free failures, one attempt at a time once each lock ends.
        let t1 = t0 + FIRST_LOCK;
        let one = limiter.begin("a@x.io", t1).expect("the lock ended");
        assert_eq!(
            limiter.begin("a@x.io", t1).map(drop),
            Err(Duration::from_secs(2))
        );
        // Dropped unsettled: a failure (recorded now, so the lock is about 2 s from now).
        drop(one);
        assert!(limiter.begin("a@x.io", Instant::now()).is_err());
        assert_eq!(limiter.records()["a@x.io"].failures, FREE_FAILURES + 2);
    }

    #[test]
    fn a_success_with_others_in_flight_keeps_counting_them() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let others: Vec<_> = (0..FREE_FAILURES)
            .map(|_| limiter.begin("a@x.io", t0).expect("let in"))
            .collect();
        limiter.begin("a@x.io", t0).expect("let in").succeeded();
        // The five still in flight count: one more may start, not six.
        let sixth = limiter.begin("a@x.io", t0).expect("let in");
        assert!(limiter.begin("a@x.io", t0).is_err());
        drop((others, sixth));
    }
}
