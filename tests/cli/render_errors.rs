//! `render` on bad input: exit 2 at the file:line:column and nothing written, no environment
//! value echoed; function keys and sources, values CloudFormation would reject, duplicate
//! keys, alias bombs and oversized files.

use crate::render::usage_failure;
use crate::util::{self, cli, copy_tree, edit, files_under, project_copy, stderr};
use predicates::prelude::*;

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
