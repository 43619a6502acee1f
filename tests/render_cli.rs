//! `render` through the binary: what it writes, and how it fails on bad input.

mod common;

use common::{cli, files_under, project_copy};
use predicates::prelude::*;

#[test]
fn render_writes_one_template_per_stack_and_prints_its_path() {
    let dir = project_copy();
    let out = cli(dir.path()).arg("render").assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let path = dir
        .path()
        .join("target/scorekeep-deploy/templates/scorekeep-lambda.yaml");
    assert_eq!(
        stdout.trim(),
        path.strip_prefix(dir.path()).unwrap().display().to_string()
    );
    let body = std::fs::read_to_string(&path).unwrap();
    assert!(body.contains("AWS::Lambda::Function"));
    assert!(body.contains("Default: nodejs22.x"));
}

#[test]
fn render_stdout_equals_the_written_file() {
    let dir = project_copy();
    cli(dir.path())
        .args(["render", "--out", "rendered"])
        .assert()
        .success();
    let written =
        std::fs::read_to_string(dir.path().join("rendered/scorekeep-lambda.yaml")).unwrap();
    let printed = cli(dir.path())
        .args(["render", "--stdout"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(printed.get_output().stdout.clone()).unwrap(),
        written
    );
}

#[test]
fn render_json_report_lists_stacks_parameters_and_outputs() {
    let dir = project_copy();
    let out = cli(dir.path())
        .args(["render", "--output", "json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let stack = &report["stacks"][0];
    assert_eq!(stack["stack"], "scorekeep-lambda");
    assert_eq!(stack["parameters"]["ScorekeepWorkerRuntime"], "python3.13");
    assert_eq!(stack["needs_s3_upload"], false);
    assert!(stack["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "ScorekeepWorkerQueueUrl"));
}

/// Each bad input: exit 2, the message names file:line:column, and nothing is written.
fn assert_rejected(edit: impl FnOnce(&std::path::Path), file: &str, needle: &str, message: &str) {
    let dir = project_copy();
    edit(dir.path());
    let before = files_under(dir.path());
    let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
    let line = text.lines().position(|l| l.contains(needle)).expect(needle) + 1;
    cli(dir.path())
        .arg("render")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!("{file}:{line}:")))
        .stderr(predicate::str::contains(message));
    assert_eq!(
        files_under(dir.path()),
        before,
        "a failed render must write nothing"
    );
}

fn edit(dir: &std::path::Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn yaml_syntax_error_in_config() {
    // The parser reports where it gave up, which is after the unclosed quote.
    let dir = project_copy();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "    handler: index.handler",
        "    handler: \"index.handler",
    );
    let before = files_under(dir.path());
    let out = cli(dir.path()).arg("render").assert().code(2).stdout("");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let position = stderr
        .strip_prefix("error: scorekeep-deploy.yaml:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|line| line.parse::<usize>().ok());
    assert!(position.is_some(), "no file:line in {stderr}");
    assert!(stderr.contains("did not find expected"), "{stderr}");
    assert_eq!(
        files_under(dir.path()),
        before,
        "a failed render must write nothing"
    );
}

#[test]
fn unknown_key_in_config() {
    assert_rejected(
        |d| {
            edit(
                d,
                "scorekeep-deploy.yaml",
                "    memory: 128",
                "    memroy: 128",
            )
        },
        "scorekeep-deploy.yaml",
        "memroy",
        "unknown field `memroy`, expected one of",
    );
}

#[test]
fn wrong_type_in_config() {
    assert_rejected(
        |d| {
            edit(
                d,
                "scorekeep-deploy.yaml",
                "    timeout: 10",
                "    timeout: soon",
            )
        },
        "scorekeep-deploy.yaml",
        "timeout: soon",
        "invalid type",
    );
}

#[test]
fn dangling_ref_in_template() {
    assert_rejected(
        |d| {
            edit(
                d,
                "templates/scorekeep.yaml",
                "!Ref NotificationTopic",
                "!Ref NotificationTopik",
            )
        },
        "templates/scorekeep.yaml",
        "NotificationTopik",
        "`!Ref NotificationTopik` does not name",
    );
}

#[test]
fn missing_parameter_value() {
    assert_rejected(
        |d| {
            edit(
                d,
                "templates/scorekeep.yaml",
                "\nParameters:\n",
                "\nParameters:\n  AlarmTopicName:\n    Type: String\n    Description: x\n",
            )
        },
        "templates/scorekeep.yaml",
        "AlarmTopicName:",
        "has no Default and the config gives it no value",
    );
}

#[test]
fn unknown_function_name() {
    let dir = project_copy();
    cli(dir.path())
        .args(["build", "no-such-fn"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown function `no-such-fn`"))
        .stderr(predicate::str::contains("random-name, scorekeep-worker"))
        .stderr(predicate::str::contains("scorekeep-deploy.yaml:"));
}

#[test]
fn missing_config_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    cli(dir.path())
        .arg("render")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read config scorekeep-deploy.yaml",
        ))
        .stderr(predicate::str::contains("--config"));
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = project_copy();
    for command in [
        "render",
        "build",
        "plan",
        "up",
        "update-functions",
        "status",
        "down",
        "invoke",
    ] {
        cli(dir.path())
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains(format!(
                "scorekeep-deploy {command}"
            )));
    }
    cli(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"));
}
