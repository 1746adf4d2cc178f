//! A circuit breaker per URL, per instance: after a run of failures the URL is paused, then
//! probed by a single delivery; success closes it, failure pauses it again for longer. While
//! paused, deliveries wait in the outbox without spending their attempts, so a receiver that
//! is down for an hour is not hammered and its events are not declared dead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;
/// First pause; doubles each time a probe fails.
pub const FIRST_PAUSE: Duration = Duration::from_secs(5);
/// Longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);
/// How long other deliveries wait while a probe is out.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// The circuits of every URL this instance delivers to.
#[derive(Debug, Default)]
pub struct Breakers {
    urls: Mutex<HashMap<String, Circuit>>,
}

#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    pauses: u32,
    paused_until: Option<Instant>,
    probing: bool,
}

/// Whether a delivery may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Go,
    /// The URL is paused: try again after this long.
    Wait(Duration),
}

impl Breakers {
    /// Whether a delivery to `url` may be sent at `now`.
    pub fn admit(&self, url: &str, now: Instant) -> Admit {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        let Some(circuit) = urls.get_mut(url) else {
            return Admit::Go;
        };
        match circuit.paused_until {
            None => Admit::Go,
            Some(until) if now < until => Admit::Wait(until - now),
            Some(_) if circuit.probing => Admit::Wait(PROBE_WAIT),
            Some(_) => {
                circuit.probing = true;
                Admit::Go
            }
        }
    }

    /// Records an attempt's result; `failed` only for failures that say the receiver is in
    /// trouble (the ones retried). Whether this failure paused the URL.
    pub fn record(&self, url: &str, failed: bool, now: Instant) -> bool {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        if !failed {
            urls.remove(url);
            return false;
        }
        let circuit = urls.entry(url.to_string()).or_default();
        circuit.failures += 1;
        let reopen = circuit.probing
            || (circuit.paused_until.is_none() && circuit.failures >= FAILURES_TO_OPEN);
        if reopen {
            circuit.probing = false;
            circuit.pauses += 1;
            let pause = FIRST_PAUSE
                .saturating_mul(1 << (circuit.pauses - 1).min(16))
                .min(MAX_PAUSE);
            circuit.paused_until = Some(now + pause);
        }
        reopen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_probes_once_and_closes_on_success() {
        let breakers = Breakers::default();
        let t0 = Instant::now();
        for _ in 1..FAILURES_TO_OPEN {
            assert!(!breakers.record("u", true, t0));
            assert_eq!(breakers.admit("u", t0), Admit::Go);
        }
        assert!(breakers.record("u", true, t0));
        assert_eq!(breakers.admit("u", t0), Admit::Wait(FIRST_PAUSE));
        assert_eq!(breakers.admit("other", t0), Admit::Go);
        let later = t0 + FIRST_PAUSE;
        assert_eq!(breakers.admit("u", later), Admit::Go, "one probe");
        assert_eq!(breakers.admit("u", later), Admit::Wait(PROBE_WAIT));
        assert!(
            breakers.record("u", true, later),
            "a failed probe pauses again"
        );
        assert_eq!(breakers.admit("u", later), Admit::Wait(FIRST_PAUSE * 2));
        let much_later = later + FIRST_PAUSE * 2;
        assert_eq!(breakers.admit("u", much_later), Admit::Go);
        breakers.record("u", false, much_later);
        assert_eq!(breakers.admit("u", much_later), Admit::Go);
        assert_eq!(breakers.admit("u", much_later), Admit::Go, "closed again");
    }
}
