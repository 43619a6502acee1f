//! The build of one function, step by step: collect its sources, plan the install, hash
//! the inputs, reuse the last artifact when nothing changed, else install dependencies
//! ([`super::dependencies`]) and hand everything to [`Job::finish`] (in `mod.rs`) to package,
//! zip and write. Kept apart from `mod.rs`, which holds the error type and the build of all
//! functions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::archive::{self, Contents, ZipEntry};
use super::files::{self, CollectError, FileEntry};
use super::installer::Plan;
use super::manifest::{self, Dependency, InputFile, InputsSpec};
use super::settings::BuildSettings;
use super::{cache, esbuild, packaging, tracing_sdk, Artifact, BuildError, TOOL_VERSION};
use crate::config::FunctionConfig;
use crate::report::{human_bytes, human_duration, Reporter, Task};

/// One function to build.
pub(super) struct Job<'a> {
    pub(super) key: &'a str,
    pub(super) config: &'a FunctionConfig,
    pub(super) source_dir: PathBuf,
    pub(super) artifact_dir: PathBuf,
    pub(super) settings: &'a BuildSettings,
    pub(super) force: bool,
    /// The project directory, resolved: what esbuild may read from beyond the function.
    pub(super) project_root: PathBuf,
}

/// Installed dependencies ready to bundle.
#[derive(Default)]
pub(super) struct Installed {
    pub(super) files: Vec<FileEntry>,
    pub(super) dependencies: Vec<Dependency>,
    pub(super) platform_tags: Vec<String>,
    /// Where `files` are when they could not be moved into the cache; removed when dropped.
    pub(super) _staging: Option<tempfile::TempDir>,
}

/// Where a function's artifact and its manifest are written.
pub(super) struct ArtifactPaths {
    pub(super) zip: PathBuf,
    pub(super) manifest: PathBuf,
}

impl ArtifactPaths {
    pub(super) fn new(artifact_dir: &Path, key: &str) -> ArtifactPaths {
        ArtifactPaths {
            zip: artifact_dir.join(format!("{key}.zip")),
            manifest: artifact_dir.join(format!("{key}.json")),
        }
    }
}

/// Everything that goes into the zip and the manifest besides the function's settings.
pub(super) struct BundleContents {
    pub(super) sources: Vec<FileEntry>,
    pub(super) installed: Installed,
    pub(super) inputs_hash: String,
    pub(super) runtime_provided_excluded: Vec<String>,
    pub(super) packaging: packaging::Packaging,
}

