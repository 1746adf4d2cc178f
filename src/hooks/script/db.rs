//! The `db` helpers of scripts.
//!
//! Scripts act with full privileges (no access rules) and their writes fire no hooks, so a
//! hook cannot loop. In a before-hook they run in the operation's transaction
//! ([`super::tx::OperationTx`]), opened by the first write.

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, Position};
use serde_json::Value;

use super::convert::{from_json, to_json};
use super::tx::OperationTx;
use crate::hooks::payload;
use crate::model::filter::Filter;
use crate::model::merge_patch;
use crate::model::CollectionName;
use crate::model::DocumentData;
use crate::model::UpdateChange;
use crate::store::budget::ReadBudget;
use crate::store::documents::MAX_LIMIT;
use crate::store::{Guard, ListQuery, Store, StoreError, Tx};

/// How many documents `db.find` returns when the script gives no limit.
const DEFAULT_FIND_LIMIT: u64 = 100;

/// The script variable `db`.
#[derive(Clone)]
pub(super) struct DbApi {
    store: Store,
    tx: Option<Arc<OperationTx>>,
    runtime: tokio::runtime::Handle,
}

impl DbApi {
    /// `db` for one run; `tx` is the operation's transaction (before-hooks only). Must be
    /// called on the runtime, whose handle the helpers use from the script's thread.
    pub(super) fn new(store: Store, tx: Option<Arc<OperationTx>>) -> Self {
        Self {
            store,
            tx,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs `work` with the connection it should use, from the script's (blocking) thread.
    fn call<T>(
        &self,
        helper: &str,
        write: bool,
        work: impl AsyncFnOnce(&Store, Option<&Tx>) -> Result<T, String>,
    ) -> Result<T, Box<EvalAltResult>> {
        let result = self.runtime.block_on(async {
            match &self.tx {
                Some(slot) => slot.run(&self.store, write, work).await,
                None => work(&self.store, None).await,
            }
        });
        result.map_err(|message| script_error(format!("db.{helper}: {message}")))
    }
}

fn script_error(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(message), Position::NONE).into()
}

fn collection(name: &str) -> Result<CollectionName, String> {
    CollectionName::parse(name)
}

fn filter(value: Dynamic) -> Result<Filter, String> {
    match to_json(value)? {
        Value::Null => Ok(Filter::always()),
        json => Filter::parse_from_hook(&json, "filter").map_err(|e| e.to_string()),
    }
}

/// The filter of `db.find_by`/`db.find_one_by`: each field equal to its value, taken as a
/// value. A value from a client can never become an operator (`{"_neq": ""}` once matched
/// every unused invite, issue 15): a scalar is compared with `_eq`; `()` (a field the client
/// left out), a map or an array matches nothing.
fn equal_to(fields: rhai::Map) -> Result<Filter, String> {
    let mut all = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        if key.starts_with('_') {
            return Err(format!(
                "`{key}` is not a field name: find_by compares fields with values; use find for `_or` and operators"
            ));
        }
        let term = match to_json(value)? {
            // A missing value (a client left the field out) must not match the documents
            // that lack the field: it matches nothing, like a map or an array.
            Value::Null | Value::Array(_) | Value::Object(_) => return Ok(Filter::never()),
            scalar => serde_json::json!({ key.as_str(): {"_eq": scalar} }),
        };
        all.push(Filter::parse(&term, "fields").map_err(|e| e.to_string())?);
    }
    Ok(Filter::And(all))
}

fn object(value: Dynamic, what: &str) -> Result<DocumentData, String> {
    DocumentData::parse(to_json(value)?).map_err(|e| format!("{what}: {e}"))
}

fn full_access() -> Guard {
    Guard {
        visible: Filter::always(),
        allowed: Filter::always(),
    }
}

fn store_error(error: StoreError) -> String {
    match error {
        StoreError::Database(_) | StoreError::Connect(_) => {
            tracing::error!(hook = %super::current::current_hook(), "db helper failed: {error}");
            "the database failed".into()
        }
        other => other.to_string(),
    }
}

