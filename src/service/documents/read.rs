//! Reading documents, and the read view every operation shares: `pre_read` hooks narrow
//! what a caller may see (queries, subscriptions, and what a mutation may touch), `post_read`
//! hooks shape what is returned (query results, events, and mutation answers).

use std::sync::Arc;

use serde_json::Value;

use super::super::hooks;
use super::super::{hidden, input, ServiceError};
use super::{about, collection, not_found, rule, target, Action};
use crate::hooks::{payload, Payload};
use crate::manifest::Manifest;
use crate::model::filter::Filter;
use crate::model::sort::{Direction, SortKey, MAX_SORT_FIELDS};
use crate::model::Caller;
use crate::model::CollectionName;
use crate::model::Document;
use crate::model::Event;
use crate::state::AppState;
use crate::store::budget::ReadBudget;
use crate::store::{ListQuery, Page};

/// One requested sort field, as the client sent it.
#[derive(Clone, Debug)]
pub struct SortRequest {
    /// Field name or dotted path.
    pub field: String,
    /// Direction.
    pub direction: Direction,
}

/// A page request, as the client sent it.
#[derive(Clone, Debug)]
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
    /// The bytes of data the whole request may still read (shared by its aliases).
    pub budget: ReadBudget,
}

/// `pre_read`: the filter hooks leave (ANDed with the read rule by the caller, so a hook can
/// narrow what is seen, never widen it). What the hooks wrote is committed on return.
pub(in crate::service) async fn read_filter(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    build: impl FnOnce(Payload) -> Payload,
) -> Result<Filter, ServiceError> {
    let mut before = hooks::before(state, hooks, Event::PreRead, &about(collection), || {
        build(Payload::new(Event::PreRead, caller).with("collection", collection.as_str()))
    })
    .await?;
    let filter = match before.take("filter") {
        Some(value) => input::filter(Some(&value), Filter::parse_from_hook).map_err(|e| {
            ServiceError::Internal(format!("a pre_read hook left a bad filter: {e}"))
        })?,
        None => Filter::always(),
    };
    // What the hooks wrote (an audit row, a counter) commits now, before the client's read:
    // read inside their transaction, a client's filter would run on a write connection with
    // no query timeout and no per-client turn, and on SQLite hold every writer back while it
    // ran. So a hook's write stays even when the read then fails, as an audit should.
    before.commit().await?;
    Ok(filter)
}

/// `post_read`: the documents hooks leave in place of `documents`.
pub(in crate::service) async fn read_result(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    documents: Vec<Document>,
) -> Result<Vec<Document>, ServiceError> {
    shaped(state, hooks, caller, collection, documents, None).await
}

/// `post_read` on `documents`; `operation` (`create`, `update`, `delete`) when they are a
/// mutation's answer, so a hook can tell.
async fn shaped(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    documents: Vec<Document>,
    operation: Option<&'static str>,
) -> Result<Vec<Document>, ServiceError> {
    let mut documents = post_read(state, hooks, caller, collection, documents, operation).await?;
    hidden::strip(hooks.rules(collection.as_str()), caller, &mut documents);
    Ok(documents)
}

/// The documents `post_read` hooks leave in place of `documents`.
async fn post_read(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    documents: Vec<Document>,
    operation: Option<&'static str>,
) -> Result<Vec<Document>, ServiceError> {
    if !hooks.has_chain(Event::PostRead) {
        return Ok(documents);
    }
    let listed = documents.iter().map(payload::document).collect::<Vec<_>>();
    let mut after = hooks::before(state, hooks, Event::PostRead, &about(collection), || {
        let payload = Payload::new(Event::PostRead, caller)
            .with("collection", collection.as_str())
            .with("documents", listed);
        match operation {
            Some(operation) => payload.with("operation", operation),
            None => payload,
        }
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

/// The `pre_read` narrowing of what a mutation (`operation` on document `id`) may touch:
/// a document the caller cannot see is "not found" to an update or delete as to a read, and
/// neither its data nor its version leaks through the answer or a conflict (issue 15).
pub(super) async fn mutation_view(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    id: &str,
    operation: &'static str,
) -> Result<Filter, ServiceError> {
    if !hooks.has_chain(Event::PreRead) {
        return Ok(Filter::always());
    }
    read_filter(state, hooks, caller, collection, |p| {
        p.with("document_id", id).with("operation", operation)
    })
    .await
}

/// A mutation's answer as `post_read` hooks leave it for the caller. The write happened
/// either way: when a hook drops the document from its answer, blocks or fails, the caller
/// gets its meta fields with empty data (the data stays hidden: read hooks fail closed)
/// rather than an error that would suggest nothing was written and invite a retry.
pub(super) async fn mutation_answer(
    state: &AppState,
    hooks: &Arc<Manifest>,
    caller: &Caller,
    collection: &CollectionName,
    document: Document,
    operation: &'static str,
) -> Result<Document, ServiceError> {
    let id = document.id.clone();
    // Its meta fields only: the data (up to 1 MiB) is not copied for a fallback that is
    // rarely taken.
    let bare = Document {
        id: document.id.clone(),
        collection: document.collection.clone(),
        data: Value::Object(Default::default()),
        owner_id: document.owner_id.clone(),
        created_at: document.created_at,
        updated_at: document.updated_at,
        version: document.version,
    };
    let shown = shaped(
        state,
        hooks,
        caller,
        collection,
        vec![document],
        Some(operation),
    )
    .await;
    Ok(match shown {
        Ok(shown) => shown.into_iter().find(|d| d.id == id).unwrap_or(bare),
        Err(e) => {
            tracing::warn!(%collection, %id, "a mutation answers without data: post_read stopped: {e}");
            bare
        }
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
    let hooks = state.runner().config();
    let visible = rule(&hooks, caller, &collection, Action::Read)?;
    let narrowed = read_filter(state, &hooks, caller, &collection, |p| {
        p.with("document_id", id.as_str())
    })
    .await?;
    let found = state
        .store()
        .get_document(
            None,
            &collection,
            &id,
            &Filter::And(vec![visible, narrowed]),
        )
        .await?;
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
    let rules = hooks.rules(collection.as_str());
    hidden::check_filter(rules, caller, &collection, &filter)?;
    hidden::check_sort(rules, caller, &collection, &sort)?;
    let visible = rule(&hooks, caller, &collection, Action::Read)?;
    let client_filter = request.filter.clone().unwrap_or(Value::Null);
    let filter = if hooks.has_chain(Event::PreRead) {
        read_filter(state, &hooks, caller, &collection, |p| {
            p.with("filter", client_filter)
        })
        .await?
    } else {
        filter
    };
    let query = ListQuery {
        filter: Filter::And(vec![visible, filter]),
        sort,
        limit,
        offset,
        count_total: request.count_total,
        budget: request.budget,
    };
    let mut page = state
        .store()
        .list_documents(None, &collection, &query)
        .await?;
    page.items = read_result(state, &hooks, caller, &collection, page.items).await?;
    Ok(page)
}