impl Job<'_> {
    pub(super) fn run(&self, reporter: &Reporter) -> Result<Artifact, BuildError> {
        let task = reporter.task(format!("{}: checking inputs", self.key));
        let result = self.build(&task);
        let took = human_duration(task.elapsed());
        match &result {
            Ok(a) if a.cached => task.finish(format!(
                "{}: unchanged, cached {} ({} zip) [{took}]",
                self.key,
                a.zip_path.display(),
                human_bytes(a.manifest.zip_bytes)
            )),
            Ok(a) => task.finish(format!(
                "{}: built {} ({} zip, {} unzipped, {} dependencies) in {took}",
                self.key,
                a.zip_path.display(),
                human_bytes(a.manifest.zip_bytes),
                human_bytes(a.manifest.unzipped_bytes),
                a.manifest.dependencies.len()
            )),
            Err(_) => task.finish(format!("{}: failed after {took}", self.key)),
        }
        result
    }

    pub(super) fn function(&self) -> String {
        self.key.to_string()
    }

    /// How the function's `tracing_sdk` is bundled ([`tracing_sdk::bundled_as`]).
    pub(super) fn sdk(&self) -> crate::config::TracingSdk {
        tracing_sdk::bundled_as(&self.source_dir, self.config.tracing_sdk)
    }

    /// Where the dependency manifests for the function's `tracing_sdk` are.
    pub(super) fn manifest_dir(&self) -> PathBuf {
        tracing_sdk::manifest_dir(&self.source_dir, self.sdk())
    }

    /// A `tracing_sdk` other than `xray` must have its own manifest (`names`, any of them).
    pub(super) fn check_tracing_manifest(&self, names: &[&str]) -> Result<(), BuildError> {
        let sdk = self.sdk();
        match tracing_sdk::missing_manifest(&self.source_dir, sdk, names) {
            None => Ok(()),
            Some(path) => Err(BuildError::TracingSdkManifest {
                function: self.function(),
                sdk: sdk.as_str(),
                path,
            }),
        }
    }

    /// A file of the function's that may be absent (no package.json, no requirements.txt:
    /// nothing to install).
    pub(super) fn read_optional(&self, path: &Path) -> Result<Option<String>, BuildError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(format!("reading {}", path.display()))(e)),
        }
    }

    pub(super) fn io(
        &self,
        action: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
        let action = action.into();
        move |source| BuildError::Io {
            function: self.function(),
            action,
            source,
        }
    }

    pub(super) fn collect_error(&self, e: CollectError) -> BuildError {
        let function = self.function();
        match e {
            CollectError::SymlinkEscapes { link, target, root } => BuildError::SymlinkEscapes {
                function,
                link,
                target,
                root,
            },
            CollectError::BrokenLink { link, target } => BuildError::BrokenLink {
                function,
                link,
                target,
            },
            CollectError::Unportable { path, why } => BuildError::UnportableName {
                function,
                path,
                why,
            },
            CollectError::Io { path, source } => BuildError::Io {
                function,
                action: format!("reading {}", path.display()),
                source,
            },
        }
    }

    pub(super) fn build(&self, task: &Task) -> Result<Artifact, BuildError> {
        let sources = self.collect_sources()?;
        let plan = Plan::for_job(self)?;
        let packaging = packaging::Packaging::for_job(self, &sources, &plan);
        let inputs_hash = self.inputs_hash(&sources, &plan, &packaging.key())?;
        let paths = ArtifactPaths::new(&self.artifact_dir, self.key);
        if let Some(artifact) = self.reuse(&paths, &inputs_hash) {
            if packaging.still_current(&artifact.manifest) {
                return Ok(artifact);
            }
        }
        let installed = self.install_dependencies(task, &plan.installer)?;
        // The dependency files may be read from the staging dir while zipping (when they
        // could not be cached): `installed` keeps it until `finish` is done.
        let contents = BundleContents {
            sources,
            installed,
            inputs_hash,
            runtime_provided_excluded: plan.excluded,
            packaging,
        };
        self.finish(task, contents, paths)
    }

    /// The function's own files, without the artifact and cache dirs, within the size limit.
    pub(super) fn collect_sources(&self) -> Result<Vec<FileEntry>, BuildError> {
        if !self.source_dir.is_dir() {
            return Err(BuildError::SourceMissing {
                function: self.function(),
                path: self.source_dir.clone(),
            });
        }
        let mut sources = files::collect(&self.source_dir, "", &files::skip_source)
            .map_err(|e| self.collect_error(e))?;
        // An artifact dir inside the source dir must not bundle (and re-key on) old artifacts,
        // nor its cache dir (lock, installed dependencies) beside it.
        let cache_dir = self.cache_dir();
        sources.retain(|f| {
            !f.disk_path.starts_with(&self.artifact_dir) && !f.disk_path.starts_with(&cache_dir)
        });
        // Only the tracing implementation of the function's `tracing_sdk`.
        sources.retain(|f| tracing_sdk::bundled(&f.zip_path, self.sdk()));
        self.check_size(&sources)?;
        Ok(sources)
    }

    /// The hash of everything that decides the bundle: the sources, the install inputs and
    /// the settings in [`InputsSpec`].
    pub(super) fn inputs_hash(
        &self,
        sources: &[FileEntry],
        plan: &Plan,
        packaging: &str,
    ) -> Result<String, BuildError> {
        let mut inputs = Vec::with_capacity(sources.len() + plan.extra_inputs.len());
        for f in sources {
            inputs.push(InputFile {
                path: f.zip_path.clone(),
                executable: f.executable,
                sha256: self.hash_file(&f.disk_path)?,
            });
        }
        for (name, path) in &plan.extra_inputs {
            inputs.push(InputFile {
                path: format!("(install input) {name}"),
                executable: false,
                sha256: self.hash_file(path)?,
            });
        }
        Ok(manifest::inputs_hash(
            &InputsSpec {
                tool_version: TOOL_VERSION,
                language: plan.language,
                runtime: &self.config.runtime,
                architecture: self.config.architecture.as_str(),
                source_date_epoch: self.settings.source_date_epoch,
                runtime_provided: &plan.runtime_provided,
                packaging,
            },
            &inputs,
        ))
    }

    /// The last build's artifact when its inputs hash matches, its zip is intact and it is
    /// within the size limit (never with `--force`).
    pub(super) fn reuse(&self, paths: &ArtifactPaths, inputs_hash: &str) -> Option<Artifact> {
        if self.force {
            return None;
        }
        let mut previous = cache::lookup(&paths.zip, &paths.manifest, inputs_hash)?;
        // Files esbuild read from outside the function are part of the key too.
        if !esbuild::outside_inputs_unchanged(previous.bundler.as_ref()) {
            return None;
        }
        if previous.unzipped_bytes > self.settings.max_unzipped_bytes {
            return None;
        }
        previous.needs_s3_upload = previous.zip_bytes > self.settings.max_direct_upload_bytes;
        Some(Artifact {
            function: self.function(),
            zip_path: paths.zip.clone(),
            manifest_path: paths.manifest.clone(),
            manifest: previous,
            cached: true,
        })
    }

    /// See [`Project::cache_dir`].
    pub(super) fn cache_dir(&self) -> PathBuf {
        crate::config::cache_dir_for(&self.artifact_dir)
    }

    pub(super) fn hash_file(&self, path: &Path) -> Result<[u8; 32], BuildError> {
        let bytes = std::fs::read(path).map_err(self.io(format!("reading {}", path.display())))?;
        Ok(Sha256::digest(&bytes).into())
    }

    pub(super) fn check_size(&self, files: &[FileEntry]) -> Result<u64, BuildError> {
        let size: u64 = files.iter().map(|f| f.size).sum();
        if size > self.settings.max_unzipped_bytes {
            let mut largest = String::new();
            for (dir, bytes) in manifest::largest_directories(
                files.iter().map(|f| (f.zip_path.as_str(), f.size)),
                8,
            )
            .into_iter()
            .filter(|(_, bytes)| *bytes > 0)
            {
                let _ = writeln!(largest, "    {:>10}  {dir}", human_bytes(bytes));
            }
            return Err(BuildError::TooLarge {
                function: self.function(),
                size,
                limit: self.settings.max_unzipped_bytes,
                largest: largest.trim_end().to_string(),
            });
        }
        Ok(size)
    }

    /// esbuild's external map as `<function>.js.map` beside the zip; an older one is removed
    /// when there is none, so it never describes another bundle.
    pub(super) fn write_sourcemap(
        &self,
        paths: &ArtifactPaths,
        map: Option<&[u8]>,
    ) -> Result<(), BuildError> {
        let path = paths.zip.with_extension("js.map");
        match map {
            Some(bytes) => crate::atomic_write::write_atomically(&path, bytes)
                .map_err(self.io(format!("writing {}", path.display()))),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(self.io(format!("removing {}", path.display()))(e))
                }
                _ => Ok(()),
            },
        }
    }

    /// The sources and the dependency files in zip order; one path in both is refused.
    pub(super) fn merge(
        &self,
        sources: Vec<FileEntry>,
        dependency_files: Vec<FileEntry>,
    ) -> Result<Vec<FileEntry>, BuildError> {
        let mut all = sources;
        all.extend(dependency_files);
        all.sort_by(|a, b| a.zip_path.as_bytes().cmp(b.zip_path.as_bytes()));
        if let Some(pair) = all.windows(2).find(|p| p[0].zip_path == p[1].zip_path) {
            return Err(BuildError::PathConflict {
                function: self.function(),
                path: pair[0].zip_path.clone(),
            });
        }
        Ok(all)
    }

    /// The reproducible zip of `files` (already in zip order).
    pub(super) fn zip(&self, files: Vec<FileEntry>) -> Result<Vec<u8>, BuildError> {
        let entries: Vec<ZipEntry> = files
            .into_iter()
            .map(|f| ZipEntry {
                path: f.zip_path,
                executable: f.executable,
                contents: Contents::File(f.disk_path),
            })
            .collect();
        archive::write_zip(entries, self.settings.source_date_epoch).map_err(|source| {
            BuildError::Zip {
                function: self.function(),
                source,
            }
        })
    }
}
