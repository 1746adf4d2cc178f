//! Password hashing with argon2id, off the async runtime and bounded in parallel.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: long enough for any passphrase, short enough that hashing a
/// hostile input costs nothing extra.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against the policy; the message says what to change.
pub fn check_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Hashes and verifies passwords. Each hash takes ~19 MiB and tens of milliseconds of CPU
/// (argon2's recommended parameters), so hashing runs on blocking threads, at most a few at a
/// time: a burst of logins queues instead of exhausting memory or starving requests.
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that a failed login takes as long
    /// whether or not the account exists.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher running at most `parallel` hashes at once.
    pub fn new(parallel: usize) -> Result<Self, String> {
        let dummy_hash = hash_now("hookql timing equaliser")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let password = password.to_string();
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `hash`; with no hash, does the same work and says no.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, String> {
        let (password, known, hash) = match hash {
            Some(hash) => (password.to_string(), true, hash.to_string()),
            None => (password.to_string(), false, self.dummy_hash.to_string()),
        };
        let matched = self
            .run(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matched)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| "the password hasher is shut down".to_string())?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| format!("password hashing failed: {e}"))
    }
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash a password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let passwords = Passwords::new(2).unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords
            .verify("correct horse", Some(&hash))
            .await
            .unwrap());
        assert!(!passwords.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!passwords
            .verify("hookql timing equaliser", None)
            .await
            .unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").unwrap_err().contains("at least 8"));
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy("ééééééée").is_ok());
        assert!(check_policy(&"x".repeat(2000)).is_err());
    }
}
