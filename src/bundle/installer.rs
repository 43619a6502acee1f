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

/// What the build will install, and what of that decides the inputs hash.
pub(super) struct Plan {
    pub(super) installer: Installer,
    /// The language's name in the inputs hash.
    pub(super) language: &'static str,
    /// Packages the runtime provides (normalized names), part of the inputs hash.
    pub(super) runtime_provided: Vec<String>,
    /// Files that are not bundled but change what gets installed, by name (e.g. `.npmrc`).
    pub(super) extra_inputs: Vec<(String, PathBuf)>,
    /// Requirements left out because the runtime provides them (for the manifest).
    pub(super) excluded: Vec<String>,
    /// Node: the packages package.json names in `dependencies` and `optionalDependencies`
    /// (what the function's own code may `require`), sorted.
    pub(super) direct_dependencies: Vec<String>,
}

impl Plan {
    /// Check the function's dependency declarations and decide what to install.
    pub(super) fn for_job(job: &Job) -> Result<Plan, BuildError> {
        match job.config.language() {
            Language::Node => node::plan(job),
            Language::Python => python::plan(job),
        }
    }

    /// Nothing to install (yet): the language's plan fills in the rest.
    pub(super) fn new(language: &'static str) -> Plan {
        Plan {
            installer: Installer::None,
            language,
            runtime_provided: Vec::new(),
            extra_inputs: Vec::new(),
            excluded: Vec::new(),
            direct_dependencies: Vec::new(),
        }
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
