//! `invoke --local` through the binary: both functions run here against moto (and a local
//! Scorekeep API stub), with their X-Ray trees asserted from what their SDKs really sent;
//! handlers that throw or hang; and every input problem caught before anything runs.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{
    assert_game_stored, aws_env, cli, count, edit, emulator_project, moto, project_copy,
    read_jsonl, send_message, skip_emulator, stderr, stdout_json, tree_nodes, unique_region, up,
    utc_date, venv_bin, ApiStub, CONFIG,
};
use serde_json::{json, Value};

fn invoke(dir: &Path, region: Option<&str>, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cli(dir);
    if let Some(region) = region {
        aws_env(&mut cmd, region);
    }
    cmd.arg("invoke").args(args);
    cmd
}

#[test]
fn random_name_runs_locally_against_moto_and_shows_annotations_and_sns_publish() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    // The X-Ray SDK's documents (otel:: has the OpenTelemetry run).
    crate::util::use_tracing_sdk(dir.path(), "xray");
    let outputs = up(dir.path(), region);
    let topic = outputs["ScorekeepNotificationTopicArn"].as_str().unwrap();
    let trace_out = dir.path().join("trace.jsonl");

    // JSON report: TOPIC_ARN comes from the stack outputs.
    let out = invoke(
        dir.path(),
        Some(region),
        &[
            "--local",
            "random-name",
            "--event",
            r#"{"userid":"u-1"}"#,
            "--output",
            "json",
        ],
    )
    .arg("--trace-out")
    .arg(&trace_out)
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let name = report["result"]["name"]
        .as_str()
        .expect("result has a name");
    assert!(!name.is_empty());
    assert!(report["error"].is_null(), "{report:#}");
    assert_eq!(report["function"], "random-name");
    let trace_id = report["trace_id"].as_str().unwrap();
    let root = &report["trace"][0];
    assert_eq!(root["name"], "random-name");
    assert_eq!(root["type"], "function");
    assert_eq!(root["trace_id"], trace_id);
    let all = tree_nodes(&report["trace"]);
    let annotations = all
        .iter()
        .find(|n| n["name"] == "annotations")
        .unwrap_or_else(|| panic!("no annotations subsegment: {report:#}"));
    assert_eq!(annotations["annotations"]["Name"], name, "{report:#}");
    assert_eq!(annotations["annotations"]["UserID"], "u-1", "{report:#}");
    let publish = all
        .iter()
        .find(|n| n["name"] == "SNS" && n["operation"] == "Publish")
        .unwrap_or_else(|| panic!("no SNS Publish subsegment: {report:#}"));
    assert_eq!(publish["namespace"], "aws");
    assert_eq!(publish["http_status"], 200);
    assert!(
        report["documents_received"].as_u64().unwrap() >= 2,
        "{report:#}"
    );

    // --trace-out has the raw documents, one JSON per line.
    let docs = read_jsonl(&trace_out);
    let raw = format!("{docs:#?}");
    assert!(docs.len() >= 2, "{raw}");
    assert!(docs.iter().all(|d| d["trace_id"] == trace_id), "{raw}");
    assert!(
        docs.iter().any(|d| d["aws"]["operation"] == "Publish"),
        "{raw}"
    );

    // Text mode, with TOPIC_ARN given: the result on stdout, the tree on stderr, and no
    // DescribeStacks since nothing needs a stack output.
    let before = moto().actions(region);
    let out = invoke(
        dir.path(),
        Some(region),
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    )
    .arg("--env")
    .arg(format!("TOPIC_ARN={topic}"))
    .assert()
    .success();
    let result = stdout_json(out.get_output());
    let name = result["name"].as_str().expect("stdout is the result");
    let text = stderr(out.get_output());
    assert!(text.contains("X-Ray trace 1-"), "{text}");
    assert!(
        text.contains("random-name  (Lambda function, run locally)"),
        "{text}"
    );
    assert!(text.contains("annotations"), "{text}");
    assert!(
        text.contains(&format!("annotation Name = \"{name}\"")),
        "{text}"
    );
    assert!(text.contains("annotation UserID = \"u-1\""), "{text}");
    assert!(text.contains("SNS  aws Publish  HTTP 200"), "{text}");
    let after = moto().actions(region);
    assert!(
        count(&before, "DescribeStacks") > 0,
        "the JSON run read the outputs: {before:?}"
    );
    assert_eq!(
        count(&after, "DescribeStacks"),
        count(&before, "DescribeStacks")
    );
    assert_eq!(count(&after, "Publish"), count(&before, "Publish") + 1);
}

