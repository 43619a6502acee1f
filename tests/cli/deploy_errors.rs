//! How failures are explained: an unreachable or non-AWS endpoint, missing credentials, the hint
//! after the error, and the one JSON document `--output json` prints, on failure as on success.

use crate::util::{cli, emulator_project, moto_cli, project_copy, stderr, stdout_json};
use predicates::prelude::*;

#[test]
fn unreachable_endpoint_is_explained() {
    let dir = project_copy();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot reach the AWS endpoint"));
}

#[test]
fn missing_credentials_are_explained() {
    let dir = project_copy();
    let home = tempfile::tempdir().unwrap();
    without_credentials(&mut cli(dir.path()), home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no credentials found"))
        .stderr(predicate::str::contains("hint: no usable AWS credentials"))
        .stderr(predicate::str::contains("DispatchFailure {").not());
}

#[test]
fn a_failing_credential_provider_is_not_dumped_without_verbose() {
    let dir = project_copy();
    let home = tempfile::tempdir().unwrap();
    // The instance-metadata provider is tried (no AWS_EC2_METADATA_DISABLED) and refused, as
    // off EC2 behind a proxy; aws-config then warns with a Debug dump of the failure.
    let imds = plain_http_server("403 Forbidden", "text/plain", "denied");
    let assert = without_credentials(&mut cli(dir.path()), home.path())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{imds}"),
        )
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hint: no usable AWS credentials"));
    let stderr = stderr(assert.get_output());
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("ProviderError("), "{stderr}");
}

/// The one JSON document on stdout of a command run with `--output json`.
fn json_document(output: &std::process::Output) -> serde_json::Value {
    let doc = stdout_json(output);
    assert!(doc.is_object(), "{doc}");
    doc
}

// Issue 9 item 15: with `--output json`, a failing command printed nothing on stdout.
#[test]
fn a_failing_command_prints_one_json_document() {
    let dir = project_copy();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // An unreachable endpoint: exit 1 with the hint.
    let out = cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["status", "--output", "json"])
        .assert()
        .code(1);
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "status");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 1);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("describing stack scorekeep-lambda"),
        "{doc}"
    );
    assert!(
        !doc["error"]["message"].as_str().unwrap().contains("hint:"),
        "hints are a field of their own: {doc}"
    );
    assert!(doc["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("cannot reach the AWS endpoint"));
    assert!(doc["error"].get("resource").is_some(), "{doc}");

    // A config error: exit 2, the resource is the file position.
    std::fs::write(dir.path().join("scorekeep-deploy.yaml"), "stacks: [\n").unwrap();
    let out = cli(dir.path())
        .args(["render", "--output", "json"])
        .assert()
        .code(2);
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "render");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 2);
    assert!(
        doc["error"]["resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("scorekeep-deploy.yaml")),
        "{doc}"
    );
}

// Issue 9 item 15: `status --output json` had no `command` key; success reports carry `ok`.
#[test]
fn status_json_names_its_command() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let out = moto_cli(dir.path(), region, &["status", "--output", "json"])
        .assert()
        .success();
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "status");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["stacks"][0]["status"], serde_json::Value::Null);
}

// Issue 9 item 20: an endpoint that is a plain HTTP server (404, HTML) gave "error parsing XML:
// no root element" and no hint.
#[test]
fn a_non_aws_endpoint_is_explained() {
    let port = plain_http_server(
        "404 Not Found",
        "text/html",
        "<html><body>Not Found</body></html>",
    );
    let dir = project_copy();
    cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["status"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("HTTP 404"))
        .stderr(predicate::str::contains(
            "hint: the endpoint does not look like an AWS API",
        ))
        .stderr(predicate::str::contains("--endpoint-url"));
}

// Issue 9 item 20: `{err:#}` printed a hint and then the OS error again after it
// ("…\n  hint: run from the project directory…: No such file or directory (os error 2)").
#[test]
fn the_hint_comes_last_and_the_os_error_once() {
    let dir = project_copy();
    let out = cli(dir.path())
        .args(["render", "--config", "nope.yaml"])
        .assert()
        .code(2);
    let stderr = stderr(out.get_output());
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("  hint: ") && !last.contains("os error"),
        "{stderr}"
    );
}

/// A plain HTTP server on 127.0.0.1 answering every request with `status` and `body`; its port.
fn plain_http_server(status: &'static str, content_type: &'static str, body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// No credentials anywhere in the chain (environment, profile files under `home`), and an
/// endpoint nothing listens on.
fn without_credentials<'a>(
    cmd: &'a mut assert_cmd::Command,
    home: &std::path::Path,
) -> &'a mut assert_cmd::Command {
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
}
