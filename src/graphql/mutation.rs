//! Mutation resolvers.

use async_graphql::{Context, Json, Object, ID};

use super::error::resolve;
use super::state;
use super::types::DocumentObject;
use crate::service::documents;

/// The mutation root.
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Stores a new document in `collection` (created on first write).
    async fn create_document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        data: Json<serde_json::Value>,
    ) -> async_graphql::Result<DocumentObject> {
        resolve(documents::create(state(ctx)?, &collection, data.0).await)
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
        resolve(
            documents::update(
                state(ctx)?,
                &collection,
                &id,
                data.0,
                merge.unwrap_or(true),
                expected_version,
            )
            .await,
        )
    }

    /// Deletes a document and returns what it was.
    async fn delete_document(
        &self,
        ctx: &Context<'_>,
        collection: String,
        id: ID,
    ) -> async_graphql::Result<DocumentObject> {
        resolve(documents::delete(state(ctx)?, &collection, &id).await)
    }
}
