//! Staging directories (`<cache>/staging/<function>-XXXXXX`), where npm and pip install.
//!
//! A finished install is moved into the dependency cache and its staging dir removed. Two
//! kinds are left behind: the dir of a FAILED install, kept on purpose because the error
//! prints a command to rerun in it (marked by a `.scorekeep-failed` file in it naming the
//! function; npm and pip ignore it), and the dir of a build that was killed. [`clean`] runs at
//! the start of every build, under the project lock, so no running build owns any staging dir
//! then: it removes every unmarked dir (a killed build's), and the kept dirs of the functions
//! being built now (the new attempt supersedes them, and keeps its own dir if it fails too).
//! Kept dirs of other functions stay until those are built again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The staging directory's name under the cache dir.
pub(crate) const DIR: &str = "staging";

const KEPT: &str = ".scorekeep-failed";

/// Mark `dir` as kept for rerunning the failed command of `function`.
pub(crate) fn keep_for_rerun(dir: &Path, function: &str) {
    if let Err(e) = std::fs::write(marker(dir), function) {
        tracing::debug!("marking {} as kept: {e}", dir.display());
    }
}

fn marker(dir: &Path) -> PathBuf {
    dir.join(KEPT)
}

/// Remove what killed builds left, and the kept dirs of `building`; see the module docs.
/// Only call this while holding the project lock.
pub(crate) fn clean(staging: &Path, building: &[&str]) {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return;
    };
    let building: BTreeSet<&str> = building.iter().copied().collect();
    for dir in entries.flatten().map(|e| e.path()) {
        let kept = std::fs::read_to_string(marker(&dir))
            .is_ok_and(|function| !building.contains(function.as_str()));
        if !kept {
            let _ = std::fs::remove_dir_all(&dir);
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

        clean(&staging, &["c"]);
        assert!(!killed.exists());
        assert!(failed_a.is_dir() && failed_b.is_dir());

        clean(&staging, &["a"]);
        assert!(!failed_a.exists());
        assert!(failed_b.is_dir() && marker(&failed_b).exists());
    }
}
