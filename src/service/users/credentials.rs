//! The password check every sign-in and every password-confirmed change goes through.

use std::time::Instant;

use super::User;
use crate::auth::Email;
use crate::service::ServiceError;
use crate::state::AppState;

/// The one answer to every failed sign-in: it does not say whether the email exists.
pub(super) const INVALID_LOGIN: &str = "invalid email or password";

/// Checks `password` for `email` through the login limiter, which counts the attempt from
/// before the password is hashed (so parallel guesses cannot outrun it). Failures say only
/// "invalid email or password" and take as long whether or not the email exists.
pub(super) async fn check_credentials(
    state: &AppState,
    email: &Email,
    password: &str,
) -> Result<User, ServiceError> {
    let auth = state.auth();
    let attempt = auth
        .login_limiter
        .begin(email.as_str(), Instant::now())
        .map_err(|wait| {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            ServiceError::RateLimited {
                message: format!("too many sign-in attempts for this email; try again in {secs} s"),
                retry_after_secs: secs,
            }
        })?;
    // From here, leaving early (an error, or the request dropped) counts as a failure.
    let user = state.store().user_by_email(email.as_str()).await?;
    let matched = auth
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    match user {
        Some(user) if matched => {
            attempt.succeeded();
            Ok(user)
        }
        _ => {
            attempt.failed(Instant::now());
            Err(ServiceError::Unauthenticated(INVALID_LOGIN.to_string()))
        }
    }
}
