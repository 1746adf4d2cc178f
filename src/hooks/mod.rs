//! Hooks: where hooks.yaml is loaded ([`config`]) and swapped on edit ([`reload`]), where
//! events and their payloads are named ([`event`], [`payload`]), where a binding's answer is
//! read ([`outcome`]) and its narrowing tested ([`matching`]), where chains run ([`chain`],
//! [`runner`]) and are recorded ([`runs`]) and where Rhai scripts are compiled and run ([`script`]).

pub mod chain;
pub mod config;
pub mod delivery;
pub mod dry_run;
pub mod matching;
pub mod outcome;
pub mod payload;
pub mod reload;
pub mod runner;
pub mod runs;
pub mod script;
pub mod webhook;

pub use chain::Stop;
pub use matching::Target;
pub use payload::Payload;
pub use reload::HooksHandle;
pub use runner::HookRunner;
