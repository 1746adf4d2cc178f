//! Applying a collection's access rules to one caller, and saying no in the caller's terms.

use crate::auth::access::{rule_filter, Refusal};
use crate::manifest::{CollectionRules, Rule};
use crate::model::filter::Filter;
use crate::model::Caller;
use crate::model::CollectionName;
use crate::store::StoreError;

use super::ServiceError;

/// The four operations rules govern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `document`, `documents`.
    Read,
    /// `createDocument`.
    Create,
    /// `updateDocument`.
    Update,
    /// `deleteDocument`.
    Delete,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    fn rule(self, rules: &CollectionRules) -> &Rule {
        match self {
            Action::Read => &rules.read,
            Action::Create => &rules.create,
            Action::Update => &rules.update,
            Action::Delete => &rules.delete,
        }
    }
}

/// The filter `caller` must satisfy for `action` in `collection`, per the rules in force.
pub fn filter(
    rules: &CollectionRules,
    action: Action,
    caller: &Caller,
    collection: &CollectionName,
) -> Result<Filter, ServiceError> {
    rule_filter(action.rule(rules), caller).map_err(|r| refusal(r, action, collection))
}

/// The error for a rule's refusal.
pub fn refusal(refusal: Refusal, action: Action, collection: &CollectionName) -> ServiceError {
    match refusal {
        Refusal::Unauthenticated => ServiceError::Unauthenticated(format!(
            "sign in to {} documents in `{collection}`",
            action.verb()
        )),
        Refusal::Forbidden => ServiceError::Forbidden(format!(
            "you may not {} documents in `{collection}`",
            action.verb()
        )),
    }
}

/// A store error, with a rule's refusal of one document worded for `caller` (anonymous callers
/// are told to sign in).
pub fn store_error(
    error: StoreError,
    action: Action,
    caller: &Caller,
    collection: &CollectionName,
) -> ServiceError {
    match error {
        StoreError::Denied => match caller {
            Caller::Anonymous => refusal(Refusal::Unauthenticated, action, collection),
            Caller::User(_) => ServiceError::Forbidden(format!(
                "the `{collection}` {verb} rule does not allow you to {verb} this document",
                verb = action.verb()
            )),
        },
        other => other.into(),
    }
}
