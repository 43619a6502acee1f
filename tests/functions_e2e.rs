//! The built bundles, unzipped into task roots, run through `functions/e2e/run_e2e.py`
//! against moto: what `build` ships is what works, not just what was installed.

mod common;

use std::path::Path;
use std::process::Command;

use common::{cli, moto, project_copy, repo_root, venv_bin};

fn unzip(zip: &Path, into: &Path) {
    let file = std::fs::File::open(zip).unwrap_or_else(|e| panic!("{}: {e}", zip.display()));
    zip::ZipArchive::new(file).unwrap().extract(into).unwrap();
}

#[test]
fn built_bundles_pass_the_functions_end_to_end_test() {
    if common::skip_emulator() {
        return;
    }
    let dir = project_copy();
    // The worker bundle must run on this machine's Python (3.11), so build it for python3.11;
    // the e2e driver (and the worker it starts) use the project's .venv interpreter.
    let config = dir.path().join("scorekeep-deploy.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("runtime: python3.13"));
    std::fs::write(
        &config,
        text.replace("runtime: python3.13", "runtime: python3.11"),
    )
    .unwrap();
    cli(dir.path()).arg("build").assert().success();

    let roots = tempfile::tempdir().unwrap();
    let node_root = roots.path().join("random-name");
    let python_root = roots.path().join("scorekeep-worker");
    let artifacts = dir.path().join("target/scorekeep-deploy");
    unzip(&artifacts.join("random-name.zip"), &node_root);
    unzip(&artifacts.join("scorekeep-worker.zip"), &python_root);

    // run_e2e.py creates uniquely named resources in us-east-1 on this binary's own moto.
    let output = Command::new(venv_bin("python"))
        .arg(repo_root().join("functions/e2e/run_e2e.py"))
        .args(["--endpoint", &moto().endpoint])
        .arg("--node-task-root")
        .arg(&node_root)
        .arg("--python-task-root")
        .arg(&python_root)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running run_e2e.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "run_e2e.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.trim_end().ends_with("e2e: 7 passed, 0 failed"),
        "unexpected e2e result:\n{stdout}\n{stderr}"
    );
}
