//! How a function's files are turned into what ships, after dependencies are installed and
//! merged with the sources: Node handlers bundled by esbuild ([`esbuild`]), Python bundles
//! given bytecode ([`bytecode`]). Both work on whatever the merged file list holds, so any
//! tracing SDK's files go through them alike.

use super::bytecode::Bytecode;
use super::esbuild::Bundling;
use super::files::FileEntry;
use super::installer::Plan;
use super::manifest::{BundlerRecord, BytecodeRecord, Manifest};
use super::{BuildError, Job};
use crate::config::Language;
use crate::report::Task;

/// Decided before the inputs hash, since it changes the bundle's bytes.
pub(super) struct Packaging {
    language: Language,
    bundling: Option<Bundling>,
    bytecode: Bytecode,
}

/// What packaging did, for the manifest and the artifact directory.
#[derive(Default)]
pub(super) struct Packaged {
    pub(super) bundler: Option<BundlerRecord>,
    pub(super) bytecode: Option<BytecodeRecord>,
    /// esbuild's external source map, written beside the zip.
    pub(super) sourcemap: Option<Vec<u8>>,
    /// Holds the files added to the bundle until it is zipped.
    pub(super) _work: Option<tempfile::TempDir>,
}

impl Packaging {
    pub(super) fn for_job(job: &Job, sources: &[FileEntry], plan: &Plan) -> Packaging {
        Packaging {
            language: job.config.language(),
            bundling: Bundling::for_job(job, sources, &plan.direct_dependencies),
            bytecode: Bytecode::for_job(job),
        }
    }

    /// Its part of the inputs hash.
    pub(super) fn key(&self) -> String {
        let bundler = self
            .bundling
            .as_ref()
            .map_or("bundler=none".into(), Bundling::key);
        format!("{bundler}; {}", self.bytecode.key())
    }

    /// Whether the last build's manifest is still what this packaging would make.
    pub(super) fn still_current(&self, previous: &Manifest) -> bool {
        self.bytecode.still_current(previous.bytecode.as_ref())
    }

    /// Rewrite `all` (sorted sources and dependencies) into what ships, still sorted.
    pub(super) fn apply(
        &self,
        job: &Job,
        task: &Task,
        all: &mut Vec<FileEntry>,
    ) -> Result<Packaged, BuildError> {
        let mut work = job.staging_dir()?;
        let mut packaged = Packaged::default();
        if let Some(bundling) = &self.bundling {
            let bundled = bundling.apply(job, task, all, &mut work)?;
            packaged.bundler = Some(bundled.record);
            packaged.sourcemap = bundled.sourcemap;
        } else if self.language == Language::Node {
            packaged.bundler = Some(BundlerRecord::none());
        }
        packaged.bytecode = self.bytecode.apply(job, task, all, &mut work)?;
        all.sort_by(|a, b| a.zip_path.as_bytes().cmp(b.zip_path.as_bytes()));
        packaged._work = Some(work);
        Ok(packaged)
    }
}
