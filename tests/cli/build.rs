//! `build` through the binary: reproducible zips, the cache, cross-target wheels, the
//! manifest's SHA-256 against what Lambda (moto) reports, and how bad inputs fail.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::util::{self, cli, edit, files_under, manifest, project_copy};
use predicates::prelude::*;

const FUNCTIONS: [&str; 2] = ["random-name", "scorekeep-worker"];

/// A project copy on `tracing_sdk: xray`: these tests edit, and look for, what the functions'
/// own manifests (package.json, package-lock.json, requirements.txt) hold, which `xray` builds
/// from. The default, `otel`, builds from `otel/` (default_sdk.rs, otel.rs).
fn xray_project() -> tempfile::TempDir {
    let dir = project_copy();
    util::use_tracing_sdk(dir.path(), "xray");
    dir
}

fn artifact_dir(dir: &Path) -> PathBuf {
    dir.join("target/scorekeep-deploy")
}

fn zip_path(dir: &Path, function: &str) -> PathBuf {
    artifact_dir(dir).join(format!("{function}.zip"))
}

/// One zip entry: name, unix mode, whether it is a directory, and its (year, month, day).
type EntryInfo = (String, u32, bool, (u16, u8, u8));

/// Every entry, in archive order.
fn zip_entries(path: &Path) -> Vec<EntryInfo> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let f = archive.by_index(i).unwrap();
            let t = f.last_modified().unwrap();
            (
                f.name().to_string(),
                f.unix_mode().unwrap_or(0),
                f.is_dir(),
                (t.year(), t.month(), t.day()),
            )
        })
        .collect()
}

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

fn set_mtimes(dir: &Path, when: SystemTime) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            std::fs::OpenOptions::new()
                .write(true)
                .open(entry.path())
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
}

