//! Per-job scratch directories that a killed worker cannot leave behind for good.
//!
//! A job's scratch directory (a source copy, a package being written: gigabytes) is removed when
//! the job ends, however it ends — unless the process dies first (SIGKILL, the OOM killer, a
//! power cut), and then nothing removes it. So each scratch directory holds a lock file,
//! `owner.lock`, on which the process that created it holds an exclusive advisory lock
//! (`flock`) for as long as the job runs; the kernel drops the lock when the process dies,
//! however it dies. [`sweep`] removes every scratch directory of the given prefixes whose lock
//! it can take: nobody owns it any more. It runs when a worker starts and then at most every
//! [`SWEEP_EVERY`] before a new scratch directory is made, and it is safe with several workers
//! (processes or containers on one host) sharing the directory: a live job's lock is never free.
//!
//! A directory younger than [`MIN_AGE`] is never touched (its creator may not have taken its
//! lock yet); one without a lock file (left by a version before this one) only after
//! [`UNLOCKED_MAX_AGE`].

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The lock file inside each scratch directory.
pub const LOCK_FILE: &str = "owner.lock";
/// Directories younger than this are left alone.
pub const MIN_AGE: Duration = Duration::from_secs(60);
/// Directories without a lock file are removed only after this long.
pub const UNLOCKED_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How often scratch directories are swept at most.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// A job's scratch directory: removed when dropped, and locked as its owner's while it exists.
#[derive(Debug)]
pub struct ScratchDir {
    // Dropped in this order: the lock is released only once the directory is gone.
    dir: tempfile::TempDir,
    _lock: File,
}

impl ScratchDir {
    /// Creates `parent` if needed and a fresh `prefix…` directory in it, locked as ours.
    pub fn create(parent: &Path, prefix: &str) -> io::Result<Self> {
        fs::create_dir_all(parent)?;
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        let lock = File::create(dir.path().join(LOCK_FILE))?;
        lock.lock()?;
        Ok(Self { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the scratch directories in `parent` named with one of `prefixes` whose owner is gone;
/// returns how many. A missing `parent` has nothing to sweep.
pub fn sweep(parent: &Path, prefixes: &[&str]) -> io::Result<usize> {
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|prefix| name.starts_with(prefix)) || !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        match abandoned(&path) {
            Ok(true) => match fs::remove_dir_all(&path) {
                Ok(()) => {
                    removed += 1;
                    tracing::info!(path = %path.display(), "removed the scratch directory of a job whose process died");
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot remove an abandoned scratch directory");
                }
            },
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot tell whether a scratch directory is in use");
            }
        }
    }
    Ok(removed)
}

/// Whether nobody owns the scratch directory at `path` (see the module documentation).
fn abandoned(path: &Path) -> io::Result<bool> {
    let age = fs::metadata(path)?.modified()?.elapsed().unwrap_or(Duration::ZERO);
    if age < MIN_AGE {
        return Ok(false);
    }
    let lock = match File::open(path.join(LOCK_FILE)) {
        Ok(lock) => lock,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(age >= UNLOCKED_MAX_AGE),
        Err(error) => return Err(error),
    };
    match lock.try_lock() {
        // Ours now, so its owner is gone; the lock goes with the file when it is removed.
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(error)) => Err(error),
    }
}

/// Sweeps one scratch parent at most every [`SWEEP_EVERY`] (and at once the first time): held by
/// the component that makes scratch directories there.
#[derive(Debug, Clone)]
pub struct Sweeper {
    parent: PathBuf,
    prefixes: &'static [&'static str],
    last: Arc<Mutex<Option<Instant>>>,
}

impl Sweeper {
    pub fn new(parent: PathBuf, prefixes: &'static [&'static str]) -> Self {
        Self { parent, prefixes, last: Arc::new(Mutex::new(None)) }
    }

    /// Sweeps now unless a sweep ran within [`SWEEP_EVERY`]. Blocking (file system calls).
    pub fn sweep_if_due(&self) {
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(error) = sweep(&self.parent, self.prefixes) {
            tracing::warn!(parent = %self.parent.display(), %error, "cannot sweep scratch directories");
        }
    }
}

/// `path`'s modification time set `age` into the past (for tests of the sweep).
#[cfg(test)]
fn age_by(path: &Path, age: Duration) {
    let when = std::time::SystemTime::now() - age;
    File::open(path).and_then(|file| file.set_modified(when)).expect("set the modification time");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_whose_owner_is_gone_are_swept() {
        let parent = tempfile::tempdir().expect("temp dir");
        let live = ScratchDir::create(parent.path(), "transcode-").expect("scratch");
        // A dead owner: the lock file exists, and nobody holds its lock.
        let dead = parent.path().join("transcode-dead");
        fs::create_dir(&dead).expect("dir");
        File::create(dead.join(LOCK_FILE)).expect("lock file");
        let young = parent.path().join("transcode-young");
        fs::create_dir(&young).expect("dir");
        File::create(young.join(LOCK_FILE)).expect("lock file");
        let legacy = parent.path().join("probe-legacy");
        fs::create_dir(&legacy).expect("dir");
        let other = parent.path().join("something-else");
        fs::create_dir(&other).expect("dir");
        for path in [live.path(), &dead, &legacy, &other] {
            age_by(path, Duration::from_secs(3600));
        }
        assert_eq!(sweep(parent.path(), &["transcode-", "probe-"]).expect("sweep"), 1);
        assert!(live.path().exists(), "a live job's directory stays");
        assert!(!dead.exists(), "an abandoned one goes");
        assert!(young.exists(), "a young one stays (its lock may not be taken yet)");
        assert!(legacy.exists(), "one without a lock file stays for a day");
        assert!(other.exists(), "other names are not ours");
        age_by(&legacy, UNLOCKED_MAX_AGE + Duration::from_secs(60));
        assert_eq!(sweep(parent.path(), &["probe-"]).expect("sweep"), 1);
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "removed when the job ends");
    }

    #[test]
    fn a_lock_held_by_another_process_keeps_the_directory() {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("transcode-other");
        fs::create_dir(&dir).expect("dir");
        File::create(dir.join(LOCK_FILE)).expect("lock file");
        // `flock` in a child process stands for another worker's live job (`-o`: the lock stays
        // with flock itself, not with the command it runs, so killing it frees the lock).
        let mut child = std::process::Command::new("flock")
            .arg("-o")
            .arg(dir.join(LOCK_FILE))
            .args(["sleep", "30"])
            .spawn()
            .expect("flock(1) runs");
        std::thread::sleep(Duration::from_millis(300));
        age_by(&dir, Duration::from_secs(3600));
        assert_eq!(sweep(parent.path(), &["transcode-"]).expect("sweep"), 0);
        assert!(dir.exists());
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert_eq!(sweep(parent.path(), &["transcode-"]).expect("sweep"), 1, "its owner was killed");
    }
}
