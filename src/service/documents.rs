//! Document operations: parse and check every argument, run the event's before-hooks, call
//! the store, then hand the after-hooks what was written.
//!
//! Checks happen before any hook or write, so bad input never changes anything.

use std::sync::Arc;

use serde_json::{json, Value};

use super::access::{self, Action};
use super::hooks::{self, Before};
use super::input;
use super::ServiceError;
use crate::auth::Caller;
use crate::hooks::config::{HooksConfig, Operation};
use crate::hooks::{payload, Event, Payload, Target};
use crate::state::AppState;
use crate::store::documents::{busy, Written, UPDATE_ATTEMPTS};
use crate::store::filter::{Filter, MetaField};
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

pub(super) fn collection(name: &str) -> Result<CollectionName, ServiceError> {
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

/// The filter `caller` must pass for `action` in `collection`, per `hooks`' rules.
pub(super) fn rule(
    hooks: &HooksConfig,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Filter, ServiceError> {
    access::filter(hooks.rules(collection.as_str()), action, caller, collection)
}

/// The read rule and `action`'s rule for `caller`, from one snapshot of the rules.
fn guard(
    hooks: &HooksConfig,
    caller: &Caller,
    collection: &CollectionName,
    action: Action,
) -> Result<Guard, ServiceError> {
    Ok(Guard {
        visible: rule(hooks, caller, collection, Action::Read)?,
        allowed: rule(hooks, caller, collection, action)?,
    })
}

fn about(collection: &CollectionName) -> Target {
    Target {
        collection: Some(collection.to_string()),
        ..Target::default()
    }
}

fn not_found(collection: &CollectionName, id: &str) -> ServiceError {
    ServiceError::NotFound(format!("no document `{id}` in collection `{collection}`"))
}

/// `pre_read`: the filter hooks leave (ANDed with the read rule by the caller, so a hook can
/// narrow what is seen, never widen it).
pub(super) async fn read_filter(
    state: &AppState,
    hooks: &Arc<HooksConfig>,
    caller: &Caller,
    collection: &CollectionName,
    build: impl FnOnce(Payload) -> Payload,
) -> Result<(Filter, Before), ServiceError> {
    let mut before = hooks::before(state, hooks, Event::PreRead, &about(collection), || {
        build(Payload::new(Event::PreRead, caller).with("collection", collection.as_str()))
    })
    .await?;
    let filter = match before.take("filter") {
        Some(value) => input::filter(Some(&value), Filter::parse).map_err(|e| {
            ServiceError::Internal(format!("a pre_read hook left a bad filter: {e}"))
        })?,
        None => Filter::always(),
    };
    Ok((filter, before))
}

/// `post_read`: the documents hooks leave in place of `documents`.
pub(super) async fn read_result(
    state: &AppState,
    hooks: &Arc<HooksConfig>,
    caller: &Caller,
    collection: &CollectionName,
    documents: Vec<Document>,
) -> Result<Vec<Document>, ServiceError> {
    if !hooks.has_chain(Event::PostRead) {
        return Ok(documents);
    }
    let listed = documents.iter().map(payload::document).collect::<Vec<_>>();
    let mut after = hooks::before(state, hooks, Event::PostRead, &about(collection), || {
        Payload::new(Event::PostRead, caller)
            .with("collection", collection.as_str())
            .with("documents", listed)
    })
    .await?;
    let replaced = after.take("documents");
    after.commit().await?;
    match replaced {
        Some(Value::Array(items)) => items
            .iter()
            .map(payload::parse_document)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                ServiceError::Internal(format!("a post_read hook left a bad document: {e}"))
            }),
        _ => Ok(documents),
    }
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
    let hooks = state.runner().config();
    let visible = rule(&hooks, caller, &collection, Action::Read)?;
    let (narrowed, before) = read_filter(state, &hooks, caller, &collection, |p| {
        p.with("document_id", id.as_str())
    })
    .await?;
    let found = state
        .store()
        .get_document(
            before.tx.as_ref(),
            &collection,
            &id,
            &Filter::And(vec![visible, narrowed]),
        )
        .await?;
    before.commit().await?;
    let found = found.ok_or_else(|| not_found(&collection, &id))?;
    read_result(state, &hooks, caller, &collection, vec![found])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found(&collection, &id))
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
    let hooks = state.runner().config();
    let visible = rule(&hooks, caller, &collection, Action::Read)?;
    let client_filter = request.filter.clone().unwrap_or(Value::Null);
    let (filter, before) = if hooks.has_chain(Event::PreRead) {
        read_filter(state, &hooks, caller, &collection, |p| {
            p.with("filter", client_filter)
        })
        .await?
    } else {
        (filter, hooks::Before::none())
    };
    let query = ListQuery {
        filter: Filter::And(vec![visible, filter]),
        sort,
        limit,
        offset,
        count_total: request.count_total,
    };
    let mut page = state
        .store()
        .list_documents(before.tx.as_ref(), &collection, &query)
        .await?;
    before.commit().await?;
    page.items = read_result(state, &hooks, caller, &collection, page.items).await?;
    Ok(page)
}

