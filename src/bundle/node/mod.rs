//! Node.js functions: production dependencies from the committed lockfile (checked first, in
//! [`lockfile`]), via `npm ci` for Lambda's platform. This file is the installer the build
//! asks: the plan, the npm command, the install and what got installed.

mod lockfile;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) use lockfile::{check_integrity, check_lockfile, direct_dependencies};
use lockfile::{has_dependencies, registry_hosts, LockProblem, LOCKFILES};

use super::dependency_cache::Selection;
use super::files::FileEntry;
use super::manifest::Dependency;
use super::plan::Plan;
use super::tool_run::Cmd;
use super::{name_some, BuildError, Job};
use crate::config::Architecture;
use crate::report::Task;

/// Files copied into the clean staging directory `npm ci` runs in.
pub(crate) const INSTALL_INPUTS: &[&str] = &[
    "package.json",
    "npm-shrinkwrap.json",
    "package-lock.json",
    ".npmrc",
];

/// npm's name for a Lambda architecture (`--cpu`).
pub(crate) fn npm_cpu(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "x64",
        Architecture::Arm64 => "arm64",
    }
}

/// `npm ci` for production dependencies only, from the lockfile, no lifecycle scripts, using a
/// warm cache when there is one, choosing optional platform packages for Lambda (linux, glibc,
/// the function's architecture), with no `.bin` links, audit or funding calls.
pub(crate) fn npm_ci(staging: &Path, arch: Architecture) -> Cmd {
    let npm = std::env::var_os("SCOREKEEP_NPM").unwrap_or_else(|| "npm".into());
    Cmd::new(npm, staging)
        .args([
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--no-bin-links",
            "--os=linux",
            "--libc=glibc",
        ])
        .arg(format!("--cpu={}", npm_cpu(arch)))
        .args(["--loglevel=warn", "--update-notifier=false"])
        .env("NODE_ENV", "production")
}

/// Whether npm's stderr says the lockfile does not match package.json.
pub(crate) fn is_out_of_sync(stderr: &str) -> bool {
    stderr.contains("are in sync")
        || (stderr.contains("Missing: ") && stderr.contains("from lock file"))
}

/// Name and version of every installed package, from the `package.json` at each package root
/// under `node_modules` (nested installs included), sorted and de-duplicated.
pub(crate) fn installed_packages(files: &[FileEntry]) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = files
        .iter()
        .filter(|f| is_package_root_manifest(&f.zip_path))
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f.disk_path).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            Some(Dependency {
                name: v.get("name")?.as_str()?.to_string(),
                version: v.get("version")?.as_str()?.to_string(),
            })
        })
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

/// `node_modules/x/package.json`, `node_modules/@s/x/package.json`,
/// `node_modules/a/node_modules/b/package.json`; not files deeper inside a package.
pub(crate) fn is_package_root_manifest(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let Some((&"package.json", dirs)) = parts.split_last() else {
        return false;
    };
    let mut i = 0;
    while i < dirs.len() {
        if dirs[i] != "node_modules" || i + 1 >= dirs.len() {
            return false;
        }
        i += 1;
        if dirs[i].starts_with('@') {
            i += 1;
            if i >= dirs.len() {
                return false;
            }
        }
        i += 1;
    }
    !dirs.is_empty()
}

/// Which installed files are bundled: everything under `node_modules/` that Lambda needs.
pub(super) const SELECTION: Selection = Selection {
    prefix: "node_modules/",
    skip: super::files::skip_node_dependency,
};

/// `npm ci` from the install inputs present in the source dir (package.json, lockfile,
/// .npmrc).
pub(super) struct NpmInstall {
    inputs: Vec<PathBuf>,
}

/// Check package.json and its lockfile; npm installs only when there are dependencies.
pub(super) fn plan(job: &Job) -> Result<Plan<Option<NpmInstall>>, BuildError> {
    let mut plan = Plan::new("node");
    job.check_tracing_manifest(&["package.json"])?;
    let package_json = job.manifest_dir().join("package.json");
    let Some(text) = job.read_optional(&package_json)? else {
        return Ok(plan);
    };
    let invalid = |detail: String| BuildError::InvalidPackageJson {
        function: job.function(),
        path: package_json.clone(),
        detail,
    };
    let has_deps = has_dependencies(&text).map_err(|p| match p {
        LockProblem::Invalid(d) => invalid(d),
        other => invalid(format!("{other:?}")),
    })?;
    if !has_deps {
        return Ok(plan);
    }
    check_lock(job, &text)?;
    plan.direct_dependencies = direct_dependencies(&text);
    let inputs: Vec<PathBuf> = INSTALL_INPUTS
        .iter()
        .map(|name| job.manifest_dir().join(name))
        .filter(|p| p.is_file())
        .collect();
    // .npmrc is not bundled (a dot-file) but changes what npm installs.
    let npmrc = job.manifest_dir().join(".npmrc");
    if npmrc.is_file() {
        plan.extra_inputs.push((".npmrc".into(), npmrc));
    }
    plan.installer = Some(NpmInstall { inputs });
    Ok(plan)
}

