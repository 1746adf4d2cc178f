//! Access tokens (short-lived JWTs) and refresh tokens (long-lived, opaque, stored hashed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::caller::{Claims, RESERVED_CLAIMS};
use crate::store::users::User;

/// Shortest `HOOKQL_JWT_SECRET` accepted: HS256 with a short secret can be brute-forced offline
/// from any token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Most verified tokens remembered; when full, the memory starts over (bounded, and cheap).
const VERIFIED_CAPACITY: usize = 8192;
/// Seconds of clock skew tolerated on `exp`.
pub const LEEWAY_SECS: i64 = 5;

/// Signs and verifies access tokens. Only HS256 with our secret and issuer is accepted; `alg:
/// none`, other algorithms, other issuers, expired or malformed tokens are refused.
///
/// A client sends the same token with every request for its whole life, so tokens that
/// verified are remembered with their claims until they expire: decoding and checking a JWT
/// was ~12 % of the throughput of a `document` read (measured with wrk, `bench/run`).
/// Only a byte-identical token hits the memory, and its expiry is checked on every hit.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
    verified: Mutex<HashMap<Box<str>, Arc<Claims>>>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// An access token could not be signed (never the caller's fault: `INTERNAL`).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign an access token: {0}")]
pub struct TokenError(#[from] jsonwebtoken::errors::Error);

impl AccessTokens {
    /// Tokens signed with `secret`, naming `issuer`, valid for `ttl`.
    pub fn new(secret: &[u8], issuer: &str, ttl: Duration) -> Self {
        super::hs256::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            ttl,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// How long a new access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `user`, with `extra` claims (reserved names are dropped).
    pub fn issue(&self, user: &User, extra: Map<String, Value>) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            extra: extra
                .into_iter()
                .filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str()))
                .collect(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The claims of a valid token, or why it is refused (said to the client as is).
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, String> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.remembered(token) {
            if claims.exp + LEEWAY_SECS > now {
                return Ok(claims);
            }
        }
        let claims = Arc::new(self.decode(token)?);
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, c| c.exp + LEEWAY_SECS > now);
            if verified.len() >= VERIFIED_CAPACITY / 2 {
                verified.clear();
            }
        }
        verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    fn remembered(&self, token: &str) -> Option<Arc<Claims>> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.get(token).cloned()
    }

    fn decode(&self, token: &str) -> Result<Claims, String> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        "the access token has expired; get a new one with refreshToken"
                    }
                    ErrorKind::InvalidSignature => "the access token's signature is not valid",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "the access token must be signed with HS256"
                    }
                    ErrorKind::InvalidIssuer => "the access token was issued by someone else",
                    _ => "the access token is malformed",
                }
                .to_string()
            })
    }
}

/// A new refresh token: 256 random bits, URL-safe base64. Only its hash is stored.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token. A fast hash is enough: the token has 256 bits of
/// entropy, so there is nothing to guess, only a database leak to make useless.
pub fn refresh_token_hash(token: &str) -> String {
    crate::hex::encode(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: String::new(),
            role: "user".into(),
            data: serde_json::json!({}),
            created_at: 0,
            updated_at: 0,
            last_login_at: None,
        }
    }

    fn tokens(secret: &str) -> AccessTokens {
        AccessTokens::new(secret.as_bytes(), "hookql", Duration::from_secs(60))
    }

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let a = tokens("a-secret-that-is-long-enough-for-hs256!!");
        let token = a.issue(&user(), Map::new()).unwrap();
        assert_eq!(a.verify(&token).unwrap().sub, "u1");
        let b = tokens("another-secret-that-is-long-enough-too!!");
        assert!(b.verify(&token).unwrap_err().contains("signature"));
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let a = AccessTokens::new(
            b"a-secret-that-is-long-enough-for-hs256!!",
            "hookql",
            Duration::from_secs(0),
        );
        let token = a.issue(&user(), Map::new()).unwrap();
        // Within the leeway it verifies, and is remembered ...
        let exp = a.verify(&token).unwrap().exp;
        assert!(Arc::ptr_eq(
            &a.verify(&token).unwrap(),
            &a.verify(&token).unwrap()
        ));
        // ... but a remembered entry past its expiry is never served: the token is checked
        // again from scratch (here still within the leeway, so it passes with its real exp).
        let mut verified = a.verified.lock().unwrap();
        let claims = verified.get_mut(token.as_str()).unwrap();
        Arc::make_mut(claims).exp -= 60;
        drop(verified);
        assert_eq!(a.verify(&token).unwrap().exp, exp);
    }

    #[test]
    fn reserved_claims_cannot_be_overridden() {
        let a = tokens("a-secret-that-is-long-enough-for-hs256!!");
        let extra = serde_json::json!({"role": "admin", "plan": "pro"});
        let token = a
            .issue(&user(), extra.as_object().unwrap().clone())
            .unwrap();
        let claims = a.verify(&token).unwrap();
        assert_eq!(claims.role, "user");
        assert_eq!(claims.extra["plan"], "pro");
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (x, y) = (new_refresh_token(), new_refresh_token());
        assert_ne!(x, y);
        assert_eq!(x.len(), 43);
        assert_eq!(refresh_token_hash(&x).len(), 64);
        assert_ne!(refresh_token_hash(&x), refresh_token_hash(&y));
    }
}
