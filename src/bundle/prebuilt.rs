//! Deploying bundles built elsewhere (`--artifacts DIR`): a release pipeline builds and tests
//! once, then deploys exactly those bytes. Each function's `<key>.zip` and `<key>.json` (the
//! manifest `build` writes) are read from DIR, and a zip whose SHA-256 or size is not its
//! manifest's, or a manifest for another function, runtime or architecture than the config's,
//! is refused before any AWS call.

use std::path::Path;

use super::manifest::{sha256_pair, Manifest};
use super::Artifact;
use crate::config::Project;
use crate::error::Problem;

/// The artifacts of `keys` in `dir`, each checked against its manifest and the config.
pub(crate) fn load(project: &Project, keys: &[&str], dir: &Path) -> anyhow::Result<Vec<Artifact>> {
    keys.iter().map(|key| load_one(project, key, dir)).collect()
}

fn load_one(project: &Project, key: &str, dir: &Path) -> anyhow::Result<Artifact> {
    let zip_path = dir.join(format!("{key}.zip"));
    let manifest_path = dir.join(format!("{key}.json"));
    let manifest: Manifest = serde_json::from_slice(&read(&manifest_path)?).map_err(|e| {
        refused(
            key,
            format!("{} is not a build manifest: {e}", manifest_path.display()),
        )
    })?;
    let bytes = read(&zip_path)?;
    let (hex, base64) = sha256_pair(&bytes);
    if hex != manifest.sha256_hex || base64 != manifest.sha256_base64 {
        return Err(refused(
            key,
            format!(
                "{} has SHA-256 {hex}, but its manifest says {}: the zip changed after the build",
                zip_path.display(),
                manifest.sha256_hex
            ),
        ));
    }
    if bytes.len() as u64 != manifest.zip_bytes {
        return Err(refused(
            key,
            format!("{} is not the size its manifest says", zip_path.display()),
        ));
    }
    check_matches_config(project, key, &manifest)?;
    Ok(Artifact {
        function: key.to_string(),
        zip_path,
        manifest_path,
        manifest,
        cached: true,
    })
}

/// The manifest is for this function as the config describes it.
fn check_matches_config(project: &Project, key: &str, manifest: &Manifest) -> anyhow::Result<()> {
    let config = &project.config.functions[key];
    let expected = [
        ("function", key, manifest.function.as_str()),
        (
            "runtime",
            config.runtime.as_str(),
            manifest.runtime.as_str(),
        ),
        (
            "architecture",
            config.architecture.as_str(),
            manifest.architecture.as_str(),
        ),
    ];
    match expected.iter().find(|(_, want, got)| want != got) {
        Some((what, want, got)) => Err(refused(
            key,
            format!("the artifact was built for {what} {got}, the config says {want}"),
        )),
        None => Ok(()),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Problem::usage(format!("reading {}: {e}", path.display()))
            .hint("`--artifacts DIR` takes the directory `scorekeep-deploy build` wrote (artifact_dir): <function>.zip and <function>.json for each function")
            .into()
    })
}

fn refused(key: &str, why: String) -> anyhow::Error {
    Problem::usage(format!("artifact of function {key} refused: {why}"))
        .resource(format!("artifact {key}"))
        .hint("deploy the directory the build wrote, unchanged, or rebuild with `scorekeep-deploy build`")
        .into()
}
