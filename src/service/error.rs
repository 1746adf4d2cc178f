//! The service layer's error: what went wrong in terms a client can act on. Mapped to GraphQL
//! `extensions.code` in exactly one place (`graphql::error`).

use crate::auth::password::PasswordError;
use crate::auth::tokens::TokenError;
use crate::store::StoreError;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An argument is invalid; `field` names it (`filter.status._eq`, `data`, `limit`).
    #[error("{field}: {message}")]
    BadInput {
        /// The argument, or the path inside it.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The operation needs a signed-in caller (or the caller's token is not valid).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is signed in but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        /// What to do.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The thing asked for does not exist (or may not be seen).
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the stored state (stale version, email in use).
    #[error("{0}")]
    Conflict(String),
    /// A hook refused the operation; the client is told which and why.
    #[error("{reason}")]
    HookBlocked {
        /// The hook's name.
        hook: String,
        /// The hook's reason.
        reason: String,
    },
    /// A hook with `on_error: block` failed; details are in the server log only.
    #[error("the `{hook}` hook failed, so the operation was not carried out; try again later or tell the app's maintainers")]
    HookFailed {
        /// The hook's name.
        hook: String,
    },
    /// The server cannot do this now but should soon (its disk is full, the database does
    /// not answer); nothing was changed unless `outcome_unknown`, and the request may be
    /// sent again after `retry_after_secs`.
    #[error("{message}")]
    Unavailable {
        /// What is wrong, for the client.
        message: String,
        /// Seconds to wait before trying again.
        retry_after_secs: u64,
        /// A write's commit got no answer: it may have been saved, so read before retrying.
        outcome_unknown: bool,
    },
    /// Something failed on our side; the client gets no details.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// A bad argument.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => Self::NotFound(error.to_string()),
            StoreError::VersionConflict { .. } | StoreError::EmailTaken => {
                Self::Conflict(error.to_string())
            }
            StoreError::Denied => Self::Forbidden(error.to_string()),
            StoreError::Invalid(message) => Self::bad_input("data", message),
            StoreError::TooLarge { .. } | StoreError::ConnectionTooLarge { .. } => {
                Self::bad_input("limit", error.to_string())
            }
            StoreError::TimedOut => Self::bad_input("filter", error.to_string()),
            StoreError::Full => Self::Unavailable {
                message: error.to_string(),
                retry_after_secs: 5,
                outcome_unknown: false,
            },
            StoreError::Unreachable => Self::Unavailable {
                message: error.to_string(),
                retry_after_secs: 2,
                outcome_unknown: false,
            },
            StoreError::OutcomeUnknown => Self::Unavailable {
                message: error.to_string(),
                retry_after_secs: 2,
                outcome_unknown: true,
            },
            StoreError::Database(_) | StoreError::Connect(_) => Self::Internal(error.to_string()),
        }
    }
}

/// The server could not hash or check a password: its fault, not the caller's.
impl From<PasswordError> for ServiceError {
    fn from(error: PasswordError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// The server could not sign an access token: its fault, not the caller's.
impl From<TokenError> for ServiceError {
    fn from(error: TokenError) -> Self {
        Self::Internal(error.to_string())
    }
}
