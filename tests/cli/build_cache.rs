//! `build`'s cache through the binary: reuse without npm or pip, a damaged cache entry
//! reinstalled, and builds killed at any moment that never change what the next one makes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::build::{artifact_dir, fake_tools, set_mtimes, xray_project, zip_path, FUNCTIONS};
use crate::util::{cli, manifest};
use predicates::prelude::*;

#[test]
fn editing_code_reuses_installed_dependencies_without_npm_or_pip() {
    let dir = xray_project();
    cli(dir.path()).arg("build").assert().success();
    let before: Vec<(Vec<u8>, serde_json::Value)> = FUNCTIONS
        .iter()
        .map(|f| {
            (
                std::fs::read(zip_path(dir.path(), f)).unwrap(),
                manifest(dir.path(), f),
            )
        })
        .collect();

    // A code edit in each function: new zips, but the lockfiles did not change, so the
    // dependencies installed last time are reused and neither npm nor pip runs.
    let tools = tempfile::tempdir().unwrap();
    let (path, marker) = fake_tools(tools.path());
    let append = |rel: &str, line: &str| {
        let file = dir.path().join(rel);
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(line);
        std::fs::write(&file, text).unwrap();
    };
    // Code, not a comment: the minified bundle drops comments.
    append(
        "functions/random-name/index.js",
        "module.exports.release = 2;\n",
    );
    append(
        "functions/scorekeep-worker/lambda_function.py",
        "# release 2\n",
    );
    cli(dir.path())
        .arg("build")
        .env("PATH", &path)
        .env_remove("SCOREKEEP_PYTHON")
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "random-name: reusing installed dependencies",
        ))
        .stderr(predicate::str::contains(
            "scorekeep-worker: reusing installed dependencies",
        ));
    assert!(
        !marker.exists(),
        "npm or pip ran: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
    for (f, (old_zip, old_manifest)) in FUNCTIONS.iter().zip(&before) {
        let new = std::fs::read(zip_path(dir.path(), f)).unwrap();
        assert_ne!(&new, old_zip, "{f} was not rebuilt");
        assert_eq!(
            manifest(dir.path(), f)["dependencies"],
            old_manifest["dependencies"],
            "{f}: same dependencies"
        );
    }
}

#[test]
fn a_cache_hit_runs_neither_npm_nor_pip() {
    let dir = xray_project();
    cli(dir.path()).arg("build").assert().success();
    let before: Vec<Vec<u8>> = FUNCTIONS
        .iter()
        .map(|f| std::fs::read(zip_path(dir.path(), f)).unwrap())
        .collect();

    let tools = tempfile::tempdir().unwrap();
    let (path, marker) = fake_tools(tools.path());
    // Touching files (mtime only) changes nothing: the cache is keyed by content.
    set_mtimes(&dir.path().join("functions"), SystemTime::now());
    let out = cli(dir.path())
        .args(["build", "--output", "json"])
        .env("PATH", &path)
        .env_remove("SCOREKEEP_PYTHON")
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .success()
        .stderr(predicate::str::contains("random-name: unchanged"))
        .stderr(predicate::str::contains("scorekeep-worker: unchanged"));
    assert!(
        !marker.exists(),
        "npm or pip ran: {}",
        std::fs::read_to_string(&marker).unwrap()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let artifacts = report["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 2);
    for (a, function) in artifacts.iter().zip(FUNCTIONS) {
        assert_eq!(a["function"], function);
        assert_eq!(a["cached"], true);
        assert_eq!(a["manifest"], manifest(dir.path(), function));
    }
    for (f, bytes) in FUNCTIONS.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(zip_path(dir.path(), f)).unwrap(),
            bytes,
            "{f} rewritten"
        );
    }

    // --force does run npm: the fake fails, with its output and the command to reproduce.
    cli(dir.path())
        .args(["build", "random-name", "--force"])
        .env("TMPDIR", tools.path())
        .env("PATH", &path)
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "function `random-name`: npm ci failed",
        ))
        .stderr(predicate::str::contains(
            "fake npm: this build should not run me",
        ))
        .stderr(predicate::str::contains("reproduce: cd "))
        .stderr(predicate::str::contains(
            "npm ci --omit=dev --ignore-scripts --prefer-offline",
        ));
    assert!(marker.exists());
    assert_eq!(
        std::fs::read(zip_path(dir.path(), "random-name")).unwrap(),
        before[0]
    );
}

