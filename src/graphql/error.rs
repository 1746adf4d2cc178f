//! The one place where errors become GraphQL errors with `extensions.code`.

use async_graphql::ErrorExtensions;

use crate::service::ServiceError;

/// The `extensions.code` values clients can rely on (docs/graphql.md, "Errors").
pub mod code {
    /// An argument is invalid.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// Sign in (again): no token where one is needed, or an invalid one.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// Signed in, but not allowed.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// Too many attempts; `extensions.retryAfter` says how many seconds to wait.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The thing does not exist or may not be seen.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// A stale version or a duplicate.
    pub const CONFLICT: &str = "CONFLICT";
    /// A hook refused the operation: `extensions.reason` and `extensions.hook` say why and which.
    pub const HOOK_BLOCKED: &str = "HOOK_BLOCKED";
    /// A hook with `on_error: block` failed: `extensions.hook` names it.
    pub const HOOK_FAILED: &str = "HOOK_FAILED";
    /// The server cannot do this now (its disk is full): nothing changed; retry after
    /// `extensions.retryAfter` seconds.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// Our fault; details are in the server log only.
    pub const INTERNAL: &str = "INTERNAL";
}

/// Converts a service error into a GraphQL error. Internal errors are logged in full and
/// reach the client only as `INTERNAL`.
pub fn to_graphql(error: ServiceError) -> async_graphql::Error {
    match error {
        ServiceError::BadInput { field, message } => {
            async_graphql::Error::new(format!("{field}: {message}")).extend_with(|_, e| {
                e.set("code", code::BAD_USER_INPUT);
                e.set("field", field.clone());
            })
        }
        ServiceError::Unauthenticated(message) => async_graphql::Error::new(message)
            .extend_with(|_, e| e.set("code", code::UNAUTHENTICATED)),
        ServiceError::Forbidden(message) => {
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::FORBIDDEN))
        }
        ServiceError::RateLimited {
            message,
            retry_after_secs,
        } => async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", code::RATE_LIMITED);
            e.set("retryAfter", retry_after_secs);
        }),
        ServiceError::NotFound(message) => {
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::NOT_FOUND))
        }
        ServiceError::Conflict(message) => {
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::CONFLICT))
        }
        ServiceError::HookBlocked { hook, reason } => async_graphql::Error::new(reason.clone())
            .extend_with(|_, e| {
                e.set("code", code::HOOK_BLOCKED);
                e.set("reason", reason.clone());
                e.set("hook", hook.clone());
            }),
        ServiceError::HookFailed { ref hook } => async_graphql::Error::new(error.to_string())
            .extend_with(|_, e| {
                e.set("code", code::HOOK_FAILED);
                e.set("hook", hook.clone());
            }),
        ServiceError::Unavailable {
            message,
            retry_after_secs,
            outcome_unknown,
        } => async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", code::UNAVAILABLE);
            e.set("retryAfter", retry_after_secs);
            e.set(
                "outcome",
                if outcome_unknown {
                    "unknown"
                } else {
                    "not_done"
                },
            );
        }),
        ServiceError::Internal(message) => internal(&message),
    }
}

/// An internal error: logged here, opaque to the client.
pub fn internal(detail: &str) -> async_graphql::Error {
    tracing::error!(error = detail, "internal error");
    async_graphql::Error::new("internal server error; the details are in the server log")
        .extend_with(|_, e| e.set("code", code::INTERNAL))
}

/// Runs a service call's result through [`to_graphql`]; every resolver ends with this.
pub fn resolve<T, U: From<T>>(result: Result<T, ServiceError>) -> async_graphql::Result<U> {
    result.map(U::from).map_err(to_graphql)
}

/// Gives an error raised by the GraphQL engine itself (syntax, validation, argument
/// coercion) the code of client input, and says which limit a refusal for depth or
/// complexity hit and what is allowed (the engine says only "Query is too complex.").
pub fn tag_uncoded_error(error: &mut async_graphql::ServerError, settings: &crate::Settings) {
    match error.message.as_str() {
        "Query is too complex." => {
            error.message = format!(
                "the query is too complex: at most {} (HOOKQL_MAX_QUERY_COMPLEXITY); each field counts once, and the fields inside `documents` once per row its `limit` asks for: ask for fewer rows, fields or aliases",
                settings.max_query_complexity
            );
        }
        "Query is nested too deep." => {
            error.message = format!(
                "the query is nested too deep: at most {} levels of selections (HOOKQL_MAX_QUERY_DEPTH)",
                settings.max_query_depth
            );
        }
        _ => {}
    }
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code::BAD_USER_INPUT);
    }
}
