//! The values every layer shares: what a collection name, a document, a filter, a sort, a
//! caller, an event and a secret are, each parsed once at the edge. Nothing here touches
//! the database, the network or the app's configuration, so anything may depend on it.

pub mod caller;
pub mod clock;
pub mod collection;
pub mod document;
pub mod event;
pub mod filter;
pub mod json;
pub mod merge_patch;
pub mod secret;
pub mod sort;

pub use caller::Caller;
pub use collection::CollectionName;
pub use document::{Document, DocumentData, UpdateChange};
pub use event::Event;
pub use secret::Secret;
