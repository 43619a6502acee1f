//! The cold-start-optimised bundles `build` ships by default (issue 12): Python bytecode
//! compiled by the runtime's own Python with hash-based invalidation, and random-name as one
//! esbuild file. Reproducible across directories, actually used by the interpreter, honest
//! when there is no interpreter, traced as before, and a code change for `plan`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    cli, edit, manifest, moto_cli, project_copy, skip_emulator, tree_nodes, unique_region, CONFIG,
};
use serde_json::Value;

/// A project copy on `tracing_sdk: xray`, the SDK these bundles were shaped around (issue 12)
/// and whose files the tests look for; otel.rs has the same packaging for `otel`.
fn xray_project() -> tempfile::TempDir {
    let dir = project_copy();
    crate::util::use_tracing_sdk(dir.path(), "xray");
    dir
}

fn artifact(dir: &Path, name: &str) -> PathBuf {
    dir.join("target/scorekeep-deploy").join(name)
}

/// Every entry of a zip: name and contents.
fn entries(zip: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_string(), bytes)
        })
        .collect()
}

/// pyenv's newest Python 3.13 (these machines have one); `None` says why the test is skipped.
fn python313() -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("3.13."))
        .map(|e| e.path().join("bin/python3.13"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    let python = found.pop();
    if python.is_none() {
        crate::util::cannot_run("no Python 3.13 under pyenv (pyenv install 3.13)");
    }
    python
}

/// `importlib.util.MAGIC_NUMBER` of `python`.
fn magic(python: &Path) -> Vec<u8> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.util,sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
        ])
        .output()
        .unwrap();
    hex::decode(String::from_utf8(out.stdout).unwrap()).unwrap()
}

#[test]
fn optimised_bundles_are_byte_identical_across_directories_and_hold_what_they_should() {
    let Some(python) = python313() else { return };
    let first = xray_project();
    let second = xray_project();
    let out = cli(first.path())
        .args(["build", "--output", "json"])
        .assert()
        .success();
    cli(second.path()).arg("build").assert().success();
    // The JSON report carries the manifests, packaging included.
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let reported = |f: &str| {
        report["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["function"] == f)
            .unwrap()["manifest"]
            .clone()
    };
    assert_eq!(reported("random-name")["bundler"]["name"], "esbuild");
    assert_eq!(
        reported("scorekeep-worker")["bytecode"]["mode"],
        "unchecked-hash"
    );
    for name in [
        "random-name.zip",
        "random-name.json",
        "random-name.js.map",
        "scorekeep-worker.zip",
        "scorekeep-worker.json",
    ] {
        let a = std::fs::read(artifact(first.path(), name)).unwrap();
        let b = std::fs::read(artifact(second.path(), name)).unwrap();
        assert!(a == b, "{name}: the two builds differ");
    }

    // random-name: one minified file (and package.json), the map beside the zip, not in it.
    let node = entries(&artifact(first.path(), "random-name.zip"));
    let names: Vec<&str> = node.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["index.js", "package.json"]);
    let zip_bytes = std::fs::metadata(artifact(first.path(), "random-name.zip"))
        .unwrap()
        .len();
    assert!(
        zip_bytes <= 300 * 1024,
        "random-name zip is {zip_bytes} bytes"
    );
    let bundle = String::from_utf8(node[0].1.clone()).unwrap();
    assert!(
        !bundle.contains("sourceMappingURL"),
        "the map is not shipped"
    );
    let map: Value = serde_json::from_slice(
        &std::fs::read(artifact(first.path(), "random-name.js.map")).unwrap(),
    )
    .unwrap();
    let sources: Vec<&str> = map["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(sources.contains(&"../tree/index.js"), "{sources:?}");
    assert!(
        sources
            .iter()
            .any(|s| s.starts_with("../tree/node_modules/aws-xray-sdk-core/")),
        "{sources:?}"
    );
    let m = manifest(first.path(), "random-name");
    assert_eq!(m["bundler"]["name"], "esbuild");
    assert_eq!(m["bundler"]["format"], "cjs");
    assert_eq!(m["bundler"]["target"], "node22");
    assert_eq!(m["bundler"]["sourcemap"], "external");
    assert!(m["bundler"]["version"].as_str().is_some());
    // What was bundled is still listed.
    assert!(m["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "aws-xray-sdk-core"));

    // The worker: a hash-based, unchecked pyc for 3.13 beside every module, nothing else.
    let worker = entries(&artifact(first.path(), "scorekeep-worker.zip"));
    let magic = magic(&python);
    let sources: Vec<&str> = worker
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.ends_with(".py"))
        .collect();
    assert!(sources.contains(&"lambda_function.py"));
    assert!(sources.contains(&"aws_xray_sdk/core/recorder.py"));
    for source in &sources {
        let (dir, file) = source.rsplit_once('/').unwrap_or(("", source));
        let stem = file.trim_end_matches(".py");
        let pyc = match dir {
            "" => format!("__pycache__/{stem}.cpython-313.pyc"),
            _ => format!("{dir}/__pycache__/{stem}.cpython-313.pyc"),
        };
        let (_, bytes) = worker
            .iter()
            .find(|(n, _)| *n == pyc)
            .unwrap_or_else(|| panic!("no {pyc} for {source}"));
        assert_eq!(&bytes[..4], &magic[..], "{pyc}: not Python 3.13's magic");
        // PEP 552 flags: bit 0 hash-based, bit 1 check_source (off: unchecked).
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0], "{pyc}: not unchecked-hash");
    }
    let pycs = worker.iter().filter(|(n, _)| n.ends_with(".pyc")).count();
    assert_eq!(pycs, sources.len());
    let m = manifest(first.path(), "scorekeep-worker");
    assert_eq!(m["bytecode"]["mode"], "unchecked-hash");
    assert_eq!(m["bytecode"]["cache_tag"], "cpython-313");
    assert!(m["bytecode"]["interpreter"]
        .as_str()
        .unwrap()
        .starts_with("3.13."));
    assert_eq!(m["bytecode"]["compiled"], sources.len() as u64);
}

