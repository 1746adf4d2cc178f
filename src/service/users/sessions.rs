//! Signing up and in: sessions (an access token and a refresh-token family), their rotation
//! and their end.

use serde_json::{Map, Value};

use super::credentials::{check_credentials, INVALID_LOGIN};
use super::{email, new_password, profile_data, user_payload, user_target, User};
use crate::auth::tokens::{new_refresh_token, refresh_token_hash};
use crate::hooks::{payload, Payload, Target};
use crate::model::caller::USER_ROLE;
use crate::model::Caller;
use crate::model::Event;
use crate::service::hooked_write::{After, HookedWrite, Wrote};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::store::refresh_tokens::Rotation;
use crate::store::users::NewUser;

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
        access_token: tokens.issue(&user, claims)?,
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
    let data = profile_data(data.unwrap_or_else(|| Value::Object(Map::new())))?;
    // Hashed first: a transaction opened by a hook should not wait on the hash.
    let password_hash = state.auth().passwords.hash(password).await?;
    let hooks = state.runner().config();
    let hooked = HookedWrite {
        before: Event::PreRegister,
        after: Event::PostRegister,
        target: &Target::default(),
        collection: None,
        transaction: false,
    };
    // Built only when `pre_register` is bound, so that the profile itself can move into the
    // write: it is copied only for a chain to see it.
    let payload = hooks.has_chain(Event::PreRegister).then(|| {
        Payload::new(Event::PreRegister, &Caller::Anonymous)
            .with("email", email.as_str())
            .with("data", data.clone())
    });
    let user = hooked
        .run(
            state,
            &hooks,
            || payload.unwrap_or_else(|| Payload::new(Event::PreRegister, &Caller::Anonymous)),
            async |hooked| {
                let new_user = NewUser {
                    email: email.as_str().to_string(),
                    password_hash,
                    role: USER_ROLE.to_string(),
                    data: hooked.take("data").unwrap_or(data),
                    signed_in: true,
                };
                let user = state.store().create_user(hooked.tx(), new_user).await?;
                Ok(Wrote::Done(user))
            },
            |user| {
                Some(After {
                    target: user_target(user),
                    payload: Payload::new(Event::PostRegister, &Caller::Anonymous)
                        .with("user", payload::user(user)),
                })
            },
        )
        .await?
        .done()?;
    start_session(state, user, Map::new()).await
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
    let hooked = HookedWrite {
        before: Event::PreLogin,
        after: Event::PostLogin,
        target: &user_target(&user),
        collection: None,
        transaction: false,
    };
    let (user, claims) = hooked
        .run(
            state,
            &hooks,
            || user_payload(Event::PreLogin, &Caller::Anonymous, &user),
            async |hooked| {
                let claims = hooked.take_claims();
                let user = state
                    .store()
                    .touch_login(hooked.tx(), &user.id)
                    .await?
                    .ok_or_else(|| ServiceError::Unauthenticated(INVALID_LOGIN.to_string()))?;
                Ok(Wrote::Done((user, claims)))
            },
            |(user, _)| {
                Some(After {
                    target: user_target(user),
                    payload: user_payload(Event::PostLogin, &Caller::Anonymous, user),
                })
            },
        )
        .await?
        .done()?;
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
