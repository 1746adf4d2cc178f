//! App users: sign-up, sign-in, sessions, profiles, and the admin's view of all users.

use std::time::Instant;

use serde_json::{Map, Value};

use super::hooks::{self, Before};
use super::{input, ServiceError};
use crate::auth::password::{self, Passwords};
use crate::auth::tokens::{new_refresh_token, refresh_token_hash};
use crate::auth::{Caller, Email, ADMIN_ROLE, USER_ROLE};
use crate::hooks::{payload, Event, Payload, Target};
use crate::state::AppState;
use crate::store::filter::Filter;
use crate::store::merge_patch;
use crate::store::refresh_tokens::Rotation;
use crate::store::users::{NewUser, UserChange};
use crate::store::{DocumentData, Store, StoreError};

pub use crate::store::users::User;

/// What a successful sign-in returns.
#[derive(Clone, Debug)]
pub struct Session {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The opaque token for `refreshToken`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Who signed in.
    pub user: User,
}

/// A page of users.
#[derive(Clone, Debug)]
pub struct UserPage {
    /// This page.
    pub items: Vec<User>,
    /// All matches, when asked for.
    pub total_count: Option<u64>,
}

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

/// How often a profile change re-reads after a concurrent change before giving up.
const UPDATE_ATTEMPTS: usize = 8;
const INVALID_LOGIN: &str = "invalid email or password";

fn email(text: &str) -> Result<Email, ServiceError> {
    Email::parse(text).map_err(|m| ServiceError::bad_input("email", m))
}

fn new_password(text: &str, field: &str) -> Result<(), ServiceError> {
    password::check_policy(text).map_err(|m| ServiceError::bad_input(field, m))
}

