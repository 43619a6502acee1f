//! `build` and the functions' dependencies: cross-target wheels, and lockfiles and requirements
//! that are missing, out of date, unpinned, unverified or fail pip's hashes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::build::{artifact_dir, fake_tools, xray_project, zip_entries, zip_path};
use crate::util::{cli, edit, files_under, manifest};
use predicates::prelude::*;

fn zip_file_text(path: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut s = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn python_arm64_bundle_has_aarch64_cp313_wheels() {
    let dir = xray_project();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "runtime: python3.13\n    architecture: x86_64",
        "runtime: python3.13\n    architecture: arm64",
    );
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success();
    let zip = zip_path(dir.path(), "scorekeep-worker");
    let names: Vec<String> = zip_entries(&zip).into_iter().map(|e| e.0).collect();
    let so: Vec<&String> = names.iter().filter(|n| n.ends_with(".so")).collect();
    for package in ["charset_normalizer/", "wrapt/"] {
        assert!(
            so.iter().any(|n| n.starts_with(package) && n.ends_with(".cpython-313-aarch64-linux-gnu.so")),
            "no cp313 aarch64 extension in {package}: {so:?}"
        );
    }
    assert!(so.iter().all(|n| !n.contains("x86_64")), "{so:?}");
    for dist in [
        "charset_normalizer-3.5.2.dist-info/WHEEL",
        "wrapt-2.5.2.dist-info/WHEEL",
    ] {
        let wheel = zip_file_text(&zip, dist);
        assert!(
            wheel
                .lines()
                .any(|l| l.starts_with("Tag: cp313-cp313-manylinux") && l.ends_with("_aarch64")),
            "{dist}:\n{wheel}"
        );
    }
    let m = manifest(dir.path(), "scorekeep-worker");
    assert_eq!(m["architecture"], "arm64");
    assert_eq!(m["platform_tags"][0], "manylinux_2_34_aarch64");
    assert!(m["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "wrapt" && d["version"] == "2.5.2"));
}

#[test]
fn missing_lockfile_fails_that_function_only_and_leaves_no_artifact_for_it() {
    let dir = xray_project();
    std::fs::remove_file(dir.path().join("functions/random-name/package-lock.json")).unwrap();
    cli(dir.path())
        .arg("build")
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("function `random-name`"))
        .stderr(predicate::str::contains("there is no package-lock.json"))
        .stderr(predicate::str::contains("run `npm install` in"))
        .stderr(predicate::str::contains("commit package-lock.json"));
    // The other function still built; nothing was written for the failed one.
    let files = files_under(&artifact_dir(dir.path()));
    assert_eq!(
        files,
        vec![
            PathBuf::from("scorekeep-worker.json"),
            PathBuf::from("scorekeep-worker.zip")
        ]
    );
}

#[test]
fn out_of_date_lockfile_names_the_difference() {
    let dir = xray_project();
    edit(
        dir.path(),
        "functions/random-name/package.json",
        "\"chance\": \"1.1.13\"",
        "\"chance\": \"1.1.12\"",
    );
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "package-lock.json is out of date with package.json",
        ))
        .stderr(predicate::str::contains("chance@1.1.12"))
        .stderr(predicate::str::contains("run `npm install` in"));
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
}

