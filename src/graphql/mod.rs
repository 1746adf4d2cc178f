//! The GraphQL API (DESIGN §3): schema, types and resolvers. Resolvers are thin: they read
//! arguments, call [`crate::service`], and convert results; errors become GraphQL errors with
//! `extensions.code` in [`error`].

pub mod error;
mod mutation;
mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema};

use crate::settings::Settings;
use crate::state::AppState;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

/// The executable schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema with the limits from `settings`, carrying `state` for resolvers.
pub fn build_schema(state: AppState, settings: &Settings) -> ApiSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(state)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16)
        .finish()
}

/// The schema in SDL (for docs and tooling).
pub fn sdl(schema: &ApiSchema) -> String {
    schema.sdl()
}

/// Access to the shared state from a resolver without `unwrap`.
pub(crate) fn state<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| error::internal("the schema was built without its state"))
}
