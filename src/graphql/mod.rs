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

/// The schema in SDL, for docs and tooling (no state needed).
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .finish()
        .sdl()
}

/// Access to the shared state from a resolver without `unwrap`.
pub(crate) fn state<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| error::internal("the schema was built without its state"))
}

#[cfg(test)]
mod tests {
    /// The names of DESIGN §3 are a contract with clients: this pins them.
    #[test]
    fn schema_keeps_the_design_contract() {
        let sdl = super::sdl();
        let squashed: String = sdl.split_whitespace().collect::<Vec<_>>().join(" ");
        for expected in [
            "document(collection: String!, id: ID!): Document",
            "documents(collection: String!, filter: JSON, sort: [SortField!], limit: Int = 50, offset: Int = 0): DocumentPage!",
            "createDocument(collection: String!, data: JSON!): Document!",
            "updateDocument(collection: String!, id: ID!, data: JSON!, merge: Boolean = true, expectedVersion: Int): Document!",
            "deleteDocument(collection: String!, id: ID!): Document!",
            "type Document { id: ID! collection: String! data: JSON! ownerId: ID createdAt: DateTime! updatedAt: DateTime! version: Int! }",
            "type DocumentPage { items: [Document!]! totalCount: Int! limit: Int! offset: Int! }",
            "input SortField { field: String! direction: SortDirection = ASC }",
            "enum SortDirection { ASC DESC }",
        ] {
            assert!(strip_descriptions(&squashed).contains(expected), "missing `{expected}` in:\n{sdl}");
        }
    }

    /// Removes `"""…"""` and `"…"` descriptions so signatures can be compared.
    fn strip_descriptions(sdl: &str) -> String {
        let mut out = String::new();
        let mut rest = sdl;
        while let Some(start) = rest.find('"') {
            out.push_str(&rest[..start]);
            let delimiter = if rest[start..].starts_with("\"\"\"") {
                "\"\"\""
            } else {
                "\""
            };
            let after = &rest[start + delimiter.len()..];
            rest = after
                .find(delimiter)
                .map_or("", |end| &after[end + delimiter.len()..]);
        }
        out.push_str(rest);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