/// The lockfile exists, matches package.json, and pins verified packages from the registry.
fn check_lock(job: &Job, package_json: &str) -> Result<(), BuildError> {
    let lockfile = LOCKFILES
        .iter()
        .map(|name| job.manifest_dir().join(name))
        .find(|p| p.is_file());
    let lock_text = match &lockfile {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(job.io(format!("reading {}", p.display())))?)
        }
        None => None,
    };
    let lock_path = lockfile.unwrap_or_else(|| job.manifest_dir().join("package-lock.json"));
    check_lockfile(package_json, lock_text.as_deref())
        .map_err(|p| lock_error(job, p, &lock_path))?;
    if let Some(lock_text) = &lock_text {
        check_integrity(lock_text, &job_registry_hosts(job))
            .map_err(|p| lock_error(job, p, &lock_path))?;
    }
    Ok(())
}

/// Where npm may fetch packages from; see [`registry_hosts`].
fn job_registry_hosts(job: &Job) -> Vec<String> {
    let npmrc = std::fs::read_to_string(job.manifest_dir().join(".npmrc")).ok();
    let env = ["npm_config_registry", "NPM_CONFIG_REGISTRY"]
        .iter()
        .find_map(|k| std::env::var(k).ok());
    registry_hosts(npmrc.as_deref(), env.as_deref())
}

fn lock_error(job: &Job, problem: LockProblem, lockfile: &Path) -> BuildError {
    let function = job.function();
    let dir = job.manifest_dir();
    let lockfile_name = lockfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lockfile = lockfile.to_path_buf();
    match problem {
        LockProblem::Missing => BuildError::LockfileMissing { function, dir },
        LockProblem::OutOfDate(detail) => BuildError::LockfileOutOfDate {
            function,
            dir,
            lockfile,
            lockfile_name,
            detail,
        },
        LockProblem::Invalid(detail) => BuildError::InvalidPackageJson {
            function,
            path: lockfile,
            detail,
        },
        LockProblem::NoIntegrity(packages) => BuildError::LockfileUnverified {
            function,
            dir,
            lockfile,
            packages: format!("{} package(s): {}", packages.len(), name_some(&packages, 5)),
        },
        LockProblem::Source {
            package,
            url,
            reason,
        } => BuildError::LockfileSource {
            function,
            dir,
            lockfile,
            detail: format!("{package} would be fetched from {url}: {reason}"),
        },
    }
}

impl NpmInstall {
    /// The install inputs, by name and content.
    pub(super) fn hash_into(&self, job: &Job, hasher: &mut Sha256) -> Result<(), BuildError> {
        for input in &self.inputs {
            hasher.update(input.file_name().unwrap_or_default().as_encoded_bytes());
            hasher.update(job.hash_file(input)?);
        }
        Ok(())
    }

    /// `npm ci` in `staging`; returns its `node_modules`.
    pub(super) fn install(
        &self,
        job: &Job,
        task: &Task,
        staging: &mut tempfile::TempDir,
    ) -> Result<PathBuf, BuildError> {
        task.set_message(format!("{}: installing dependencies (npm ci)", job.key));
        for input in &self.inputs {
            let name = input.file_name().expect("a file path");
            std::fs::copy(input, staging.path().join(name))
                .map_err(job.io(format!("copying {} to staging", input.display())))?;
        }
        let cmd = npm_ci(staging.path(), job.config.architecture);
        job.run_install(cmd, "npm ci", staging, |stderr| {
            if is_out_of_sync(stderr) {
                (
                    "package-lock.json is out of date with package.json".into(),
                    format!(
                        "run `npm install` in {} and commit package-lock.json",
                        job.manifest_dir().display()
                    ),
                )
            } else {
                (
                    "npm could not install the locked dependencies".into(),
                    "fix the cause shown above (registry access, a package missing from the registry, ...); the command below reproduces it".into(),
                )
            }
        })?;
        Ok(staging.path().join("node_modules"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_roots_are_recognized() {
        for yes in [
            "node_modules/chance/package.json",
            "node_modules/@aws-sdk/core/package.json",
            "node_modules/a/node_modules/b/package.json",
            "node_modules/a/node_modules/@s/b/package.json",
        ] {
            assert!(is_package_root_manifest(yes), "{yes}");
        }
        for no in [
            "package.json",
            "node_modules/package.json",
            "node_modules/@aws-sdk/package.json",
            "node_modules/@aws-sdk/core/dist-cjs/package.json",
            "node_modules/a/lib/package.json",
        ] {
            assert!(!is_package_root_manifest(no), "{no}");
        }
    }

    #[test]
    fn npm_command_targets_lambda() {
        let line = npm_ci(Path::new("/s"), Architecture::Arm64).display();
        for flag in [
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--prefer-offline",
            "--cpu=arm64",
            "--os=linux",
        ] {
            assert!(line.contains(flag), "{line}");
        }
        assert!(line.starts_with("cd /s && NODE_ENV=production "), "{line}");
    }

    #[test]
    fn npm_sync_message_is_recognized() {
        assert!(is_out_of_sync("npm error `npm ci` can only install packages when your package.json and package-lock.json or npm-shrinkwrap.json are in sync."));
        assert!(!is_out_of_sync("npm error 404 Not Found"));
    }
}