/// `$PYENV_ROOT` (else `~/.pyenv`) when it has a `versions/<minor>.*` interpreter.
fn pyenv_root_with(minor: &str) -> Option<std::path::PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))?;
    let found = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(Result::ok)
        .any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(minor)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|patch| patch.chars().all(|c| c.is_ascii_digit()))
                && e.path().join(format!("bin/python{minor}")).exists()
        });
    found.then_some(root)
}

/// A PATH on which `python3` is the venv's Python 3.11 (with pip, for the build) and every
/// `python3.13` is a pyenv shim for a version that is not selected: this machine's PATH
/// with the directories that hold a `python3.13` left out, behind a directory of fakes.
struct FakePath {
    _dir: tempfile::TempDir,
    path: std::ffi::OsString,
}

impl FakePath {
    fn with_python3_311_and_a_failing_313_shim() -> FakePath {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            "python3",
            &format!("exec '{}' \"$@\"", venv_bin("python3").display()),
        );
        // What pyenv's shim prints for a version that is installed but not selected.
        script(
            "python3.13",
            "echo 'pyenv: python3.13: command not found' >&2\n\
echo \"The `python3.13' command exists in these Python versions:\" >&2\nexit 127",
        );
        let original = std::env::var_os("PATH").unwrap_or_default();
        let kept = std::env::split_paths(&original).filter(|d| !d.join("python3.13").exists());
        let path =
            std::env::join_paths(std::iter::once(dir.path().to_path_buf()).chain(kept)).unwrap();
        FakePath { _dir: dir, path }
    }
}

