//! `tracing_sdk: otel`: both functions built with the OpenTelemetry SDK in the bundle, run by
//! `invoke --local` against moto (and the Scorekeep API stub), their spans decoded from what
//! the real OpenTelemetry SDKs sent to the daemon socket (OTLP over UDP) and asserted in the
//! same tree the X-Ray SDK's documents make. The bundles are `otel_bundles.rs`, `otel-layer`
//! is `otel_layer.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    cli, manifest, moto, moto_cli, project_copy, send_message, skip_emulator, stdout_json,
    tree_nodes, unique_region, up, ApiStub,
};
use serde_json::{json, Value};

pub(crate) fn use_sdk(dir: &Path, sdk: &str) {
    crate::util::use_tracing_sdk(dir, sdk);
}

fn invoke_local(dir: &Path, region: &str, function: &str, extra: &[&str]) -> Value {
    let mut cmd = moto_cli(
        dir,
        region,
        &["invoke", "--local", function, "--output", "json"],
    );
    cmd.args(extra);
    if let Some(root) = pyenv_root() {
        cmd.env("PYENV_ROOT", root);
    }
    let out = cmd.assert().success();
    stdout_json(out.get_output())
}

/// `$PYENV_ROOT` or `~/.pyenv`, where the python3.13 the worker needs may be.
fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))
}

fn has_python_313() -> bool {
    let on_path = Command::new("python3.13").arg("-V").output();
    on_path.is_ok_and(|o| o.status.success())
        || pyenv_root().is_some_and(|r| {
            std::fs::read_dir(r.join("versions")).is_ok_and(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("3.13")))
            })
        })
}

