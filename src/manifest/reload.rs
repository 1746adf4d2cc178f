//! The running hooks configuration, and the watcher that replaces it when the files change.
//!
//! The watcher polls: every interval it hashes hooks.yaml and every script file the running
//! configuration names. Polling a handful of small files costs nothing measurable, works the
//! same on every OS and file system (including editors that save by renaming, and bind mounts
//! in containers), and needs no extra dependency. A valid edit is swapped in whole; an invalid
//! one is logged with its positions and the old configuration keeps serving.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::{ConfigErrors, Manifest};

/// Reads an environment variable; the loader's default source of `${VAR}` values.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What admins see of the hooks configuration (`hooksStatus`).
#[derive(Clone, Debug)]
pub struct HooksStatus {
    /// The hooks file.
    pub path: PathBuf,
    /// When the configuration in force was loaded (microseconds since the epoch).
    pub loaded_at: i64,
    /// SHA-256 (hex) of the files it was loaded from, in order.
    pub hash: String,
    /// Bindings per event.
    pub chains: Vec<(&'static str, usize)>,
    /// The newest refused edit, when it is newer than the configuration in force: when, and
    /// every problem found.
    pub last_error: Option<(i64, ConfigErrors)>,
}

/// When a configuration was loaded, and from what.
#[derive(Debug)]
struct Loaded {
    at: i64,
    hash: String,
}

impl Loaded {
    fn now(config: &Manifest) -> Self {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        for file in &config.files {
            hasher.update(std::fs::read(file).unwrap_or_default());
        }
        let hash = crate::hex::encode(&hasher.finalize());
        Self {
            at: chrono::Utc::now().timestamp_micros(),
            hash,
        }
    }
}

/// The hooks configuration in force, swappable atomically.
#[derive(Debug)]
pub struct ManifestHandle {
    path: PathBuf,
    current: RwLock<Arc<Manifest>>,
    loaded: RwLock<Loaded>,
    last_error: RwLock<Option<(i64, ConfigErrors)>>,
    /// Fingerprint of the files as they were when last loaded (or refused), taken before
    /// reading them, so an edit made during or after a load is never missed.
    seen: std::sync::Mutex<u64>,
}

impl ManifestHandle {
    /// Loads `path`. A missing file is fine when `required` is false (the server starts with
    /// no hooks and picks the file up when it appears); any other problem is an error.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigErrors> {
        let before = fingerprint(&[path.to_path_buf()]);
        let config = if !required && !path.exists() {
            Manifest::empty(path.to_path_buf())
        } else {
            super::load(path, &process_env)?
        };
        let seen = if config.files.len() > 1 {
            fingerprint(&watched_files(&config, path))
        } else {
            before
        };
        Ok(Self {
            path: path.to_path_buf(),
            loaded: RwLock::new(Loaded::now(&config)),
            current: RwLock::new(Arc::new(config)),
            last_error: RwLock::new(None),
            seen: std::sync::Mutex::new(seen),
        })
    }

    /// The configuration in force now. Cheap: one read lock and an `Arc` clone.
    pub fn current(&self) -> Arc<Manifest> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The error of the last refused reload, if the newest edit was refused.
    pub fn last_error(&self) -> Option<ConfigErrors> {
        self.last_error
            .read()
            .map(|e| e.as_ref().map(|(_, errors)| errors.clone()))
            .unwrap_or(None)
    }

    /// Where the configuration in force came from, and the newest refused edit.
    pub fn status(&self) -> HooksStatus {
        let current = self.current();
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        HooksStatus {
            path: self.path.clone(),
            loaded_at: loaded.at,
            hash: loaded.hash.clone(),
            chains: current.chain_sizes().into_iter().collect(),
            last_error: self.last_error.read().map(|e| e.clone()).unwrap_or(None),
        }
    }

    /// Loads the file again; swaps it in when valid, keeps the old one and records the error
    /// when not.
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let before = fingerprint(&self.watched());
        let result = super::load(&self.path, &process_env);
        let mut last_error = self.last_error.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(config) => {
                let sizes = config.chain_sizes();
                // A new configuration may name other script files.
                let seen = fingerprint(&watched_files(&config, &self.path));
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
                *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Loaded::now(&config);
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
                *last_error = None;
                tracing::info!(file = %self.path.display(), bindings = ?sizes, "hooks reloaded");
                Ok(())
            }
            Err(errors) => {
                tracing::error!(file = %self.path.display(), "hooks edit refused; the previous configuration stays in force:\n{errors}");
                *last_error = Some((chrono::Utc::now().timestamp_micros(), errors.clone()));
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = before;
                Err(errors)
            }
        }
    }

    /// The files to watch: the hooks file and the running configuration's script files.
    fn watched(&self) -> Vec<PathBuf> {
        watched_files(&self.current(), &self.path)
    }

    /// Whether the watched files differ from what was last loaded or refused.
    fn changed(&self) -> bool {
        fingerprint(&self.watched()) != *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn watched_files(config: &Manifest, path: &Path) -> Vec<PathBuf> {
    let mut files = config.files.clone();
    if !files.iter().any(|f| f == path) {
        files.push(path.to_path_buf());
    }
    files
}

/// A fingerprint of the watched files' contents (a missing file counts as such).
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(file).ok().hash(&mut hasher);
    }
    hasher.finish()
}

/// Watches the hooks files every `interval` until `shutdown` changes, reloading on change.
pub async fn watch(
    handle: Arc<ManifestHandle>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let handle = handle.clone();
        // File reads and script compilation are blocking work: keep them off the runtime.
        let _ = tokio::task::spawn_blocking(move || {
            if handle.changed() {
                let _ = handle.reload();
            }
        })
        .await;
    }
}
