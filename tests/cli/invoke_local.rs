//! `invoke --local` through the binary: both functions run here against moto (and a local
//! Scorekeep API stub), with their X-Ray trees asserted from what their SDKs really sent. The
//! handler's environment, its failures and input problems: invoke_local_{env,failures,inputs}.rs.

use std::path::Path;

use crate::util::{
    assert_game_stored, aws_env, cli, count, edit, emulator_project, moto, project_copy,
    read_jsonl, send_message, skip_emulator, stderr, stdout_json, tree_nodes, unique_region, up,
    utc_date, venv_bin, ApiStub, CONFIG,
};
use serde_json::json;

pub(crate) fn invoke(dir: &Path, region: Option<&str>, args: &[&str]) -> assert_cmd::Command {
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
pub(crate) struct FakePath {
    _dir: tempfile::TempDir,
    pub(crate) path: std::ffi::OsString,
}

impl FakePath {
    pub(crate) fn with_python3_311_and_a_failing_313_shim() -> FakePath {
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

/// No AWS call is expected; should one happen anyway, it goes nowhere.
pub(crate) fn offline(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}