/// The document data hooks left in their payload, or `data` when no chain ran.
fn saved_data(before: &mut Before, data: DocumentData) -> Result<DocumentData, ServiceError> {
    match before.take("document") {
        Some(value) => DocumentData::parse(value)
            .map_err(|e| ServiceError::Internal(format!("a pre_save hook left bad data: {e}"))),
        None => Ok(data),
    }
}

/// The `pre_save`/`post_save` payload; `old` is the stored data before an update.
fn save_payload(
    event: Event,
    caller: &Caller,
    collection: &CollectionName,
    operation: Operation,
    id: &str,
    data: Value,
    old: Option<&Value>,
) -> Payload {
    let operation = match operation {
        Operation::Create => "create",
        Operation::Update => "update",
    };
    let payload = Payload::new(event, caller)
        .with("collection", collection.as_str())
        .with("operation", operation)
        .with("document_id", id)
        .with("document", data);
    match old {
        Some(old) => payload.with("old_data", old.clone()),
        None => payload,
    }
}

/// A document as a save left it: created, or updated from the old data.
enum Saved<'a> {
    Created(&'a Document),
    Updated(&'a Document, &'a Value),
}

/// Commits a save with its `post_save` durable deliveries, then hands the other `post_save`
/// hooks the document as committed.
async fn commit_save(
    state: &AppState,
    hooks: &Arc<HooksConfig>,
    before: Before,
    caller: &Caller,
    collection: &CollectionName,
    saved: Saved<'_>,
) -> Result<(), ServiceError> {
    let (operation, saved, old) = match saved {
        Saved::Created(doc) => (Operation::Create, doc, None),
        Saved::Updated(doc, old) => (Operation::Update, doc, Some(old)),
    };
    let target = Target {
        collection: Some(collection.to_string()),
        operation: Some(operation),
        meta: payload::document_meta(saved),
    };
    before
        .commit_then_after(state, hooks, Event::PostSave, target, || {
            let data = saved.data.clone();
            save_payload(
                Event::PostSave,
                caller,
                collection,
                operation,
                &saved.id,
                data,
                old,
            )
        })
        .await
}

/// Stores a new document owned by the caller, after `pre_save` hooks; `post_save` follows.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    value: Value,
) -> Result<Document, ServiceError> {
    let collection = collection(collection_name)?;
    let data = data(value)?;
    let hooks = state.runner().config();
    let allowed = rule(&hooks, caller, &collection, Action::Create)?;
    let owner = caller.user_id().map(str::to_string);
    let id = uuid::Uuid::now_v7().to_string();
    let target = Target {
        collection: Some(collection.to_string()),
        operation: Some(Operation::Create),
        meta: vec![
            (MetaField::Id, Value::from(id.clone())),
            (MetaField::OwnerId, json!(owner)),
        ],
    };
    let mut before = hooks::before(state, &hooks, Event::PreSave, &target, || {
        let data = data.clone().into_value();
        save_payload(
            Event::PreSave,
            caller,
            &collection,
            Operation::Create,
            &id,
            data,
            None,
        )
    })
    .await?;
    let data = saved_data(&mut before, data)?;
    before
        .join_outbox(state, &hooks, Event::PostSave, Some(collection.as_str()))
        .await?;
    let created = state
        .store()
        .create_document(before.tx.as_ref(), &collection, id, data, owner, &allowed)
        .await
        .map_err(|e| access::store_error(e, Action::Create, caller, &collection))?;
    commit_save(
        state,
        &hooks,
        before,
        caller,
        &collection,
        Saved::Created(&created),
    )
    .await?;
    Ok(created)
}

