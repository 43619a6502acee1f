//! Python functions: the hashed lock in `requirements.txt` ([`requirements`]), installed with
//! pip for the Lambda runtime's Python version and architecture (binary wheels only), not the
//! build machine's ([`pip`]). This file is the installer the build asks: the plan, the install
//! and what got installed.

mod pip;
mod requirements;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub(crate) use pip::{
    explain_pip_failure, pip_install, platform_tags, python_program, real_executable,
};
use requirements::{check_locked, filter, RequirementsError};
pub(crate) use requirements::{normalize, parse, Line, REQUIREMENTS};

use super::dependency_cache::Selection;
use super::files::FileEntry;
use super::manifest::Dependency;
use super::plan::Plan;
use super::{BuildError, Job};
use crate::report::Task;

/// Name and version of every installed distribution, from `*.dist-info/METADATA`.
pub(crate) fn installed_distributions(files: &[FileEntry]) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = files
        .iter()
        .filter(|f| {
            f.zip_path
                .strip_suffix("/METADATA")
                .is_some_and(|dir| dir.ends_with(".dist-info") && !dir.contains('/'))
        })
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f.disk_path).ok()?;
            metadata_name_version(&text)
        })
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

/// `Name:` and `Version:` from a METADATA header.
pub(crate) fn metadata_name_version(text: &str) -> Option<Dependency> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_string());
        }
    }
    Some(Dependency {
        name: name?,
        version: version?,
    })
}

/// Which installed files are bundled: everything pip put in the target dir that Lambda needs.
pub(super) const SELECTION: Selection = Selection {
    prefix: "",
    skip: super::files::skip_python_dependency,
};

/// `pip install --target` of the filtered lock, binary wheels for the runtime's platform.
pub(super) struct PipInstall {
    requirements: String,
    python_version: String,
    pub(super) tags: Vec<String>,
}

/// Check requirements.txt is a hashed lock and leave out what the runtime provides; pip
/// installs only when something is left.
pub(super) fn plan(job: &Job) -> Result<Plan<Option<PipInstall>>, BuildError> {
    let mut plan = Plan::new("python");
    plan.runtime_provided = job
        .config
        .runtime_provided()
        .iter()
        .map(|n| normalize(n))
        .collect();
    job.check_tracing_manifest(&[REQUIREMENTS])?;
    let path = job.manifest_dir().join(REQUIREMENTS);
    let Some(text) = job.read_optional(&path)? else {
        return Ok(plan);
    };
    let requirements_error = |e: RequirementsError| BuildError::Requirements {
        function: job.function(),
        path: path.clone(),
        line: e.line,
        message: e.message,
    };
    let lines = parse(&text).map_err(requirements_error)?;
    check_locked(&lines).map_err(requirements_error)?;
    let filtered = filter(&lines, &plan.runtime_provided);
    plan.excluded = filtered.excluded;
    if filtered.kept == 0 {
        return Ok(plan);
    }
    let python_version = job.config.python_version().unwrap_or_default().to_string();
    let tags = platform_tags(&python_version, job.config.architecture);
    plan.installer = Some(PipInstall {
        requirements: filtered.text,
        python_version,
        tags,
    });
    Ok(plan)
}

impl PipInstall {
    /// The filtered requirements and the platform they are installed for.
    pub(super) fn hash_into(&self, hasher: &mut Sha256) {
        hasher.update(self.requirements.as_bytes());
        hasher.update(self.python_version.as_bytes());
        hasher.update(self.tags.join(",").as_bytes());
    }

    /// `pip install --target` in `staging`; returns the target dir.
    pub(super) fn install(
        &self,
        job: &Job,
        task: &Task,
        staging: &mut tempfile::TempDir,
    ) -> Result<PathBuf, BuildError> {
        let arch = job.config.architecture;
        let python_version = &self.python_version;
        task.set_message(format!(
            "{}: installing dependencies (pip, Python {python_version} {})",
            job.key,
            arch.as_str()
        ));
        std::fs::write(staging.path().join(REQUIREMENTS), &self.requirements)
            .map_err(job.io("writing the filtered requirements"))?;
        let cmd = pip_install(
            real_executable(&job.settings.python),
            staging.path(),
            python_version,
            &self.tags,
        );
        job.run_install(cmd, "pip install", staging, |stderr| {
            explain_pip_failure(stderr, python_version, arch)
        })?;
        Ok(staging.path().join("target"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_header_gives_name_and_version() {
        let text = "Metadata-Version: 2.1\nName: charset-normalizer\nVersion: 3.5.2\nSummary: x\n\nVersion: body\n";
        assert_eq!(
            metadata_name_version(text),
            Some(Dependency {
                name: "charset-normalizer".into(),
                version: "3.5.2".into()
            })
        );
        assert_eq!(metadata_name_version("Name: x\n"), None);
    }
}