#[test]
fn worker_runs_locally_writes_the_record_to_s3_and_traces_sqs_s3_and_http() {
    if skip_emulator() {
        return;
    }
    // The committed config (python3.13), on a PATH where `python3` is 3.11 and `python3.13` is
    // a pyenv shim for a version not selected: the finder goes on to pyenv's versions (or uv).
    let Some(pyenv_root) = pyenv_root_with("3.13") else {
        crate::util::cannot_run("no Python 3.13 under $PYENV_ROOT or ~/.pyenv for the python3.13 worker run (pyenv install 3.13)");
        return;
    };
    let region = unique_region();
    let dir = project_copy();
    // The X-Ray SDK's subsegments (otel:: has the OpenTelemetry run).
    crate::util::use_tracing_sdk(dir.path(), "xray");
    let fake = FakePath::with_python3_311_and_a_failing_313_shim();
    let outputs = up(dir.path(), region);
    let queue = outputs["ScorekeepWorkerQueueUrl"].as_str().unwrap();
    let bucket = outputs["ScorekeepRecordsBucketName"]
        .as_str()
        .unwrap()
        .to_string();

    let stub = ApiStub::start();
    let session = stub.info["session_id"].as_str().unwrap().to_string();
    let game = stub.info["game_id"].as_str().unwrap().to_string();
    let message = json!({
        "endpoint": stub.info["host_port"], "gameid": game, "sessionid": session, "bucketname": bucket,
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let before = utc_date();
    runtime.block_on(send_message(region, queue, &message.to_string()));

    let out = invoke(
        dir.path(),
        Some(region),
        &["--local", "scorekeep-worker", "--output", "json"],
    )
    .env("PATH", &fake.path)
    .env("PYENV_ROOT", &pyenv_root)
    .assert()
    .success();
    let after = utc_date();
    let report = stdout_json(out.get_output());
    assert_eq!(
        report["result"],
        json!({"processed": 1, "failed": 0}),
        "{report:#}"
    );
    // Which interpreter ran it, and where it was found.
    let interpreter = report["interpreter"].as_str().unwrap();
    assert!(
        interpreter.starts_with(
            &pyenv_root
                .join("versions/3.13")
                .to_string_lossy()
                .into_owned()
        ) && interpreter.contains("/bin/python3.13 3.13."),
        "{report:#}"
    );
    assert_eq!(report["interpreter_found_in"], "pyenv", "{report:#}");
    // boto3 & co. came from the tool's cache, pinned as in requirements.txt, installed once.
    let provided = std::fs::read_dir(
        dir.path()
            .join("target/scorekeep-deploy-cache/runtime-provided"),
    )
    .unwrap()
    .map(|e| e.unwrap().path())
    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
    .collect::<Vec<_>>();
    assert_eq!(provided.len(), 1, "{provided:?}");
    assert!(
        provided[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("python3.13-"),
        "{provided:?}"
    );
    for dist in [
        "boto3-1.44.8",
        "botocore-1.44.8",
        "s3transfer-",
        "jmespath-",
        "python_dateutil-",
        "six-",
    ] {
        assert!(
            std::fs::read_dir(&provided[0]).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(dist)),
            "no {dist}* in {}",
            provided[0].display()
        );
    }
    let first = stderr(out.get_output());
    assert!(
        first.contains("installing the runtime-provided packages for python3.13"),
        "{first}"
    );
    let trace_id = report["trace_id"].as_str().unwrap().to_string();

    let all = tree_nodes(&report["trace"]);
    for (service, operation) in [
        ("sqs", "ReceiveMessage"),
        ("s3", "PutObject"),
        ("sqs", "DeleteMessage"),
    ] {
        let found: Vec<_> = all
            .iter()
            .filter(|n| {
                n["name"].as_str().unwrap().eq_ignore_ascii_case(service)
                    && n["operation"] == operation
                    && n["namespace"] == "aws"
            })
            .collect();
        assert_eq!(found.len(), 1, "{service} {operation}: {report:#}");
    }
    let paths = stub.paths();
    stub.assert_http_node_per_path(&all, "subsegment", &report);
    // Every API request carried the trace header (requests is patched by the X-Ray SDK).
    let info = stub.info.clone();
    let stub_requests = stub.finish();
    assert_eq!(stub_requests.len(), paths.len(), "{stub_requests:?}");
    for (path, header) in &stub_requests {
        assert!(
            header.contains(&format!("Root={trace_id}")),
            "{path} carried X-Amzn-Trace-Id {header:?}, not trace {trace_id}"
        );
    }
    assert!(
        first.contains("invoking scorekeep-worker locally"),
        "{first}"
    );
    assert!(
        first.contains("python3.13 3.13.") && first.contains("(found in pyenv)"),
        "{first}"
    );

    // A second run (an empty queue) reuses the cached packages without running pip.
    let again = invoke(
        dir.path(),
        Some(region),
        &["--local", "scorekeep-worker", "--output", "json"],
    )
    .env("PATH", &fake.path)
    .env("PYENV_ROOT", &pyenv_root)
    .assert()
    .success();
    let text = stderr(again.get_output());
    assert!(!text.contains("installing the runtime-provided"), "{text}");
    assert_eq!(stdout_json(again.get_output())["result"]["failed"], 0);

    // Where the handler's imports come from, as in Lambda: the bundle first (a module of the
    // function shadows a runtime package), then the runtime-provided packages, and nothing
    // from the interpreter's own site-packages. A function with the worker's requirements (so
    // the same cache entry), added after `up`: `invoke` needs only the config and sources.
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        "\n  path-dump:\n    source: functions/path-dump\n    runtime: python3.13\n    handler: app.handler\n\nbeanstalk:",
    );
    let src = dir.path().join("functions/path-dump");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        dir.path()
            .join("functions/scorekeep-worker/requirements.txt"),
        src.join("requirements.txt"),
    )
    .unwrap();
    std::fs::write(src.join("six.py"), "SHADOW = True\n").unwrap();
    std::fs::write(
        src.join("app.py"),
        [
            // Located, not imported: boto3's own imports would load the shadowing six.
            "import sys, importlib.util, importlib.metadata",
            "def handler(event, context):",
            "    origin = lambda m: importlib.util.find_spec(m).origin",
            "    return {'path': sys.path, 'boto3': origin('boto3'), 'six': origin('six'),",
            "            'boto3_version': importlib.metadata.version('boto3'), 'no_site': sys.flags.no_site}",
        ]
        .join("\n"),
    )
    .unwrap();
    // The cache entry damaged by hand (a package's metadata gone): reinstalled, not used.
    std::fs::remove_dir_all(provided[0].join("boto3-1.44.8.dist-info")).unwrap();
    let out = invoke(
        dir.path(),
        Some(region),
        &["--local", "path-dump", "--output", "json"],
    )
    .env("PATH", &fake.path)
    .env("PYENV_ROOT", &pyenv_root)
    .assert()
    .success();
    let got = stdout_json(out.get_output())["result"].clone();
    let text = stderr(out.get_output());
    assert!(text.contains("installing the runtime-provided"), "{text}");
    let path: Vec<&str> = got["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(path[0].ends_with("/task"), "{got:#}");
    assert_eq!(
        path[1],
        provided[0].canonicalize().unwrap().to_str().unwrap(),
        "{got:#}"
    );
    assert!(!path.iter().any(|p| p.contains("site-packages")), "{got:#}");
    assert!(
        got["boto3"].as_str().unwrap().starts_with(path[1]),
        "{got:#}"
    );
    assert_eq!(got["boto3_version"], "1.44.8");
    assert!(got["six"].as_str().unwrap().starts_with(path[0]), "{got:#}");
    assert_eq!(got["no_site"], 1);

    // The record is in S3 at YYYY/MM/DD/{session}/{game}.json, dereferenced.
    let dates = [before, after];
    runtime.block_on(assert_game_stored(region, &bucket, &info, dates));
}

#[test]
fn missing_stack_outputs_are_a_usage_error_naming_the_variables() {
    if skip_emulator() {
        return;
    }
    // No `up` in this region: the stack does not exist. The value around the reference is a
    // secret: it must not be printed (text or JSON), only the function, key and output.
    let region = unique_region();
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "TOPIC_ARN: ${output:ScorekeepNotificationTopicArn}",
        "TOPIC_ARN: ${output:ScorekeepNotificationTopicArn}?token=s3cr3t-do-not-print",
    );
    let json = invoke(
        dir.path(),
        Some(region),
        &["--local", "random-name", "--output", "json", "-vv"],
    )
    .assert()
    .code(2);
    let out = invoke(
        dir.path(),
        Some(region),
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    )
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    for output in [out.get_output(), json.get_output()] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!all.contains("s3cr3t"), "the value was printed: {all}");
        assert!(!all.contains("token="), "the value was printed: {all}");
    }
    assert!(
        text.contains("function `random-name`: 1 environment variable without a value"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "TOPIC_ARN needs stack output ScorekeepNotificationTopicArn, which is not in {region}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "stack scorekeep-lambda does not exist in {region}"
        )),
        "{text}"
    );
    assert!(
        text.contains("`scorekeep-deploy up`") && text.contains("--env TOPIC_ARN=VALUE"),
        "{text}"
    );
    assert!(out.get_output().stdout.is_empty());
    // Nothing was built: the problem was found first.
    assert!(!dir.path().join("target").exists());
}

