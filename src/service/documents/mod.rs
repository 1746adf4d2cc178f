//! Document operations: parse and check every argument, run the event's before-hooks, call
//! the store, then hand the after-hooks what was written. [`read`] serves queries and the
//! read view every operation shares (`pre_read` narrowing, `post_read` answers); [`write`]
//! creates, updates and deletes.
//!
//! Checks happen before any hook or write, so bad input never changes anything.

mod read;
mod write;

use serde_json::Value;

use super::access::{self, Action};
use super::ServiceError;
use crate::hooks::Target;
use crate::manifest::Manifest;
use crate::model::filter::Filter;
use crate::model::Caller;
use crate::model::CollectionName;
use crate::model::DocumentData;
use crate::store::Guard;

pub use read::{get, list, ListRequest, SortRequest};
pub(super) use read::{read_filter, read_result};
pub use write::{create, delete, update};

pub(super) fn collection(name: &str) -> Result<CollectionName, ServiceError> {
    CollectionName::parse(name).map_err(|m| ServiceError::bad_input("collection", m))
}

/// Ids are UUIDs; anything else cannot name a document, so say so instead of "not found".
pub(super) fn document_id(id: &str) -> Result<String, ServiceError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ServiceError::bad_input("id", format!("`{}` is not a document id: expected a UUID such as 0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", id.chars().take(64).collect::<String>())))
}

/// The collection and document an operation addresses.
pub(super) fn target(
    collection_name: &str,
    id: &str,
) -> Result<(CollectionName, String), ServiceError> {
    Ok((collection(collection_name)?, document_id(id)?))
}

pub(super) fn data(value: Value) -> Result<DocumentData, ServiceError> {
    DocumentData::parse(value).map_err(|m| ServiceError::bad_input("data", m))
}

/// The filter `caller` must pass for `action` in `collection`, per `hooks`' rules.
pub(super) fn rule(
    hooks: &Manifest,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Filter, ServiceError> {
    access::filter(hooks.rules(collection.as_str()), action, caller, collection)
}

/// The read rule and `action`'s rule for `caller`, from one snapshot of the rules.
pub(super) fn guard(
    hooks: &Manifest,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Guard, ServiceError> {
    Ok(Guard {
        visible: rule(hooks, caller, collection, Action::Read)?,
        allowed: rule(hooks, caller, collection, action)?,
    })
}

pub(super) fn about(collection: &CollectionName) -> Target {
    Target {
        collection: Some(collection.to_string()),
        ..Target::default()
    }
}

pub(super) fn not_found(collection: &CollectionName, id: &str) -> ServiceError {
    ServiceError::NotFound(format!("no document `{id}` in collection `{collection}`"))
}
