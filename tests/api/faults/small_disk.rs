//! A size-limited data directory: a tmpfs the test mounts itself, which it can fill to the
//! last byte and free again. Mounting needs root (CI runs as root); elsewhere the tests that
//! need one say so and pass without running.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// A tmpfs mounted on a fresh directory; unmounted and removed when dropped.
pub struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts `megabytes` of tmpfs, or says why it cannot (`None`).
    pub fn mount(megabytes: u32) -> Option<Self> {
        let path = tempfile::tempdir().expect("temp dir").keep();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .output();
        let why = match mounted {
            Ok(output) if output.status.success() => return Some(Self { path }),
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        eprintln!("SKIPPED: a size-limited data directory needs `mount -t tmpfs` (root): {why}");
        let _ = std::fs::remove_dir(&path);
        None
    }

    /// A fresh directory on the small disk, for a server's data.
    pub fn data_dir(&self) -> tempfile::TempDir {
        tempfile::tempdir_in(&self.path).expect("a directory on the small disk")
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Fills the disk, leaving about `left` bytes free.
    pub fn fill_leaving(&self, left: u64) {
        let mut file = std::fs::File::create(self.filler()).expect("filler");
        let chunk = vec![1u8; 64 * 1024];
        let mut written: u64 = 0;
        while file.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        file.set_len(written.saturating_sub(left))
            .expect("shrink the filler");
    }

    /// Gives back what [`Self::fill_leaving`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the server's files may still be closing.
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