/// Functions that only exist in a test's copy of the project. `invoke` needs a function in
/// the config and its sources, nothing more (no stack creates them: `render`/`up` are never
/// run on this copy), so this is the honest way to get handlers that throw or hang.
const TEST_FUNCTIONS: &str = "
  # Test-only functions (tests/invoke_local.rs).
  sleeper:
    source: functions/sleeper
    runtime: python3.11
    handler: app.handler
    timeout: 30
  thrower:
    source: functions/thrower
    runtime: python3.11
    handler: app.handler
  node-hang:
    source: functions/node-hang
    runtime: nodejs22.x
    handler: index.handler
";

fn copy_with_test_functions() -> tempfile::TempDir {
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        &format!("{TEST_FUNCTIONS}\nbeanstalk:"),
    );
    let write = |path: &str, text: &str| {
        let path = dir.path().join("functions").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "sleeper/app.py",
        "import time\n\ndef handler(event, context):\n    time.sleep(600)\n",
    );
    write(
        "thrower/app.py",
        "def handler(event, context):\n    print('hello from thrower')\n    check(event)\n\n\n\
def check(event):\n    raise ValueError('bad input: ' + repr(event))\n",
    );
    // Keeps the event loop busy and never settles.
    write(
        "node-hang/index.js",
        "exports.handler = () => new Promise(() => setInterval(() => {}, 1000));\n",
    );
    dir
}

