//! A function's installed dependencies: taken from a verified [`dependency_cache`] entry,
//! else installed by npm or pip in a clean staging directory and then moved into the cache.
//! The cache key (the entry's path) holds everything that decides what gets installed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dependency_cache::{self, Selection};
use super::files::{self, FileEntry};
use super::installer::Installer;
use super::job::{Installed, Job};
use super::{staging, BuildError, TOOL_VERSION};
use crate::report::Task;

impl Job<'_> {
    /// The dependency files to bundle: from a verified cache entry, else installed now in a
    /// clean staging directory and then moved into the cache.
    pub(super) fn install_dependencies(
        &self,
        task: &Task,
        installer: &Installer,
    ) -> Result<Installed, BuildError> {
        let Some(selection) = installer.selection() else {
            return Ok(Installed::default());
        };
        let entry = self.dependency_cache_entry(installer)?;
        let (files, staging) = match self.cached_dependencies(task, &entry, selection) {
            Some(files) => (files, None),
            None => {
                let (files, staging) = self.fresh_install(task, installer, &entry, selection)?;
                (files, Some(staging))
            }
        };
        Ok(Installed {
            dependencies: installer.dependencies(&files),
            files,
            platform_tags: installer.platform_tags(),
            _staging: staging,
        })
    }

    /// The cache entry's files when it is there and verified (never with `--force`). A
    /// damaged entry is said so on the progress stream and discarded.
    pub(super) fn cached_dependencies(
        &self,
        task: &Task,
        entry: &Path,
        selection: Selection,
    ) -> Option<Vec<FileEntry>> {
        if self.force {
            return None;
        }
        match dependency_cache::lookup(entry, selection) {
            dependency_cache::Lookup::Missing => None,
            dependency_cache::Lookup::Verified(files) => {
                task.set_message(format!("{}: reusing installed dependencies", self.key));
                // What killed builds left beside it (we hold the project lock).
                if let Some(parent) = entry.parent() {
                    dependency_cache::remove_others(parent, entry);
                }
                Some(files)
            }
            dependency_cache::Lookup::Damaged(why) => {
                task.println(format!(
                    "{}: cached dependencies failed verification ({why}); discarding {} and reinstalling",
                    self.key,
                    entry.display()
                ));
                if let Err(e) = dependency_cache::discard(entry) {
                    // The fresh install replaces it anyway; it is never read unverified.
                    tracing::debug!("discarding {}: {e}", entry.display());
                }
                None
            }
        }
    }

    /// Run npm or pip in a new staging dir, record what it installed and move that into the
    /// cache as `entry`; the files come back at their new place.
    pub(super) fn fresh_install(
        &self,
        task: &Task,
        installer: &Installer,
        entry: &Path,
        selection: Selection,
    ) -> Result<(Vec<FileEntry>, tempfile::TempDir), BuildError> {
        let mut staging = self.staging_dir()?;
        let installed = installer.install(self, task, &mut staging)?;
        // Nothing installed (e.g. only other platforms' optional packages) is cached too.
        std::fs::create_dir_all(&installed)
            .map_err(self.io(format!("creating {}", installed.display())))?;
        let files = files::collect(&installed, selection.prefix, &selection.skip)
            .map_err(|e| self.collect_error(e))?;
        let record = dependency_cache::record(&files)
            .map_err(self.io(format!("reading {}", installed.display())))?;
        let tree = dependency_cache::commit(&installed, entry, &record);
        let files = files
            .into_iter()
            .map(|mut f| {
                if let Ok(rel) = f.disk_path.strip_prefix(&installed) {
                    f.disk_path = tree.join(rel);
                }
                f
            })
            .collect();
        Ok((files, staging))
    }

    /// A new staging dir, `<cache>/staging/<function>-XXXXXX`: beside the dependency cache so
    /// what is installed there can be renamed into it (a rename cannot cross file systems).
    pub(super) fn staging_dir(&self) -> Result<tempfile::TempDir, BuildError> {
        let parent = self.cache_dir().join(staging::DIR);
        std::fs::create_dir_all(&parent)
            .map_err(self.io(format!("creating {}", parent.display())))?;
        tempfile::Builder::new()
            .prefix(&format!("{}-", self.key))
            .tempdir_in(&parent)
            .map_err(self.io("creating a staging directory"))
    }

    /// Where this function's installed dependencies are cached, keyed by everything that
    /// decides them (and the cache's format, so entries of older layouts are never read).
    pub(super) fn dependency_cache_entry(
        &self,
        installer: &Installer,
    ) -> Result<PathBuf, BuildError> {
        let mut hasher = Sha256::new();
        hasher.update(b"deps-v2");
        hasher.update(TOOL_VERSION.as_bytes());
        hasher.update(self.config.runtime.as_bytes());
        hasher.update(self.config.architecture.as_str().as_bytes());
        installer.hash_into(self, &mut hasher)?;
        let digest = hex::encode(hasher.finalize());
        Ok(self
            .cache_dir()
            .join("deps")
            .join(self.key)
            .join(&digest[..16]))
    }
}
