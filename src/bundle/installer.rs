//! Per-language dependency installers: what the generic build (hash, cache, zip, manifest)
//! asks of npm and pip. The language parts live in [`node`] and [`python`]; a new way of
//! installing (a bundler, an extra layer) is a variant here and a module beside them.

use std::path::PathBuf;

use sha2::Sha256;

use super::dependency_cache::Selection;
use super::files::FileEntry;
use super::manifest::Dependency;
use super::{node, python, BuildError, Job};
use crate::config::Language;
use crate::report::Task;

/// A function's plan with the installer of its language.
pub(super) type Plan = super::plan::Plan<Installer>;

impl Plan {
    /// Check the function's dependency declarations and decide what to install.
    pub(super) fn for_job(job: &Job) -> Result<Plan, BuildError> {
        Ok(match job.config.language() {
            Language::Node => {
                node::plan(job)?.map_installer(|i| i.map_or(Installer::None, Installer::Npm))
            }
            Language::Python => {
                python::plan(job)?.map_installer(|i| i.map_or(Installer::None, Installer::Pip))
            }
        })
    }
}

/// How dependencies get installed.
pub(super) enum Installer {
    None,
    Npm(node::NpmInstall),
    Pip(python::PipInstall),
}

impl Installer {
    /// Which installed files are bundled; `None` when there is nothing to install.
    pub(super) fn selection(&self) -> Option<Selection> {
        match self {
            Installer::None => None,
            Installer::Npm(_) => Some(node::SELECTION),
            Installer::Pip(_) => Some(python::SELECTION),
        }
    }

    /// The wheel platform tags recorded in the manifest.
    pub(super) fn platform_tags(&self) -> Vec<String> {
        match self {
            Installer::Pip(pip) => pip.tags.clone(),
            _ => Vec::new(),
        }
    }

    /// Add what decides the installed files to the dependency cache key.
    pub(super) fn hash_into(&self, job: &Job, hasher: &mut Sha256) -> Result<(), BuildError> {
        match self {
            Installer::None => Ok(()),
            Installer::Npm(npm) => npm.hash_into(job, hasher),
            Installer::Pip(pip) => {
                pip.hash_into(hasher);
                Ok(())
            }
        }
    }

    /// Install into `staging`; returns the directory whose files are bundled.
    pub(super) fn install(
        &self,
        job: &Job,
        task: &Task,
        staging: &mut tempfile::TempDir,
    ) -> Result<PathBuf, BuildError> {
        match self {
            Installer::None => unreachable!("nothing to install"),
            Installer::Npm(npm) => npm.install(job, task, staging),
            Installer::Pip(pip) => pip.install(job, task, staging),
        }
    }

    /// The packages `files` (as selected) hold, for the manifest.
    pub(super) fn dependencies(&self, files: &[FileEntry]) -> Vec<Dependency> {
        match self {
            Installer::None => Vec::new(),
            Installer::Npm(_) => node::installed_packages(files),
            Installer::Pip(_) => python::installed_distributions(files),
        }
    }
}
