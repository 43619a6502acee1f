//! The helpers every area of the CLI harness shares (after ripgrep's `tests/util.rs` and
//! cargo-lambda's harness): the project's paths, a throwaway copy of it, file edits, the CLI
//! under test and what it printed; `moto` has the binary's one moto server, `proxy` the
//! fault-injecting proxy in front of it. The names are the old `tests/common`'s, so a test
//! file written against it joins as an area with `use crate::util as common;`.

mod api_stub;
mod cloudwatch;
mod moto;
pub mod procs;
pub mod proxy;

pub use api_stub::{assert_game_stored, utc_date, ApiStub};
pub use cloudwatch::{cloudwatch_client, cloudwatch_endpoint};
pub use moto::{
    aws_env, background_cli, cli_via, count, emulator_project, moto, moto_cli, s3_client,
    sdk_config, send_message, skip_emulator, sqs_client, unique_region, up,
};

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// The project's config file, relative to a project copy.
pub const CONFIG: &str = "scorekeep-deploy.yaml";

/// The stack template, relative to a project copy.
pub const TEMPLATE: &str = "templates/scorekeep.yaml";

/// A test that cannot run here (`why`): with `CI=true` that fails it, so CI never counts it as
/// passed; otherwise the skip is printed loudly and the caller returns (`true`).
pub fn cannot_run(why: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and this test cannot run: {why}");
    }
    eprintln!("\n*** SKIPPING: {why} ***\n");
    true
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed by `scripts/setup` into the project's `.venv`.
pub fn venv_bin(name: &str) -> PathBuf {
    repo_root().join(".venv/bin").join(name)
}

/// The CLI under test, run from `dir`.
pub fn cli(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("scorekeep-deploy").expect("binary built");
    cmd.current_dir(dir)
        .env("CI", "true")
        .env_remove("AWS_ENDPOINT_URL");
    cmd
}

/// A copy of the project (config, templates, functions) in a fresh temporary directory, so
/// a test can edit inputs and see exactly what the command wrote.
pub fn project_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_project_into(dir.path());
    dir
}

/// Copy the project's config, templates and functions into `dir`.
pub fn copy_project_into(dir: &Path) {
    let root = repo_root();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(root.join(CONFIG), dir.join(CONFIG)).expect("copy config");
    copy_tree(&root.join("templates"), &dir.join("templates"));
    copy_tree(&root.join("functions"), &dir.join("functions"));
}

/// Copy the tree at `from` to `to`, leaving out installed packages (`node_modules`) and
/// bytecode caches.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).unwrap();
        if rel
            .components()
            .any(|c| c.as_os_str() == "node_modules" || c.as_os_str() == "__pycache__")
        {
            continue;
        }
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, relative, sorted: to assert that a failing command wrote nothing.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    files.sort();
    files
}

/// Replace the first `from` in `file` (relative to the project copy `dir`) with `to`. `from`
/// must be there, so an edit that no longer applies fails the test instead of silently
/// testing the unedited file.
/// The string `field` of each element of a JSON array (e.g. each operation's `action`).
pub fn strings<'a>(array: &'a Value, field: &str) -> Vec<&'a str> {
    let items = array.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item[field].as_str())
        .collect()
}

/// Append `text` to the project's config (e.g. a `stages:` section).
pub fn append_config(dir: &Path, text: &str) {
    let path = dir.join(CONFIG);
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(text);
    std::fs::write(path, config).unwrap();
}

pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Set every function's `tracing_sdk` in the project copy at `dir` to `sdk` (`otel`, the
/// default, is what the project config has): a test about X-Ray asks for `xray` explicitly.
pub fn use_tracing_sdk(dir: &Path, sdk: &str) {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.split_once("tracing_sdk:") {
            Some((indent, _)) if indent.trim().is_empty() => {
                found = true;
                format!("{indent}tracing_sdk: {sdk}")
            }
            _ => l.to_string(),
        })
        .collect();
    assert!(found, "{CONFIG} sets no tracing_sdk:\n{text}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Build the worker for python3.11, this machine's Python, so that `invoke --local` can run
/// it (and load its compiled wheels) without a Python 3.13.
pub fn worker_on_this_python(dir: &Path) {
    edit(dir, CONFIG, "runtime: python3.13", "runtime: python3.11");
}

/// The manifest `build` wrote for `function` in the project at `dir`.
pub fn manifest(dir: &Path, function: &str) -> Value {
    let path = dir.join(format!("target/scorekeep-deploy/{function}.json"));
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// A command's stdout as one JSON document (`--output json`), or a panic showing both streams.
pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A command's stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One JSON document per line, as `invoke --local --trace-out` writes them.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Every node of a printed trace tree (a JSON array of roots with `subsegments`), depth first.
pub fn tree_nodes(roots: &Value) -> Vec<&Value> {
    fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
        out.push(node);
        for sub in node["subsegments"].as_array().into_iter().flatten() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    for root in roots.as_array().expect("a trace tree is an array") {
        walk(root, &mut out);
    }
    out
}
