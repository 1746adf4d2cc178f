//! The first admin, named by `HOOKQL_ADMIN_EMAIL` + `HOOKQL_ADMIN_PASSWORD` (at every start)
//! or by `hookql admin create`.
//!
//! Why an existing account must prove itself: the setting stays in the environment long after
//! the admin was created. If she changes her email, anyone may sign up with the old one, and a
//! bootstrap that promoted whatever account holds the email would make that stranger an admin
//! at the next restart. So an existing account is promoted only when the configured password
//! is its password; otherwise it is left alone and the caller says so loudly.

use serde_json::{Map, Value};

use super::{email, new_password, UPDATE_ATTEMPTS};
use crate::auth::password::Passwords;
use crate::model::caller::ADMIN_ROLE;
use crate::service::ServiceError;
use crate::store::users::{NewUser, UserChange};
use crate::store::{Store, StoreError};

/// What the bootstrap did with the configured admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// No account had the email: it was created as an admin with the configured password.
    Created,
    /// The account with the email has the configured password, and is now an admin.
    Promoted,
    /// The account with the email is an admin already; nothing was checked or changed.
    AlreadyAdmin,
    /// The account with the email has another password, so it may not be the admin's (an
    /// email can change hands): it was not promoted.
    Refused,
}

impl std::fmt::Display for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bootstrap::Created => "created as admin",
            Bootstrap::Promoted => "promoted to admin (its password is the one given)",
            Bootstrap::AlreadyAdmin => "already an admin (left as it is)",
            Bootstrap::Refused => {
                "NOT promoted: an account with this email exists, but its password is not the one given, so it may not be the admin's (the email may have changed hands); promote it from an admin account with updateUser(role: \"admin\") if it is"
            }
        })
    }
}

/// Makes sure the account `email` is an admin: creates it with `password` if missing; promotes
/// an existing one only if `password` is its password (which is never changed). Says what it
/// did; a refusal is an answer, not an error, so that a server still starts.
pub async fn ensure_admin(
    store: &Store,
    passwords: &Passwords,
    email_text: &str,
    password: &str,
) -> Result<Bootstrap, ServiceError> {
    let email = email(email_text)?;
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(user) = store.user_by_email(email.as_str()).await? else {
            new_password(password, "password")?;
            let password_hash = passwords.hash(password).await?;
            let admin = NewUser {
                email: email.as_str().to_string(),
                password_hash,
                role: ADMIN_ROLE.to_string(),
                data: Value::Object(Map::new()),
                signed_in: false,
            };
            match store.create_user(None, admin).await {
                Ok(_) => return Ok(Bootstrap::Created),
                // Another instance, or a sign-up, took the email meanwhile: that account must
                // prove itself like any other.
                Err(StoreError::EmailTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if user.role == ADMIN_ROLE {
            return Ok(Bootstrap::AlreadyAdmin);
        }
        let hash = Some(user.password_hash.as_str());
        if !passwords.verify(password, hash).await? {
            return Ok(Bootstrap::Refused);
        }
        // Only the account as it was verified: if it changed meanwhile (its password, its
        // email), the write misses and the account is checked again.
        let promotion = UserChange {
            role: Some(ADMIN_ROLE.to_string()),
            ..UserChange::default()
        };
        if store.update_user(None, &user, promotion).await?.is_some() {
            return Ok(Bootstrap::Promoted);
        }
    }
    Err(ServiceError::Conflict(
        "the admin's account is being changed by many requests at once; retry".into(),
    ))
}
