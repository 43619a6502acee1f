//! `traces` through the binary against moto's X-Ray API, as it answers.
//!
//! The documents are real: `invoke --local --trace-out` runs each function here against moto
//! and keeps what its X-Ray SDK sent. In AWS, Lambda itself adds its `AWS::Lambda::Function`
//! segment (the facade the SDK's subsegments name as parent; `Initialization` on a cold start);
//! no local run can capture it, so the test writes it as Lambda does. All of it goes into moto
//! with PutTraceSegments, which stores segment documents as X-Ray does.
//!
//! moto 5.2.5's limits (moto/xray/models.py): GetTraceSummaries answers ANY FilterExpression
//! with `500 InternalFailure: Not implemented yet - moto`, its summaries carry no annotations
//! or service ids, and it writes each summary's `Users` as `{}` where the API has a list. So
//! against moto the functions' traces are picked out by the tool from the documents (it says
//! so), a user's `--filter` fails at once with a clear error, and the summaries are read for
//! their ids (the SDK refuses them as a whole). That `--filter` selects only the matching
//! trace (the expression sent, only that trace fetched and printed) is checked with
//! aws-smithy-mocks beside the code, in `src/trace/fetch.rs`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{
    self, emulator_project, moto, moto_cli, project_copy, read_jsonl, skip_emulator, stdout_json,
    tree_nodes, unique_region, up, worker_on_this_python,
};
use serde_json::{json, Value};

/// `traces` with `args` against moto in `region`.
pub(crate) fn traces_cmd(dir: &Path, region: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = moto_cli(dir, region, &["traces"]);
    cmd.args(args);
    cmd
}

/// One invocation's trace as X-Ray would hold it.
struct Captured {
    trace_id: String,
    documents: Vec<Value>,
}

/// Run `function` locally against moto and keep its X-Ray documents, plus Lambda's segment.
fn capture(dir: &Path, region: &str, function: &str, event: &str, cold: bool) -> Captured {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let trace_out = dir.join(format!("{function}-{n}.jsonl"));
    let out = moto_cli(
        dir,
        region,
        &[
            "invoke", "--local", function, "--event", event, "--output", "json",
        ],
    )
    .arg("--trace-out")
    .arg(&trace_out)
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let mut documents = read_jsonl(&trace_out);
    assert!(!documents.is_empty(), "{report:#}");
    documents.push(lambda_segment(&report, &documents, cold));
    Captured {
        trace_id: report["trace_id"].as_str().unwrap().to_string(),
        documents,
    }
}

/// Lambda's `AWS::Lambda::Function` segment for the invocation in `report`: named after the
/// function, with the facade id the SDK's subsegments point to, covering them.
fn lambda_segment(report: &Value, documents: &[Value], cold: bool) -> Value {
    let times = |key: &'static str| documents.iter().filter_map(move |d| d[key].as_f64());
    let start = times("start_time").fold(f64::MAX, f64::min);
    let end = times("end_time").fold(f64::MIN, f64::max);
    let mut subsegments = vec![json!({"id": "1111111111111112", "name": "Invocation",
        "start_time": start, "end_time": end})];
    if cold {
        subsegments.insert(
            0,
            json!({"id": "1111111111111111", "name": "Initialization", "type": "subsegment",
                "start_time": start - 0.25, "end_time": start - 0.01}),
        );
    }
    json!({
        "id": report["trace"][0]["id"],
        "trace_id": report["trace_id"],
        "name": report["name"],
        "origin": "AWS::Lambda::Function",
        "start_time": start - if cold { 0.25 } else { 0.0 },
        "end_time": end + 0.005,
        "subsegments": subsegments,
    })
}

/// PutTraceSegments through the SDK; every document must be accepted.
fn put(region: &str, captured: &[&Captured]) {
    let docs: Vec<String> = captured
        .iter()
        .flat_map(|c| c.documents.iter().map(Value::to_string))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let out = runtime.block_on(async {
        let config = util::sdk_config(region).await;
        aws_sdk_xray::Client::new(&config)
            .put_trace_segments()
            .set_trace_segment_documents(Some(docs))
            .send()
            .await
            .unwrap()
    });
    assert!(
        out.unprocessed_trace_segments().is_empty(),
        "{:?}",
        out.unprocessed_trace_segments()
    );
}

/// The stdout section of one trace: from its header line to the next header.
fn section<'a>(stdout: &'a str, trace_id: &str) -> &'a str {
    let start = stdout
        .find(&format!("X-Ray trace {trace_id}"))
        .unwrap_or_else(|| panic!("no trace {trace_id} in:\n{stdout}"));
    let rest = &stdout[start + 1..];
    let end = rest
        .find("X-Ray trace ")
        .map_or(stdout.len(), |i| start + 1 + i);
    &stdout[start..end]
}

