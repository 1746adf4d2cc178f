//! sea-orm entities: the rows hookql stores, and nothing of GraphQL.
//!
//! GraphQL types are built from these models by explicit conversions in the main crate, so a
//! column added here (a password hash, say) can never reach a client by accident.
#![forbid(unsafe_code)]

pub mod document;
pub mod hook_delivery;
pub mod hook_run;
pub mod realtime_interest;
pub mod realtime_spill;
pub mod refresh_token;
pub mod revoked_user;
pub mod server_secret;
pub mod user;
