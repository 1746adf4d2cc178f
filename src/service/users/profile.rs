//! A signed-in user's own account: reading it, changing the profile or credentials, deleting it.

use serde_json::Value;

use super::credentials::check_credentials;
use super::{apply, delete_user, email, internal, new_password, profile_data, User};
use crate::auth::Email;
use crate::model::Caller;
use crate::service::ServiceError;
use crate::state::AppState;
use crate::store::users::UserChange;

/// What `updateMe` may change.
#[derive(Clone, Debug, Default)]
pub struct MeChange {
    /// A merge patch for the profile.
    pub data: Option<Value>,
    /// A new email (needs `current_password`).
    pub email: Option<String>,
    /// A new password (needs `current_password`).
    pub password: Option<String>,
    /// The password now in force.
    pub current_password: Option<String>,
}

/// The signed-in user, or `None` for anonymous callers and deleted accounts.
pub async fn me(state: &AppState, caller: &Caller) -> Result<Option<User>, ServiceError> {
    match caller.user_id() {
        None => Ok(None),
        Some(id) => Ok(state.store().user_by_id(None, id).await?),
    }
}

async fn signed_in_user(state: &AppState, caller: &Caller) -> Result<User, ServiceError> {
    let id = caller.user_id().ok_or_else(|| {
        ServiceError::Unauthenticated(
            "sign in first: send `Authorization: Bearer <access token>`".into(),
        )
    })?;
    state
        .store()
        .user_by_id(None, id)
        .await?
        .ok_or_else(|| ServiceError::Unauthenticated("this account no longer exists".into()))
}

/// Checks the password of a signed-in user (through the login limiter: a stolen access token
/// must not become a password oracle).
async fn confirm_password(
    state: &AppState,
    user: &User,
    password: Option<&str>,
    field: &str,
) -> Result<(), ServiceError> {
    let Some(password) = password else {
        return Err(ServiceError::bad_input(
            field,
            "give your current password to change your email or password",
        ));
    };
    let email = Email::parse(&user.email).map_err(internal)?;
    check_credentials(state, &email, password)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            ServiceError::Unauthenticated(_) => {
                ServiceError::Forbidden(format!("`{field}` is not your current password"))
            }
            other => other,
        })
}

/// Changes the caller's profile, email or password. Changing the password ends every session
/// (refresh token) of the user; the access token in hand stays valid until it expires.
pub async fn update_me(
    state: &AppState,
    caller: &Caller,
    change: MeChange,
) -> Result<User, ServiceError> {
    let user = signed_in_user(state, caller).await?;
    let new_email = change.email.as_deref().map(email).transpose()?;
    if let Some(p) = &change.password {
        new_password(p, "password")?;
    }
    let patch = change.data.map(profile_data).transpose()?;
    let credentials_change = new_email.is_some() || change.password.is_some();
    if credentials_change {
        confirm_password(
            state,
            &user,
            change.current_password.as_deref(),
            "currentPassword",
        )
        .await?;
    }
    let password_hash = match &change.password {
        Some(p) => Some(state.auth().passwords.hash(p).await?),
        None => None,
    };
    let changed = apply(
        state,
        caller,
        user,
        |_| UserChange {
            email: new_email.as_ref().map(|e| e.as_str().to_string()),
            password_hash: password_hash.clone(),
            role: None,
            data: None,
        },
        patch.as_ref(),
    )
    .await?;
    if password_hash.is_some() {
        state.store().revoke_user_sessions(&changed.id).await?;
    }
    Ok(changed)
}

/// Deletes the caller's account after checking its password.
pub async fn delete_me(
    state: &AppState,
    caller: &Caller,
    password: &str,
) -> Result<bool, ServiceError> {
    let user = signed_in_user(state, caller).await?;
    confirm_password(state, &user, Some(password), "password").await?;
    delete_user(state, caller, &user).await
}
