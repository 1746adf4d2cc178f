//! Document queries and mutations.

use async_graphql::{Context, Json, Object, ID};

use super::answers::{answerable, answered, read_budget};
use super::error::resolve;
use super::types::{DocumentObject, DocumentPage, SortDirection, SortField};
use super::{caller, state};
use crate::service::documents::{self, ListRequest, SortRequest};
use crate::store::budget::json_size;

/// Document queries.
#[derive(Default)]
pub struct DocumentQuery;

#[Object]
impl DocumentQuery {
    /// One document by id; `NOT_FOUND` when there is none or the read rule hides it.
    async fn document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        id: ID,
    ) -> async_graphql::Result<Option<DocumentObject>> {
        let found = documents::get(state(ctx)?, caller(ctx)?, &collection, &id).await;
        let charged = match found {
            Ok(document) => read_budget(ctx)?
                .charge(json_size(&document.data))
                .map(|()| document)
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        resolve(charged).map(Some)
    }

    /// A page of documents matching `filter` (and the collection's read rule), in `sort`
    /// order (then creation order).
    #[graphql(complexity = "1 + limit.unwrap_or(50).max(1) as usize * child_complexity")]
    async fn documents(
        &self,
        ctx: &Context<'_>,
        collection: String,
        filter: Option<Json<serde_json::Value>>,
        sort: Option<Vec<SortField>>,
        #[graphql(default_with = "Some(50)")] limit: Option<i32>,
        #[graphql(default_with = "Some(0)")] offset: Option<i32>,
    ) -> async_graphql::Result<DocumentPage> {
        let (limit, offset) = (limit.unwrap_or(50), offset.unwrap_or(0));
        let request = ListRequest {
            filter: filter.map(|f| f.0),
            sort: sort
                .unwrap_or_default()
                .into_iter()
                .map(|s| SortRequest {
                    field: s.field,
                    direction: s.direction.unwrap_or(SortDirection::Asc).into(),
                })
                .collect(),
            limit,
            offset,
            // Counting is a second query: only run it when the client selected totalCount.
            count_total: ctx.look_ahead().field("totalCount").exists(),
            budget: read_budget(ctx)?,
        };
        let page = documents::list(state(ctx)?, caller(ctx)?, &collection, request).await;
        resolve(page.map(|p| DocumentPage::new(p, limit, offset)))
    }
}

/// Document mutations.
#[derive(Default)]
pub struct DocumentMutation;

#[Object]
impl DocumentMutation {
    /// Stores a new document in `collection` (created on first write), owned by the caller.
    async fn create_document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        data: Json<serde_json::Value>,
    ) -> async_graphql::Result<DocumentObject> {
        let budget = answerable(ctx)?;
        let created = documents::create(state(ctx)?, caller(ctx)?, &collection, data.0).await;
        answered(&budget, created, |d| &d.data)
    }

    /// Changes a document. `merge: true` (default) applies `data` as a JSON Merge Patch
    /// (RFC 7386: nested objects merge, `null` removes a key); `merge: false` replaces the
    /// data. With `expectedVersion`, fails with `CONFLICT` unless the document is at that version.
    async fn update_document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        id: ID,
        data: Json<serde_json::Value>,
        #[graphql(default_with = "Some(true)")] merge: Option<bool>,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<DocumentObject> {
        let budget = answerable(ctx)?;
        let updated = documents::update(
            state(ctx)?,
            caller(ctx)?,
            &collection,
            &id,
            data.0,
            merge.unwrap_or(true),
            expected_version,
        )
        .await;
        answered(&budget, updated, |d| &d.data)
    }

    /// Deletes a document and returns what it was.
    async fn delete_document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        id: ID,
    ) -> async_graphql::Result<DocumentObject> {
        let budget = answerable(ctx)?;
        let deleted = documents::delete(state(ctx)?, caller(ctx)?, &collection, &id).await;
        answered(&budget, deleted, |d| &d.data)
    }
}