/// Unzip the worker and replace two modules' sources by code that fails: an interpreter
/// that uses the shipped bytecode never reads them.
fn import_with_sources_broken(python: &Path, zip: &Path) -> std::process::Output {
    let root = tempfile::tempdir().unwrap();
    zip::ZipArchive::new(std::fs::File::open(zip).unwrap())
        .unwrap()
        .extract(root.path())
        .unwrap();
    for module in ["lambda_function.py", "requests/__init__.py"] {
        std::fs::write(
            root.path().join(module),
            "raise SystemExit('the source was compiled')\n",
        )
        .unwrap();
    }
    Command::new(python)
        .args(["-S", "-B", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import lambda_function, requests; print('imported from bytecode')"])
        .arg(root.path())
        .output()
        .unwrap()
}

#[test]
fn python_3_13_loads_the_shipped_bytecode_and_bytecode_false_ships_source() {
    let Some(python) = python313() else { return };
    let dir = xray_project();
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success();
    let zip = artifact(dir.path(), "scorekeep-worker.zip");
    let out = import_with_sources_broken(&python, &zip);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported from bytecode"
    );
    let optimised = manifest(dir.path(), "scorekeep-worker");

    // `bytecode: false`: source only, so the broken source is what runs; another bundle.
    edit(
        dir.path(),
        CONFIG,
        "    handler: lambda_function.lambda_handler\n",
        "    handler: lambda_function.lambda_handler\n    bytecode: false\n",
    );
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success();
    assert!(entries(&zip).iter().all(|(n, _)| !n.ends_with(".pyc")));
    let out = import_with_sources_broken(&python, &zip);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the source was compiled"));
    let plain = manifest(dir.path(), "scorekeep-worker");
    assert!(plain.get("bytecode").is_none(), "{plain}");
    assert_ne!(plain["sha256_base64"], optimised["sha256_base64"]);
}

/// A PATH with this machine's tools but no Python 3.13 and no uv (pip runs with `python3`).
fn path_without_python313() -> std::ffi::OsString {
    let original = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&original)
        .filter(|d| !d.join("python3.13").exists() && !d.join("uv").exists())
        .collect();
    std::env::join_paths(kept).unwrap()
}