/// No AWS call is expected; should one happen anyway, it goes nowhere.
fn offline(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

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

#[test]
fn handlers_that_throw_exit_1_with_the_error_and_its_stack() {
    let dir = copy_with_test_functions();

    // random-name without a userid (TOPIC_ARN given, so no AWS is needed).
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "random-name", "--event", r#"{"user":"typo"}"#],
    ))
    .args([
        "--env",
        "TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:scorekeep",
    ])
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains(
            "error: function `random-name` failed: Error: random-name: event.userid is missing"
        ),
        "{text}"
    );
    // The bundle is one minified file: its positions are mapped back through the source map
    // the build wrote, to the line that throws in the function's own index.js.
    assert!(
        text.contains("at handler (functions/random-name/index.js:68:"),
        "{text}"
    );
    assert!(!text.contains("/task/index.js:"), "{text}");
    assert!(
        !text.contains("runner.js"),
        "the runner's frames are left out: {text}"
    );
    assert!(text.contains("X-Ray trace 1-"), "{text}");
    assert!(out.get_output().stdout.is_empty(), "no result on stdout");

    // A Python handler: the report has the type, message and traceback; its print() went to
    // stderr, so stdout is only the report.
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &[
            "--local",
            "thrower",
            "--event",
            r#"{"a": 1}"#,
            "--output",
            "json",
        ],
    ))
    .assert()
    .code(1);
    let report = stdout_json(out.get_output());
    assert_eq!(report["error"]["type"], "ValueError", "{report:#}");
    assert_eq!(report["error"]["message"], "bad input: {'a': 1}");
    let stack = report["error"]["stack"].to_string();
    assert!(stack.contains("app.py\\\", line 7, in check"), "{stack}");
    assert!(stack.contains("line 3, in handler"), "{stack}");
    assert!(!stack.contains("runner.py"), "{stack}");
    assert!(report["result"].is_null());
    assert!(stderr(out.get_output()).contains("hello from thrower"));
}

#[test]
fn a_hung_handler_is_killed_at_the_timeout() {
    let dir = copy_with_test_functions();

    let started = Instant::now();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "sleeper", "--timeout", "1", "--output", "json"],
    ))
    .assert()
    .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let report = stdout_json(out.get_output());
    assert_eq!(report["timed_out"], true, "{report:#}");
    assert_eq!(report["error"]["type"], "Timeout");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("did not finish within 1 s; killed its process"),
        "{message}"
    );
    let pid: u32 = message
        .rsplit_once("pid ")
        .and_then(|(_, p)| p.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message}"));
    #[cfg(target_os = "linux")]
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
    let _ = pid;

    // Node.js, in text mode.
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "node-hang", "--timeout", "1"],
    ))
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains("error: function `node-hang` failed: Timeout: did not finish within 1 s; killed its process"),
        "{text}"
    );
    assert!(
        text.contains("hint: if it needs longer, raise --timeout"),
        "{text}"
    );
}

