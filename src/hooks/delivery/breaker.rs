//! A circuit breaker per URL, per instance: after a run of failures the URL is paused; while
//! it is, a single delivery probes it every few seconds, and the others wait in the outbox
//! without spending their attempts, so a receiver that is down for an hour is neither
//! hammered nor has its events declared dead. A probe that succeeds closes the circuit, and
//! the worker sends the backlog at once, at the receiver's pace.
//!
//! Probes do not slow down as the pause grows (issue 16: with pauses of 5, 10, 20, 40 s a
//! receiver that was up for 10 s between outages got nothing, and one back for good waited
//! half a minute): the pause only decides how long waiting deliveries are put off for, which
//! bounds how often they are rewritten; the probe decides when they go.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;
/// First pause; doubles each time a probe fails.
pub const FIRST_PAUSE: Duration = Duration::from_secs(5);
/// Longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);
/// Longest time between two probes of a paused URL.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);
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
    open: Option<Open>,
}

/// A paused URL.
#[derive(Debug)]
struct Open {
    /// Until when deliveries are put off.
    paused_until: Instant,
    /// When the next probe may go.
    next_probe: Instant,
    /// A delivery was put off to `next_probe`, to be the probe.
    probe_booked: bool,
    /// A probe is out.
    probing: bool,
}

/// Whether a delivery may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Go,
    /// Send it as the probe of a paused URL: if it fails, it probes again at the next probe
    /// time rather than backing off or dying, so probes keep their pace.
    Probe,
    /// The URL is paused: try again after this long.
    Wait(Duration),
}

/// What an attempt's result did to its URL's circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turned {
    /// Nothing changed.
    Same,
    /// The URL is paused (again).
    Paused,
    /// A paused URL answered: its waiting deliveries may go now.
    Resumed,
}

impl Breakers {
    /// Whether a delivery to `url` may be sent at `now`.
    pub fn admit(&self, url: &str, now: Instant) -> Admit {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        let Some(open) = urls.get_mut(url).and_then(|c| c.open.as_mut()) else {
            return Admit::Go;
        };
        if open.probing {
            return Admit::Wait(PROBE_WAIT);
        }
        if now >= open.next_probe {
            open.probing = true;
            return Admit::Probe;
        }
        if !open.probe_booked {
            open.probe_booked = true;
            return Admit::Wait(open.next_probe - now);
        }
        Admit::Wait(open.paused_until.max(open.next_probe) - now)
    }

    /// Records an attempt's result; `failed` only for failures that say the receiver is in
    /// trouble (the ones retried).
    pub fn record(&self, url: &str, failed: bool, now: Instant) -> Turned {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        if !failed {
            let was_open = urls.remove(url).is_some_and(|c| c.open.is_some());
            return if was_open {
                Turned::Resumed
            } else {
                Turned::Same
            };
        }
        let circuit = urls.entry(url.to_string()).or_default();
        circuit.failures += 1;
        let probed = circuit.open.as_ref().is_some_and(|open| open.probing);
        let pause = match &circuit.open {
            Some(_) => probed,
            None => circuit.failures >= FAILURES_TO_OPEN,
        };
        if !pause {
            return Turned::Same;
        }
        circuit.pauses += 1;
        let pause = FIRST_PAUSE
            .saturating_mul(1 << (circuit.pauses - 1).min(16))
            .min(MAX_PAUSE);
        circuit.open = Some(Open {
            paused_until: now + pause,
            next_probe: now + pause.min(PROBE_EVERY),
            // A failed probe probes again itself (see [`Admit::Probe`]).
            probe_booked: probed,
            probing: false,
        });
        Turned::Paused
    }

    /// How long until `url`'s next probe, if it is paused.
    pub fn until_probe(&self, url: &str, now: Instant) -> Option<Duration> {
        let urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        let open = urls.get(url)?.open.as_ref()?;
        Some(open.next_probe.saturating_duration_since(now))
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
            assert_eq!(breakers.record("u", true, t0), Turned::Same);
            assert_eq!(breakers.admit("u", t0), Admit::Go);
        }
        assert_eq!(breakers.record("u", true, t0), Turned::Paused);
        assert_eq!(
            breakers.admit("u", t0),
            Admit::Wait(PROBE_EVERY),
            "the probe"
        );
        assert_eq!(
            breakers.admit("u", t0),
            Admit::Wait(FIRST_PAUSE),
            "the rest"
        );
        assert_eq!(breakers.admit("other", t0), Admit::Go);
        let probe = t0 + PROBE_EVERY;
        assert_eq!(breakers.admit("u", probe), Admit::Probe, "one probe");
        assert_eq!(breakers.admit("u", probe), Admit::Wait(PROBE_WAIT));
        assert_eq!(
            breakers.record("u", true, probe),
            Turned::Paused,
            "a failed probe pauses again"
        );
        assert_eq!(breakers.until_probe("u", probe), Some(PROBE_EVERY));
        assert_eq!(
            breakers.admit("u", probe),
            Admit::Wait(FIRST_PAUSE * 2),
            "the failed probe is booked to probe again"
        );
        let next = probe + PROBE_EVERY;
        assert_eq!(breakers.admit("u", next), Admit::Probe);
        assert_eq!(breakers.record("u", false, next), Turned::Resumed);
        assert_eq!(breakers.admit("u", next), Admit::Go);
        assert_eq!(breakers.admit("u", next), Admit::Go, "closed again");
        assert_eq!(breakers.record("u", false, next), Turned::Same);
    }

    #[test]
    fn probes_stay_frequent_however_long_the_pause_grows() {
        let breakers = Breakers::default();
        let mut now = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            breakers.record("u", true, now);
        }
        for _ in 0..12 {
            now += PROBE_EVERY;
            assert_eq!(breakers.admit("u", now), Admit::Probe);
            assert_eq!(breakers.record("u", true, now), Turned::Paused);
            assert_eq!(breakers.until_probe("u", now), Some(PROBE_EVERY));
        }
        assert_eq!(breakers.admit("u", now), Admit::Wait(MAX_PAUSE));
    }
}
