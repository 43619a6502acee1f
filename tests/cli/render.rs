//! `render` through the binary: what it writes, and how it fails on bad input.

use crate::util::{self, cli, copy_tree, edit, files_under, project_copy, stderr, stdout};
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
    let stderr = stderr(out.get_output());
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
        .stderr(predicate::str::contains("random-name, scorekeep-worker"));
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

/// The stderr of a failed command run from `dir`, after checking it exited 2 and printed
/// nothing on stdout.
fn usage_failure(dir: &std::path::Path, args: &[&str]) -> String {
    let out = cli(dir).args(args).assert().code(2).stdout("");
    stderr(out.get_output())
}

fn line_of(dir: &std::path::Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

// ---- Item 8: environment values never appear in any output -------------------------------

#[test]
fn environment_values_are_never_echoed_in_config_errors() {
    // Each value is broken in a different way; the secret part must not be printed, but the
    // key and its file:line:column must be.
    for (value, cause) in [
        ("\"s3cr3t-abc${output:X\"", "unclosed `${`"),
        ("\"s3cr3t-abc${s3cr3t}\"", "unknown reference"),
        ("\"s3cr3t-abc${output:}\"", "empty output name"),
        ("[s3cr3t-abc]", "invalid type"),
    ] {
        let dir = project_copy();
        edit(
            dir.path(),
            "scorekeep-deploy.yaml",
            "TOPIC_ARN: ${output:ScorekeepNotificationTopicArn}",
            &format!("TOPIC_ARN: {value}"),
        );
        let line = line_of(dir.path(), "scorekeep-deploy.yaml", "TOPIC_ARN:");
        let stderr = usage_failure(dir.path(), &["render"]);
        assert!(!stderr.contains("s3cr3t"), "the value leaked: {stderr}");
        assert!(stderr.contains("TOPIC_ARN"), "{stderr}");
        assert!(stderr.contains(cause), "{value}: {stderr}");
        assert!(
            stderr.contains(&format!("scorekeep-deploy.yaml:{line}:")),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn beanstalk_property_values_are_never_echoed() {
    let dir = project_copy();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "AWS_REGION: ${region}",
        "AWS_REGION: \"hunter2${regoin}\"",
    );
    let line = line_of(dir.path(), "scorekeep-deploy.yaml", "hunter2");
    let stderr = usage_failure(dir.path(), &["render"]);
    assert!(!stderr.contains("hunter2"), "the value leaked: {stderr}");
    assert!(!stderr.contains("regoin"), "the value leaked: {stderr}");
    assert!(
        stderr.contains(&format!("scorekeep-deploy.yaml:{line}:")) && stderr.contains("AWS_REGION"),
        "{stderr}"
    );
}

// ---- Item 10: function keys and sources --------------------------------------------------

#[test]
fn function_key_that_is_not_a_lambda_name_is_refused_by_every_command() {
    for key in ["\"../../../pwn\"", "\"a/b\"", "\"\"", &"x".repeat(65)] {
        let dir = project_copy();
        edit(
            dir.path(),
            "scorekeep-deploy.yaml",
            "  random-name:\n",
            &format!("  {key}:\n"),
        );
        let line = line_of(dir.path(), "scorekeep-deploy.yaml", &format!("  {key}:"));
        let before = files_under(dir.path());
        for args in [
            &["render"][..],
            &["build"],
            &["plan", "--endpoint-url", "http://127.0.0.1:9"],
            &["status", "--endpoint-url", "http://127.0.0.1:9"],
            &["up", "--endpoint-url", "http://127.0.0.1:9"],
            &["update-functions", "--endpoint-url", "http://127.0.0.1:9"],
            &["invoke", "--local", "random-name"],
            &["down", "--yes", "--endpoint-url", "http://127.0.0.1:9"],
        ] {
            let stderr = usage_failure(dir.path(), args);
            assert!(
                stderr.contains(&format!("scorekeep-deploy.yaml:{line}:3:")),
                "{key} {args:?}: {stderr}"
            );
            assert!(
                stderr.contains("letters, digits, hyphens and underscores"),
                "{stderr}"
            );
        }
        assert_eq!(files_under(dir.path()), before, "nothing may be written");
    }
}

#[test]
fn source_outside_the_project_needs_an_explicit_opt_in() {
    let outside = tempfile::tempdir().unwrap();
    let source = outside.path().join("rn");
    copy_tree(&util::repo_root().join("functions/random-name"), &source);
    for kind in ["climbs out with ..", "a symlink that points out"] {
        let dir = project_copy();
        let value = if kind.starts_with("climbs") {
            pathdiff(dir.path(), &source).display().to_string()
        } else {
            std::os::unix::fs::symlink(&source, dir.path().join("functions/link")).unwrap();
            "functions/link".to_string()
        };
        edit(
            dir.path(),
            "scorekeep-deploy.yaml",
            "source: functions/random-name",
            &format!("source: {value}"),
        );
        let line = line_of(
            dir.path(),
            "scorekeep-deploy.yaml",
            &format!("source: {value}"),
        );
        let stderr = usage_failure(dir.path(), &["render"]);
        assert!(
            stderr.contains(&format!("scorekeep-deploy.yaml:{line}:5:"))
                && stderr.contains("outside the project directory")
                && stderr.contains("allow_outside_project: true"),
            "{kind}: {stderr}"
        );
        // Opting in makes the same source valid.
        edit(
            dir.path(),
            "scorekeep-deploy.yaml",
            &format!("source: {value}"),
            &format!("source: {value}\n    allow_outside_project: true"),
        );
        cli(dir.path()).arg("render").assert().success();
    }
}

/// `to` relative to `from`, both absolute, for a `source:` that climbs out with `..`.
fn pathdiff(from: &std::path::Path, to: &std::path::Path) -> std::path::PathBuf {
    let from = from.canonicalize().unwrap();
    let to = to.canonicalize().unwrap();
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = std::path::PathBuf::new();
    for _ in from.components().skip(common) {
        rel.push("..");
    }
    for c in to.components().skip(common) {
        rel.push(c);
    }
    rel
}

// ---- Item 11: values CloudFormation would reject, duplicate keys, alias bombs --------------

#[test]
fn stack_parameter_outside_allowed_values_is_located_in_the_config() {
    assert_rejected(
        |d| {
            edit(
                d,
                "scorekeep-deploy.yaml",
                "LogRetentionDays: 30",
                "LogRetentionDays: 31",
            )
        },
        "scorekeep-deploy.yaml",
        "LogRetentionDays: 31",
        "`LogRetentionDays` = 31 is not one of its AllowedValues",
    );
}

#[test]
fn function_setting_outside_allowed_pattern_is_located_at_the_setting() {
    // A handler with a space passes the config's own check (it has a `.`), not the pattern.
    // (A bad schedule is refused by the config check first: see tests/cli/hardening.rs.)
    assert_rejected(
        |d| {
            edit(
                d,
                "scorekeep-deploy.yaml",
                "handler: index.handler",
                "handler: index. handler",
            )
        },
        "scorekeep-deploy.yaml",
        "handler: index. handler",
        "does not match its AllowedPattern",
    );
}

#[test]
fn duplicate_function_key_in_config_is_an_error_at_the_second_key() {
    let dir = project_copy();
    edit(
        dir.path(),
        "scorekeep-deploy.yaml",
        "\n# The Scorekeep API's Elastic",
        "\n  random-name:\n    source: functions/random-name\n    runtime: nodejs24.x\n    handler: index.handler\n\n# The Scorekeep API's Elastic",
    );
    let text = std::fs::read_to_string(dir.path().join("scorekeep-deploy.yaml")).unwrap();
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "  random-name:")
        .nth(1)
        .unwrap()
        .0
        + 1;
    let stderr = usage_failure(dir.path(), &["render"]);
    assert!(
        stderr.contains(&format!("scorekeep-deploy.yaml:{line}:3:"))
            && stderr.contains("duplicate key `random-name`"),
        "{stderr}"
    );
}

#[test]
fn duplicate_key_in_template_is_an_error_at_the_second_key() {
    assert_rejected(
        |d| {
            edit(
                d,
                "templates/scorekeep.yaml",
                "      KmsMasterKeyId: alias/aws/sns\n",
                "      KmsMasterKeyId: alias/aws/sns\n      KmsMasterKeyId: alias/other\n",
            )
        },
        "templates/scorekeep.yaml",
        "alias/other",
        "duplicate key `KmsMasterKeyId`",
    );
}

/// A billion-laughs document: 9 levels of 10 aliases each expand to 10^9 nodes. The padding
/// (many plain nodes, ~300 KB) raises serde_yaml's own repetition limit, which is a multiple of
/// the event count, so only a real expansion budget stops it (as with the reported 1.1 MB file).
fn alias_bomb() -> String {
    let padding = vec!["x"; 100_000].join(", ");
    let mut text = format!("  Pad: [{padding}]\n");
    text.push_str("  Lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..=9 {
        let prev = level - 1;
        let items = vec![format!("*l{prev}"); 10].join(", ");
        text.push_str(&format!("  Lol{level}: &l{level} [{items}]\n"));
    }
    text
}

/// The binary run with its address space capped, so a regression fails the test instead of
/// exhausting the machine's memory.
fn run_capped(dir: &std::path::Path, args: &[&str]) -> (std::process::Output, std::time::Duration) {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"));
    cmd.current_dir(dir).args(args).env("CI", "true");
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

#[test]
fn yaml_alias_bomb_is_refused_fast_in_a_template_and_in_the_config() {
    for file in ["templates/scorekeep.yaml", "scorekeep-deploy.yaml"] {
        let dir = project_copy();
        let anchor = if file.starts_with("templates") {
            "Metadata:\n"
        } else {
            "tags:\n"
        };
        edit(
            dir.path(),
            file,
            anchor,
            &format!("{anchor}{}", alias_bomb()),
        );
        let (out, elapsed) = run_capped(dir.path(), &["render"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(file) && stderr.contains("aliases"),
            "{file}: {stderr}"
        );
        assert!(elapsed.as_secs() < 5, "{file}: took {elapsed:?}");
    }
}

#[test]
fn oversized_yaml_file_is_refused() {
    let dir = project_copy();
    let padding = format!("# {}\n", "x".repeat(1000)).repeat(2100);
    edit(
        dir.path(),
        "templates/scorekeep.yaml",
        "Metadata:\n",
        &format!("{padding}Metadata:\n"),
    );
    let stderr = usage_failure(dir.path(), &["render"]);
    assert!(
        stderr.contains("templates/scorekeep.yaml") && stderr.contains("larger than"),
        "{stderr}"
    );
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
