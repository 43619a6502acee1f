//! `render` through the binary: what it writes; and the CLI's help, its suggestions and its
//! region rule. How `render` fails on bad input: render_errors.rs.

use crate::util::{self, cli, edit, project_copy, stderr, stdout};
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

/// The stderr of a failed command run from `dir`, after checking it exited 2 and printed
/// nothing on stdout.
pub(crate) fn usage_failure(dir: &std::path::Path, args: &[&str]) -> String {
    let out = cli(dir).args(args).assert().code(2).stdout("");
    stderr(out.get_output())
}

// ---- Item 17: did-you-mean --------------------------------------------------------------

#[test]
fn unknown_config_key_suggests_the_closest_valid_one() {
    let dir = project_copy();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "    memory: 128",
        "    memroy: 128",
    );
    let stderr = usage_failure(dir.path(), &["render"]);
    assert!(stderr.contains("did you mean `memory`?"), "{stderr}");
    let dir = project_copy();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "architecture: x86_64",
        "architecture: arm",
    );
    let stderr = usage_failure(dir.path(), &["render"]);
    assert!(stderr.contains("did you mean `arm64`?"), "{stderr}");
}

#[test]
fn unknown_function_argument_is_a_usage_error_with_a_suggestion() {
    let dir = project_copy();
    for (args, typed, suggestion) in [
        (&["build", "worker"][..], "worker", "scorekeep-worker"),
        (&["build", "random-nme"], "random-nme", "random-name"),
        (
            &["invoke", "--local", "randomname"],
            "randomname",
            "random-name",
        ),
        (
            &[
                "update-functions",
                "scorekeep-wroker",
                "--endpoint-url",
                "http://127.0.0.1:9",
            ],
            "scorekeep-wroker",
            "scorekeep-worker",
        ),
    ] {
        let stderr = usage_failure(dir.path(), args);
        assert!(
            stderr.contains(&format!("unknown function `{typed}` on the command line")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("did you mean `{suggestion}`?")),
            "{stderr}"
        );
        assert!(stderr.contains("random-name, scorekeep-worker"), "{stderr}");
        // Not blamed on a line of the config file.
        assert!(!stderr.contains("scorekeep-deploy.yaml:"), "{stderr}");
    }
}

#[test]
fn verbs_of_other_tools_point_to_ours() {
    let dir = project_copy();
    for (typed, ours) in [
        ("deploy", "up"),
        ("apply", "up"),
        ("destroy", "down"),
        ("delete", "down"),
        ("diff", "plan"),
    ] {
        let out = cli(dir.path()).arg(typed).assert().code(2).stdout("");
        let stderr = stderr(out.get_output());
        assert!(
            stderr.contains(&format!("'{typed}'")) && stderr.contains(&format!("'{ours}'")),
            "{typed}: {stderr}"
        );
    }
}

// ---- Item 20: help examples can be pasted ------------------------------------------------

#[test]
fn help_examples_are_printed_whole_on_a_narrow_terminal() {
    use clap::CommandFactory;
    let dir = project_copy();
    let root = scorekeep_deploy::cli::Cli::command();
    let mut checked = 0;
    for sub in root.get_subcommands() {
        let examples = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let out = cli(dir.path())
            .env("COLUMNS", "60")
            .args([sub.get_name(), "--help"])
            .assert()
            .success();
        let help = stdout(out.get_output());
        for line in examples.lines().filter(|l| l.contains("scorekeep-deploy ")) {
            assert!(
                help.lines().any(|h| h.trim_end() == line.trim_end()),
                "`{}` --help wraps the example line\n{line}\nin:\n{help}",
                sub.get_name()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} example lines found");
}

// ---- Item 20: one region rule -------------------------------------------------------------

/// `status` against moto with a profile whose region is `profile_region`, `env_region` as
/// AWS_REGION and `flag` as --region: the region it reports.
fn status_region(
    profile_region: Option<&str>,
    env_region: Option<&str>,
    flag: Option<&str>,
) -> String {
    let dir = project_copy();
    let config_file = dir.path().join("aws-config");
    let region_line = profile_region
        .map(|r| format!("region = {r}\n"))
        .unwrap_or_default();
    std::fs::write(
        &config_file,
        format!("[profile scorekeep-test]\n{region_line}"),
    )
    .unwrap();
    let mut cmd = cli(dir.path());
    cmd.args(["status", "--output", "json"])
        .env("AWS_ENDPOINT_URL", &util::moto().endpoint)
        .env("AWS_CONFIG_FILE", &config_file)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .env("AWS_PROFILE", "scorekeep-test")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    if let Some(region) = env_region {
        cmd.env("AWS_REGION", region);
    }
    if let Some(region) = flag {
        cmd.args(["--region", region]);
    }
    let out = cmd.assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.get_output().stdout)));
    report["region"].as_str().unwrap().to_string()
}

#[test]
fn region_is_flag_then_env_then_profile_then_config() {
    if util::skip_emulator() {
        return;
    }
    // The committed config says us-east-1.
    let profile = Some("eu-west-3");
    assert_eq!(status_region(profile, None, None), "eu-west-3");
    assert_eq!(
        status_region(profile, Some("ap-south-1"), None),
        "ap-south-1"
    );
    assert_eq!(
        status_region(profile, Some("ap-south-1"), Some("sa-east-1")),
        "sa-east-1"
    );
    assert_eq!(status_region(None, None, None), "us-east-1");
}
