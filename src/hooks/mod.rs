//! Hooks: where hooks.yaml is loaded ([`config`]), where events are named ([`event`]), where
//! Rhai scripts are compiled ([`script`]) and where the running configuration is swapped on
//! edit ([`reload`]). The chain that runs bindings for an event comes in a later issue.

pub mod config;
pub mod event;
pub mod reload;
pub mod script;

pub use event::Event;
pub use reload::HooksHandle;