fn documents_result(docs: Vec<crate::model::Document>) -> Dynamic {
    Dynamic::from_array(
        docs.iter()
            .map(|d| from_json(&payload::document(d)))
            .collect(),
    )
}

fn optional(value: Option<Value>) -> Dynamic {
    value.as_ref().map(from_json).unwrap_or(Dynamic::UNIT)
}

/// The documents of `name` matching `filter`, oldest first, at most `limit`.
async fn find(
    store: &Store,
    tx: Option<&Tx>,
    name: &str,
    filter: Filter,
    limit: u64,
) -> Result<Vec<crate::model::Document>, String> {
    let collection = collection(name)?;
    let query = ListQuery {
        filter,
        sort: Vec::new(),
        limit: limit.min(MAX_LIMIT),
        offset: 0,
        count_total: false,
        // A hook's own reads are bounded by `limit` and the script's limits, not a request's.
        budget: ReadBudget::unlimited(),
    };
    Ok(store
        .list_documents(tx, &collection, &query)
        .await
        .map_err(store_error)?
        .items)
}

type Out = Result<Dynamic, Box<EvalAltResult>>;

/// Registers `db.get/find_one/find/find_one_by/find_by/count/create/update/update_if/delete/
/// get_user/update_user`.
pub(super) fn register(engine: &mut Engine) {
    engine.register_fn(
        "find_one_by",
        |db: &mut DbApi, name: &str, fields: rhai::Map| -> Out {
            db.call("find_one_by", false, async |store, tx| {
                let docs = find(store, tx, name, equal_to(fields)?, 1).await?;
                Ok(optional(docs.first().map(payload::document)))
            })
        },
    );
    engine.register_fn(
        "find_by",
        |db: &mut DbApi, name: &str, fields: rhai::Map| -> Out {
            db.call("find_by", false, async |store, tx| {
                let docs = find(store, tx, name, equal_to(fields)?, DEFAULT_FIND_LIMIT).await?;
                Ok(documents_result(docs))
            })
        },
    );
    engine.register_type_with_name::<DbApi>("Db");
    engine.register_fn("get", |db: &mut DbApi, name: &str, id: &str| -> Out {
        db.call("get", false, async |store, tx| {
            let doc = store
                .get_document(tx, &collection(name)?, id, &Filter::always())
                .await
                .map_err(store_error)?;
            Ok(optional(doc.as_ref().map(payload::document)))
        })
    });
    engine.register_fn(
        "find_one",
        |db: &mut DbApi, name: &str, f: Dynamic| -> Out {
            db.call("find_one", false, async |store, tx| {
                let docs = find(store, tx, name, filter(f)?, 1).await?;
                Ok(optional(docs.first().map(payload::document)))
            })
        },
    );
    engine.register_fn("find", |db: &mut DbApi, name: &str, f: Dynamic| -> Out {
        db.call("find", false, async |store, tx| {
            Ok(documents_result(
                find(store, tx, name, filter(f)?, DEFAULT_FIND_LIMIT).await?,
            ))
        })
    });
    engine.register_fn(
        "find",
        |db: &mut DbApi, name: &str, f: Dynamic, limit: rhai::INT| -> Out {
            db.call("find", false, async |store, tx| {
                let limit = u64::try_from(limit).map_err(|_| "limit must be 0 or more")?;
                Ok(documents_result(
                    find(store, tx, name, filter(f)?, limit).await?,
                ))
            })
        },
    );
    engine.register_fn("count", |db: &mut DbApi, name: &str, f: Dynamic| -> Out {
        db.call("count", false, async |store, tx| {
            let n = store
                .count_documents(tx, &collection(name)?, &filter(f)?)
                .await
                .map_err(store_error)?;
            Ok(Dynamic::from_int(n as rhai::INT))
        })
    });
    engine.register_fn(
        "create",
        |db: &mut DbApi, name: &str, data: Dynamic| -> Out { create(db, name, data, None) },
    );
    engine.register_fn(
        "create",
        |db: &mut DbApi, name: &str, data: Dynamic, owner: &str| -> Out {
            create(db, name, data, Some(owner.to_string()))
        },
    );
    engine.register_fn(
        "update",
        |db: &mut DbApi, name: &str, id: &str, patch: Dynamic| -> Out {
            db.call("update", true, async |store, tx| {
                let change = UpdateChange {
                    data: object(patch, "patch")?,
                    merge: true,
                    expected_version: None,
                };
                match store
                    .update_document(tx, &collection(name)?, id, change, &full_access())
                    .await
                {
                    Ok(doc) => Ok(from_json(&payload::document(&doc))),
                    Err(StoreError::NotFound { .. }) => Ok(Dynamic::UNIT),
                    Err(e) => Err(store_error(e)),
                }
            })
        },
    );
    engine.register_fn(
        "update_if",
        |db: &mut DbApi, name: &str, id: &str, expected: rhai::Map, patch: Dynamic| -> Out {
            db.call("update_if", true, async |store, tx| {
                let change = UpdateChange {
                    data: object(patch, "patch")?,
                    merge: true,
                    expected_version: None,
                };
                // The expected values guard the write itself (re-checked if another writer
                // got there first), so two hooks racing for one invite cannot both win.
                let guard = Guard {
                    visible: equal_to(expected)?,
                    allowed: Filter::always(),
                };
                match store
                    .update_document(tx, &collection(name)?, id, change, &guard)
                    .await
                {
                    Ok(doc) => Ok(from_json(&payload::document(&doc))),
                    Err(StoreError::NotFound { .. }) => Ok(Dynamic::UNIT),
                    Err(e) => Err(store_error(e)),
                }
            })
        },
    );
    engine.register_fn("delete", |db: &mut DbApi, name: &str, id: &str| -> Out {
        db.call("delete", true, async |store, tx| {
            match store
                .delete_document(tx, &collection(name)?, id, &full_access(), None)
                .await
            {
                Ok(crate::store::documents::Written::Done(doc)) => {
                    Ok(from_json(&payload::document(&doc)))
                }
                Ok(crate::store::documents::Written::Raced) | Err(StoreError::NotFound { .. }) => {
                    Ok(Dynamic::UNIT)
                }
                Err(e) => Err(store_error(e)),
            }
        })
    });
    engine.register_fn("get_user", |db: &mut DbApi, id: &str| -> Out {
        db.call("get_user", false, async |store, tx| {
            let user = store.user_by_id(tx, id).await.map_err(store_error)?;
            Ok(optional(user.as_ref().map(payload::user)))
        })
    });
    engine.register_fn(
        "update_user",
        |db: &mut DbApi, id: &str, patch: Dynamic| -> Out {
            db.call("update_user", true, async |store, tx| {
                let patch = object(patch, "patch")?.into_value();
                update_user_data(store, tx, id, &patch).await
            })
        },
    );
}

