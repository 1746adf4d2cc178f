//! Creating, updating and deleting documents: each through its before-hooks, the store, and
//! its after-hooks; what a mutation may touch and what it answers go through the caller's
//! read view (see [`super::read`]).

use serde_json::{json, Value};

use super::super::hooked_write::{After, Hooked, HookedWrite, Wrote};
use super::super::{hidden, ServiceError};
use super::read::{mutation_answer, mutation_view};
use super::{about, access, collection, data, guard, not_found, rule, target, Action};
use crate::hooks::{payload, Payload, Target};
use crate::manifest::Operation;
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
fn saved_data(hooked: &mut Hooked, data: DocumentData) -> Result<DocumentData, ServiceError> {
    match hooked.take("document") {
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

/// The `post_save` target and payload of a saved document (`old`: its data before an update).
fn after_save(
    caller: &Caller,
    collection: &CollectionName,
    operation: Operation,
    saved: &Document,
    old: Option<&Value>,
) -> After {
    After {
        target: Target {
            collection: Some(collection.to_string()),
            operation: Some(operation),
            meta: payload::document_meta(saved),
        },
        payload: save_payload(
            Event::PostSave,
            caller,
            collection,
            operation,
            &saved.id,
            saved.data.clone(),
            old,
        ),
    }
}

/// The `pre_save` and `post_save` hooks of a save in `collection`.
fn save_hooks<'a>(collection: &'a CollectionName, target: &'a Target) -> HookedWrite<'a> {
    HookedWrite {
        before: Event::PreSave,
        after: Event::PostSave,
        target,
        collection: Some(collection.as_str()),
        transaction: false,
    }
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
    let created = save_hooks(&collection, &target)
        .run(
            state,
            &hooks,
            || {
                let data = data.clone().into_value();
                let operation = Operation::Create;
                save_payload(
                    Event::PreSave,
                    caller,
                    &collection,
                    operation,
                    &id,
                    data,
                    None,
                )
            },
            async |hooked| {
                let data = saved_data(hooked, data.clone())?;
                let store = state.store();
                let created = store
                    .create_document(hooked.tx(), &collection, id.clone(), data, owner, &allowed)
                    .await
                    .map_err(|e| access::store_error(e, Action::Create, caller, &collection))?;
                Ok(Wrote::Done(created))
            },
            |created| {
                Some(after_save(
                    caller,
                    &collection,
                    Operation::Create,
                    created,
                    None,
                ))
            },
        )
        .await?
        .done()?;
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
        let wrote = save_hooks(&collection, &target)
            .run(
                state,
                &hooks,
                || {
                    let data = next.clone().into_value();
                    let (operation, old) = (Operation::Update, Some(&current.data));
                    save_payload(
                        Event::PreSave,
                        caller,
                        &collection,
                        operation,
                        &id,
                        data,
                        old,
                    )
                },
                async |hooked| {
                    let next = saved_data(hooked, next.clone())?;
                    let store = state.store();
                    let written = store
                        .write_version(hooked.tx(), &collection, &current, next, &guard)
                        .await
                        .map_err(denied)?;
                    Ok(match written {
                        Written::Done(updated) => Wrote::Done(updated),
                        Written::Raced => Wrote::Raced,
                    })
                },
                |updated| {
                    let (operation, old) = (Operation::Update, Some(&current.data));
                    Some(after_save(caller, &collection, operation, updated, old))
                },
            )
            .await?;
        if let Wrote::Done(updated) = wrote {
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
        let current = match hooks.has_chain(Event::PreDelete) {
            true => Some(
                state
                    .store()
                    .get_document(None, &collection, &id, &guard.visible)
                    .await?
                    .ok_or_else(|| not_found(&collection, &id))?,
            ),
            false => None,
        };
        let target = Target {
            meta: current
                .as_ref()
                .map(payload::document_meta)
                .unwrap_or_default(),
            ..about(&collection)
        };
        let delete_payload = |event, document: &Document| {
            Payload::new(event, caller)
                .with("collection", collection.as_str())
                .with("document_id", id.as_str())
                .with("document", document.data.clone())
        };
        let hooked = HookedWrite {
            before: Event::PreDelete,
            after: Event::PostDelete,
            target: &target,
            collection: Some(collection.as_str()),
            transaction: false,
        };
        let wrote = hooked
            .run(
                state,
                &hooks,
                // Bound only when `current` was read.
                || match &current {
                    Some(current) => delete_payload(Event::PreDelete, current),
                    None => Payload::new(Event::PreDelete, caller),
                },
                async |hooked| {
                    let store = state.store();
                    let (tx, current) = (hooked.tx(), current.as_ref());
                    let written = store
                        .delete_document(tx, &collection, &id, &guard, current)
                        .await
                        .map_err(denied)?;
                    Ok(match written {
                        Written::Done(deleted) => Wrote::Done(deleted),
                        Written::Raced => Wrote::Raced,
                    })
                },
                |deleted| {
                    Some(After {
                        target: Target {
                            meta: payload::document_meta(deleted),
                            ..about(&collection)
                        },
                        payload: delete_payload(Event::PostDelete, deleted),
                    })
                },
            )
            .await?;
        if let Wrote::Done(deleted) = wrote {
            return mutation_answer(state, &hooks, caller, &collection, deleted, "delete").await;
        }
    }
    Err(busy(&id).into())
}
