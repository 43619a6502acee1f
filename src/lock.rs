//! One scorekeep-deploy at a time per project: an advisory file lock on the cache dir, as
//! cargo takes on its target dir.
//!
//! Commands that write the cache or the artifacts (`build`, and `up`, `update-functions`,
//! `plan`, `invoke --local` through the build; `up` and `update-functions` also record what
//! they applied) hold `<cache>/lock` while they run. A second run prints one line saying it
//! is waiting, and blocks until the first is done. The lock is `flock(2)`: the kernel drops
//! it when its holder exits, however it exits, so a killed run never leaves a stale lock.
//! Within one process the lock is re-entrant (`up` holds it and its build thread takes it
//! again).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Problem;
use crate::report::Reporter;

/// The lock file's name in the cache dir.
pub(crate) const LOCK_FILE: &str = "lock";

/// Locks this process holds: the open file (the lock lives as long as it is open) and how
/// many guards share it.
static HELD: Mutex<BTreeMap<PathBuf, (File, usize)>> = Mutex::new(BTreeMap::new());

/// Holding the project lock; released when the last guard of this process drops.
#[derive(Debug)]
pub(crate) struct ProjectLock {
    path: PathBuf,
}

/// The lock file cannot be created or locked.
#[derive(Debug)]
pub(crate) struct LockError {
    path: PathBuf,
    source: std::io::Error,
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot lock {}: {}", self.path.display(), self.source)
    }
}

impl crate::error::Explain for LockError {
    fn hint(&self) -> Option<String> {
        Some("the project's cache dir must be writable; check its permissions and that the disk has space".into())
    }
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

crate::explained!(LockError);

/// How often a waiting run looks at the lock again (and at Ctrl-C).
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Take the lock on `cache_dir`, waiting (and saying so on the progress stream) while
/// another process holds it. Errors: a [`LockError`], or [`Problem::interrupted`] when a signal
/// stops the wait.
pub(crate) fn acquire(cache_dir: &Path, reporter: &Reporter) -> anyhow::Result<ProjectLock> {
    let path = cache_dir.join(LOCK_FILE);
    let error = |source| LockError {
        path: path.clone(),
        source,
    };
    // Held across the wait: another thread of this process asking for the same lock must
    // share it, not wait for it.
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, count)) = held.get_mut(&path) {
        *count += 1;
        return Ok(ProjectLock { path });
    }
    std::fs::create_dir_all(cache_dir).map_err(error)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(error)?;
    if !try_flock(&file).map_err(error)? {
        reporter.line(format!(
            "waiting for another scorekeep-deploy{} to finish in this project (file lock on {})",
            holder(&mut file),
            path.display()
        ));
        // Polled rather than blocking, so Ctrl-C stops the wait promptly.
        while !try_flock(&file).map_err(error)? {
            crate::interrupt::check().map_err(|_| {
                Problem::interrupted(format!(
                    "{} while waiting for the lock on {}; nothing was done",
                    crate::interrupt::interrupted(),
                    path.display()
                ))
            })?;
            std::thread::sleep(POLL);
        }
    }
    // Who holds it, for the next waiter's message; the lock does not depend on it.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    held.insert(path.clone(), (file, 1));
    Ok(ProjectLock { path })
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                // Closing the file releases the lock.
                held.remove(&self.path);
            }
        }
    }
}

/// ` (pid N)` from the lock file, when the holder wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

/// An exclusive, non-blocking `flock`; `Ok(false)` when someone else holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    let operation = libc::LOCK_EX | libc::LOCK_NB;
    loop {
        // SAFETY: flock on a file descriptor we own and keep open.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Reporter {
        Reporter::new(crate::cli::OutputFormat::Json, true)
    }

    fn locked_elsewhere(path: &Path) -> bool {
        // A second open file description conflicts with ours, as another process's would.
        let other = File::open(path).unwrap();
        let free = try_flock(&other).unwrap();
        !free
    }

    #[test]
    fn the_lock_is_reentrant_and_released_with_its_last_guard() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = acquire(&cache, &quiet()).unwrap();
        let lock_file = cache.join(LOCK_FILE);
        assert!(locked_elsewhere(&lock_file));
        let text = std::fs::read_to_string(&lock_file).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let second = std::thread::scope(|s| s.spawn(|| acquire(&cache, &quiet())).join())
            .unwrap()
            .unwrap();
        drop(first);
        assert!(locked_elsewhere(&lock_file), "released while still held");
        drop(second);
        assert!(!locked_elsewhere(&lock_file));
    }

    #[test]
    fn an_unwritable_cache_dir_is_an_error_naming_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let e = acquire(&file.join("cache"), &quiet())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot lock") && e.contains("not-a-dir/cache/lock"),
            "{e}"
        );
    }
}
