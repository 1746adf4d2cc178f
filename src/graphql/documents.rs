//! Query resolvers.

use async_graphql::{Context, Json, Object, ID};

use super::error::resolve;
use super::state;
use super::types::{DocumentObject, DocumentPage, SortDirection, SortField};
use crate::service::documents::{self, ListRequest, SortRequest};

/// The query root.
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One document by id; `NOT_FOUND` when there is none.
    async fn document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        id: ID,
    ) -> async_graphql::Result<Option<DocumentObject>> {
        resolve(documents::get(state(ctx)?, &collection, &id).await).map(Some)
    }

    /// A page of documents matching `filter`, in `sort` order (then creation order).
    async fn documents(
        &self,
        ctx: &Context<'_>,
        collection: String,
        filter: Option<Json<serde_json::Value>>,
        sort: Option<Vec<SortField>>,
        #[graphql(default_with = "Some(50)")] limit: Option<i32>,
        #[graphql(default_with = "Some(0)")] offset: Option<i32>,
    ) -> async_graphql::Result<DocumentPage> {
        let state = state(ctx)?;
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
        };
        let page = documents::list(state, &collection, request).await;
        resolve(page.map(|p| DocumentPage::new(p, limit, offset)))
    }
}