#[test]
fn without_python_3_13_the_worker_ships_source_says_so_once_and_rebuilds_when_it_appears() {
    let Some(_) = python313() else { return };
    let dir = xray_project();
    let empty = tempfile::tempdir().unwrap();
    let python3 = crate::util::venv_bin("python3");
    let out = cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .env("PATH", path_without_python313())
        .env("PYENV_ROOT", empty.path())
        .env("HOME", empty.path())
        .env("SCOREKEEP_PYTHON", &python3)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(
        stderr.matches("no Python 3.13 found").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("pyenv install 3.13"), "{stderr}");
    let zip = artifact(dir.path(), "scorekeep-worker.zip");
    assert!(entries(&zip).iter().all(|(n, _)| !n.ends_with(".pyc")));
    let m = manifest(dir.path(), "scorekeep-worker");
    assert_eq!(m["bytecode"]["mode"], "none", "{m}");
    assert!(m["bytecode"]["interpreter"].is_null());

    // With the interpreter back, the same inputs build again, now with bytecode.
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success()
        .stderr(predicates::str::contains("scorekeep-worker: built"));
    assert_eq!(
        manifest(dir.path(), "scorekeep-worker")["bytecode"]["mode"],
        "unchecked-hash"
    );
    assert!(entries(&zip).iter().any(|(n, _)| n.ends_with(".pyc")));
}

#[test]
fn the_esbuild_bundle_keeps_the_trace_and_switching_bundler_is_a_code_change_in_plan() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = xray_project();
    moto_cli(dir.path(), region, &["up"]).assert().success();
    assert_eq!(
        manifest(dir.path(), "random-name")["bundler"]["name"],
        "esbuild"
    );

    let out = moto_cli(
        dir.path(),
        region,
        &[
            "invoke",
            "--local",
            "random-name",
            "--event",
            r#"{"userid":"u-7"}"#,
            "--output",
            "json",
        ],
    )
    .assert()
    .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let name = report["result"]["name"].as_str().unwrap();
    let all = tree_nodes(&report["trace"]);
    let annotations = all
        .iter()
        .find(|n| n["name"] == "annotations")
        .unwrap_or_else(|| panic!("no annotations subsegment: {report:#}"));
    assert_eq!(annotations["annotations"]["Name"], name);
    assert_eq!(annotations["annotations"]["UserID"], "u-7");
    let publish = all
        .iter()
        .find(|n| n["name"] == "SNS" && n["operation"] == "Publish")
        .unwrap_or_else(|| panic!("no SNS Publish subsegment: {report:#}"));
    assert_eq!(publish["http_status"], 200);

    // Nothing changed: plan is clean. `bundler: none` is another bundle: a code update.
    moto_cli(dir.path(), region, &["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
    edit(
        dir.path(),
        CONFIG,
        "    handler: index.handler\n",
        "    handler: index.handler\n    bundler: none\n",
    );
    let out = moto_cli(
        dir.path(),
        region,
        &["plan", "--detailed-exitcode", "--output", "json"],
    )
    .assert()
    .code(2);
    let plan: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let functions = plan["functions"].as_array().unwrap();
    let by_name = |n: &str| {
        functions
            .iter()
            .find(|f| f["function"] == n || f["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {plan:#}"))
    };
    assert_eq!(by_name("random-name")["code"], "would_update", "{plan:#}");
    assert_eq!(by_name("scorekeep-worker")["code"], "unchanged", "{plan:#}");
}

#[test]
fn an_esm_function_bundles_as_esm_with_an_inline_map_and_its_externals_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = "\
project: t
stacks: [{name: s, template: t.yaml}]
functions:
  esm:
    source: fn
    runtime: nodejs22.x
    handler: index.handler
    sourcemap: inline
    externals: ['@aws-sdk/client-sns']
";
    std::fs::write(dir.path().join("scorekeep-deploy.yaml"), config).unwrap();
    let source = dir.path().join("fn");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(
        source.join("package.json"),
        r#"{"name":"esm","type":"module"}"#,
    )
    .unwrap();
    std::fs::write(
        source.join("lib.js"),
        "export const word = () => 'bundled';\n",
    )
    .unwrap();
    std::fs::write(
        source.join("index.js"),
        "import { createHash } from 'node:crypto';\nimport { word } from './lib.js';\n\
export const sns = () => import('@aws-sdk/client-sns');\n\
export const handler = async () => ({ word: word(), h: createHash('sha1').update(word()).digest('hex') });\n",
    )
    .unwrap();
    cli(dir.path()).arg("build").assert().success();

    let zip = artifact(dir.path(), "esm.zip");
    let files = entries(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["index.js", "package.json"]);
    let bundle = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(
        bundle.contains("sourceMappingURL=data:application/json"),
        "inline map"
    );
    assert!(
        bundle.contains("@aws-sdk/client-sns"),
        "the external stays an import"
    );
    assert!(!artifact(dir.path(), "esm.js.map").exists());
    let m = manifest(dir.path(), "esm");
    assert_eq!(m["bundler"]["format"], "esm");
    assert_eq!(m["bundler"]["sourcemap"], "inline");
    assert_eq!(m["bundler"]["externals"][0], "@aws-sdk/client-sns");

    // Node loads it as the ES module it is, and the handler works.
    let root = tempfile::tempdir().unwrap();
    zip::ZipArchive::new(std::fs::File::open(&zip).unwrap())
        .unwrap()
        .extract(root.path())
        .unwrap();
    let out = Command::new("node")
        .args([
            "--input-type=module",
            "-e",
            "const m = await import(process.argv[1] + '/index.js'); console.log(JSON.stringify(await m.handler()));",
        ])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["word"], "bundled");
}

