//! Function bundles: deterministic, cached, cross-target zips with manifests.
//!
//! For each function, `build` takes the function's own sources (see
//! [`skip_source`] for what is left out), installs its dependencies in a clean
//! staging directory for the Lambda runtime and architecture (Node.js: `npm ci` from the
//! committed lockfile; Python: `pip install --target` from the hashed lock, binary wheels for
//! the runtime's Python and manylinux platform), shapes the result for cold starts
//! ([`packaging`]: one esbuild file for Node, bytecode for Python), and writes
//! `<artifact_dir>/<function>.zip` and `<artifact_dir>/<function>.json` (the [`Manifest`]).
//!
//! The zip is byte-for-byte reproducible (sorted entries, one timestamp from
//! `SOURCE_DATE_EPOCH` or 1980-01-01, normalized permissions, fixed compression), so
//! "unchanged" is a hash comparison. When the inputs hash (sources, lockfile, runtime,
//! architecture, runtime-provided list, tool version, `SOURCE_DATE_EPOCH`) matches the last
//! manifest and the zip on disk still has the manifest's SHA-256, the artifact is reused
//! without running npm or pip. Installed dependencies are cached too, per function, in
//! entries that are verified before each use ([`dependency_cache`]); builds in one project take
//! turns ([`crate::lock`]), and each starts by removing what killed builds left in staging
//! ([`staging`]).
//!
//! Where things are: this file has the error type, the build of all functions (in parallel)
//! and the two steps of one function's build that end it early (a failed or interrupted
//! install, the final packaging and writing); [`job`] the other steps of one function's
//! build, [`dependencies`] getting its dependencies installed, [`settings`] the environment.
//!
//! Environment: `SOURCE_DATE_EPOCH` (zip timestamps), `SCOREKEEP_PYTHON` (interpreter whose
//! pip installs Python dependencies, default `python3`), `SCOREKEEP_NPM` (default `npm`),
//! `SCOREKEEP_MAX_UNZIPPED_BYTES` and `SCOREKEEP_MAX_DIRECT_UPLOAD_BYTES` (the Lambda limits,
//! overridable for tests).

pub(crate) mod archive;
mod bytecode;
mod cache;
mod dependencies;
mod dependency_cache;
mod esbuild;
mod files;
mod installer;
mod job;
pub(crate) mod limits;
pub(crate) mod manifest;
mod node;
mod packaging;
mod plan;
pub(crate) mod prebuilt;
pub(crate) mod python;
mod settings;
mod staging;
pub(crate) mod tool_run;
pub(crate) mod tracing_sdk;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub(crate) use manifest::{Manifest, MAX_DIRECT_UPLOAD_BYTES, MAX_UNZIPPED_BYTES};
pub(crate) use settings::BuildSettings;

use crate::config::Project;
use crate::report::{human_bytes, Reporter, Task};
use job::{ArtifactPaths, BundleContents, Installed, Job};
use tool_run::{Cmd, RunError};

/// The version recorded in manifests and mixed into the inputs hash.
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Default)]
pub(crate) struct BuildOptions {
    /// Rebuild even when the inputs hash matches the last build.
    pub(crate) force: bool,
    /// `--artifacts DIR`: deploy the bundles built there instead of building (`prebuilt.rs`).
    pub(crate) prebuilt: Option<PathBuf>,
}

/// A built (or reused) function bundle.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Artifact {
    /// The function's key in the project config.
    pub(crate) function: String,
    pub(crate) zip_path: PathBuf,
    pub(crate) manifest_path: PathBuf,
    pub(crate) manifest: Manifest,
    /// True when the previous build was reused without running npm or pip.
    pub(crate) cached: bool,
}

/// Why a function could not be built. Each message names the function, the cause, and what
/// to do next. Not a `std::error::Error`: it enters anyhow through `explained!` (below).
#[derive(Debug)]
pub(crate) enum BuildError {
    UnknownFunction {
        function: String,
        valid: String,
    },

    SourceDateEpoch {
        value: String,
    },

    BadSetting {
        name: &'static str,
        value: String,
    },

    SourceMissing {
        function: String,
        path: PathBuf,
    },