/// The manifest's `sha256_hex` of `function` after a build of `dir` that must succeed.
fn build_sha(dir: &Path, function: &str) -> String {
    cli(dir).args(["build", function]).assert().success();
    manifest(dir, function)["sha256_hex"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The edit every cache test makes to random-name's code (so the zip cache cannot answer).
fn edit_random_name(dir: &Path) {
    let file = dir.join("functions/random-name/index.js");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("// release 2\n");
    std::fs::write(&file, text).unwrap();
}

/// A directory named `name` somewhere under `root`.
fn find_dir(root: &Path, name: &str) -> PathBuf {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_dir() && e.file_name() == name)
        .unwrap_or_else(|| panic!("no {name} under {}", root.display()))
        .into_path()
}

#[test]
fn a_damaged_dependency_cache_entry_is_reinstalled_not_shipped() {
    let clean = xray_project();
    edit_random_name(clean.path());
    let expected = build_sha(clean.path(), "random-name");

    let dir = xray_project();
    build_sha(dir.path(), "random-name");
    // What an interrupted replacement of the entry left behind: part of its files.
    let deps = dir
        .path()
        .join("target/scorekeep-deploy-cache/deps/random-name");
    std::fs::remove_dir_all(find_dir(&deps, "@smithy")).unwrap();
    edit_random_name(dir.path());
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "random-name: cached dependencies failed verification",
        ))
        .stderr(predicate::str::contains("files missing"))
        .stderr(predicate::str::contains("reinstalling"));
    let got = manifest(dir.path(), "random-name")["sha256_hex"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(got, expected, "a damaged cache entry was shipped");

    // A file changed in place (same size) is found too: the record hashes contents.
    let chance = find_dir(&deps, "chance").join("chance.js");
    let mut bytes = std::fs::read(&chance).unwrap();
    bytes[100] ^= 0x20;
    std::fs::write(&chance, &bytes).unwrap();
    std::fs::remove_file(zip_path(dir.path(), "random-name")).unwrap();
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .success()
        .stderr(predicate::str::contains("changed since it was installed"));
    assert_eq!(
        manifest(dir.path(), "random-name")["sha256_hex"],
        expected.as_str()
    );
}