fn profile(value: Value) -> Result<Value, ServiceError> {
    DocumentData::parse(value)
        .map(DocumentData::into_value)
        .map_err(|m| ServiceError::bad_input("data", m))
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

fn internal(message: String) -> ServiceError {
    ServiceError::Internal(message)
}

/// Starts a new session (a new refresh-token family) for `user`; `claims` go into the access
/// token (from `pre_login` hooks).
async fn start_session(
    state: &AppState,
    user: User,
    claims: Map<String, Value>,
) -> Result<Session, ServiceError> {
    let refresh_token = new_refresh_token();
    state
        .store()
        .insert_refresh_token(
            &user.id,
            None,
            refresh_token_hash(&refresh_token),
            state.auth().refresh_ttl,
        )
        .await?;
    session(state, user, refresh_token, claims)
}

fn session(
    state: &AppState,
    user: User,
    refresh_token: String,
    claims: Map<String, Value>,
) -> Result<Session, ServiceError> {
    let tokens = &state.auth().access_tokens;
    Ok(Session {
        access_token: tokens.issue(&user, claims).map_err(internal)?,
        refresh_token,
        expires_in: tokens.ttl().as_secs(),
        user,
    })
}

/// Signs a new user up (role `user`) and signs them in. `pre_register` hooks may change the
/// profile or refuse; their writes (say, using up an invite) commit with the new user, or not
/// at all. `post_register` follows.
pub async fn register(
    state: &AppState,
    email_text: &str,
    password: &str,
    data: Option<Value>,
) -> Result<Session, ServiceError> {
    let email = email(email_text)?;
    new_password(password, "password")?;
    let data = profile(data.unwrap_or_else(|| Value::Object(Map::new())))?;
    // Hashed first: a transaction opened by a hook should not wait on the hash.
    let password_hash = state
        .auth()
        .passwords
        .hash(password)
        .await
        .map_err(internal)?;
    let hooks = state.runner().config();
    let mut before = hooks::before(
        state,
        &hooks,
        Event::PreRegister,
        &Target::default(),
        || {
            Payload::new(Event::PreRegister, &Caller::Anonymous)
                .with("email", email.as_str())
                .with("data", data.clone())
        },
    )
    .await?;
    let data = match before.take("data") {
        Some(data) => data,
        None => data,
    };
    before
        .join_outbox(state, &hooks, Event::PostRegister, None)
        .await?;
    let user = state
        .store()
        .create_user(
            before.tx.as_ref(),
            NewUser {
                email: email.as_str().to_string(),
                password_hash,
                role: USER_ROLE.to_string(),
                data,
                signed_in: true,
            },
        )
        .await?;
    before
        .commit_then_after(
            state,
            &hooks,
            Event::PostRegister,
            user_target(&user),
            || {
                Payload::new(Event::PostRegister, &Caller::Anonymous)
                    .with("user", payload::user(&user))
            },
        )
        .await?;
    start_session(state, user, Map::new()).await
}

fn user_target(user: &User) -> Target {
    Target {
        meta: payload::user_meta(user),
        ..Target::default()
    }
}

fn user_payload(event: Event, caller: &Caller, user: &User) -> Payload {
    Payload::new(event, caller).with("user", payload::user(user))
}

/// Checks `password` for `email` through the login limiter. Failures say only
/// "invalid email or password" and take as long whether or not the email exists.
async fn check_credentials(
    state: &AppState,
    email: &Email,
    password: &str,
) -> Result<User, ServiceError> {
    let auth = state.auth();
    if let Err(wait) = auth.login_limiter.check(email.as_str(), Instant::now()) {
        let secs = wait.as_secs_f64().ceil() as u64;
        return Err(ServiceError::RateLimited {
            message: format!("too many failed sign-ins for this email; try again in {secs} s"),
            retry_after_secs: secs,
        });
    }
    let user = state.store().user_by_email(email.as_str()).await?;
    let matched = auth
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await
        .map_err(internal)?;
    match user {
        Some(user) if matched => {
            auth.login_limiter.success(email.as_str());
            Ok(user)
        }
        _ => {
            auth.login_limiter.failure(email.as_str(), Instant::now());
            Err(ServiceError::Unauthenticated(INVALID_LOGIN.to_string()))
        }
    }
}

/// Signs a user in with email and password. After the password checks out, `pre_login`
/// hooks may refuse or add claims to the access token; `post_login` follows.
pub async fn login(
    state: &AppState,
    email_text: &str,
    password: &str,
) -> Result<Session, ServiceError> {
    let email = email(email_text)?;
    let user = check_credentials(state, &email, password).await?;
    let hooks = state.runner().config();
    let mut before = hooks::before(state, &hooks, Event::PreLogin, &user_target(&user), || {
        user_payload(Event::PreLogin, &Caller::Anonymous, &user)
    })
    .await?;
    let claims = std::mem::take(&mut before.claims);
    before
        .join_outbox(state, &hooks, Event::PostLogin, None)
        .await?;
    let user = state
        .store()
        .touch_login(before.tx.as_ref(), &user.id)
        .await?
        .ok_or_else(|| ServiceError::Unauthenticated(INVALID_LOGIN.to_string()))?;
    before
        .commit_then_after(state, &hooks, Event::PostLogin, user_target(&user), || {
            user_payload(Event::PostLogin, &Caller::Anonymous, &user)
        })
        .await?;
    start_session(state, user, claims).await
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a used
/// one revokes its whole session, as only a stolen copy would be used twice.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<Session, ServiceError> {
    let invalid = || {
        ServiceError::Unauthenticated(
            "the refresh token is not valid (expired, revoked or unknown); sign in again"
                .to_string(),
        )
    };
    let next = new_refresh_token();
    let rotation = state
        .store()
        .rotate_refresh_token(
            &refresh_token_hash(refresh_token),
            refresh_token_hash(&next),
            state.auth().refresh_ttl,
        )
        .await?;
    match rotation {
        Rotation::Rotated { user_id } => {
            let user = state
                .store()
                .user_by_id(None, &user_id)
                .await?
                .ok_or_else(invalid)?;
            session(state, user, next, Map::new())
        }
        Rotation::Invalid => Err(invalid()),
        Rotation::Reused => {
            tracing::warn!("a used refresh token was presented again; its session is revoked");
            Err(ServiceError::Unauthenticated(
                "this refresh token was already used; for safety its session is now ended: sign in again"
                    .to_string(),
            ))
        }
    }
}

/// Ends the session a refresh token belongs to; whether one was active.
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<bool, ServiceError> {
    Ok(state
        .store()
        .revoke_refresh_session(&refresh_token_hash(refresh_token))
        .await?)
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
    let patch = change.data.map(profile).transpose()?;
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
        Some(p) => Some(state.auth().passwords.hash(p).await.map_err(internal)?),
        None => None,
    };
    let changed = apply(
        state.store(),
        Some((state, caller)),
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

/// Writes `change` (and a profile merge patch) to `user`, re-reading after a concurrent change.
/// With `hooked` (the state and the caller), `pre_user_update` hooks see the profile as it
/// would become and may change or refuse it, and `post_user_update` follows; without it (an
/// operator's bootstrap) no hooks run.
async fn apply(
    store: &Store,
    hooked: Option<(&AppState, &Caller)>,
    mut user: User,
    change: impl Fn(&User) -> UserChange,
    patch: Option<&Value>,
) -> Result<User, ServiceError> {
    let hooks = hooked.map(|(state, caller)| (state, caller, state.runner().config()));
    for _ in 0..UPDATE_ATTEMPTS {
        let mut next = change(&user);
        let mut data = user.data.clone();
        if let Some(patch) = patch {
            merge_patch::apply(&mut data, patch);
            next.data = Some(profile(data.clone())?);
        }
        let mut before = Before::none();
        if let Some((state, caller, hooks)) = &hooks {
            before = hooks::before(
                state,
                hooks,
                Event::PreUserUpdate,
                &user_target(&user),
                || {
                    user_payload(Event::PreUserUpdate, caller, &user)
                        .with("data", data)
                        .with("old_data", user.data.clone())
                },
            )
            .await?;
            if let Some(data) = before.take("data") {
                next.data = Some(data);
            }
            before
                .join_outbox(state, hooks, Event::PostUserUpdate, None)
                .await?;
        }
        if let Some(updated) = store.update_user(before.tx.as_ref(), &user, next).await? {
            match &hooks {
                Some((state, caller, hooks)) => {
                    before
                        .commit_then_after(
                            state,
                            hooks,
                            Event::PostUserUpdate,
                            user_target(&updated),
                            || {
                                user_payload(Event::PostUserUpdate, caller, &updated)
                                    .with("data", updated.data.clone())
                                    .with("old_data", user.data.clone())
                            },
                        )
                        .await?
                }
                None => before.commit().await?,
            }
            return Ok(updated);
        }
        drop(before); // the hooks' writes roll back; read again and start over
        user = store
            .user_by_id(None, &user.id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no user `{}`", user.id)))?;
    }
    Err(ServiceError::Conflict(
        "this user is being changed by many requests at once; retry".into(),
    ))
}

/// Deletes `user` after `pre_user_delete` hooks; `post_user_delete` follows. Whether it was
/// still there.
async fn delete_user(state: &AppState, caller: &Caller, user: &User) -> Result<bool, ServiceError> {
    let hooks = state.runner().config();
    let mut before = hooks::before(
        state,
        &hooks,
        Event::PreUserDelete,
        &user_target(user),
        || user_payload(Event::PreUserDelete, caller, user),
    )
    .await?;
    before
        .join_outbox(state, &hooks, Event::PostUserDelete, None)
        .await?;
    let deleted = state
        .store()
        .delete_user(before.tx.as_ref(), &user.id)
        .await?;
    match &deleted {
        Some(deleted) => {
            before
                .commit_then_after(
                    state,
                    &hooks,
                    Event::PostUserDelete,
                    user_target(deleted),
                    || user_payload(Event::PostUserDelete, caller, deleted),
                )
                .await?
        }
        None => before.commit().await?,
    }
    Ok(deleted.is_some())
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

/// Refuses callers who are not admins *now*: the role is read from the database, so a demoted
/// admin loses admin operations at once, not when the token expires.
async fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ServiceError> {
    require_admin_to(state, caller, "manage users").await
}

/// [`require_admin`] for any admin `task` (named in the error).
pub(super) async fn require_admin_to(
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
    let patch = data.map(profile).transpose()?;
    let user = state
        .store()
        .user_by_id(None, &id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no user `{id}`")))?;
    apply(
        state.store(),
        Some((state, caller)),
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

/// Makes sure `email` is an admin: creates it with `password` if missing, promotes it if it
/// exists (its password is left alone). Says what it did.
pub async fn ensure_admin(
    store: &Store,
    passwords: &Passwords,
    email_text: &str,
    password: &str,
) -> Result<&'static str, ServiceError> {
    let email = email(email_text)?;
    if let Some(user) = store.user_by_email(email.as_str()).await? {
        if user.role == ADMIN_ROLE {
            return Ok("already an admin");
        }
        apply(
            store,
            None,
            user,
            |_| UserChange {
                role: Some(ADMIN_ROLE.to_string()),
                ..UserChange::default()
            },
            None,
        )
        .await?;
        return Ok("promoted to admin");
    }
    new_password(password, "password")?;
    let password_hash = passwords.hash(password).await.map_err(internal)?;
    match store
        .create_user(
            None,
            NewUser {
                email: email.as_str().to_string(),
                password_hash,
                role: ADMIN_ROLE.to_string(),
                data: Value::Object(Map::new()),
                signed_in: false,
            },
        )
        .await
    {
        Ok(_) => Ok("created as admin"),
        // Another instance created it at the same moment.
        Err(StoreError::EmailTaken) => Ok("already exists"),
        Err(e) => Err(e.into()),
    }
}
