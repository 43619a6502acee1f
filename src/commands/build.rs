//! `build`: bundle functions into deterministic zips with manifests.

use std::fmt;

use serde::Serialize;

use crate::bundle::{self, Artifact, BuildOptions};
use crate::cli::BuildArgs;
use crate::context::Context;
use crate::report::human_bytes;

/// What `build` prints: one entry per function, with its manifest.
#[derive(Debug, Serialize)]
pub(crate) struct BuildReport {
    pub(crate) artifacts: Vec<Artifact>,
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .artifacts
            .iter()
            .map(|a| a.function.len())
            .max()
            .unwrap_or(0);
        for a in &self.artifacts {
            let m = &a.manifest;
            writeln!(
                f,
                "{:width$}  {}  {:>9}  sha256 {}  {}{}",
                a.function,
                a.zip_path.display(),
                human_bytes(m.zip_bytes),
                m.sha256_base64,
                if a.cached { "cached" } else { "built" },
                if m.needs_s3_upload {
                    "  (over 50 MB: uploaded through S3)"
                } else {
                    ""
                },
            )?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Context, args: &BuildArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let selected = project.select_functions(&args.functions)?;
    let keys: Vec<&str> = selected.iter().map(|(key, _)| *key).collect();
    let artifacts = bundle::build_functions(
        project,
        &keys,
        &BuildOptions {
            force: args.force,
            ..Default::default()
        },
        &ctx.reporter,
    )?;
    ctx.reporter.emit(&BuildReport { artifacts })
}
