//! Document operations: parse and check every argument, then call the store.
//!
//! Checks happen before any write, so bad input never changes anything.

use serde_json::Value;

use super::ServiceError;
use crate::state::AppState;
use crate::store::documents::MAX_LIMIT;
use crate::store::filter::Filter;
use crate::store::sort::{Direction, SortKey, MAX_SORT_FIELDS};
use crate::store::{CollectionName, Document, DocumentData, ListQuery, Page, UpdateChange};

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

/// One document by id.
pub async fn get(
    state: &AppState,
    collection_name: &str,
    id: &str,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    state
        .store()
        .get_document(&collection, &id)
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound(format!("no document `{id}` in collection `{collection}`"))
        })
}

/// A page of documents.
pub async fn list(
    state: &AppState,
    collection_name: &str,
    request: ListRequest,
) -> Result<Page, ServiceError> {
    let collection = collection(collection_name)?;
    let filter = match &request.filter {
        None | Some(Value::Null) => Filter::always(),
        Some(value) => Filter::parse(value, "filter")
            .map_err(|e| ServiceError::bad_input(e.path, e.message))?,
    };
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
    if request.limit < 0 || request.limit as u64 > MAX_LIMIT {
        return Err(ServiceError::bad_input(
            "limit",
            format!("expected 0 to {MAX_LIMIT}, got {}", request.limit),
        ));
    }
    if request.offset < 0 {
        return Err(ServiceError::bad_input(
            "offset",
            format!("expected 0 or more, got {}", request.offset),
        ));
    }
    let query = ListQuery {
        filter,
        sort,
        limit: request.limit as u64,
        offset: request.offset as u64,
        count_total: request.count_total,
    };
    Ok(state.store().list_documents(&collection, &query).await?)
}

/// Stores a new document.
pub async fn create(
    state: &AppState,
    collection_name: &str,
    value: Value,
) -> Result<Document, ServiceError> {
    let collection = collection(collection_name)?;
    let data = data(value)?;
    Ok(state
        .store()
        .create_document(&collection, data, None)
        .await?)
}

/// Changes a document's data (merge patch or replace), optionally pinned to a version.
pub async fn update(
    state: &AppState,
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
    let change = UpdateChange {
        data,
        merge,
        expected_version,
    };
    Ok(state
        .store()
        .update_document(&collection, &id, change)
        .await?)
}

/// Deletes a document, returning its last state.
pub async fn delete(
    state: &AppState,
    collection_name: &str,
    id: &str,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    Ok(state.store().delete_document(&collection, &id).await?)
}