/// `(compiled, from the cache)` from the build's `-vv` bytecode line for the worker.
fn bytecode_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("scorekeep-worker: bytecode: "))
        .unwrap_or_else(|| panic!("no bytecode line:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let n = numbers.len();
    (numbers[n - 2], numbers[n - 1])
}

fn build_worker_verbose(dir: &Path) -> (u64, u64) {
    let out = cli(dir)
        .args(["build", "scorekeep-worker", "-vv"])
        .assert()
        .success();
    bytecode_counts(&String::from_utf8_lossy(&out.get_output().stderr))
}

/// Editing the worker's own module recompiles that module only: its dependencies' pycs come
/// from the cache. The bundle is the same bytes as one compiled with an empty cache, and a
/// damaged cache entry is compiled again rather than shipped.
#[test]
fn an_edit_recompiles_only_the_edited_module_and_the_pyc_cache_changes_no_byte() {
    if python313().is_none() {
        return;
    }
    let edited = |dir: &Path| {
        edit(
            dir,
            "functions/scorekeep-worker/lambda_function.py",
            "import os\n",
            "import os\nRELEASE = 2\n",
        )
    };
    let dir = xray_project();
    let (compiled, reused) = build_worker_verbose(dir.path());
    assert!(compiled > 100 && reused == 0, "{compiled} {reused}");
    edited(dir.path());
    let (compiled, reused) = build_worker_verbose(dir.path());
    assert_eq!(reused, compiled - 1, "only lambda_function.py is compiled");
    let with_cache = manifest(dir.path(), "scorekeep-worker")["sha256_base64"].clone();

    let fresh = xray_project();
    edited(fresh.path());
    let (_, reused) = build_worker_verbose(fresh.path());
    assert_eq!(reused, 0);
    assert_eq!(
        manifest(fresh.path(), "scorekeep-worker")["sha256_base64"],
        with_cache
    );

    // Truncate every cached pyc: each is compiled again, and the bundle does not change.
    let cache = dir.path().join("target/scorekeep-deploy-cache/bytecode");
    let mut damaged = 0;
    for shard in std::fs::read_dir(&cache).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 100, "{damaged} cache entries");
    let out = cli(dir.path())
        .args(["build", "scorekeep-worker", "--force", "-vv"])
        .assert()
        .success();
    let (_, reused) = bytecode_counts(&String::from_utf8_lossy(&out.get_output().stderr));
    assert_eq!(reused, 0, "a damaged entry was used");
    assert_eq!(
        manifest(dir.path(), "scorekeep-worker")["sha256_base64"],
        with_cache
    );
}