    TracingSdkManifest {
        function: String,
        sdk: &'static str,
        path: PathBuf,
    },

    LockfileMissing {
        function: String,
        dir: PathBuf,
    },

    LockfileOutOfDate {
        function: String,
        dir: PathBuf,
        lockfile: PathBuf,
        lockfile_name: String,
        detail: String,
    },

    LockfileUnverified {
        function: String,
        dir: PathBuf,
        lockfile: PathBuf,
        /// `N package(s): a, b and N more`.
        packages: String,
    },

    LockfileSource {
        function: String,
        dir: PathBuf,
        lockfile: PathBuf,
        /// `<package> would be fetched from <url>: <reason>`.
        detail: String,
    },

    InvalidPackageJson {
        function: String,
        path: PathBuf,
        detail: String,
    },

    Requirements {
        function: String,
        path: PathBuf,
        line: usize,
        message: String,
    },

    ToolMissing {
        function: String,
        program: String,
        step: &'static str,
        detail: String,
        hint: &'static str,
    },

    /// npm or pip ran and failed (boxed: it carries the command's output).
    Install(Box<InstallFailure>),

    /// A signal stopped this function's build (`message` says while doing what). A fact, not
    /// the run's interruption error: [`build_functions`] makes that one, a
    /// [`Problem::interrupted`](crate::error::Problem::interrupted) naming every function.
    Stopped {
        message: String,
    },

    SymlinkEscapes {
        function: String,
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },

    OutsideInput {
        function: String,
        path: PathBuf,
        root: PathBuf,
    },

    BrokenLink {
        function: String,
        link: PathBuf,
        target: PathBuf,
    },

    UnportableName {
        function: String,
        path: PathBuf,
        why: &'static str,
    },

    TooLarge {
        function: String,
        size: u64,
        limit: u64,
        largest: String,
    },

    PathConflict {
        function: String,
        path: String,
    },

    Io {
        function: String,
        action: String,
        source: std::io::Error,
    },

    Zip {
        function: String,
        source: archive::ArchiveError,
    },

    Several(Vec<BuildError>),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use BuildError as E;
        match self {
            E::UnknownFunction { function, .. } => write!(f, "function `{function}` is not in the project config"),
            E::SourceDateEpoch { value } => write!(f, "SOURCE_DATE_EPOCH=`{value}` is not a whole number of seconds since 1970"),
            E::BadSetting { name, value } => write!(f, "{name}=`{value}` is not a number of bytes"),
            E::SourceMissing { function, path } => write!(f, "function `{function}`: source directory {} does not exist", path.display()),
            E::TracingSdkManifest { function, sdk, path } => write!(f, "function `{function}`: `tracing_sdk: {sdk}` needs its locked dependencies in {}, which does not exist", path.display()),
            E::LockfileMissing { function, dir } => write!(f, "function `{function}`: {}/package.json declares dependencies but there is no package-lock.json", dir.display()),
            E::LockfileOutOfDate { function, lockfile, detail, .. } => write!(f, "function `{function}`: {} is out of date with package.json: {detail}", lockfile.display()),
            E::LockfileUnverified { function, lockfile, packages, .. } => write!(f, "function `{function}`: {} has no integrity hash for {packages}; npm would install them unverified", lockfile.display()),
            E::LockfileSource { function, lockfile, detail, .. } => write!(f, "function `{function}`: {}: {detail}", lockfile.display()),
            E::InvalidPackageJson { function, path, detail } => write!(f, "function `{function}`: {}: {detail}", path.display()),
            E::Requirements { function, path, line, message } => write!(f, "function `{function}`: {}:{line}: {message}", path.display()),
            E::ToolMissing { function, program, step, detail, .. } => write!(f, "function `{function}`: cannot run `{program}` for {step}: {detail}"),
            E::Install(failure) => failure.fmt(f),
            E::Stopped { message } => f.write_str(message),
            E::SymlinkEscapes { function, link, target, root } => write!(f, "function `{function}`: symlink {} points to {}, outside {}", link.display(), target.display(), root.display()),
            E::OutsideInput { function, path, root } => write!(f, "function `{function}`: esbuild bundled {}, which is outside the project directory {}", path.display(), root.display()),
            E::BrokenLink { function, link, target } => write!(f, "function `{function}`: symlink {} (-> {}) is broken or part of a loop", link.display(), target.display()),
            E::UnportableName { function, path, why } => write!(f, "function `{function}`: {}: {why}", path.display()),
            E::TooLarge { function, size, limit, largest } => write!(f, "function `{function}`: the bundle is {} unzipped ({size} bytes), over the unzipped-size limit of {} ({limit} bytes); largest directories:\n{largest}", human_bytes(*size), human_bytes(*limit)),
            E::PathConflict { function, path } => write!(f, "function `{function}`: `{path}` is both one of the function's files and installed by a dependency"),
            E::Io { function, action, source } => write!(f, "function `{function}`: {action}: {source}"),
            E::Zip { function, source } => write!(f, "function `{function}`: writing the zip failed: {source}"),
            E::Several(errors) => write!(f, "{} functions failed to build:\n{}", errors.len(), join_errors(errors)),
        }
    }
}

