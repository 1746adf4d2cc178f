//! Who is calling: the verified claims of an access token, or nobody.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The role every new user gets.
pub const USER_ROLE: &str = "user";
/// The role that passes every access rule.
pub const ADMIN_ROLE: &str = "admin";
/// Claims hookql sets itself; hooks may add others but never these.
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub", "email", "role", "iat", "exp", "iss", "nbf", "aud", "jti",
];

/// An access token's claims. Typed fields are checked when the token is decoded: a token whose
/// `exp` is a string, say, is refused rather than half-read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The user's email.
    pub email: String,
    /// The user's role when the token was issued.
    pub role: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer (`HOOKQL_JWT_ISSUER`).
    pub iss: String,
    /// A unique id, so that no two tokens are alike (and a log line can name one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Extra claims (from `pre_login` hooks), readable in rules as `$auth.<name>`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Caller {
    /// No `Authorization` header.
    #[default]
    Anonymous,
    /// A valid access token (shared: verified tokens are cached).
    User(Arc<Claims>),
}

impl Caller {
    /// The user's claims, if signed in.
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Caller::Anonymous => None,
            Caller::User(claims) => Some(claims),
        }
    }

    /// The user id, if signed in.
    pub fn user_id(&self) -> Option<&str> {
        self.claims().map(|c| c.sub.as_str())
    }

    /// Whether this is an admin (who passes every rule).
    pub fn is_admin(&self) -> bool {
        self.claims().is_some_and(|c| c.role == ADMIN_ROLE)
    }

    /// `$auth.<name>`: `id`, `email`, `role` or any other claim; `None` when anonymous or absent.
    pub fn value(&self, name: &str) -> Option<Value> {
        let claims = self.claims()?;
        match name {
            "id" => Some(Value::String(claims.sub.clone())),
            "email" => Some(Value::String(claims.email.clone())),
            "role" => Some(Value::String(claims.role.clone())),
            other => claims.extra.get(other).cloned(),
        }
    }
}

/// What a request said about its caller: nothing, a valid token, or a token that must be
/// refused. An invalid token is kept as an error rather than refused at once so that
/// operations that need no caller (`login`, `refreshToken`) still work for a client whose
/// stale header is still attached; everything that asks for the caller gets `UNAUTHENTICATED`.
pub type RequestAuth = Result<Caller, String>;