/// A deployed project in a fresh region (worker built for this machine's Python 3.11, so
/// its compiled wheels load in `invoke --local`), on the X-Ray SDK: the tests store what it
/// sent, X-Ray segment documents, in moto's X-Ray.
fn deployed(region: &str) -> tempfile::TempDir {
    let dir = project_copy();
    util::use_tracing_sdk(dir.path(), "xray");
    worker_on_this_python(dir.path());
    up(dir.path(), region);
    dir
}

#[test]
fn deployed_traces_print_as_trees_with_annotations_sns_publish_and_cold_start() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = deployed(region);
    let d = dir.path();
    let u42 = capture(d, region, "random-name", r#"{"userid":"u-42"}"#, true);
    // Trace ids carry the epoch second; keep the two random-name traces in distinct seconds
    // so "newest" is well defined for --limit.
    std::thread::sleep(Duration::from_millis(1100));
    let u7 = capture(d, region, "random-name", r#"{"userid":"u-7"}"#, false);
    let worker = capture(d, region, "scorekeep-worker", "{}", true);

    // Nothing put yet: the empty window's hints ask for neither the --since given nor the
    // `tracing: Active` the config has (moto stores no tracing mode, so reports PassThrough).
    let out = traces_cmd(d, region, &["random-name", "--since", "1h"])
        .assert()
        .success();
    let stderr = util::stderr(out.get_output());
    assert!(
        stderr.contains("no X-Ray traces of random-name in the last 1h"),
        "{stderr}"
    );
    assert!(!stderr.contains("--since 1h"), "{stderr}");
    assert!(
        stderr.contains("look further back with --since 6h"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Lambda reports tracing PassThrough for function `random-name`, though the config already asks for Active"),
        "{stderr}"
    );
    assert!(!stderr.contains("set `tracing: Active`"), "{stderr}");

    put(region, &[&u42, &u7, &worker]);

    // Text: both random-name traces, not the worker's.
    let out = traces_cmd(d, region, &["random-name"]).assert().success();
    let stdout = util::stdout(out.get_output());
    let stderr = util::stderr(out.get_output());
    assert!(!stdout.contains(&worker.trace_id), "{stdout}");
    assert!(
        stderr.contains("could not evaluate the filter expression `service(\"random-name\")`"),
        "moto's missing filter support is said: {stderr}"
    );
    let cold = section(&stdout, &u42.trace_id);
    assert!(cold.contains(")  cold start\n"), "{cold}");
    assert!(
        cold.contains("random-name  AWS::Lambda::Function  "),
        "{cold}"
    );
    assert!(cold.contains("├─ Initialization  (cold start)  "), "{cold}");
    assert!(cold.contains("annotations  "), "{cold}");
    assert!(cold.contains("annotation UserID = \"u-42\""), "{cold}");
    assert!(cold.contains("annotation Name = \""), "{cold}");
    assert!(cold.contains("SNS  aws Publish  HTTP 200  "), "{cold}");
    let warm = section(&stdout, &u7.trace_id);
    assert!(!warm.contains("cold start"), "{warm}");
    assert!(warm.contains("annotation UserID = \"u-7\""), "{warm}");
    // Oldest first: the newest trace ends up next to the prompt.
    assert!(stdout.find(&u42.trace_id) < stdout.find(&u7.trace_id));

    // JSON: the documents and the tree, parseable.
    let out = traces_cmd(d, region, &["random-name", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["command"], "traces");
    let traces = report["traces"].as_array().unwrap();
    let ids: Vec<&str> = traces.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [u42.trace_id.as_str(), u7.trace_id.as_str()]);
    assert_eq!(
        traces[0]["documents"].as_array().unwrap().len(),
        u42.documents.len()
    );
    let all = tree_nodes(&traces[0]["tree"]);
    let annotations = all.iter().find(|n| n["name"] == "annotations").unwrap();
    assert_eq!(annotations["annotations"]["UserID"], "u-42");
    assert!(annotations["annotations"]["Name"].is_string());
    assert!(all
        .iter()
        .any(|n| n["operation"] == "Publish" && n["http_status"] == 200));
    assert!(all.iter().any(|n| n["cold_start"] == true));

    // The worker's trace, by function and by id; --limit keeps the newest.
    let out = traces_cmd(d, region, &["scorekeep-worker"])
        .assert()
        .success();
    let stdout = util::stdout(out.get_output());
    assert!(stdout.contains(&worker.trace_id), "{stdout}");
    assert!(stdout.contains("aws ReceiveMessage"), "{stdout}");
    assert!(!stdout.contains(&u42.trace_id), "{stdout}");
    let out = traces_cmd(d, region, &["--trace-id", &u42.trace_id])
        .assert()
        .success();
    let stdout = util::stdout(out.get_output());
    assert_eq!(stdout.matches("X-Ray trace ").count(), 1, "{stdout}");
    assert!(stdout.contains("annotation UserID = \"u-42\""), "{stdout}");
    let out = traces_cmd(d, region, &["random-name", "--limit", "1"])
        .assert()
        .success();
    let stdout = util::stdout(out.get_output());
    assert_eq!(stdout.matches("X-Ray trace ").count(), 1, "{stdout}");
    assert!(stdout.contains(&u7.trace_id), "{stdout}");

    // moto cannot evaluate a user's filter expression: a clear failure at its first answer (no
    // retries of its 500: `-v` logs each attempt), not a wrong answer.
    let started = Instant::now();
    let out = traces_cmd(
        d,
        region,
        &[
            "random-name",
            "-v",
            "--filter",
            r#"annotation.UserID = "u-42""#,
        ],
    )
    .assert()
    .code(1);
    let stderr = util::stderr(out.get_output());
    assert_eq!(
        stderr.matches("aws xray GetTraceSummaries").count(),
        1,
        "one attempt, in {:?}: {stderr}",
        started.elapsed()
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(
        stderr.contains("X-Ray GetTraceSummaries with filter `(service(\"random-name\")) AND (annotation.UserID = \"u-42\")`"),
        "{stderr}"
    );
    assert!(stderr.contains("Not implemented yet"), "{stderr}");
    assert!(
        stderr.contains("hint: this X-Ray endpoint does not evaluate filter expressions"),
        "{stderr}"
    );
    assert!(util::stdout(out.get_output()).is_empty());
}

#[test]
fn an_empty_window_says_when_traces_appear_and_suggests_since() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let out = traces_cmd(dir.path(), region, &["random-name", "--since", "5m"])
        .assert()
        .success();
    let stderr = util::stderr(out.get_output());
    assert!(
        stderr.contains("no X-Ray traces of random-name in the last 5m"),
        "{stderr}"
    );
    assert!(
        stderr.contains("about 30 s after an invocation"),
        "{stderr}"
    );
    assert!(stderr.contains("--since 1h"), "{stderr}");
    // Nothing is deployed in this region: the note says so.
    assert!(
        stderr.contains("Lambda function `random-name` does not exist"),
        "{stderr}"
    );
    assert!(out.get_output().stdout.is_empty());

    // JSON: an empty list and the message, parseable.
    let out = traces_cmd(dir.path(), region, &["--since", "5m", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["traces"], json!([]));
    assert!(report["message"]
        .as_str()
        .unwrap()
        .contains("of random-name, scorekeep-worker"));

    // An unknown trace id is a failure naming it.
    let id = "1-00000001-000000000000000000000000";
    let out = traces_cmd(dir.path(), region, &["--trace-id", id])
        .assert()
        .code(1);
    let stderr = util::stderr(out.get_output());
    assert!(
        stderr.contains(&format!("X-Ray has no trace {id}")),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_are_usage_errors_before_any_call() {
    let dir = project_copy();
    for (args, expected) in [
        (vec!["traces", "--since", "15"], "--since `15` has no unit"),
        (vec!["traces", "--since", "2d"], "more than 24h"),
        (
            vec!["traces", "--trace-id", "abc"],
            "--trace-id `abc` is not an X-Ray trace id",
        ),
        (vec!["traces", "worker"], "did you mean `scorekeep-worker`"),
        (vec!["traces", "--limit", "0"], "--limit"),
    ] {
        let mut cmd = util::cli(dir.path());
        // An endpoint nothing listens on: a usage error must not need it.
        cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .args(&args);
        let out = cmd.assert().code(2);
        let stderr = util::stderr(out.get_output());
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn follow_prints_new_traces_as_they_arrive_and_stops_on_ctrl_c_with_130() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = deployed(region);
    let d = dir.path();
    let first = capture(d, region, "random-name", r#"{"userid":"u-1"}"#, true);
    let second = capture(d, region, "random-name", r#"{"userid":"u-2"}"#, false);
    put(region, &[&first]);

    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"));
    // The environment of `moto_cli`, for a child spawned directly (to signal it).
    cmd.current_dir(d)
        .env("CI", "true")
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["traces", "random-name", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str, within: Duration| -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
        }
        panic!(
            "`{needle}` not printed within {within:?}; got:\n{}",
            seen.join("\n")
        );
    };
    wait_for(
        &format!("X-Ray trace {}", first.trace_id),
        Duration::from_secs(30),
    );
    put(region, &[&second]);
    let lines = wait_for(
        &format!("X-Ray trace {}", second.trace_id),
        Duration::from_secs(30),
    );
    assert!(
        !lines.iter().any(|l| l.contains(&first.trace_id)),
        "the first trace was printed again: {lines:?}"
    );

    // SIGINT to our own child by its PID, as Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "--follow did not stop within 5 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
}
