//! The esbuild the build runs: the npm package pinned in `esbuild/package-lock.json` (every
//! platform binary with its `integrity`), installed by `npm ci --ignore-scripts` into the
//! tool's cache (`<cache>/tools/esbuild/<version>-<digest>/`, never globally) as a
//! [`dependency_cache`] entry, verified before use (once per run), and run as this machine's
//! platform binary when it is there.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::bundle::dependency_cache::{self, Selection};
use crate::bundle::files;
use crate::bundle::tool_run::Cmd;
use crate::bundle::{BuildError, Job};
use crate::report::Task;

/// The pinned esbuild (also in `esbuild/package.json` and its lockfile).
pub(crate) const VERSION: &str = "0.28.2";
const PACKAGE_JSON: &str = include_str!("package.json");
const LOCKFILE: &str = include_str!("package-lock.json");

/// Parallel builds of Node functions install esbuild once, and verify the cached install once
/// per run: its tree is 12 MB to hash, which each function would otherwise do in turn. Holds
/// the cache entry verified (or installed) in this process, and what to run there.
static INSTALLED: Mutex<Option<(PathBuf, Esbuild)>> = Mutex::new(None);

/// The verified esbuild in the tool's cache, installed first if needed; verified once per run.
pub(super) fn install(job: &Job, task: &Task) -> Result<Esbuild, BuildError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let entry = tool_entry(&job.cache_dir());
    if let Some((done, esbuild)) = installed.as_ref() {
        if *done == entry {
            return Ok(esbuild.clone());
        }
    }
    let esbuild = verify_or_install(job, task, &entry)?;
    *installed = Some((entry, esbuild.clone()));
    Ok(esbuild)
}

/// The esbuild at `entry` if it passes verification, else a fresh install there.
fn verify_or_install(job: &Job, task: &Task, entry: &Path) -> Result<Esbuild, BuildError> {
    let all = Selection {
        prefix: "",
        skip: |_, _| false,
    };
    match dependency_cache::lookup(entry, all) {
        dependency_cache::Lookup::Verified(_) => return Ok(cli(&dependency_cache::tree_of(entry))),
        dependency_cache::Lookup::Missing => {}
        dependency_cache::Lookup::Damaged(why) => {
            task.println(format!(
                "{}: the cached esbuild failed verification ({why}); reinstalling it",
                job.key
            ));
            let _ = dependency_cache::discard(entry);
        }
    }
    task.set_message(format!(
        "{}: installing esbuild {VERSION} (npm ci)",
        job.key
    ));
    let mut staging = job.staging_dir()?;
    for (name, text) in [
        ("package.json", PACKAGE_JSON),
        ("package-lock.json", LOCKFILE),
    ] {
        let path = staging.path().join(name);
        std::fs::write(&path, text).map_err(job.io(format!("writing {}", path.display())))?;
    }
    let npm = std::env::var_os("SCOREKEEP_NPM").unwrap_or_else(|| "npm".into());
    let cmd = Cmd::new(npm, staging.path())
        .args([
            "ci",
            "--ignore-scripts",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
        ])
        .args(["--loglevel=warn", "--update-notifier=false"]);
    job.run_install(cmd, "npm ci (esbuild)", &mut staging, |_| {
        (
            format!("npm could not install esbuild {VERSION}"),
            "check registry access (npm's registry settings apply); the command below reproduces it, or set `bundler: none`".into(),
        )
    })?;
    // The whole install dir is the entry's tree: the CLI finds its platform package by
    // Node's resolution, which needs the `node_modules` directory name.
    let installed = staging.path().to_path_buf();
    let found = files::collect(&installed, "", &|_, _| false).map_err(|e| job.collect_error(e))?;
    let record = dependency_cache::record(&found)
        .map_err(job.io(format!("reading {}", installed.display())))?;
    let tree = dependency_cache::commit(&installed, entry, &record);
    Ok(cli(&tree))
}

/// `<cache>/tools/esbuild-<version>-<lockfile digest>`.
fn tool_entry(cache_dir: &Path) -> PathBuf {
    let digest = hex::encode(Sha256::digest(LOCKFILE.as_bytes()));
    // Its own directory: committing an entry removes the others beside it.
    cache_dir
        .join("tools")
        .join("esbuild")
        .join(format!("{VERSION}-{}", &digest[..12]))
}

/// The installed esbuild, as it is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Esbuild {
    /// This machine's platform package binary (`@esbuild/linux-x64/bin/esbuild`), run
    /// directly: about 10 ms a function instead of the script's 85 ms, most of it Node starting.
    Native(PathBuf),
    /// The `esbuild` package's Node script (npm's postinstall, which `--ignore-scripts` skips,
    /// would have replaced it with the binary): it finds and runs the platform binary itself.
    /// For platforms [`platform_package`] does not map.
    Script(PathBuf),
}

impl Esbuild {
    pub(super) fn absolute(self) -> std::io::Result<Esbuild> {
        Ok(match self {
            Esbuild::Native(p) => Esbuild::Native(std::path::absolute(p)?),
            Esbuild::Script(p) => Esbuild::Script(std::path::absolute(p)?),
        })
    }
}

/// esbuild's platform package for this machine (npm installs only the matching one).
fn platform_package(os: &str, arch: &str) -> Option<&'static str> {
    match (os, arch) {
        ("linux", "x86_64") => Some("linux-x64"),
        ("linux", "aarch64") => Some("linux-arm64"),
        ("macos", "x86_64") => Some("darwin-x64"),
        ("macos", "aarch64") => Some("darwin-arm64"),
        _ => None,
    }
}

/// The binary in `tree` when this platform's package is there, else the script.
fn cli(tree: &Path) -> Esbuild {
    let native = platform_package(std::env::consts::OS, std::env::consts::ARCH)
        .map(|p| tree.join(format!("node_modules/@esbuild/{p}/bin/esbuild")))
        .filter(|binary| binary.is_file());
    match native {
        Some(binary) => Esbuild::Native(binary),
        None => Esbuild::Script(tree.join("node_modules/esbuild/bin/esbuild")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_lockfile_is_verified_and_matches_the_version() {
        let hosts = vec!["registry.npmjs.org".to_string()];
        crate::bundle::node::check_integrity(LOCKFILE, &hosts).unwrap();
        crate::bundle::node::check_lockfile(PACKAGE_JSON, Some(LOCKFILE)).unwrap();
        let lock: serde_json::Value = serde_json::from_str(LOCKFILE).unwrap();
        assert_eq!(lock["packages"]["node_modules/esbuild"]["version"], VERSION);
        assert_eq!(
            lock["packages"]["node_modules/@esbuild/linux-x64"]["version"],
            VERSION
        );
    }

    #[test]
    fn the_platform_binary_is_run_when_installed_else_the_script() {
        let tree = tempfile::tempdir().unwrap();
        assert_eq!(
            cli(tree.path()),
            Esbuild::Script(tree.path().join("node_modules/esbuild/bin/esbuild"))
        );
        let Some(package) = platform_package(std::env::consts::OS, std::env::consts::ARCH) else {
            return;
        };
        let binary = tree
            .path()
            .join(format!("node_modules/@esbuild/{package}/bin/esbuild"));
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::write(&binary, b"").unwrap();
        assert_eq!(cli(tree.path()), Esbuild::Native(binary));
        assert_eq!(platform_package("linux", "aarch64"), Some("linux-arm64"));
        assert_eq!(platform_package("freebsd", "x86_64"), None);
    }
}