/// Replace every hash of `package` in the worker's lock with a wrong one.
fn corrupt_hashes(dir: &Path, package: &str) {
    let path = dir.join("functions/scorekeep-worker/requirements.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            inside = line.starts_with(&format!("{package}=="));
        }
        if inside && line.trim_start().starts_with("--hash=sha256:") {
            let cont = if line.ends_with('\\') { " \\" } else { "" };
            out.push_str(&format!("    --hash=sha256:{}{cont}\n", "0".repeat(64)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_ne!(out, text, "{package} not found");
    std::fs::write(&path, out).unwrap();
}

#[test]
fn hash_mismatch_shows_pip_output_and_the_command_to_reproduce() {
    let dir = xray_project();
    corrupt_hashes(dir.path(), "idna");
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "function `scorekeep-worker`: pip install failed",
        ))
        .stderr(predicate::str::contains(
            "does not match the hashes in requirements.txt",
        ))
        .stderr(predicate::str::contains("idna==3.20"))
        .stderr(predicate::str::contains("reproduce: cd "))
        .stderr(predicate::str::contains(
            "-m pip install --target target --requirement requirements.txt --require-hashes",
        ))
        .stderr(predicate::str::contains("pip-compile --generate-hashes"));
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
    // The staging dir is kept beside the build cache so the printed command can be rerun.
    let staging = dir.path().join("target/scorekeep-deploy-cache/staging");
    let kept: Vec<_> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("scorekeep-worker-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let filtered = std::fs::read_to_string(kept[0].join("requirements.txt")).unwrap();
    assert!(
        filtered.contains("idna==3.20") && !filtered.contains("boto3"),
        "{filtered}"
    );
}

#[test]
fn unknown_package_is_a_clear_error() {
    let dir = xray_project();
    let path = dir
        .path()
        .join("functions/scorekeep-worker/requirements.txt");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "scorekeep-no-such-package==1.0.0 \\\n    --hash=sha256:{}\n",
        "0".repeat(64)
    ));
    std::fs::write(&path, text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    cli(dir.path())
        .env("TMPDIR", tmp.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("function `scorekeep-worker`: pip install failed: no wheel of scorekeep-no-such-package==1.0.0"))
        .stderr(predicate::str::contains("No matching distribution found"))
        .stderr(predicate::str::contains("hint: check that `scorekeep-no-such-package==1.0.0` exists"));
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
}

#[test]
fn unpinned_requirement_is_refused_at_its_line_before_pip_runs() {
    let dir = xray_project();
    edit(
        dir.path(),
        "functions/scorekeep-worker/requirements.txt",
        "idna==3.20",
        "idna>=3.20",
    );
    let text = std::fs::read_to_string(
        dir.path()
            .join("functions/scorekeep-worker/requirements.txt"),
    )
    .unwrap();
    let line = text.lines().position(|l| l.starts_with("idna>=")).unwrap() + 1;
    let tools = tempfile::tempdir().unwrap();
    let (path, marker) = fake_tools(tools.path());
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .env("PATH", &path)
        .env_remove("SCOREKEEP_PYTHON")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "requirements.txt:{line}: `idna>=3.20` is not pinned"
        )));
    assert!(!marker.exists());
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
}

/// Rewrite random-name's lockfile with `change` applied to its `packages` map.
fn edit_lockfile(dir: &Path, change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = dir.join("functions/random-name/package-lock.json");
    let mut lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    change(lock["packages"].as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
}

#[test]
fn a_lockfile_without_integrity_or_with_a_foreign_url_is_refused_before_npm_runs() {
    let dir = xray_project();
    let tools = tempfile::tempdir().unwrap();
    let (path, marker) = fake_tools(tools.path());
    edit_lockfile(dir.path(), |packages| {
        for package in packages.values_mut() {
            if let Some(p) = package.as_object_mut() {
                p.remove("integrity");
            }
        }
    });
    cli(dir.path())
        .args(["build", "random-name"])
        .env("PATH", &path)
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "package-lock.json has no integrity hash for 39 package(s): node_modules/@aws-sdk/client-sns, ",
        ))
        .stderr(predicate::str::contains("and 34 more; npm would install them unverified"))
        .stderr(predicate::str::contains("hint: run `npm install` in"))
        .stderr(predicate::str::contains("commit the package-lock.json"));

    let dir = xray_project();
    edit_lockfile(dir.path(), |packages| {
        packages["node_modules/chance"]["resolved"] =
            "https://evil.example/chance/-/chance-1.1.13.tgz".into();
    });
    cli(dir.path())
        .args(["build", "random-name"])
        .env("PATH", &path)
        .env_remove("SCOREKEEP_NPM")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "node_modules/chance would be fetched from https://evil.example/chance/-/chance-1.1.13.tgz: not the configured registry (registry.npmjs.org)",
        ))
        .stderr(predicate::str::contains("set `registry=`"));
    assert!(!marker.exists(), "npm ran");
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
}
