//! `invoke --local` and the handler's environment: Lambda's variables and the AWS ones as the
//! SDK resolved them, nothing else of the caller's unless passed, and one Node.js version warning.

use std::process::Command;

use crate::invoke_local::{invoke, offline};
use crate::util::{edit, project_copy, stderr, stdout_json, CONFIG};
use serde_json::Value;

/// A Node.js function that returns the names of its environment variables and some values.
fn copy_with_env_dump() -> tempfile::TempDir {
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        "\n  env-dump:\n    source: functions/env-dump\n    runtime: nodejs22.x\n    handler: index.handler\n    environment:\n      GREETING: hello in ${region}\n\nbeanstalk:",
    );
    let src = dir.path().join("functions/env-dump");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("index.js"),
        "const SHOWN = ['FOO', 'GREETING', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',\n\
  'AWS_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SNS', 'PATH', 'LANG'];\n\
exports.handler = async () => ({\n\
  keys: Object.keys(process.env).sort(),\n\
  values: Object.fromEntries(SHOWN.filter((k) => k in process.env).map((k) => [k, process.env[k]])),\n\
});\n",
    )
    .unwrap();
    dir
}

fn env_dump(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.assert().success();
    stdout_json(out.get_output())["result"].clone()
}

#[test]
fn the_handler_gets_lambda_function_and_aws_variables_and_nothing_else_unless_passed() {
    let dir = copy_with_env_dump();
    let caller = |cmd: &mut assert_cmd::Command| {
        offline(cmd)
            .env("AWS_SESSION_TOKEN", "caller-session")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:9/sns")
            .env("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
            .env("GITHUB_TOKEN", "ghp_do_not_leak")
            .env("FOO", "foo-value")
            .env("HOME", "/home/caller")
            .env("PYTHONPATH", "/somewhere");
    };
    let mut cmd = invoke(
        dir.path(),
        None,
        &["--local", "env-dump", "--output", "json"],
    );
    caller(&mut cmd);
    let got = env_dump(&mut cmd);
    let keys: Vec<&str> = got["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let expected = [
        // The function's own and Lambda's.
        "GREETING",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "TZ",
        "PYTHONUNBUFFERED",
        "_AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_PORT",
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "LANG",
        "PATH",
        // Credentials and endpoints, resolved from the AWS chain.
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_CA_BUNDLE",
    ];
    let mut expected_sorted = expected.to_vec();
    if local_node_major() != 22 {
        // The run warned that this Node.js is not nodejs22.x's; the SDK is not to repeat it.
        expected_sorted.push("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED");
    }
    expected_sorted.sort();
    assert_eq!(keys, expected_sorted, "{got:#}");
    let values = &got["values"];
    assert_eq!(values["GREETING"], "hello in eu-west-1");
    assert_eq!(values["AWS_ACCESS_KEY_ID"], "testing");
    assert_eq!(values["AWS_SESSION_TOKEN"], "caller-session");
    assert_eq!(values["AWS_REGION"], "eu-west-1");
    assert_eq!(values["AWS_ENDPOINT_URL"], "http://127.0.0.1:9");
    assert_eq!(values["AWS_ENDPOINT_URL_SNS"], "http://127.0.0.1:9/sns");
    assert_eq!(values["LANG"], "C.UTF-8");

    // --pass-env hands over exactly the variables named.
    let mut cmd = invoke(
        dir.path(),
        None,
        &["--local", "env-dump", "--output", "json"],
    );
    caller(&mut cmd);
    cmd.args(["--pass-env", "FOO", "--pass-env", "NOT_SET_HERE"]);
    let out = cmd.assert().success();
    let got = stdout_json(out.get_output())["result"].clone();
    assert_eq!(got["values"]["FOO"], "foo-value", "{got:#}");
    assert!(!got["keys"].to_string().contains("GITHUB_TOKEN"), "{got:#}");
    assert!(!got["keys"].to_string().contains("NOT_SET_HERE"), "{got:#}");
    let text = stderr(out.get_output());
    assert!(
        text.contains("warning: --pass-env NOT_SET_HERE: not set here, so not passed"),
        "{text}"
    );

    // Credentials from a profile reach the handler as the SDK resolved them; the profile
    // name and the credentials file do not.
    let aws = tempfile::tempdir().unwrap();
    std::fs::write(
        aws.path().join("credentials"),
        "[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    std::fs::write(aws.path().join("config"), "[profile dev]\n").unwrap();
    let mut cmd = invoke(
        dir.path(),
        None,
        &["--local", "env-dump", "--output", "json"],
    );
    caller(&mut cmd);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env("AWS_PROFILE", "dev")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            aws.path().join("credentials"),
        )
        .env("AWS_CONFIG_FILE", aws.path().join("config"));
    let got = env_dump(&mut cmd);
    assert_eq!(got["values"]["AWS_ACCESS_KEY_ID"], "AKIDPROFILE", "{got:#}");
    assert_eq!(got["values"]["AWS_SECRET_ACCESS_KEY"], "profile-secret");
    let keys = got["keys"].to_string();
    for absent in [
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_SESSION_TOKEN",
    ] {
        assert!(
            !keys.contains(&format!("\"{absent}\"")),
            "{absent}: {got:#}"
        );
    }
}

/// The major version of `node` on PATH.
fn local_node_major() -> u64 {
    let out = Command::new("node").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn another_node_major_is_warned_about_once_not_again_by_the_aws_sdk() {
    let dir = project_copy();
    // random-name makes its SNS client (where the AWS SDK checks the Node.js version), then
    // fails to publish to an endpoint nothing listens on.
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    ))
    .args([
        "--env",
        "TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:scorekeep",
        "--timeout",
        "20",
    ])
    .env("AWS_REGION", "us-east-1")
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains("ECONNREFUSED"),
        "the SDK client was made: {text}"
    );
    let ours = text.matches("runs on nodejs22.x, but").count();
    assert_eq!(ours, usize::from(local_node_major() != 22), "{text}");
    assert!(!text.contains("NodeVersionSupportWarning"), "{text}");
}
