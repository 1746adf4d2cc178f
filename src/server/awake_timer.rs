//! hyper's timer, counting only time the process was running. A process stopped (SIGSTOP, a
//! paused VM) comes back with every timer past due: the header timeout of a keep-alive
//! connection fired before the request its client sent during the stop was read, and the
//! connection was reset (issue 16: 7 such requests after a 10 s stop). Here a heartbeat
//! notices the gap, and a timer that comes due first checks, a moment later, whether the
//! process was stopped meanwhile and if so runs on for that long.
//!
//! Written here because no timer crate tells stopped time apart: monotonic clocks keep going
//! while a process is stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How often the heartbeat beats.
const BEAT: Duration = Duration::from_millis(100);
/// A gap between beats longer than this counts as time stopped.
const GAP: Duration = Duration::from_millis(500);
/// How long a due timer waits for the heartbeat to have noticed a stop.
pub const CONFIRM: Duration = Duration::from_millis(150);

/// How much time the process spent stopped, as its heartbeat saw it.
#[derive(Debug, Default)]
pub struct StallClock {
    stalled_micros: AtomicU64,
}

impl StallClock {
    /// Beats until `done`, adding each long gap between beats to the time stopped.
    pub async fn beat(self: Arc<Self>, done: CancellationToken) {
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(BEAT) => {}
                _ = done.cancelled() => return,
            }
            let gap = last.elapsed();
            last = tokio::time::Instant::now();
            if gap > GAP {
                let stalled = u64::try_from(gap.saturating_sub(BEAT).as_micros()).unwrap_or(0);
                self.stalled_micros.fetch_add(stalled, Ordering::Relaxed);
            }
        }
    }

    /// The time stopped so far.
    pub fn stalled(&self) -> Duration {
        Duration::from_micros(self.stalled_micros.load(Ordering::Relaxed))
    }
}

/// The timer hyper's connections use.
#[derive(Clone, Debug)]
pub struct AwakeTimer {
    clock: Arc<StallClock>,
}

impl AwakeTimer {
    /// A timer that discounts what `clock` saw stopped.
    pub fn new(clock: Arc<StallClock>) -> Self {
        Self { clock }
    }
}

impl hyper::rt::Timer for AwakeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(AwakeSleep {
            inner: Box::pin(tokio::time::sleep_until(deadline.into())),
            clock: self.clock.clone(),
            credited: self.clock.stalled(),
            confirming: false,
        })
    }
}

/// One sleep: due once its duration has passed with the process running.
struct AwakeSleep {
    inner: Pin<Box<tokio::time::Sleep>>,
    clock: Arc<StallClock>,
    /// The clock's stopped time already added to this sleep.
    credited: Duration,
    /// The deadline passed; waiting a moment for the heartbeat before ending.
    confirming: bool,
}

impl Future for AwakeSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.inner.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = tokio::time::Instant::now();
            if !self.confirming {
                self.confirming = true;
                self.inner.as_mut().reset(now + CONFIRM);
                continue;
            }
            let stalled = self.clock.stalled();
            if stalled <= self.credited {
                return Poll::Ready(());
            }
            let extra = stalled - self.credited;
            self.credited = stalled;
            self.confirming = false;
            self.inner.as_mut().reset(now + extra);
        }
    }
}

impl hyper::rt::Sleep for AwakeSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_sleep_runs_on_for_the_time_the_process_was_stopped() {
        let clock = Arc::new(StallClock::default());
        let timer = AwakeTimer::new(clock.clone());
        let started = tokio::time::Instant::now();
        let sleep = hyper::rt::Timer::sleep(&timer, Duration::from_secs(2));
        // The heartbeat saw a 10 s stop while the sleep ran.
        clock.stalled_micros.store(10_000_000, Ordering::Relaxed);
        sleep.await;
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(12), "{took:?}");
        assert!(took < Duration::from_secs(13), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_stop_a_sleep_ends_a_moment_after_its_deadline() {
        let timer = AwakeTimer::new(Arc::new(StallClock::default()));
        let started = tokio::time::Instant::now();
        hyper::rt::Timer::sleep(&timer, Duration::from_secs(2)).await;
        let took = started.elapsed();
        let due = Duration::from_secs(2) + CONFIRM;
        assert!(
            took >= due && took < due + Duration::from_millis(10),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_counts_a_long_gap_as_stopped_time() {
        let clock = Arc::new(StallClock::default());
        let done = CancellationToken::new();
        let beating = tokio::spawn(clock.clone().beat(done.clone()));
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(clock.stalled(), Duration::ZERO, "regular beats are no stop");
        // The whole runtime jumps 10 s at once, as after SIGCONT.
        tokio::time::advance(Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        let stalled = clock.stalled();
        assert!(
            stalled > Duration::from_secs(9) && stalled <= Duration::from_secs(10),
            "{stalled:?}"
        );
        done.cancel();
        beating.await.expect("beat");
    }
}
