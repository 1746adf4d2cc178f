//! Identity: who is calling (access tokens), how users prove it (passwords, refresh tokens),
//! and what they may do (access rules as filters).

pub mod access;
pub mod email;
mod hs256;
pub mod limiter;
pub mod password;
pub mod revoked;
pub mod tokens;

pub use email::Email;

use std::time::Duration;

use crate::model::caller::RequestAuth;
use crate::model::{Caller, Secret};
use crate::settings::Settings;

/// The identity services a server shares: token signing, password hashing, login limiting.
#[derive(Debug)]
pub struct Auth {
    /// Access-token signer and verifier.
    pub access_tokens: tokens::AccessTokens,
    /// How long a refresh token lives.
    pub refresh_ttl: Duration,
    /// The password hasher.
    pub passwords: password::Passwords,
    /// Failed-login records.
    pub login_limiter: limiter::LoginLimiter,
    /// Deleted users whose access tokens may not have expired yet.
    pub revoked: revoked::RevokedUsers,
}

impl Auth {
    /// Builds the services from the settings and the JWT secret.
    pub fn new(settings: &Settings, secret: &Secret) -> Result<Self, password::PasswordError> {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            access_tokens: tokens::AccessTokens::new(
                secret.expose().as_bytes(),
                &settings.jwt_issuer,
                Duration::from_secs(settings.access_token_ttl_secs.max(1)),
            ),
            refresh_ttl: Duration::from_secs(settings.refresh_token_ttl_secs.max(1)),
            passwords: password::Passwords::new(parallel)?,
            login_limiter: limiter::LoginLimiter::default(),
            revoked: revoked::RevokedUsers::default(),
        })
    }

    /// The caller named by an `Authorization` header value (`None`: no header).
    pub fn caller(&self, authorization: Option<&str>) -> RequestAuth {
        let Some(header) = authorization else {
            return Ok(Caller::Anonymous);
        };
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = header
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                "the Authorization header must be `Bearer <access token>`".to_string()
            })?;
        let caller = self.access_tokens.verify(token).map(Caller::User)?;
        if self.is_revoked(&caller) {
            return Err(REVOKED.to_string());
        }
        Ok(caller)
    }

    /// Whether `caller` is a user deleted since its token was issued. Asked where a caller
    /// outlives its request (an open WebSocket, a subscription) as well as for every token.
    pub fn is_revoked(&self, caller: &Caller) -> bool {
        caller.user_id().is_some_and(|id| {
            self.revoked
                .contains(id, chrono::Utc::now().timestamp_micros())
        })
    }

    /// Until when a user deleted now must stay revoked (Unix microseconds): until every access
    /// token issued so far has expired, with the leeway verification allows.
    pub fn revoked_until(&self) -> i64 {
        let lifetime = self.access_tokens.ttl().as_secs() as i64 + tokens::LEEWAY_SECS;
        chrono::Utc::now().timestamp_micros() + lifetime.saturating_mul(1_000_000)
    }
}

/// What a deleted user's token is told.
pub const REVOKED: &str = "this account has been deleted; its access tokens no longer work";