/// `db.create(collection, data[, owner_id])`: a new document, owned by `owner_id` if given.
fn create(db: &DbApi, name: &str, data: Dynamic, owner: Option<String>) -> Out {
    db.call("create", true, async |store, tx| {
        let id = uuid::Uuid::now_v7().to_string();
        let data = object(data, "data")?;
        let doc = store
            .create_document(tx, &collection(name)?, id, data, owner, &Filter::always())
            .await
            .map_err(store_error)?;
        Ok(from_json(&payload::document(&doc)))
    })
}

/// Merges `patch` into a user's profile, re-reading after a concurrent change.
async fn update_user_data(
    store: &Store,
    tx: Option<&Tx>,
    id: &str,
    patch: &Value,
) -> Result<Dynamic, String> {
    for _ in 0..crate::store::documents::UPDATE_ATTEMPTS {
        let Some(user) = store.user_by_id(tx, id).await.map_err(store_error)? else {
            return Ok(Dynamic::UNIT);
        };
        let mut data = user.data.clone();
        merge_patch::apply(&mut data, patch);
        let data = DocumentData::parse(data)?.into_value();
        let change = crate::store::users::UserChange {
            data: Some(data),
            ..Default::default()
        };
        if let Some(updated) = store
            .update_user(tx, &user, change)
            .await
            .map_err(store_error)?
        {
            return Ok(from_json(&payload::user(&updated)));
        }
    }
    Err("the user is being changed by many requests at once".into())
}