crate::explained!(BuildError);

impl crate::error::Explain for BuildError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            BuildError::UnknownFunction { valid, .. } => format!("functions defined: {valid}"),
            BuildError::SourceDateEpoch { .. } => "unset it, or set it to e.g. the last commit's time: SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)".into(),
            BuildError::BadSetting { .. } => "unset it to use Lambda's limit, or set a whole number".into(),
            BuildError::SourceMissing { function, .. } => format!("check `functions.{function}.source` in the config (relative to the config file)"),
            BuildError::TracingSdkManifest { .. } => "add that manifest and its lock (see functions/README.md); `tracing_sdk` is `otel` unless set, so a function traced with the X-Ray SDK needs `tracing_sdk: xray`".into(),
            BuildError::LockfileMissing { dir, .. } => format!("run `npm install` in {} and commit package-lock.json; builds install exactly what the lockfile pins", dir.display()),
            BuildError::LockfileOutOfDate { dir, lockfile_name, .. } => format!("run `npm install` in {} and commit the updated {lockfile_name}", dir.display()),
            BuildError::LockfileUnverified { dir, lockfile, .. } => format!("run `npm install` in {} (if the hashes stay missing, delete {name} and node_modules first) and commit the {name} it writes: npm records `integrity` for every package", dir.display(), name = file_name(lockfile)),
            BuildError::LockfileSource { dir, lockfile, .. } => format!("packages are fetched only over https from the registry npm is configured with; if that URL is your registry, set `registry=` (or `@scope:registry=`) in {dir}/.npmrc; otherwise run `npm install` in {dir} and commit the {} it writes", file_name(lockfile), dir = dir.display()),
            BuildError::InvalidPackageJson { .. } => "fix the file; it must be valid JSON".into(),
            BuildError::Requirements { .. } => "requirements.txt must be a complete lock with hashes; regenerate it with `pip-compile --generate-hashes --allow-unsafe` (see functions/README.md)".into(),
            BuildError::ToolMissing { hint, .. } => hint.to_string(),
            BuildError::Install(failure) => failure.hint.clone(),
            BuildError::SymlinkEscapes { root, .. } => format!("bundles never include files from outside the function; replace the link with a copy of its target, or move the target inside {}", root.display()),
            BuildError::OutsideInput { .. } => "require a copy inside the function's directory, or add `allow_outside_project: true` to the function to bundle it on purpose".into(),
            BuildError::BrokenLink { .. } => "fix or remove the link".into(),
            BuildError::UnportableName { .. } => "rename the file (or leave it out of the function's directory); zip entry names must be portable".into(),
            BuildError::TooLarge { .. } => "drop unneeded dependencies (or list runtime-provided ones in `runtime_provided`), or move large data to S3".into(),
            BuildError::PathConflict { .. } => "rename the function's file so it does not shadow the dependency".into(),
            BuildError::Io { .. } => "check that the path exists and is readable/writable, and that the disk has space".into(),
            BuildError::Zip { .. } => "check the disk, then rerun the build".into(),
            BuildError::Stopped { .. } => return None,
            // Each failed function's hint is in the list, beside its error.
            BuildError::Several(_) => return None,
        })
    }

    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            BuildError::Zip { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An install command (npm ci, pip install) that ran and failed.
#[derive(Debug)]
pub(crate) struct InstallFailure {
    pub(crate) function: String,
    pub(crate) step: &'static str,
    /// What it means, e.g. "a downloaded file does not match the hashes in requirements.txt".
    pub(crate) cause: String,
    /// The exit status.
    pub(crate) status: String,
    /// Its last output lines, indented.
    pub(crate) tail: String,
    /// A shell line (with `cd DIR &&`) that reproduces it; DIR is kept for that.
    pub(crate) command: String,
    pub(crate) hint: String,
}

impl std::fmt::Display for InstallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "function `{}`: {} failed: {} ({}); its last output lines:\n{}\n  reproduce: {}",
            self.function, self.step, self.cause, self.status, self.tail, self.command
        )
    }
}

