//! Hooks: what runs around each operation, as the app's manifest ([`crate::manifest`]) binds
//! it. Where payloads are built ([`payload`]), where a binding's answer is read ([`outcome`])
//! and its narrowing tested ([`matching`]), where chains run ([`chain`], [`runner`]) and are
//! recorded ([`runs`]), where Rhai scripts run in their sandbox ([`script`]), where webhooks
//! are signed and called ([`webhook`]) and durably delivered ([`delivery`]), and how admins
//! try a chain out ([`dry_run`]).

pub mod chain;
pub mod delivery;
pub mod dry_run;
pub mod failure;
pub mod matching;
pub mod outcome;
pub mod payload;
pub mod runner;
pub mod runs;
pub mod script;
pub mod webhook;

pub use chain::Stop;
pub use failure::HookFailure;
pub use matching::Target;
pub use payload::Payload;
pub use runner::HookRunner;
