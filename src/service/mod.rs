//! What the API does, independent of transport: input checks, access rules, hook chains and
//! the store; every hooked write through [`hooked_write`]. GraphQL resolvers are thin calls
//! into here.

pub mod access;
pub mod documents;
mod error;
mod hidden;
pub mod hook_admin;
mod hooked_write;
mod hooks;
mod input;
pub mod subscriptions;
pub mod users;

pub use error::ServiceError;
