//! Creating, updating and deleting documents: each through its before-hooks, the store, and
//! its after-hooks; what a mutation may touch and what it answers go through the caller's
//! read view (see [`super::read`]).

use std::sync::Arc;

use serde_json::{json, Value};

use super::super::hooked_write::{After, Hooked, HookedWrite, Wrote};
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
use crate::store::{Guard, StoreError, Tx};

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

impl From<Written> for Wrote<Document> {
    fn from(written: Written) -> Self {
        match written {
            Written::Done(document) => Wrote::Done(document),
            Written::Raced => Wrote::Raced,
        }
    }
}

/// One save (a create or an update) of document `id` in `collection` by `caller`: its
/// `pre_save` and `post_save` payloads, and the hooked write that runs it.
struct Save<'a> {
    caller: &'a Caller,
    collection: &'a CollectionName,
    operation: Operation,
    id: &'a str,
    /// The stored data before an update.
    old: Option<&'a Value>,
}

impl Save<'_> {
    /// The `pre_save`/`post_save` payload for `data`.
    fn payload(&self, event: Event, data: Value) -> Payload {
        let operation = match self.operation {
            Operation::Create => "create",
            Operation::Update => "update",
        };
        let payload = Payload::new(event, self.caller)
            .with("collection", self.collection.as_str())
            .with("operation", operation)
            .with("document_id", self.id)
            .with("document", data);
        match self.old {
            Some(old) => payload.with("old_data", old.clone()),
            None => payload,
        }
    }

    /// Runs `pre_save` on `data` (matched against `target`), `write` with the data as the
    /// hooks left it, then `post_save` on the saved document.
    async fn run(
        &self,
        state: &AppState,
        hooks: &Arc<Manifest>,
        target: &Target,
        data: DocumentData,
        write: impl AsyncFnOnce(Option<&Tx>, DocumentData) -> Result<Written, StoreError>,
    ) -> Result<Wrote<Document>, ServiceError> {
        let action = match self.operation {
            Operation::Create => Action::Create,
            Operation::Update => Action::Update,
        };
        let hooked = HookedWrite {
            before: Event::PreSave,
            after: Event::PostSave,
            target,
            collection: Some(self.collection.as_str()),
            transaction: false,
        };
        // The payload is built here, only when `pre_save` is bound, so that `data` itself can
        // move into the write: a document is copied only for a chain to see it.
        let payload = hooks
            .has_chain(Event::PreSave)
            .then(|| self.payload(Event::PreSave, data.clone().into_value()));
        let before = || payload.unwrap_or_else(|| self.payload(Event::PreSave, Value::Null));
        let after = |saved: &Document| {
            let meta = payload::document_meta(saved);
            Some(After {
                target: Target {
                    collection: Some(self.collection.to_string()),
                    operation: Some(self.operation),
                    meta,
                },
                payload: self.payload(Event::PostSave, saved.data.clone()),
            })
        };
        let write = async |hooked: &mut Hooked| {
            let data = saved_data(hooked, data)?;
            let written = write(hooked.tx(), data).await;
            let denied = |e| access::store_error(e, action, self.caller, self.collection);
            Ok(Wrote::from(written.map_err(denied)?))
        };
        hooked.run(state, hooks, before, write, after).await
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
    let save = Save {
        caller,
        collection: &collection,
        operation: Operation::Create,
        id: &id,
        old: None,
    };
    let store = state.store();
    let created = save
        .run(state, &hooks, &target, data, async |tx, data| {
            let owner = owner.clone();
            let created = store.create_document(tx, &collection, id.clone(), data, owner, &allowed);
            created.await.map(Written::Done)
        })
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
        let save = Save {
            caller,
            collection: &collection,
            operation: Operation::Update,
            id: &id,
            old: Some(&current.data),
        };
        let store = state.store();
        let wrote = save
            .run(state, &hooks, &target, next, async |tx, next| {
                store
                    .write_version(tx, &collection, &current, next, &guard)
                    .await
            })
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
        let store = state.store();
        let current = match hooks.has_chain(Event::PreDelete) {
            true => Some(
                store
                    .get_document(None, &collection, &id, &guard.visible)
                    .await?
                    .ok_or_else(|| not_found(&collection, &id))?,
            ),
            false => None,
        };
        let about = |document: Option<&Document>| Target {
            meta: document.map(payload::document_meta).unwrap_or_default(),
            ..about(&collection)
        };
        let payload = |event, document: Option<&Document>| {
            let payload = Payload::new(event, caller)
                .with("collection", collection.as_str())
                .with("document_id", id.as_str());
            match document {
                Some(document) => payload.with("document", document.data.clone()),
                None => payload,
            }
        };
        let hooked = HookedWrite {
            before: Event::PreDelete,
            after: Event::PostDelete,
            target: &about(current.as_ref()),
            collection: Some(collection.as_str()),
            transaction: false,
        };
        let wrote = hooked
            .run(
                state,
                &hooks,
                || payload(Event::PreDelete, current.as_ref()),
                async |hooked| {
                    let tx = hooked.tx();
                    let written =
                        store.delete_document(tx, &collection, &id, &guard, current.as_ref());
                    Ok(Wrote::from(written.await.map_err(denied)?))
                },
                |deleted| {
                    let (target, payload) = (
                        about(Some(deleted)),
                        payload(Event::PostDelete, Some(deleted)),
                    );
                    Some(After { target, payload })
                },
            )
            .await?;
        if let Wrote::Done(deleted) = wrote {
            return mutation_answer(state, &hooks, caller, &collection, deleted, "delete").await;
        }
    }
    Err(busy(&id).into())
}
