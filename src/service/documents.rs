//! Document operations: parse and check every argument, then call the store.
//!
//! Checks happen before any write, so bad input never changes anything.

use serde_json::Value;

use super::access::{self, Action};
use super::input;
use super::ServiceError;
use crate::auth::Caller;
use crate::state::AppState;
use crate::store::filter::Filter;
use crate::store::sort::{Direction, SortKey, MAX_SORT_FIELDS};
use crate::store::{CollectionName, Document, DocumentData, Guard, ListQuery, Page, UpdateChange};

/// One requested sort field, as the client sent it.
#[derive(Clone, Debug)]
pub struct SortRequest {
    /// Field name or dotted path.
    pub field: String,
    /// Direction.
    pub direction: Direction,
}

/// A page request, as the client sent it.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// The `filter` argument.
    pub filter: Option<Value>,
    /// The `sort` argument.
    pub sort: Vec<SortRequest>,
    /// The `limit` argument.
    pub limit: i32,
    /// The `offset` argument.
    pub offset: i32,
    /// Whether the client asked for `totalCount`.
    pub count_total: bool,
}

fn collection(name: &str) -> Result<CollectionName, ServiceError> {
    CollectionName::parse(name).map_err(|m| ServiceError::bad_input("collection", m))
}

/// Ids are UUIDs; anything else cannot name a document, so say so instead of "not found".
fn document_id(id: &str) -> Result<String, ServiceError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ServiceError::bad_input("id", format!("`{}` is not a document id: expected a UUID such as 0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", id.chars().take(64).collect::<String>())))
}

/// The collection and document an operation addresses.
fn target(collection_name: &str, id: &str) -> Result<(CollectionName, String), ServiceError> {
    Ok((collection(collection_name)?, document_id(id)?))
}

fn data(value: Value) -> Result<DocumentData, ServiceError> {
    DocumentData::parse(value).map_err(|m| ServiceError::bad_input("data", m))
}

/// The filter `caller` must pass for `action` in `collection`, per the rules in force now.
fn rule(
    state: &AppState,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Filter, ServiceError> {
    let hooks = state.hooks().current();
    access::filter(hooks.rules(collection.as_str()), action, caller, collection)
}

/// The read rule and `action`'s rule for `caller`, from one snapshot of the rules.
fn guard(
    state: &AppState,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Guard, ServiceError> {
    let hooks = state.hooks().current();
    let rules = hooks.rules(collection.as_str());
    Ok(Guard {
        visible: access::filter(rules, Action::Read, caller, collection)?,
        allowed: access::filter(rules, action, caller, collection)?,
    })
}

/// One document by id. A document the caller may not read is reported exactly like a missing
/// one, so ids leak nothing.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    id: &str,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    let visible = rule(state, caller, &collection, Action::Read)?;
    state
        .store()
        .get_document(&collection, &id, &visible)
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound(format!("no document `{id}` in collection `{collection}`"))
        })
}

/// A page of documents; the read rule is part of the query, so counts and pages are exact.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    request: ListRequest,
) -> Result<Page, ServiceError> {
    let collection = collection(collection_name)?;
    let filter = input::filter(request.filter.as_ref(), Filter::parse)?;
    if request.sort.len() > MAX_SORT_FIELDS {
        return Err(ServiceError::bad_input(
            "sort",
            format!("at most {MAX_SORT_FIELDS} sort fields are allowed"),
        ));
    }
    let sort = request
        .sort
        .iter()
        .enumerate()
        .map(|(i, s)| {
            SortKey::parse(&s.field, s.direction)
                .map_err(|m| ServiceError::bad_input(format!("sort.{i}.field"), m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (limit, offset) = input::page_bounds(request.limit, request.offset)?;
    let visible = rule(state, caller, &collection, Action::Read)?;
    let query = ListQuery {
        filter: Filter::And(vec![visible, filter]),
        sort,
        limit,
        offset,
        count_total: request.count_total,
    };
    Ok(state.store().list_documents(&collection, &query).await?)
}

/// Stores a new document owned by the caller.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    value: Value,
) -> Result<Document, ServiceError> {
    let collection = collection(collection_name)?;
    let data = data(value)?;
    let allowed = rule(state, caller, &collection, Action::Create)?;
    let owner = caller.user_id().map(str::to_string);
    state
        .store()
        .create_document(&collection, data, owner, &allowed)
        .await
        .map_err(|e| access::store_error(e, Action::Create, caller, &collection))
}

/// Changes a document's data (merge patch or replace), optionally pinned to a version.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    id: &str,
    value: Value,
    merge: bool,
    expected_version: Option<i32>,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    let data = data(value)?;
    if let Some(v) = expected_version {
        if v < 1 {
            return Err(ServiceError::bad_input(
                "expectedVersion",
                format!("versions start at 1, got {v}"),
            ));
        }
    }
    let guard = guard(state, caller, &collection, Action::Update)?;
    let change = UpdateChange {
        data,
        merge,
        expected_version,
    };
    state
        .store()
        .update_document(&collection, &id, change, &guard)
        .await
        .map_err(|e| access::store_error(e, Action::Update, caller, &collection))
}

/// Deletes a document, returning its last state.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    id: &str,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    let guard = guard(state, caller, &collection, Action::Delete)?;
    state
        .store()
        .delete_document(&collection, &id, &guard)
        .await
        .map_err(|e| access::store_error(e, Action::Delete, caller, &collection))
}
