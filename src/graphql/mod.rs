//! The GraphQL API (docs/graphql.md): schema, types and resolvers. Resolvers are thin: they read
//! arguments, call [`crate::service`], and convert results; errors become GraphQL errors with
//! `extensions.code` in [`error`].

mod answers;
mod documents;
pub mod error;
mod hook_admin;
pub mod limits;
pub mod subscriptions;
pub mod types;
mod users;

use async_graphql::{MergedObject, Schema};

use crate::model::Caller;

use crate::model::caller::RequestAuth;
use crate::settings::Settings;
use crate::state::AppState;

/// The query root: document and user queries side by side.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    documents::DocumentQuery,
    users::UserQuery,
    hook_admin::HookAdminQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    documents::DocumentMutation,
    users::UserMutation,
    hook_admin::HookAdminMutation,
);

pub use subscriptions::{Disconnect, SubscriptionRoot};

/// The executable schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema with the limits from `settings`, carrying `state` for resolvers.
pub fn build_schema(state: AppState, settings: &Settings) -> ApiSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(state)
    .limit_depth(settings.max_query_depth)
    .limit_complexity(settings.max_query_complexity)
    .limit_recursive_depth(32)
    .limit_directives(16)
    .extension(limits::AliasLimit(settings.max_query_aliases))
    .finish()
}

/// The schema in SDL, for docs and tooling (no state needed).
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

/// Access to the shared state from a resolver without `unwrap`.
pub(crate) fn state<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| error::internal("the schema was built without its state"))
}

/// The caller of this request. A request without a token is anonymous; one with an invalid
/// token gets `UNAUTHENTICATED` from every field that needs to know its caller. So does a user
/// deleted since: a WebSocket keeps the caller it was opened with for every operation it
/// carries, and must not outlive the account.
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Caller> {
    static ANONYMOUS: Caller = Caller::Anonymous;
    match ctx.data_opt::<RequestAuth>() {
        None => Ok(&ANONYMOUS),
        Some(Ok(caller)) if state(ctx)?.auth().is_revoked(caller) => Err(error::to_graphql(
            crate::service::ServiceError::Unauthenticated(crate::auth::REVOKED.to_string()),
        )),
        Some(Ok(caller)) => Ok(caller),
        Some(Err(reason)) => Err(error::to_graphql(
            crate::service::ServiceError::Unauthenticated(reason.clone()),
        )),
    }
}

#[cfg(test)]
mod tests {
    /// The names of docs/graphql.md are a contract with clients: this pins them.
    #[test]
    fn schema_keeps_the_documented_names() {
        let sdl = super::sdl();
        let squashed: String = sdl.split_whitespace().collect::<Vec<_>>().join(" ");
        for expected in [
            "document(collection: String!, id: ID!): Document",
            "documents(collection: String!, filter: JSON, sort: [SortField!], limit: Int = 50, offset: Int = 0): DocumentPage!",
            "createDocument(collection: String!, data: JSON!): Document!",
            "updateDocument(collection: String!, id: ID!, data: JSON!, merge: Boolean = true, expectedVersion: Int): Document!",
            "deleteDocument(collection: String!, id: ID!): Document!",
            // `data` is resolved (it charges repeated copies to the read budget), so it comes last.
            "type Document { id: ID! collection: String! ownerId: ID createdAt: DateTime! updatedAt: DateTime! version: Int! data: JSON! }",
            "type DocumentPage { items: [Document!]! totalCount: Int! limit: Int! offset: Int! }",
            "input SortField { field: String! direction: SortDirection = ASC }",
            "enum SortDirection { ASC DESC }",
            "me: User",
            "user(id: ID!): User",
            "users(filter: JSON, limit: Int, offset: Int): UserPage!",
            "register(email: String!, password: String!, data: JSON): AuthPayload!",
            "login(email: String!, password: String!): AuthPayload!",
            "refreshToken(refreshToken: String!): AuthPayload!",
            "logout(refreshToken: String!): Boolean!",
            "updateMe(data: JSON, email: String, password: String, currentPassword: String): User!",
            "deleteMe(password: String!): Boolean!",
            "updateUser(id: ID!, data: JSON, role: String): User!",
            "deleteUser(id: ID!): Boolean!",
            "type User { id: ID! email: String! role: String! createdAt: DateTime! updatedAt: DateTime! lastLoginAt: DateTime data: JSON! }",
            "type AuthPayload { accessToken: String! refreshToken: String! expiresIn: Int! user: User! }",
            "documentChanged(collection: String!, filter: JSON): DocumentEvent!",
            "type DocumentEvent { type: ChangeType! document: Document! oldData: JSON }",
            "enum ChangeType { CREATED UPDATED DELETED }",
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
