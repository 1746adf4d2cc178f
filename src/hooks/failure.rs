//! How a hook fails, typed from where it happens (a script, a webhook call, the chain reading
//! an answer) to the run record and the metrics, so that "timed out" is a variant, not a
//! prefix of a message. The texts are what admins read in `hookRuns` and the log: they say
//! what went wrong in our words and never hold a receiver's body or a URL.

use super::runs::RunOutcome;

/// Why a hook run did not give an answer the chain could use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookFailure {
    /// It ran past its `timeout_ms` and was stopped (or no longer waited for).
    #[error("timed out after {ms} ms")]
    TimedOut {
        /// The time it had.
        ms: u128,
    },
    /// It failed: a script error, or a webhook call that was refused, broke or answered with
    /// an error status.
    #[error("{0}")]
    Failed(String),
    /// It answered something the hook contract does not allow for its event (docs/hooks.md,
    /// "Events and payloads").
    #[error("{0}")]
    Unusable(String),
    /// Its URL's circuit breaker is open: it was not called.
    #[error("{0}")]
    Refused(String),
    /// The script's run crashed (a panic in the engine or a helper); the server goes on.
    #[error("the script crashed: {0}")]
    Crashed(String),
}

impl HookFailure {
    /// What the run record and `hookql_hook_runs_total` count it as.
    pub fn outcome(&self) -> RunOutcome {
        match self {
            Self::TimedOut { .. } => RunOutcome::TimedOut,
            _ => RunOutcome::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_counted_apart_from_other_failures() {
        let timed_out = HookFailure::TimedOut { ms: 300 };
        assert_eq!(timed_out.to_string(), "timed out after 300 ms");
        assert_eq!(timed_out.outcome(), RunOutcome::TimedOut);
        // A message that merely reads like a timeout is a failure like any other.
        let failed = HookFailure::Failed("timed out, said the receiver".into());
        assert_eq!(failed.outcome(), RunOutcome::Failed);
        assert_eq!(
            HookFailure::Unusable("x".into()).outcome(),
            RunOutcome::Failed
        );
    }
}