#[test]
fn unknown_function_is_a_usage_error_listing_the_valid_ones() {
    let dir = xray_project();
    cli(dir.path())
        .args(["build", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown function `nope`"))
        .stderr(predicate::str::contains("random-name, scorekeep-worker"));
    assert!(!artifact_dir(dir.path()).exists());
}

/// `bundler: none` and `bytecode: false`: the bundles ship what npm and pip installed, as is.
fn unoptimised(dir: &Path) {
    let config = dir.join("scorekeep-deploy.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for (key, value) in [
        ("index.handler", "bundler: none"),
        ("lambda_function.lambda_handler", "bytecode: false"),
    ] {
        let from = format!("    handler: {key}\n");
        assert!(text.contains(&from));
        text = text.replacen(&from, &format!("{from}    {value}\n"), 1);
    }
    std::fs::write(&config, text).unwrap();
}

#[test]
fn same_inputs_in_two_directories_with_different_mtimes_give_identical_zips() {
    let first = xray_project();
    let second = xray_project();
    // What npm and pip installed, checked below (optimised bundles: tests/optimised_bundles.rs).
    for dir in [&first, &second] {
        unoptimised(dir.path());
    }
    set_mtimes(
        second.path(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    );
    for dir in [&first, &second] {
        cli(dir.path()).arg("build").assert().success();
    }
    for function in FUNCTIONS {
        let a = std::fs::read(zip_path(first.path(), function)).unwrap();
        let b = std::fs::read(zip_path(second.path(), function)).unwrap();
        assert!(a == b, "{function}: the two builds differ");
        let (ma, mb) = (
            manifest(first.path(), function),
            manifest(second.path(), function),
        );
        assert_eq!(ma["sha256_base64"], mb["sha256_base64"]);
        assert_eq!(ma["inputs_hash"], mb["inputs_hash"]);
        assert_eq!(ma, mb, "{function}: manifests differ");
        assert_eq!(ma["zip_bytes"].as_u64().unwrap(), a.len() as u64);

        // The zip's own invariants: sorted, one timestamp, normalized modes, no directories,
        // only relative paths.
        let entries = zip_entries(&zip_path(first.path(), function));
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{function}: entries not sorted");
        for (name, mode, is_dir, date) in &entries {
            assert!(!is_dir, "{function}: directory entry {name}");
            assert_eq!(*date, (1980, 1, 1), "{name}");
            assert!(matches!(mode & 0o777, 0o644 | 0o755), "{name}: {mode:o}");
            assert!(
                !name.starts_with('/') && !name.split('/').any(|c| c == ".."),
                "{name}"
            );
        }
    }

    // What is left out of each bundle.
    let node = zip_entries(&zip_path(first.path(), "random-name"));
    let node: Vec<&str> = node.iter().map(|e| e.0.as_str()).collect();
    assert!(node.contains(&"index.js") && node.contains(&"package.json"));
    assert!(node.contains(&"node_modules/chance/chance.js"));
    assert!(node.contains(&"node_modules/aws-xray-sdk-core/package.json"));
    assert!(
        node.iter().all(|n| !n.starts_with("test/")),
        "tests are not bundled"
    );
    assert!(node
        .iter()
        .all(|n| !n.contains("/.bin/") && !n.ends_with(".d.ts")));
    assert!(!node.contains(&"node_modules/.package-lock.json"));
    let m = manifest(first.path(), "random-name");
    let deps = m["dependencies"].as_array().unwrap();
    assert!(
        deps.iter()
            .any(|d| d["name"] == "chance" && d["version"] == "1.1.13"),
        "{deps:?}"
    );
    assert!(
        deps.iter().any(|d| d["name"] == "aws-xray-sdk-core"),
        "{deps:?}"
    );

    let py = zip_entries(&zip_path(first.path(), "scorekeep-worker"));
    let py: Vec<&str> = py.iter().map(|e| e.0.as_str()).collect();
    assert!(py.contains(&"lambda_function.py"));
    assert!(py.iter().any(|n| n.starts_with("aws_xray_sdk/")));
    assert!(py.iter().any(|n| n.starts_with("requests/")));
    for n in &py {
        assert!(!n.starts_with("tests/") && !n.starts_with("bin/"), "{n}");
        assert!(!n.contains("__pycache__") && !n.ends_with(".pyc"), "{n}");
        assert!(
            !n.ends_with(".dist-info/RECORD") && !n.ends_with(".dist-info/INSTALLER"),
            "{n}"
        );
        for provided in [
            "boto3/",
            "botocore/",
            "s3transfer/",
            "jmespath/",
            "dateutil/",
            "six.py",
        ] {
            assert!(!n.starts_with(provided), "runtime-provided {n} bundled");
        }
    }
    let m = manifest(first.path(), "scorekeep-worker");
    assert_eq!(m["runtime"], "python3.13");
    assert_eq!(m["architecture"], "x86_64");
    assert_eq!(
        m["runtime_provided_excluded"],
        serde_json::json!([
            "boto3",
            "botocore",
            "jmespath",
            "python-dateutil",
            "s3transfer",
            "six"
        ])
    );
    let deps = m["dependencies"].as_array().unwrap();
    assert!(
        deps.iter()
            .any(|d| d["name"] == "aws-xray-sdk" && d["version"] == "2.15.0"),
        "{deps:?}"
    );
    assert!(
        m["zip_bytes"].as_u64().unwrap() < 5_000_000,
        "worker zip over 5 MB"
    );
}

fn fake_tools(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fake-bin");
    let marker = dir.join("fake-tool-ran");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["npm", "python3", "python", "pip", "pip3"] {
        let path = bin.join(tool);
        // A python run only to ask its version (finding the interpreter for bytecode) is
        // neither npm nor pip: it fails like a missing one, without counting as a run.
        let record = match tool.starts_with("python") {
            true => "case \"$1\" in -c) ;; *) echo \"{tool} $*\" >> '{marker}';; esac",
            false => "echo \"{tool} $*\" >> '{marker}'",
        }
        .replace("{tool}", tool)
        .replace("{marker}", &marker.display().to_string());
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\n{record}\necho 'fake {tool}: this build should not run me' >&2\nexit 1\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (PathBuf::from(path), marker)
}

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

#[test]
fn needs_s3_upload_is_flagged_over_the_direct_upload_limit() {
    let dir = xray_project();
    std::fs::remove_file(
        dir.path()
            .join("functions/scorekeep-worker/requirements.txt"),
    )
    .unwrap();
    let out = cli(dir.path())
        .args(["build", "scorekeep-worker", "--output", "json"])
        .env("SCOREKEEP_MAX_DIRECT_UPLOAD_BYTES", "100")
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["artifacts"][0]["manifest"]["needs_s3_upload"], true);
    assert_eq!(
        manifest(dir.path(), "scorekeep-worker")["needs_s3_upload"],
        true
    );
    let text = cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .env("SCOREKEEP_MAX_DIRECT_UPLOAD_BYTES", "100")
        .assert()
        .success();
    let stdout = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("cached") && stdout.contains("uploaded through S3"),
        "{stdout}"
    );
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

#[test]
fn escaping_symlink_is_refused_and_the_previous_artifact_is_kept() {
    let dir = xray_project();
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .success();
    let before = files_under(&artifact_dir(dir.path()));
    let zip_before = std::fs::read(zip_path(dir.path(), "random-name")).unwrap();

    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("credentials");
    std::fs::write(&secret, "secret").unwrap();
    let link = dir.path().join("functions/random-name/config.json");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("function `random-name`: symlink"))
        .stderr(predicate::str::contains(
            "functions/random-name/config.json points to",
        ))
        .stderr(predicate::str::contains(format!(
            "points to {}",
            secret.display()
        )))
        .stderr(predicate::str::contains("outside"));
    assert_eq!(files_under(&artifact_dir(dir.path())), before);
    assert_eq!(
        std::fs::read(zip_path(dir.path(), "random-name")).unwrap(),
        zip_before
    );

    // A link to a directory outside is refused the same way.
    std::fs::remove_file(&link).unwrap();
    let dir_link = dir.path().join("functions/random-name/lib");
    std::os::unix::fs::symlink(outside.path(), &dir_link).unwrap();
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "functions/random-name/lib points to",
        ));
}

