//! The JWT signing secret: configured, or generated once and kept: in the database on
//! PostgreSQL (so every instance on it agrees), in the data folder on SQLite.
//!
//! A generated secret survives restarts (tokens stay valid) and is never a hard-coded default.
//! It is written with owner-only permissions where the OS has them, and never logged.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::model::Secret;

const FILE_NAME: &str = "jwt_secret";

/// The secret kept in `data_dir` (created on first use).
pub fn load_or_create(data_dir: &Path) -> std::io::Result<Secret> {
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => {
            return Ok(Secret::new(secret.trim().to_string()))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = generate();
    std::fs::create_dir_all(data_dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            tracing::info!(file = %path.display(), "generated a JWT secret");
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(data_dir),
        Err(e) => Err(e),
    }
}

/// A new secret: 256 random bits as 64 hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    crate::hex::encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.expose(), second.expose());
        assert_eq!(first.expose().len(), 64);
    }
}
