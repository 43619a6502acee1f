//! Issue 23: `tracing_sdk: otel` is the default. A config that names no SDK builds
//! OpenTelemetry bundles and is not warned; `xray` builds as before but each run says, once,
//! that the X-Ray SDKs reach end of support and how to switch, on stderr and in `--output
//! json`'s `warnings` (stdout stays one JSON document).

use std::path::Path;

use crate::util::{cli, manifest, project_copy, stdout_json, use_tracing_sdk, CONFIG};

/// The config without any `tracing_sdk:` line.
fn drop_tracing_sdk(dir: &Path) {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("tracing_sdk:"))
        .collect();
    assert!(kept.len() < text.lines().count(), "{text}");
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
}

fn dependency_names(dir: &Path, function: &str) -> Vec<String> {
    manifest(dir, function)["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

fn zip_names(dir: &Path, function: &str) -> Vec<String> {
    let path = dir.join(format!("target/scorekeep-deploy/{function}.zip"));
    let archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    archive.file_names().map(str::to_string).collect()
}

/// The lines of `stderr` about the X-Ray SDKs' end of support.
fn sunset_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("end of support"))
        .collect()
}

#[test]
fn without_tracing_sdk_build_makes_opentelemetry_bundles_and_warns_of_nothing() {
    let dir = project_copy();
    drop_tracing_sdk(dir.path());
    let out = cli(dir.path())
        .args(["build", "--output", "json"])
        .assert()
        .success();
    let output = out.get_output();
    let report = stdout_json(output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(sunset_lines(&stderr).is_empty(), "{stderr}");
    let warnings = report["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .all(|w| !w.as_str().unwrap().contains("X-Ray")),
        "{report:#}"
    );

    let node = dependency_names(dir.path(), "random-name");
    assert!(
        node.iter().any(|d| d == "@opentelemetry/sdk-trace-node"),
        "{node:?}"
    );
    assert!(node.iter().all(|d| !d.starts_with("aws-xray")), "{node:?}");
    let py = dependency_names(dir.path(), "scorekeep-worker");
    assert!(py.iter().any(|d| d == "opentelemetry-sdk"), "{py:?}");
    assert!(py.iter().all(|d| !d.starts_with("aws-xray")), "{py:?}");
    let worker = zip_names(dir.path(), "scorekeep-worker");
    assert!(
        worker.iter().any(|n| n == "tracing_otel_sdk.py"),
        "{worker:?}"
    );
    assert!(worker.iter().all(|n| n != "tracing_xray.py"), "{worker:?}");
}

#[test]
fn xray_warns_once_per_run_naming_its_functions_with_the_end_of_support() {
    let dir = project_copy();
    use_tracing_sdk(dir.path(), "xray");
    let out = cli(dir.path())
        .args(["build", "--output", "json"])
        .assert()
        .success();
    let output = out.get_output();
    let report = stdout_json(output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = sunset_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    assert!(line.starts_with("warning: "), "{line}");
    for said in [
        "`random-name`, `scorekeep-worker`",
        "tracing_sdk: xray",
        "maintenance since 2026-02-25",
        "end of support on 2027-02-25",
        "set `tracing_sdk: otel`",
        "docs/tracing.md",
    ] {
        assert!(line.contains(said), "no `{said}` in: {line}");
    }
    let warnings = report["warnings"].as_array().expect("warnings in JSON");
    assert_eq!(warnings.len(), 1, "the same warning, once: {warnings:?}");
    assert_eq!(format!("warning: {}", warnings[0].as_str().unwrap()), line);
    // Still X-Ray bundles: the warning changes nothing that is built.
    let node = dependency_names(dir.path(), "random-name");
    assert!(node.iter().any(|d| d == "aws-xray-sdk-core"), "{node:?}");

    // One function back on otel: the warning names only the other, in text output too.
    crate::util::edit(dir.path(), CONFIG, "tracing_sdk: xray", "tracing_sdk: otel");
    let out = cli(dir.path()).arg("build").assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines = sunset_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("function `scorekeep-worker` uses"),
        "{stderr}"
    );
    assert!(!lines[0].contains("random-name"), "{stderr}");
}
