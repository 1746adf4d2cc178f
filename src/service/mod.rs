//! What the API does, independent of transport: input checks, then the store (and, as later
//! issues add them, access rules and hook chains). GraphQL resolvers are thin calls into here.

pub mod documents;
mod error;

pub use error::ServiceError;