#[test]
fn bad_input_is_a_usage_error_before_anything_runs() {
    let dir = project_copy();
    let check = |args: &[&str], stdin: Option<&str>, expected: &[&str]| {
        let mut cmd = invoke(dir.path(), None, args);
        offline(&mut cmd);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        let out = cmd.assert().code(2);
        let text = stderr(out.get_output());
        for e in expected {
            assert!(text.contains(e), "{args:?}: expected {e:?} in:\n{text}");
        }
        assert!(out.get_output().stdout.is_empty());
    };
    check(
        &["--local", "nope"],
        None,
        &["unknown function `nope`", "random-name, scorekeep-worker"],
    );
    check(
        &["--local", "random-name", "--event", r#"{"userid": }"#],
        None,
        &[
            "the event from --event (inline) is not valid JSON: expected value at line 1, column 12",
            "hint: pass one JSON document",
        ],
    );
    std::fs::write(
        dir.path().join("bad.json"),
        "{\n  \"userid\": \"u-1\",\n}\n",
    )
    .unwrap();
    check(
        &["--local", "random-name", "--event-file", "bad.json"],
        None,
        &[
            "the event from --event-file bad.json is not valid JSON",
            "at line 3, column 1",
        ],
    );
    check(
        &["--local", "random-name", "--event-file", "-"],
        Some("not json"),
        &[
            "the event from standard input (--event-file -) is not valid JSON",
            "line 1, column 2",
        ],
    );
    check(
        &["--local", "random-name", "--event-file", "missing.json"],
        None,
        &["cannot read the event from --event-file missing.json"],
    );
    check(
        &["--local", "random-name", "--env", "TOPIC_ARN"],
        None,
        &["--env `TOPIC_ARN` is not KEY=VALUE"],
    );
    check(
        &["--local", "random-name", "--timeout", "0"],
        None,
        &["--timeout 0"],
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}

#[test]
fn a_python_version_mismatch_is_explained_before_anything_runs() {
    let python_version = |program: &Path| -> Option<String> {
        let out = Command::new(program)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let dir = project_copy();

    // The committed config (python3.13) where no 3.13 exists: `python3` is 3.11, `python3.13`
    // a pyenv shim that fails, pyenv has no 3.13 and there is no uv. Every place is named,
    // and how to get one.
    let fake = FakePath::with_python3_311_and_a_failing_313_shim();
    let empty_pyenv = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty_pyenv.path().join("versions/3.11.7/bin")).unwrap();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "scorekeep-worker"],
    ))
    .env("PATH", &fake.path)
    .env("PYENV_ROOT", empty_pyenv.path())
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    let local = python_version(&venv_bin("python3")).unwrap();
    for expected in [
        "function `scorekeep-worker` runs on python3.13: no Python 3.13 found on this machine",
        "python3.13 on PATH: ",
        "python3.13: command not found",
        "python3 on PATH: ",
        &format!("is Python {local}."),
        &format!("{}/versions: no 3.13.*", empty_pyenv.path().display()),
        "uv: not installed",
        "hint: install Python 3.13: `pyenv install 3.13` or `uv python install 3.13`",
        "apt install python3.13",
        "--runtime-path /path/to/python3.13",
    ] {
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    }

    // An explicit --runtime-path of another version, whatever this machine has.
    let venv_python = venv_bin("python");
    let venv_version = python_version(&venv_python).expect("the venv python runs");
    let runtime = if venv_version == "3.13" {
        "python3.12"
    } else {
        "python3.13"
    };
    edit(
        dir.path(),
        CONFIG,
        "runtime: python3.13",
        &format!("runtime: {runtime}"),
    );
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "scorekeep-worker"],
    ))
    .arg("--runtime-path")
    .arg(&venv_python)
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    assert!(
        text.contains(&format!("runs on {runtime}, but the Python here")),
        "{text}"
    );
    assert!(
        text.contains(&format!("hint: install Python {}", &runtime[6..])),
        "{text}"
    );
    assert!(text.contains("--runtime-path"), "{text}");
    assert!(
        text.contains(&format!("runtime: python{venv_version}")),
        "{text}"
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}

#[test]
fn compiled_code_for_another_architecture_is_refused_before_running() {
    // A Python function whose bundle carries an extension module for the other architecture
    // (a stand-in file with a real ELF header is enough: it is never loaded).
    let (other, machine, triple): (&str, u16, &str) = if std::env::consts::ARCH == "aarch64" {
        ("x86_64", 0x3e, "x86_64-linux-gnu")
    } else {
        ("arm64", 0xb7, "aarch64-linux-gnu")
    };
    // The venv's python runs it, and the runtime is its version: only the architecture differs.
    let version = Command::new(venv_bin("python"))
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        &format!(
            "\n  native:\n    source: functions/native\n    runtime: python{version}\n    architecture: {other}\n    handler: app.handler\n\nbeanstalk:"
        ),
    );
    let src = dir.path().join("functions/native");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "import _native\n\ndef handler(e, c):\n    return 1\n",
    )
    .unwrap();
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    elf.resize(18, 0);
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.resize(64, 0);
    let so = format!("_native.cpython-311-{triple}.so");
    std::fs::File::create(src.join(&so))
        .unwrap()
        .write_all(&elf)
        .unwrap();

    let out = offline(&mut invoke(dir.path(), None, &["--local", "native"]))
        .arg("--runtime-path")
        .arg(venv_bin("python"))
        .assert()
        .code(2);
    let text = stderr(out.get_output());
    assert!(
        text.contains(&format!(
            "function `native` (architecture {other}) bundles compiled code for {other} ({so})"
        )),
        "{text}"
    );
    assert!(text.contains("cannot load on this"), "{text}");
    assert!(
        text.contains("hint: for local runs set `architecture: "),
        "{text}"
    );
    assert!(
        !text.contains("invoking native locally"),
        "it did not run: {text}"
    );
}

#[test]
fn unreachable_aws_is_a_failure_with_a_way_around_it() {
    // TOPIC_ARN needs a stack output, and the endpoint refuses connections.
    let dir = project_copy();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    ))
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains("function `random-name`: cannot read the stack outputs TOPIC_ARN needs: describing stack scorekeep-lambda"),
        "{text}"
    );
    assert!(
        text.contains("hint: to run without AWS, give the values with --env TOPIC_ARN=VALUE"),
        "{text}"
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}
