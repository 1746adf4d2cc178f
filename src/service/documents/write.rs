//! Creating, updating and deleting documents: each through its before-hooks, the store, and
//! its after-hooks; what a mutation may touch and what it answers go through the caller's
//! read view (see [`super::read`]).

use std::sync::Arc;

use serde_json::{json, Value};

use super::super::hooks::{self, Before};
use super::super::{hidden, ServiceError};
use super::read::{mutation_answer, mutation_view};
use super::{about, access, collection, data, guard, not_found, rule, target, Action};
use crate::hooks::{payload, Payload, Target};
use crate::manifest::{Manifest, Operation};
use crate::model::filter::{Filter, MetaField};
use crate::model::Caller;
use crate::model::CollectionName;
use crate::model::Document;
use crate::model::DocumentData;
use crate::model::Event;
use crate::model::UpdateChange;
use crate::state::AppState;
use crate::store::documents::{busy, Written, UPDATE_ATTEMPTS};
use crate::store::Guard;

/// Adds the caller's `pre_read` narrowing to what a mutation may see.
fn narrow(guard: &mut Guard, narrowed: Filter) {
    let visible = std::mem::replace(&mut guard.visible, Filter::always());
    guard.visible = Filter::And(vec![visible, narrowed]);
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
    hooks: &Arc<Manifest>,
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
    mutation_answer(state, &hooks, caller, &collection, created, "create").await
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
    let mut guard = guard(&hooks, caller, &collection, Action::Update)?;
    narrow(
        &mut guard,
        mutation_view(state, &hooks, caller, &collection, &id, "update").await?,
    );
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
        let next = hidden::kept_on_replace(
            hooks.rules(collection.as_str()),
            caller,
            &current.data,
            change.apply_to(&current)?,
            merge,
        )?;
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
            return mutation_answer(state, &hooks, caller, &collection, updated, "update").await;
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
    let mut guard = guard(&hooks, caller, &collection, Action::Delete)?;
    narrow(
        &mut guard,
        mutation_view(state, &hooks, caller, &collection, &id, "delete").await?,
    );
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
            return mutation_answer(state, &hooks, caller, &collection, deleted, "delete").await;
        }
    }
    Err(busy(&id).into())
}