#[test]
fn oversize_bundle_is_refused_naming_the_largest_directories() {
    let dir = xray_project();
    unoptimised(dir.path());
    cli(dir.path())
        .args(["build", "random-name"])
        .env("SCOREKEEP_MAX_UNZIPPED_BYTES", "2000000")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "function `random-name`: the bundle is",
        ))
        .stderr(predicate::str::contains(
            "over the unzipped-size limit of 2.00 MB (2000000 bytes)",
        ))
        .stderr(predicate::str::contains("node_modules/@aws-sdk"));
    assert!(files_under(&artifact_dir(dir.path())).is_empty());
}

#[test]
fn zip_sha256_is_what_lambda_reports_as_code_sha256() {
    if util::skip_emulator() {
        return;
    }
    let dir = xray_project();
    cli(dir.path()).arg("render").assert().success();
    cli(dir.path())
        .args(["build", "random-name"])
        .assert()
        .success();
    let expected = manifest(dir.path(), "random-name")["sha256_base64"]
        .as_str()
        .unwrap()
        .to_string();
    let zip = std::fs::read(zip_path(dir.path(), "random-name")).unwrap();
    let template =
        std::fs::read_to_string(artifact_dir(dir.path()).join("templates/scorekeep-lambda.yaml"))
            .unwrap();
    let region = util::unique_region();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = util::sdk_config(region).await;
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        cfn.create_stack()
            .stack_name("scorekeep-lambda")
            .template_body(template)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create_stack");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let stacks = cfn
                .describe_stacks()
                .stack_name("scorekeep-lambda")
                .send()
                .await
                .expect("describe_stacks");
            let status = stacks.stacks()[0]
                .stack_status()
                .unwrap()
                .as_str()
                .to_string();
            if status == "CREATE_COMPLETE" {
                break;
            }
            assert!(
                status.ends_with("IN_PROGRESS") && std::time::Instant::now() < deadline,
                "stack is {status}: {:?}",
                stacks.stacks()[0].stack_status_reason()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lambda = aws_sdk_lambda::Client::new(&config);
        let updated = lambda
            .update_function_code()
            .function_name("random-name")
            .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
            .send()
            .await
            .expect("update_function_code");
        assert_eq!(updated.code_sha256(), Some(expected.as_str()));
        let got = lambda
            .get_function()
            .function_name("random-name")
            .send()
            .await
            .expect("get_function");
        assert_eq!(
            got.configuration().and_then(|c| c.code_sha256()),
            Some(expected.as_str())
        );
    });
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
fn staging_listing(dir: &Path) -> Vec<String> {
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
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(["build", "--force", "random-name"])
        .current_dir(dir.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while staging_listing(dir.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
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

#[test]
fn concurrent_builds_in_one_project_wait_for_each_other() {
    let dir = xray_project();
    let bin = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let spawn = || {
        std::process::Command::new(&bin)
            .args(["build", "--force", "--output", "json"])
            .current_dir(dir.path())
            .env("CI", "true")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The waiter names the holder's pid only when the holder has written it already, so the
    // count below matches the line without it.
    let (first, second) = (spawn(), spawn());
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut waited = 0;
    let mut shas = Vec::new();
    for out in &outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        waited += stderr
            .matches("waiting for another scorekeep-deploy")
            .count();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for a in report["artifacts"].as_array().unwrap() {
            shas.push((a["function"].clone(), a["manifest"]["sha256_hex"].clone()));
        }
    }
    assert_eq!(waited, 1, "exactly one run waited for the other");
    assert_eq!(shas[..2], shas[2..], "the two builds made different zips");
    for (function, sha) in &shas[..2] {
        assert_eq!(
            manifest(dir.path(), function.as_str().unwrap())["sha256_hex"],
            *sha
        );
    }
}

#[test]
fn update_functions_waits_for_a_build_in_the_same_project() {
    if util::skip_emulator() {
        return;
    }
    let dir = xray_project();
    let region = util::unique_region();
    let mut build = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(["build", "--force"])
        .current_dir(dir.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The build holds the lock once it creates a staging dir.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while staging_listing(dir.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    util::moto_cli(dir.path(), region, &["update-functions"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "waiting for another scorekeep-deploy (pid ",
        ))
        .stderr(predicate::str::contains("does not exist"));
    // It went on only after the build had finished.
    assert!(build.try_wait().unwrap().is_some_and(|s| s.success()));
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

#[test]
fn ctrl_c_while_waiting_for_the_project_lock_stops_at_once() {
    use std::os::fd::AsRawFd;
    let dir = xray_project();
    let cache = dir.path().join("target/scorekeep-deploy-cache");
    std::fs::create_dir_all(&cache).unwrap();
    // This test process plays the other run: it holds the lock for the whole test.
    let held = std::fs::File::create(cache.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns and keeps open.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(["build", "random-name"])
        .current_dir(dir.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains("waiting for another scorekeep-deploy") {
        let n = stderr.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "build ended without waiting: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let sent = std::time::Instant::now();
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert!(rest.contains("waiting for the lock"), "{rest}");
    assert!(!dir
        .path()
        .join("target/scorekeep-deploy/random-name.zip")
        .exists());
    drop(held);
}
