//! What `up`, `status` and `plan` tell against moto: the tracing moto reports differently noted
//! once and shown as drift, `plan` before the stack exists (Beanstalk mocked), and
//! `scripts/demo`'s cargo progress and cleanup.

use crate::util::{
    self, emulator_project, moto_cli, project_copy, sdk_config, skip_emulator, stderr, stdout,
    stdout_json,
};

// Issue 9 items 19 and 20: against moto every `up` repeated, per function, that the endpoint
// reports tracing differently; `status` showed `tracing PassThrough` without flagging it; a
// no-op `up` listed every output; `function random-name (random-name)` repeated the name.
#[test]
fn emulator_tracing_is_noted_once_and_status_marks_the_drift() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let first = run(&["up"]).assert().success();
    let first = stdout(first.get_output());
    assert!(
        first.contains("output ScorekeepRecordsBucketName = "),
        "{first}"
    );
    let again = run(&["up"]).assert().success();
    let stdout = stdout(again.get_output());
    let stderr = stderr(again.get_output());
    let noted = format!("{stdout}{stderr}")
        .matches("reports tracing")
        .count();
    assert_eq!(
        noted, 1,
        "the tracing note must appear once per run:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("tracing of random-name, scorekeep-worker"),
        "one note names both functions: {stdout}"
    );
    assert!(
        !stdout.contains("output "),
        "a no-op up lists no outputs: {stdout}"
    );
    assert!(
        !stdout.contains("function random-name (random-name)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("function random-name: code unchanged"),
        "{stdout}"
    );

    let status = run(&["status"]).assert().success();
    let status = util::stdout(status.get_output());
    assert!(
        status.contains("tracing PassThrough (drift: desired Active)"),
        "{status}"
    );
    assert!(
        status.contains("ScorekeepRecordsBucketName = "),
        "status shows outputs: {status}"
    );
    let json_status = run(&["status", "--output", "json"]).assert().success();
    let doc = stdout_json(json_status.get_output());
    assert_eq!(doc["functions"][0]["drift"][0]["field"], "tracing", "{doc}");
}

// Issue 9 item 20: `plan` omitted the Beanstalk section when the stack did not exist yet.
// CloudFormation, Lambda and S3 are moto; moto 5.2.5 answers Beanstalk's
// DescribeConfigurationSettings with HTTP 500, so Beanstalk is the SDK's typed mock here.
#[tokio::test(flavor = "multi_thread")]
async fn plan_before_the_stack_exists_shows_what_beanstalk_would_get() {
    use aws_sdk_elasticbeanstalk::operation::describe_configuration_settings::DescribeConfigurationSettingsOutput;
    use aws_sdk_elasticbeanstalk::operation::describe_environments::DescribeEnvironmentsOutput;
    use aws_sdk_elasticbeanstalk::operation::update_environment::UpdateEnvironmentOutput;
    use aws_sdk_elasticbeanstalk::types::{
        ConfigurationOptionSetting, ConfigurationSettingsDescription, EnvironmentDescription,
        EnvironmentHealth, EnvironmentStatus,
    };
    use aws_sdk_elasticbeanstalk::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let describe = mock!(Client::describe_environments).then_output(|| {
        DescribeEnvironmentsOutput::builder()
            .environments(
                EnvironmentDescription::builder()
                    .environment_name("scorekeep-dev")
                    .status(EnvironmentStatus::Ready)
                    .health(EnvironmentHealth::Green)
                    .build(),
            )
            .build()
    });
    let settings = mock!(Client::describe_configuration_settings).then_output(|| {
        DescribeConfigurationSettingsOutput::builder()
            .configuration_settings(
                ConfigurationSettingsDescription::builder()
                    .option_settings(
                        ConfigurationOptionSetting::builder()
                            .namespace("aws:elasticbeanstalk:xray")
                            .option_name("XRayEnabled")
                            .value("false")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let update = mock!(Client::update_environment)
        .then_output(|| UpdateEnvironmentOutput::builder().build());
    let project =
        scorekeep_deploy::config::Project::load(&dir.path().join("scorekeep-deploy.yaml")).unwrap();
    let mut clients = scorekeep_deploy::aws::Clients::from_config(&sdk_config(region).await);
    clients.beanstalk = mock_client!(
        aws_sdk_elasticbeanstalk,
        RuleMode::MatchAny,
        [&describe, &settings, &update]
    );
    let reporter =
        scorekeep_deploy::report::Reporter::new(scorekeep_deploy::cli::OutputFormat::Json, true);
    let report = scorekeep_deploy::deploy::plan(&clients, &project, &reporter)
        .await
        .unwrap();
    let text = report.to_string();
    assert!(
        text.contains("stack scorekeep-lambda: would be created"),
        "{text}"
    );
    assert!(
        text.contains("beanstalk scorekeep/scorekeep-dev: would update"),
        "{text}"
    );
    assert!(
        text.contains("aws:elasticbeanstalk:application:environment:WORKER_QUEUE (from stack output ScorekeepWorkerQueueUrl, after create)"),
        "{text}"
    );
    assert!(
        text.contains("aws:elasticbeanstalk:application:environment:AWS_REGION (set)"),
        "{text}"
    );
    assert!(text.contains("XRayEnabled false -> true"), "{text}");
    assert_eq!(update.num_calls(), 0, "plan changes nothing");
    let doc = serde_json::to_value(&report).unwrap();
    assert_eq!(doc["functions"][0]["code"], "would_create", "{doc}");
    assert_eq!(doc["functions"][0]["config"], "would_create", "{doc}");
    assert_eq!(doc["beanstalk"]["action"], "would_update", "{doc}");
}

// Issue 9 items 18 and 20: `scripts/demo` ran `cargo build --quiet` (minutes of silence on a
// fresh machine) and left /tmp/moto-demo.*.log behind. The real script runs here in a copy of
// the project with its own TMPDIR; `scripts/setup` is a no-op stub (the .venv is linked), and
// `cargo` is a stub that records its arguments, with the already-built binary in its place.
#[test]
fn the_demo_shows_cargo_progress_and_cleans_up_its_log() {
    if skip_emulator() {
        return;
    }
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = project_copy();
    let root = util::repo_root();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::copy(root.join("scripts/demo"), scripts.join("demo")).unwrap();
    let write_exe = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_exe(&scripts.join("setup"), "#!/bin/sh\nexit 0\n");
    symlink(root.join(".venv"), dir.path().join(".venv")).unwrap();
    let stubs = tempfile::tempdir().unwrap();
    let cargo_args = stubs.path().join("cargo-args");
    write_exe(
        &stubs.path().join("cargo"),
        &format!("#!/bin/sh\necho \"$@\" > '{}'\n", cargo_args.display()),
    );
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(target.path().join("debug")).unwrap();
    symlink(
        assert_cmd::cargo::cargo_bin("scorekeep-deploy"),
        target.path().join("debug/scorekeep-deploy"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(scripts.join("demo"))
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target.path())
        .env("TMPDIR", tmp.path())
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&cargo_args).unwrap().trim(),
        "build"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("moto-demo."))
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} in TMPDIR");
}
