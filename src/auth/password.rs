//! Password hashing with argon2id, off the async runtime and bounded in parallel.

use std::sync::{mpsc, Arc, Mutex};

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
/// (argon2's recommended parameters), so hashing runs on a few dedicated threads, each with
/// one reused 19 MiB work area: a burst of logins queues instead of starving requests, and
/// memory stays at threads × 19 MiB. (Measured: with tokio's blocking pool and a fresh buffer
/// per hash, the allocator kept several 19 MiB areas per thread: 555 MiB RSS after a login
/// benchmark; with dedicated threads but fresh buffers, still 230 MiB.)
#[derive(Clone, Debug)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
}

/// Verified against when the email is unknown, so that a failed login takes as long whether
/// or not the account exists: the hash of a random password nobody kept, with the same
/// parameters as every new hash. (A constant rather than one hashed at start, which would pin
/// a 19 MiB work area before the first sign-in.)
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$5f7KjK+fr0jeD9HzQ0pisw$+LPUPz4eCPJIhe8PiylJAIdzTS51iBPFqLUXlaEBJ4I";

type Job = Box<dyn FnOnce() + Send>;

/// Why a password could not be hashed or checked. Never the caller's fault: an operation
/// that meets one fails as `INTERNAL`.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// A hashing thread could not be started (at start-up).
    #[error("cannot start a password-hashing thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The hashing threads are gone (the server is stopping).
    #[error("the password hasher has stopped")]
    Stopped,
    /// A hashing job ended without an answer (it panicked).
    #[error("password hashing failed")]
    Lost,
    /// argon2 refused its input or parameters.
    #[error("cannot hash a password: {0}")]
    Hash(String),
}

impl Passwords {
    /// A hasher with `threads` worker threads.
    pub fn new(threads: usize) -> Result<Self, PasswordError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("hookql-argon2-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take a worker with it.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return, // every sender is gone: the server stopped
                    }
                })
                .map_err(PasswordError::Thread)?;
        }
        Ok(Self { jobs })
    }

    /// The argon2id PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_string();
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `hash`; with no hash, does the same work and says no.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let (password, known, hash) = match hash {
            Some(hash) => (password.to_string(), true, hash.to_string()),
            None => (password.to_string(), false, DUMMY_HASH.to_string()),
        };
        let matched = self
            .run(move || verify_now(&password, &hash).unwrap_or(false))
            .await?;
        Ok(known && matched)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| PasswordError::Stopped)?;
        result.await.map_err(|_| PasswordError::Lost)
    }
}

thread_local! {
    /// This thread's argon2 work area, kept between hashes (see [`Passwords`]).
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with `params` into `out`, in this thread's reused work area.
fn argon2_into(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    WORK_AREA.with(|area| {
        let mut area = area.borrow_mut();
        let blocks = params.block_count();
        if area.len() < blocks {
            area.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut area[..blocks])
    })
}

/// The argon2id PHC string of `password` with a new random salt.
fn hash_now(password: &str) -> Result<String, PasswordError> {
    let fail = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| fail(&e))?;
    let params = Params::default();
    let mut out = [0u8; 32];
    argon2_into(&params, password.as_bytes(), salt_bytes, &mut out).map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the argon2id PHC string `hash` (constant-time comparison).
fn verify_now(password: &str, hash: &str) -> Option<bool> {
    let parsed = PasswordHash::new(hash).ok()?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return None;
    }
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt_buf = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&params, password.as_bytes(), salt, &mut out).ok()?;
    Some(Output::new(&out).ok()? == expected)
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
        assert!(!passwords.verify("correct horse", None).await.unwrap());
        // The dummy is a well-formed hash with today's parameters, so it costs the same.
        assert_eq!(DUMMY_HASH.len(), hash.len());
        assert_eq!(DUMMY_HASH[..31], hash[..31]);
        assert_eq!(verify_now("anything", DUMMY_HASH), Some(false));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").unwrap_err().contains("at least 8"));
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy("ééééééée").is_ok());
        assert!(check_policy(&"x".repeat(2000)).is_err());
    }
}
