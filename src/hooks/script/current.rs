//! The script running on this thread: its hook's name and deadline, for the engine's
//! callbacks and the helpers (which the engine calls without any per-run value).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use rhai::Dynamic;

/// The hook's name and deadline, for the engine's callbacks on this thread.
pub(super) struct RunState {
    hook: String,
    deadline: Instant,
}

impl RunState {
    /// The state of a run of `hook` that must end by `deadline`.
    pub(super) fn new(hook: &str, deadline: Instant) -> Self {
        Self {
            hook: hook.to_string(),
            deadline,
        }
    }

    /// Makes this the run of the current thread.
    pub(super) fn enter(self) {
        RUN.set(Some(self));
    }

    /// Ends the current thread's run.
    pub(super) fn leave() {
        RUN.set(None);
    }
}

thread_local! {
    static RUN: RefCell<Option<RunState>> = const { RefCell::new(None) };
}

/// How many operations pass between two looks at the clock.
const CLOCK_EVERY: u64 = 512;

/// The engine's progress callback: stops the script once its deadline has passed.
pub(super) fn check_deadline(operations: u64) -> Option<Dynamic> {
    if !operations.is_multiple_of(CLOCK_EVERY) {
        return None;
    }
    RUN.with_borrow(|run| match run {
        Some(run) if Instant::now() >= run.deadline => Some(Dynamic::from("time limit")),
        _ => None,
    })
}

/// Time left before the running script's deadline (helpers bound their waits by it); zero
/// outside a run.
pub(super) fn time_left() -> Duration {
    RUN.with_borrow(|run| match run {
        Some(run) => run.deadline.saturating_duration_since(Instant::now()),
        None => Duration::ZERO,
    })
}

/// The hook now running on this thread, for log lines.
pub(super) fn current_hook() -> String {
    RUN.with_borrow(|run| run.as_ref().map(|r| r.hook.clone()))
        .unwrap_or_default()
}

/// A line a script logs (`log`, `print`, `debug`), under the hook's name.
pub(super) fn log_line(text: &str) {
    tracing::info!(hook = %current_hook(), "{text}");
}