#[test]
fn random_name_otel_spans_carry_indexed_annotations_and_a_child_sns_publish() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    use_sdk(dir.path(), "otel");
    up(dir.path(), region);
    let trace_out = dir.path().join("spans.jsonl");
    let report = invoke_local(
        dir.path(),
        region,
        "random-name",
        &[
            "--event",
            r#"{"userid":"u-1"}"#,
            "--trace-out",
            trace_out.to_str().unwrap(),
        ],
    );
    assert!(report["error"].is_null(), "{report:#}");
    let name = report["result"]["name"].as_str().expect("a name");
    let trace_id = report["trace_id"].as_str().unwrap();
    let all = tree_nodes(&report["trace"]);
    let annotations = all
        .iter()
        .find(|n| n["name"] == "annotations")
        .unwrap_or_else(|| panic!("no annotations span: {report:#}"));
    assert_eq!(
        annotations["annotations"],
        json!({"Name": name, "UserID": "u-1"})
    );
    assert_ne!(annotations["orphan"], true, "{report:#}");
    let publish = all
        .iter()
        .find(|n| n["name"] == "SNS" && n["operation"] == "Publish")
        .unwrap_or_else(|| panic!("no SNS Publish span: {report:#}"));
    assert_eq!(publish["namespace"], "aws");
    assert_eq!(publish["http_status"], 200);
    assert_ne!(
        publish["orphan"], true,
        "a child of the Lambda segment: {report:#}"
    );

    // --trace-out keeps the raw OTLP spans: the annotations span lists its indexed keys in
    // aws.xray.annotations, and SNS Publish is a CLIENT span; all in the one trace.
    let raw = std::fs::read_to_string(&trace_out).unwrap();
    let spans: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .flat_map(|req| spans_of(&req))
        .collect();
    let hex_trace = trace_id.trim_start_matches("1-").replace('-', "");
    assert!(
        spans.iter().all(|s| s["traceId"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&hex_trace)),
        "{raw}"
    );
    let annotated = spans
        .iter()
        .find(|s| s["name"] == "annotations")
        .expect("raw annotations span");
    let keys = attribute(annotated, "aws.xray.annotations");
    let listed: Vec<&str> = keys["arrayValue"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["stringValue"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Name", "UserID"], "{annotated:#}");
    let client = spans
        .iter()
        .find(|s| {
            s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["key"] == "rpc.method" && a["value"]["stringValue"] == "Publish")
        })
        .unwrap_or_else(|| panic!("no raw span with rpc.method Publish: {raw}"));
    // The AWS SDK instrumentation makes SNS Publish a messaging PRODUCER span (named
    // "<topic> send"); X-Ray, like for CLIENT spans, records it as a downstream call.
    assert!(
        client["kind"] == 3 || client["kind"] == 4,
        "SPAN_KIND_CLIENT or _PRODUCER: {client:#}"
    );
    assert_ne!(client["parentSpanId"], "", "{client:#}");
    assert_eq!(attribute(client, "rpc.service")["stringValue"], "SNS");
    assert!(moto().actions(region).iter().any(|a| a == "Publish"));
    // What ran is the single-file bundle, the instrumented AWS SDK beside it: the span above
    // exists only because the instrumentation still hooked the client's `require`.
    let bundler = &manifest(dir.path(), "random-name")["bundler"];
    assert_eq!(bundler["name"], "esbuild", "{bundler}");
    assert_eq!(bundler["beside_bundle"], json!(["@aws-sdk/client-sns"]));
    assert_function_resource(&trace_out, "random-name", region);
    // The user's resource settings win.
    let renamed = dir.path().join("renamed.jsonl");
    invoke_local(
        dir.path(),
        region,
        "random-name",
        &[
            "--event",
            r#"{"userid":"u-2"}"#,
            "--env",
            "OTEL_SERVICE_NAME=scorekeep-names",
            "--env",
            "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test,faas.version=7",
            "--trace-out",
            renamed.to_str().unwrap(),
        ],
    );
    for r in resources_of(&renamed) {
        assert_eq!(r["service.name"], "scorekeep-names", "{r:?}");
        assert_eq!(r["deployment.environment"], "test", "{r:?}");
        assert_eq!(r["faas.version"], "7", "{r:?}");
    }
}

/// The resource attributes of every OTLP request in a `--trace-out` file, as key → string.
fn resources_of(trace_out: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let raw = std::fs::read_to_string(trace_out).unwrap();
    raw.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .flat_map(|req| req["resourceSpans"].as_array().cloned().unwrap_or_default())
        .map(|rs| {
            rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let value = &a["value"]["stringValue"];
                    (
                        a["key"].as_str().unwrap().to_string(),
                        value.as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Issue 23: the spans say which function, version and region sent them, and the user's
/// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; each span names the account from the
/// invoked ARN (`invoke --local` invokes `arn:aws:lambda:REGION:000000000000:function:NAME`).
fn assert_function_resource(trace_out: &Path, service: &str, region: &str) {
    let raw = std::fs::read_to_string(trace_out).unwrap();
    let spans: Vec<Value> = raw
        .lines()
        .flat_map(|l| spans_of(&serde_json::from_str(l).unwrap()))
        .collect();
    assert!(!spans.is_empty(), "{raw}");
    for span in &spans {
        assert_eq!(
            attribute(span, "cloud.account.id")["stringValue"],
            "000000000000",
            "{span:#}"
        );
    }
    let resources = resources_of(trace_out);
    assert!(!resources.is_empty());
    for r in &resources {
        assert_eq!(
            r.get("service.name").map(String::as_str),
            Some(service),
            "{r:?}"
        );
        assert_eq!(
            r.get("faas.version").map(String::as_str),
            Some("$LATEST"),
            "{r:?}"
        );
        assert_eq!(
            r.get("service.version").map(String::as_str),
            Some("$LATEST"),
            "{r:?}"
        );
        assert_eq!(
            r.get("cloud.region").map(String::as_str),
            Some(region),
            "{r:?}"
        );
    }
}

fn spans_of(request: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for rs in request["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
        .unwrap_or_else(|| panic!("no attribute {key}: {span:#}"))
}

#[tokio::test]
async fn worker_otel_spans_cover_sqs_s3_and_http_and_propagate_both_trace_headers() {
    if skip_emulator() {
        return;
    }
    if !has_python_313() {
        crate::util::cannot_run("no Python 3.13 on PATH or under pyenv for the otel worker run");
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    use_sdk(dir.path(), "otel");
    let outputs = up(dir.path(), region);
    let queue = outputs["ScorekeepWorkerQueueUrl"].as_str().unwrap();
    let bucket = outputs["ScorekeepRecordsBucketName"].as_str().unwrap();
    let stub = ApiStub::start();
    let message = json!({
        "endpoint": stub.info["host_port"], "gameid": stub.info["game_id"],
        "sessionid": stub.info["session_id"], "bucketname": bucket,
    });
    send_message(region, queue, &message.to_string()).await;

    let report = invoke_local(dir.path(), region, "scorekeep-worker", &[]);
    assert_eq!(
        report["result"],
        json!({"processed": 1, "failed": 0}),
        "{report:#}"
    );
    let trace_id = report["trace_id"].as_str().unwrap().to_string();
    let all = tree_nodes(&report["trace"]);
    for (service, operation) in [
        ("SQS", "ReceiveMessage"),
        ("S3", "PutObject"),
        ("SQS", "DeleteMessage"),
    ] {
        let found: Vec<_> = all
            .iter()
            .filter(|n| {
                n["name"] == service && n["operation"] == operation && n["namespace"] == "aws"
            })
            .collect();
        assert_eq!(found.len(), 1, "{service} {operation}: {report:#}");
        assert_ne!(found[0]["orphan"], true, "{report:#}");
    }
    let paths = stub.paths();
    stub.assert_http_node_per_path(&all, "span", &report);
    // Every API request carried the trace in both formats, under the Lambda's trace id.
    let hex_trace = trace_id.trim_start_matches("1-").replace('-', "");
    let requests = stub.finish_with_traceparent();
    assert_eq!(requests.len(), paths.len(), "{requests:?}");
    for r in &requests {
        let xray = r[1].as_str().unwrap();
        let traceparent = r[2].as_str().unwrap();
        assert!(
            xray.contains(&format!("Root={trace_id}")),
            "{r}: X-Amzn-Trace-Id not trace {trace_id}"
        );
        assert!(
            traceparent.starts_with(&format!("00-{hex_trace}-")),
            "{r}: traceparent not trace {hex_trace}"
        );
    }

    // The event source mapping's trigger (issue 23): an SQS event with one poison record.
    // Only that record is reported failed, and its CONSUMER span is an error with the
    // exception; the good record's is not.
    let stub = ApiStub::start();
    let good = json!({
        "endpoint": stub.info["host_port"], "gameid": stub.info["game_id"],
        "sessionid": stub.info["session_id"], "bucketname": bucket,
    });
    // The good message carries its producer's X-Ray context, as SQS hands it on.
    const PRODUCER_TRACE: &str = "5759e988bd862e3fe1be46a994272793";
    const PRODUCER_SPAN: &str = "53995c3f42cd8ad8";
    let record = |id: &str, body: &str| {
        let mut attributes = json!({"SentTimestamp": "1709251199999"});
        if id == "good-1" {
            attributes["AWSTraceHeader"] =
                json!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        }
        json!({
            "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
            "attributes": attributes, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        })
    };
    let event =
        json!({"Records": [record("poison-1", "{not json"), record("good-1", &good.to_string())]});
    let event = event.to_string();
    let trace_out = dir.path().join("worker-spans.jsonl");
    let trace_arg = trace_out.to_str().unwrap().to_string();
    let args = ["--event", &event, "--trace-out", &trace_arg];
    let report = invoke_local(dir.path(), region, "scorekeep-worker", &args);
    assert_function_resource(&trace_out, "scorekeep-worker", region);
    assert_eq!(
        report["result"],
        json!({"batchItemFailures": [{"itemIdentifier": "poison-1"}]}),
        "{report:#}"
    );
    let all = tree_nodes(&report["trace"]);
    let processing: Vec<_> = all
        .iter()
        .filter(|n| n["name"] == "process message")
        .collect();
    assert_eq!(processing.len(), 2, "{report:#}");
    let failed: Vec<_> = processing.iter().filter(|n| n["fault"] == true).collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    let cause = failed[0]["causes"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(cause.contains("not JSON"), "{report:#}");

    // What the SDK sent: a CONSUMER span (OTLP kind 5) per message with the messaging.*
    // attributes; the poison one has status ERROR (code 2) and an exception event, the good
    // one is linked to its producer's span.
    let raw = std::fs::read_to_string(&trace_out).unwrap();
    let spans: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .flat_map(|req| spans_of(&req))
        .filter(|s| s["name"] == "process message")
        .collect();
    let span_of = |id: &str| {
        spans
            .iter()
            .find(|s| attribute(s, "messaging.message.id")["stringValue"] == id)
            .unwrap_or_else(|| panic!("no span for {id}: {raw}"))
    };
    for id in ["poison-1", "good-1"] {
        let span = span_of(id);
        assert_eq!(span["kind"], 5, "{span:#}");
        assert_eq!(
            attribute(span, "messaging.system")["stringValue"],
            "aws_sqs"
        );
        assert_eq!(
            attribute(span, "messaging.operation.type")["stringValue"],
            "process"
        );
    }
    let poison = span_of("poison-1");
    assert_eq!(poison["status"]["code"], 2, "{poison:#}");
    let events = poison["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["name"] == "exception"),
        "{poison:#}"
    );
    let good = span_of("good-1");
    assert_ne!(good["status"]["code"], 2, "{good:#}");
    let links = good["links"].as_array().cloned().unwrap_or_default();
    assert_eq!(links.len(), 1, "{good:#}");
    assert!(links[0]["traceId"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case(PRODUCER_TRACE));
    assert!(links[0]["spanId"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case(PRODUCER_SPAN));
    assert!(
        poison["links"].as_array().is_none_or(|l| l.is_empty()),
        "{poison:#}"
    );
    drop(stub);
}

#[test]
fn a_misspelt_tracing_sdk_is_a_config_error_with_a_suggestion() {
    let dir = project_copy();
    use_sdk(dir.path(), "otle");
    let out = cli(dir.path()).args(["render"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("unknown variant `otle`"), "{err}");
    assert!(err.contains("did you mean `otel`?"), "{err}");
}
