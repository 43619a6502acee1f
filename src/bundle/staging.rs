//! Staging directories (`<cache>/staging/<function>-XXXXXX`), where npm and pip install.
//!
//! A finished install is moved into the dependency cache and its staging dir removed. Two
//! kinds are left behind: the dir of a FAILED install, kept on purpose because the error
//! prints a command to rerun in it (marked by a `<dir>.failed` file naming the function), and
//! the dir of a build that was killed. [`clean`] runs at the start of every build, under the
//! project lock, so no running build owns any staging dir then: it removes every unmarked dir
//! (a killed build's), and the kept dirs of the functions being built now (the new attempt
//! supersedes them, and fails with a new dir to rerun in if it fails again). Kept dirs of other
//! functions stay until those are built again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The staging directory's name under the cache dir.
pub(crate) const DIR: &str = "staging";

const KEPT: &str = "failed";

/// Mark `dir` as kept for rerunning the failed command of `function`.
pub(crate) fn keep_for_rerun(dir: &Path, function: &str) {
    if let Err(e) = std::fs::write(marker(dir), function) {
        tracing::debug!("marking {} as kept: {e}", dir.display());
    }
}

fn marker(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".{KEPT}"));
    PathBuf::from(name)
}

/// Remove what killed builds left, and the kept dirs of `building`; see the module docs.
/// Only call this while holding the project lock.
pub(crate) fn clean(staging: &Path, building: &[&str]) {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return;
    };
    let building: BTreeSet<&str> = building.iter().copied().collect();
    for path in entries.flatten().map(|e| e.path()) {
        let is_marker = path.extension().is_some_and(|e| e == KEPT);
        let (dir, marker) = if is_marker {
            (path.with_extension(""), path.clone())
        } else {
            (path.clone(), marker(&path))
        };
        let kept_for = std::fs::read_to_string(&marker).ok();
        let keep = dir.is_dir() && kept_for.is_some_and(|f| !building.contains(f.as_str()));
        if !keep {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&marker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_builds_dirs_go_and_failed_ones_stay_until_rebuilt() {
        let root = tempfile::tempdir().unwrap();
        let staging = root.path().join(DIR);
        let make = |name: &str| {
            let dir = staging.join(name);
            std::fs::create_dir_all(dir.join("node_modules")).unwrap();
            dir
        };
        let killed = make("a-111111");
        let failed_a = make("a-222222");
        let failed_b = make("a-b-333333");
        keep_for_rerun(&failed_a, "a");
        keep_for_rerun(&failed_b, "a-b");
        std::fs::write(staging.join("a-444444.failed"), "a").unwrap(); // its dir is gone

        clean(&staging, &["c"]);
        assert!(!killed.exists());
        assert!(failed_a.is_dir() && failed_b.is_dir());
        assert!(!staging.join("a-444444.failed").exists());

        clean(&staging, &["a"]);
        assert!(!failed_a.exists() && !marker(&failed_a).exists());
        assert!(failed_b.is_dir() && marker(&failed_b).exists());
    }
}