/// Changes a document's data (merge patch or replace), optionally pinned to a version, after
/// `pre_save` hooks saw the result; `post_save` follows. Each attempt reads the document,
/// runs the chain on what it would become and writes only if nobody changed it meanwhile
/// (else the hooks' writes roll back and it starts over).
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
    let hooks = state.runner().config();
    let guard = guard(&hooks, caller, &collection, Action::Update)?;
    let change = UpdateChange {
        data,
        merge,
        expected_version,
    };
    let denied = |e| access::store_error(e, Action::Update, caller, &collection);
    for _ in 0..UPDATE_ATTEMPTS {
        let current = state
            .store()
            .get_document(None, &collection, &id, &guard.visible)
            .await?
            .ok_or_else(|| not_found(&collection, &id))?;
        let next = change.apply_to(&current)?;
        let target = Target {
            collection: Some(collection.to_string()),
            operation: Some(Operation::Update),
            meta: payload::document_meta(&current),
        };
        let mut before = hooks::before(state, &hooks, Event::PreSave, &target, || {
            let data = next.clone().into_value();
            let old = Some(&current.data);
            save_payload(
                Event::PreSave,
                caller,
                &collection,
                Operation::Update,
                &id,
                data,
                old,
            )
        })
        .await?;
        let next = saved_data(&mut before, next)?;
        before
            .join_outbox(state, &hooks, Event::PostSave, Some(collection.as_str()))
            .await?;
        let written = state
            .store()
            .write_version(before.tx.as_ref(), &collection, &current, next, &guard)
            .await
            .map_err(denied)?;
        if let Written::Done(updated) = written {
            let saved = Saved::Updated(&updated, &current.data);
            commit_save(state, &hooks, before, caller, &collection, saved).await?;
            return Ok(updated);
        }
    }
    Err(busy(&id).into())
}

/// Deletes a document after `pre_delete` hooks, returning its last state; `post_delete`
/// follows.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    collection_name: &str,
    id: &str,
) -> Result<Document, ServiceError> {
    let (collection, id) = target(collection_name, id)?;
    let hooks = state.runner().config();
    let guard = guard(&hooks, caller, &collection, Action::Delete)?;
    let denied = |e| access::store_error(e, Action::Delete, caller, &collection);
    for _ in 0..UPDATE_ATTEMPTS {
        // Hooks see the document they let go; without them, one statement does it all.
        let (current, before) = if hooks.has_chain(Event::PreDelete) {
            let current = state
                .store()
                .get_document(None, &collection, &id, &guard.visible)
                .await?
                .ok_or_else(|| not_found(&collection, &id))?;
            let target = Target {
                meta: payload::document_meta(&current),
                ..about(&collection)
            };
            let before = hooks::before(state, &hooks, Event::PreDelete, &target, || {
                Payload::new(Event::PreDelete, caller)
                    .with("collection", collection.as_str())
                    .with("document_id", id.as_str())
                    .with("document", current.data.clone())
            })
            .await?;
            (Some(current), before)
        } else {
            (None, Before::none())
        };
        let mut before = before;
        before
            .join_outbox(state, &hooks, Event::PostDelete, Some(collection.as_str()))
            .await?;
        let written = state
            .store()
            .delete_document(
                before.tx.as_ref(),
                &collection,
                &id,
                &guard,
                current.as_ref(),
            )
            .await
            .map_err(denied)?;
        if let Written::Done(deleted) = written {
            let target = Target {
                meta: payload::document_meta(&deleted),
                ..about(&collection)
            };
            before
                .commit_then_after(state, &hooks, Event::PostDelete, target, || {
                    Payload::new(Event::PostDelete, caller)
                        .with("collection", collection.as_str())
                        .with("document_id", id.as_str())
                        .with("document", deleted.data.clone())
                })
                .await?;
            return Ok(deleted);
        }
    }
    Err(busy(&id).into())
}