#[test]
fn a_killed_build_never_changes_what_the_next_build_produces() {
    let clean = xray_project();
    edit_random_name(clean.path());
    let expected = build_sha(clean.path(), "random-name");

    let dir = xray_project();
    build_sha(dir.path(), "random-name");
    edit_random_name(dir.path());
    let bin = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let staging = dir.path().join("target/scorekeep-deploy-cache/staging");
    let deps = dir
        .path()
        .join("target/scorekeep-deploy-cache/deps/random-name");
    // npm ci takes ~3 s here: kill while it runs (fixed times), just after it finished
    // (`.package-lock.json` is the last file npm writes), and as soon as the cache entry
    // starts to change.
    let points = [
        (KillAt::Elapsed, 300, libc::SIGKILL),
        (KillAt::Elapsed, 1000, libc::SIGKILL),
        (KillAt::Elapsed, 2000, libc::SIGKILL),
        (KillAt::AfterInstall, 0, libc::SIGKILL),
        (KillAt::CacheChanges, 0, libc::SIGKILL),
        (KillAt::CacheChanges, 100, libc::SIGKILL),
        // Ctrl-C as a user sends it, to our process.
        (KillAt::CacheChanges, 0, libc::SIGINT),
    ];
    for (when, millis, signal) in points {
        let mut child = std::process::Command::new(&bin)
            .args(["build", "--force", "random-name"])
            .current_dir(dir.path())
            .env("CI", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        match when {
            KillAt::Elapsed => {}
            KillAt::AfterInstall => wait_for_npm(&staging, &mut child),
            KillAt::CacheChanges => wait_for_change(&deps, &mut child),
        }
        std::thread::sleep(Duration::from_millis(millis));
        if signal == libc::SIGKILL {
            child.kill().unwrap(); // nothing of ours runs after it
        } else if child.try_wait().unwrap().is_none() {
            // SAFETY: signalling our own child by its PID; it has not been reaped yet.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
        child.wait().unwrap();
        // Make the next build zip again from whatever the cache holds.
        for ext in ["zip", "json"] {
            let _ =
                std::fs::remove_file(artifact_dir(dir.path()).join(format!("random-name.{ext}")));
        }
        assert_eq!(
            build_sha(dir.path(), "random-name"),
            expected,
            "after signal {signal} at {when:?} + {millis} ms the next build differs from a clean one"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillAt {
    /// `millis` after the start.
    Elapsed,
    /// `millis` after npm wrote its last file in the staging directory.
    AfterInstall,
    /// `millis` after the function's dependency cache (two levels deep) first changed.
    CacheChanges,
}

/// Paths up to two levels under `dir`: cheap to poll, and they change as soon as an entry
/// is added, renamed, or one of its top-level packages is removed.
fn shallow_listing(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .max_depth(2)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .collect()
}

fn wait_for_change(dir: &Path, child: &mut std::process::Child) {
    let before = shallow_listing(dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if shallow_listing(dir) != before || child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("{} did not change within 60 s", dir.display());
}

/// Poll until npm has finished in some staging directory (or the build exited).
fn wait_for_npm(staging: &Path, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let done = std::fs::read_dir(staging)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("node_modules/.package-lock.json").exists());
        if done || child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("npm did not finish within 60 s");
}

/// The names in the staging directory, sorted.
/// A `build` started in the background, once it has made its staging dir (at most 60 s).
pub(crate) fn build_until_staging(dir: &Path, args: &[&str]) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(args)
        .current_dir(dir)
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while staging_listing(dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

pub(crate) fn staging_listing(dir: &Path) -> Vec<String> {
    let staging = dir.join("target/scorekeep-deploy-cache/staging");
    let mut names: Vec<String> = std::fs::read_dir(staging)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Wait until no process works inside `dir` (a killed build's npm carries on for a while).
fn wait_until_unused(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let busy = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|p| std::fs::read_link(p.path().join("cwd")).ok())
            .any(|cwd| cwd.starts_with(dir));
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("a process still works in {} after 60 s", dir.display());
}

#[test]
fn a_killed_builds_staging_dir_is_removed_and_a_failed_ones_kept_until_rebuilt() {
    let dir = xray_project();
    build_sha(dir.path(), "random-name");
    let staging = dir.path().join("target/scorekeep-deploy-cache/staging");

    // Killed while npm installs: its staging dir stays behind.
    let mut child = build_until_staging(dir.path(), &["build", "--force", "random-name"]);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let leftover = staging_listing(dir.path());
    assert_eq!(leftover.len(), 1, "{leftover:?}");
    wait_until_unused(&staging.join(&leftover[0]));

    // The next build removes it; its own failed install is kept for the printed command.
    let tools = tempfile::tempdir().unwrap();
    let (path, _) = fake_tools(tools.path());
    cli(dir.path())
        .args(["build", "--force", "random-name"])
        .env("PATH", &path)
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("reproduce: cd "));
    let kept = staging_listing(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_ne!(kept, leftover);
    assert!(staging.join(&kept[0]).join("package-lock.json").is_file());

    // Building another function keeps it; building this one again supersedes it.
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success();
    assert_eq!(staging_listing(dir.path()), kept);
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .success();
    assert!(staging_listing(dir.path()).is_empty());
}