/// `package-lock.json` of a path, for messages.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `a, b, c and 4 more`.
fn name_some(items: &[String], shown: usize) -> String {
    let mut text = items[..items.len().min(shown)].join(", ");
    if items.len() > shown {
        let _ = write!(text, " and {} more", items.len() - shown);
    }
    text
}

fn join_errors(errors: &[BuildError]) -> String {
    errors
        .iter()
        .map(|e| {
            let hint = crate::error::Explain::hint(e);
            format!(
                "- {}",
                crate::error::with_hints(&e.to_string(), hint.as_slice())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Build `keys` (config keys) in parallel, reusing unchanged artifacts unless `force`.
/// Artifacts come back in the order of `keys`. When some fail, the others are still built
/// and written; the error reports every failure.
pub(crate) fn build_functions(
    project: &Project,
    keys: &[&str],
    options: &BuildOptions,
    reporter: &Reporter,
) -> anyhow::Result<Vec<Artifact>> {
    if let Some(w) = project.xray_sdk_warning(keys) {
        reporter.warn(w);
    }
    let settings = BuildSettings::from_env()?;
    let project_root = project.resolve(Path::new("."));
    let project_root = project_root.canonicalize().unwrap_or(project_root);
    let mut jobs = Vec::new();
    for key in keys {
        let (key, config) = project
            .config
            .functions
            .get_key_value(*key)
            .ok_or_else(|| BuildError::UnknownFunction {
                function: key.to_string(),
                valid: project.function_keys().join(", "),
            })?;
        jobs.push(Job {
            key,
            config,
            source_dir: project.resolve(&config.source),
            artifact_dir: project.artifact_dir(),
            settings: &settings,
            force: options.force,
            project_root: project_root.clone(),
        });
    }
    // Another build (or `up`) in this project would install into, replace and read the same
    // cache entries and artifacts: wait for it.
    let cache_dir = project.cache_dir();
    let _lock = crate::lock::acquire(&cache_dir, reporter)?;
    staging::clean(&cache_dir.join(staging::DIR), keys);
    let results: Vec<Result<Artifact, BuildError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| scope.spawn(move || job.run(reporter)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut artifacts = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(a) => artifacts.push(a),
            Err(e) => errors.push(e),
        }
    }
    let stopped = errors
        .iter()
        .any(|e| matches!(e, BuildError::Stopped { .. }));
    match errors.len() {
        0 => Ok(artifacts),
        _ if stopped => Err(one_interruption(&errors).into()),
        1 => Err(errors.remove(0).into()),
        _ => Err(BuildError::Several(errors).into()),
    }
}

/// Ctrl-C stops every function's build: one interruption that names what each was doing,
/// rather than a list of "failures".
fn one_interruption(errors: &[BuildError]) -> crate::error::Problem {
    let what: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    crate::error::Problem::interrupted(what.join("; "))
}

impl Job<'_> {
    /// Run an install command; on failure keep the staging dir so the printed command can be
    /// rerun as is.
    fn run_install(
        &self,
        cmd: Cmd,
        step: &'static str,
        staging: &mut tempfile::TempDir,
        explain: impl FnOnce(&str) -> (String, String),
    ) -> Result<(), BuildError> {
        match cmd.run() {
            Ok(_) => Ok(()),
            Err(RunError::NotFound { program }) => Err(BuildError::ToolMissing {
                function: self.function(),
                step,
                detail: "not found on PATH".into(),
                hint: tool_hint(step),
                program,
            }),
            // The staging dir is dropped (removed) on the way out: nothing half-installed stays.
            Err(RunError::Interrupted { program }) => Err(BuildError::Stopped {
                message: format!(
                    "{} while `{program}` ran for {step} of function {}",
                    crate::interrupt::interrupted(),
                    self.function()
                ),
            }),
            Err(RunError::Spawn { program, source }) => Err(BuildError::ToolMissing {
                function: self.function(),
                step,
                detail: source.to_string(),
                hint: tool_hint(step),
                program,
            }),
            Err(RunError::Failed {
                status,
                tail,
                stderr,
            }) => {
                let (cause, hint) = explain(&stderr);
                let command = cmd.display();
                staging.disable_cleanup(true);
                staging::keep_for_rerun(staging.path(), self.key);
                Err(BuildError::Install(Box::new(InstallFailure {
                    function: self.function(),
                    step,
                    cause,
                    status,
                    tail,
                    command,
                    hint,
                })))
            }
        }
    }

    /// Merge, check limits, zip, and write the artifact and its manifest atomically.
    fn finish(
        &self,
        task: &Task,
        contents: BundleContents,
        paths: ArtifactPaths,
    ) -> Result<Artifact, BuildError> {
        // Ctrl-C while the other function's npm/pip ran: do not start zipping.
        crate::interrupt::check().map_err(|p| BuildError::Stopped {
            message: p.message().to_string(),
        })?;
        let BundleContents {
            sources,
            installed,
            inputs_hash,
            runtime_provided_excluded,
            packaging,
        } = contents;
        // `_staging` is bound (not `_`) so the staging dir outlives the zipping.
        let Installed {
            files,
            mut dependencies,
            platform_tags,
            _staging,
        } = installed;
        let mut all = self.merge(sources, files)?;
        // `packaged` holds the files it added until the zip is written.
        let packaged = packaging.apply(self, task, &mut all)?;
        let unzipped_bytes = self.check_size(&all)?;
        task.set_message(format!("{}: zipping {} files", self.key, all.len()));
        let file_count = all.len() as u64;
        let bytes = self.zip(all)?;
        let (sha256_hex, sha256_base64) = manifest::sha256_pair(&bytes);
        dependencies.sort();
        let manifest = Manifest {
            function: self.function(),
            runtime: self.config.runtime.clone(),
            architecture: self.config.architecture.as_str().to_string(),
            sha256_hex,
            sha256_base64,
            zip_bytes: bytes.len() as u64,
            unzipped_bytes,
            file_count,
            inputs_hash,
            tool_version: TOOL_VERSION.to_string(),
            source_date_epoch: self.settings.source_date_epoch,
            needs_s3_upload: bytes.len() as u64 > self.settings.max_direct_upload_bytes,
            dependencies,
            runtime_provided_excluded,
            platform_tags,
            bundler: packaged.bundler,
            bytecode: packaged.bytecode,
        };
        let mut json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        json.push(b'\n');
        crate::atomic_write::write_atomically(&paths.zip, &bytes)
            .map_err(self.io(format!("writing {}", paths.zip.display())))?;
        crate::atomic_write::write_atomically(&paths.manifest, &json)
            .map_err(self.io(format!("writing {}", paths.manifest.display())))?;
        self.write_sourcemap(&paths, packaged.sourcemap.as_deref())?;
        Ok(Artifact {
            function: self.function(),
            zip_path: paths.zip,
            manifest_path: paths.manifest,
            manifest,
            cached: false,
        })
    }
}

fn tool_hint(step: &str) -> &'static str {
    if step.starts_with("npm") || step.contains("esbuild") {
        "install Node.js with npm 9 or newer (Debian: apt-get install nodejs npm), or set SCOREKEEP_NPM to the npm to use"
    } else {
        "install Python 3 with pip, or set SCOREKEEP_PYTHON to an interpreter that has pip"
    }
}

#[cfg(test)]
mod tests;
