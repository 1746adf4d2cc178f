//! The admin's view of all users: listing, reading, changing roles and profiles, deleting.

use serde_json::Value;

use super::{apply, delete_user, profile_data, User};
use crate::model::caller::ADMIN_ROLE;
use crate::model::filter::Filter;
use crate::model::Caller;
use crate::service::{input, ServiceError};
use crate::state::AppState;
use crate::store::users::UserChange;

/// A page of users.
#[derive(Clone, Debug)]
pub struct UserPage {
    /// This page.
    pub items: Vec<User>,
    /// All matches, when asked for.
    pub total_count: Option<u64>,
}

fn role(text: &str) -> Result<String, ServiceError> {
    let valid = (1..=32).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(text.to_string())
    } else {
        Err(ServiceError::bad_input(
            "role",
            format!("`{text}` is not a role name: expected 1 to 32 lower-case letters, digits or `_`, starting with a letter (such as `user`, `admin`, `editor`)"),
        ))
    }
}

/// Refuses callers who are not admins *now*: the role is read from the database, so a demoted
/// admin loses admin operations at once, not when the token expires.
async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ServiceError> {
    require_admin_to(state, caller, "manage users").await
}

/// [`require_admin`] for any admin `task` (named in the error).
pub(in crate::service) async fn require_admin_to(
    state: &AppState,
    caller: &Caller,
    task: &str,
) -> Result<(), ServiceError> {
    let Some(id) = caller.user_id() else {
        return Err(ServiceError::Unauthenticated(format!(
            "sign in as an admin to {task}"
        )));
    };
    match state.store().user_by_id(None, id).await? {
        Some(user) if user.role == ADMIN_ROLE => Ok(()),
        _ => Err(ServiceError::Forbidden(format!("only admins may {task}"))),
    }
}

fn user_id(id: &str) -> Result<String, ServiceError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ServiceError::bad_input("id", "expected a user id (a UUID)"))
}

/// Admin: a page of users matching `filter` (on `id email role createdAt updatedAt
/// lastLoginAt` and profile fields).
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: Option<Value>,
    limit: i32,
    offset: i32,
    count_total: bool,
) -> Result<UserPage, ServiceError> {
    require_admin(state, caller).await?;
    let filter = input::filter(filter.as_ref(), Filter::parse_users)?;
    let (limit, offset) = input::page_bounds(limit, offset)?;
    let (items, total_count) = state
        .store()
        .list_users(&filter, limit, offset, count_total)
        .await?;
    Ok(UserPage { items, total_count })
}

/// Admin: one user (`None` if there is none).
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<User>, ServiceError> {
    require_admin(state, caller).await?;
    Ok(state.store().user_by_id(None, &user_id(id)?).await?)
}

/// Admin: merge `data` into a user's profile and/or set its role.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    data: Option<Value>,
    new_role: Option<String>,
) -> Result<User, ServiceError> {
    require_admin(state, caller).await?;
    let id = user_id(id)?;
    let new_role = new_role.as_deref().map(role).transpose()?;
    let patch = data.map(profile_data).transpose()?;
    let user = state
        .store()
        .user_by_id(None, &id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no user `{id}`")))?;
    apply(
        state,
        caller,
        user,
        |_| UserChange {
            role: new_role.clone(),
            ..UserChange::default()
        },
        patch.as_ref(),
    )
    .await
}

/// Admin: delete a user and end its sessions.
pub async fn delete(state: &AppState, caller: &Caller, id: &str) -> Result<bool, ServiceError> {
    require_admin(state, caller).await?;
    let id = user_id(id)?;
    let missing = || ServiceError::NotFound(format!("no user `{id}`"));
    let user = state
        .store()
        .user_by_id(None, &id)
        .await?
        .ok_or_else(missing)?;
    match delete_user(state, caller, &user).await? {
        true => Ok(true),
        false => Err(missing()),
    }
}
