//! App users: sign-up, sign-in and sessions ([`sessions`]), a user's own profile
//! ([`profile`]), the admin's view of all users ([`admin`]) and the first admin
//! ([`bootstrap`]). This module holds what they share: input checks and the hooked write paths.

mod admin;
mod bootstrap;
mod credentials;
mod profile;
mod sessions;

use serde_json::Value;

use super::hooked_write::{After, HookedWrite, Wrote};
use super::ServiceError;
use crate::auth::password;
use crate::auth::Email;
use crate::hooks::{payload, Payload, Target};
use crate::model::clock::now_micros;
use crate::model::merge_patch;
use crate::model::Caller;
use crate::model::DocumentData;
use crate::model::Event;
use crate::state::AppState;
use crate::store::users::UserChange;

pub use crate::store::users::User;
pub(super) use admin::require_admin_to;
pub use admin::{delete, get, list, update, UserPage};
pub use bootstrap::{ensure_admin, Bootstrap};
pub use profile::{delete_me, me, update_me, MeChange};
pub use sessions::{login, logout, refresh, register, Session};

/// How often a profile change re-reads after a concurrent change before giving up.
const UPDATE_ATTEMPTS: usize = 8;

pub(super) fn email(text: &str) -> Result<Email, ServiceError> {
    Email::parse(text).map_err(|m| ServiceError::bad_input("email", m))
}

pub(super) fn new_password(text: &str, field: &str) -> Result<(), ServiceError> {
    password::check_policy(text).map_err(|m| ServiceError::bad_input(field, m))
}

pub(super) fn profile_data(value: Value) -> Result<Value, ServiceError> {
    DocumentData::parse(value)
        .map(DocumentData::into_value)
        .map_err(|m| ServiceError::bad_input("data", m))
}

pub(super) fn internal(message: String) -> ServiceError {
    ServiceError::Internal(message)
}

pub(super) fn user_target(user: &User) -> Target {
    Target {
        meta: payload::user_meta(user),
        ..Target::default()
    }
}

pub(super) fn user_payload(event: Event, caller: &Caller, user: &User) -> Payload {
    Payload::new(event, caller).with("user", payload::user(user))
}

/// Writes `change` (and a profile merge patch) to `user`, re-reading after a concurrent change.
/// `pre_user_update` hooks see the profile as it would become and may change or refuse it;
/// `post_user_update` follows.
pub(super) async fn apply(
    state: &AppState,
    caller: &Caller,
    mut user: User,
    change: impl Fn(&User) -> UserChange,
    patch: Option<&Value>,
) -> Result<User, ServiceError> {
    let hooks = state.runner().config();
    for _ in 0..UPDATE_ATTEMPTS {
        let mut next = change(&user);
        let mut data = user.data.clone();
        if let Some(patch) = patch {
            merge_patch::apply(&mut data, patch);
            next.data = Some(profile_data(data.clone())?);
        }
        let hooked = HookedWrite {
            before: Event::PreUserUpdate,
            after: Event::PostUserUpdate,
            target: &user_target(&user),
            collection: None,
            transaction: false,
        };
        let wrote = hooked
            .run(
                state,
                &hooks,
                || {
                    user_payload(Event::PreUserUpdate, caller, &user)
                        .with("data", data)
                        .with("old_data", user.data.clone())
                },
                async |hooked| {
                    if let Some(data) = hooked.take("data") {
                        next.data = Some(data);
                    }
                    let updated = state.store().update_user(hooked.tx(), &user, next).await?;
                    Ok(updated.map_or(Wrote::Raced, Wrote::Done))
                },
                |updated| {
                    Some(After {
                        target: user_target(updated),
                        payload: user_payload(Event::PostUserUpdate, caller, updated)
                            .with("data", updated.data.clone())
                            .with("old_data", user.data.clone()),
                    })
                },
            )
            .await?;
        if let Wrote::Done(updated) = wrote {
            return Ok(updated);
        }
        user = state
            .store()
            .user_by_id(None, &user.id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no user `{}`", user.id)))?;
    }
    Err(ServiceError::Conflict(
        "this user is being changed by many requests at once; retry".into(),
    ))
}

/// Deletes `user` after `pre_user_delete` hooks; `post_user_delete` follows. Whether it was
/// still there. Its access tokens stop working at once, on every instance: the deletion
/// commits with a revocation record (and, on PostgreSQL, a notification to the others), and
/// this instance refuses them as soon as it has committed.
pub(super) async fn delete_user(
    state: &AppState,
    caller: &Caller,
    user: &User,
) -> Result<bool, ServiceError> {
    let hooks = state.runner().config();
    // The revocation must commit with the deletion, or not at all.
    let hooked = HookedWrite {
        before: Event::PreUserDelete,
        after: Event::PostUserDelete,
        target: &user_target(user),
        collection: None,
        transaction: true,
    };
    let wrote = hooked
        .run(
            state,
            &hooks,
            || user_payload(Event::PreUserDelete, caller, user),
            async |hooked| {
                // Taken after the hooks ran, however long they took: it must outlast every
                // token issued before the deletion commits.
                let revoked_until = state.auth().revoked_until();
                let (store, tx) = (state.store(), hooked.tx());
                // Another request deleted it first: nothing to do, and the hooks' writes roll
                // back with this attempt.
                let Some(deleted) = store.delete_user(tx, &user.id).await? else {
                    return Ok(Wrote::Raced);
                };
                if let Some(tx) = tx {
                    store
                        .revoke_user_tokens(tx, &user.id, revoked_until)
                        .await?;
                }
                Ok(Wrote::Done((deleted, revoked_until)))
            },
            |(deleted, _)| {
                Some(After {
                    target: user_target(deleted),
                    payload: user_payload(Event::PostUserDelete, caller, deleted),
                })
            },
        )
        .await?;
    let Wrote::Done((deleted, revoked_until)) = wrote else {
        return Ok(false);
    };
    // Committed. (On PostgreSQL this instance also hears its own notification.)
    state
        .auth()
        .revoked
        .insert(&deleted.id, revoked_until, now_micros());
    Ok(true)
}
