//! `build` through the binary: reproducible zips, the manifest's SHA-256 against what Lambda
//! (moto) reports, and how bad sources fail. Dependencies and lockfiles: build_dependencies.rs;
//! the cache: build_cache.rs; the project lock: build_lock.rs.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::util::{self, cli, files_under, manifest, project_copy};
use predicates::prelude::*;

pub(crate) const FUNCTIONS: [&str; 2] = ["random-name", "scorekeep-worker"];

/// A project copy on `tracing_sdk: xray`: these tests edit, and look for, what the functions'
/// own manifests (package.json, package-lock.json, requirements.txt) hold, which `xray` builds
/// from. The default, `otel`, builds from `otel/` (default_sdk.rs, otel.rs).
pub(crate) fn xray_project() -> tempfile::TempDir {
    let dir = project_copy();
    util::use_tracing_sdk(dir.path(), "xray");
    dir
}

pub(crate) fn artifact_dir(dir: &Path) -> PathBuf {
    dir.join("target/scorekeep-deploy")
}

pub(crate) fn zip_path(dir: &Path, function: &str) -> PathBuf {
    artifact_dir(dir).join(format!("{function}.zip"))
}

/// One zip entry: name, unix mode, whether it is a directory, and its (year, month, day).
pub(crate) type EntryInfo = (String, u32, bool, (u16, u8, u8));

/// Every entry, in archive order.
pub(crate) fn zip_entries(path: &Path) -> Vec<EntryInfo> {
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

pub(crate) fn set_mtimes(dir: &Path, when: SystemTime) {
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

pub(crate) fn fake_tools(dir: &Path) -> (PathBuf, PathBuf) {
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
