//! `tracing_sdk: otel`: both functions built with the OpenTelemetry SDK in the bundle, run by
//! `invoke --local` against moto (and the Scorekeep API stub), their spans decoded from what
//! the real OpenTelemetry SDKs sent to the daemon socket (OTLP over UDP) and asserted in the
//! same tree the X-Ray SDK's documents make. Also: the bundles hold no X-Ray SDK, rebuild to the
//! same bytes for x86_64 and arm64, switching SDK is a code change in `plan`, and `otel-layer`
//! deploys the layer and wrapper but refuses to run locally.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    cli, edit, manifest, moto, moto_cli, project_copy, send_message, skip_emulator, stdout_json,
    tree_nodes, unique_region, up, venv_bin, ApiStub, CONFIG,
};
use serde_json::{json, Value};

fn use_sdk(dir: &Path, sdk: &str) {
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

/// The built zips' entry names.
fn zip_names(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect()
}

fn build(dir: &Path) -> Value {
    let out = cli(dir)
        .args(["build", "--force", "--output", "json"])
        .assert()
        .success();
    stdout_json(out.get_output())
}

fn sha_of(report: &Value, function: &str) -> String {
    report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["function"] == function)
        .map(|a| a["manifest"]["sha256_hex"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {function}: {report:#}"))
}

#[test]
fn otel_bundles_have_no_x_ray_sdk_and_rebuild_to_the_same_bytes_on_both_architectures() {
    let dir = project_copy();
    use_sdk(dir.path(), "otel");
    for arch in ["x86_64", "arm64"] {
        let config = dir.path().join("scorekeep-deploy.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace("architecture: x86_64", &format!("architecture: {arch}"));
        let text = text.replace("architecture: arm64", &format!("architecture: {arch}"));
        std::fs::write(&config, text).unwrap();
        let first = build(dir.path());
        let second = build(dir.path());
        for function in ["random-name", "scorekeep-worker"] {
            assert_eq!(
                sha_of(&first, function),
                sha_of(&second, function),
                "{arch} {function}"
            );
        }
        let artifacts = dir.path().join("target/scorekeep-deploy");
        let node = zip_names(&artifacts.join("random-name.zip"));
        let python = zip_names(&artifacts.join("scorekeep-worker.zip"));
        for names in [&node, &python] {
            assert!(
                !names
                    .iter()
                    .any(|n| n.contains("xray-sdk") || n.contains("aws_xray_sdk")),
                "{arch}"
            );
            assert!(!names
                .iter()
                .any(|n| n.contains("tracing-xray") || n.contains("tracing_xray")));
        }
        // One esbuild file with the SDK inlined, the AWS SDK client beside it (see
        // random_name_otel_is_one_bundled_file_with_the_aws_sdk_beside_it).
        assert!(node.iter().any(|n| n == "index.js"));
        assert!(!node.iter().any(|n| n.starts_with("tracing")), "{node:?}");
        assert!(node
            .iter()
            .any(|n| n.starts_with("node_modules/@aws-sdk/client-sns/")));
        assert!(python.iter().any(|n| n == "tracing_otel_sdk.py"));
        assert!(python
            .iter()
            .any(|n| n.starts_with("opentelemetry/instrumentation/botocore/")));
        let machine = if arch == "arm64" { "aarch64" } else { "x86_64" };
        assert!(
            python
                .iter()
                .any(|n| n.starts_with("wrapt/_wrappers.cpython-313-")
                    && n.ends_with(&format!("{machine}-linux-gnu.so"))),
            "{arch}: {python:?}"
        );
    }
}

/// The worker's bundled exporter speaks ADOT's wire format exactly: for the same spans it sends
/// the same datagram, byte for byte, as ADOT's own `OTLPUdpSpanExporter` (PyPI
/// aws-opentelemetry-distro, installed by scripts/setup into .venv/adot and never bundled:
/// that package pins some 60 dependencies and its exporter module imports the metrics SDK).
/// Both run on the OpenTelemetry SDK and OTLP encoder from the built bundle.
#[test]
fn the_worker_otel_exporter_sends_what_adots_udp_exporter_sends() {
    let dir = project_copy();
    use_sdk(dir.path(), "otel");
    cli(dir.path())
        .args(["build", "scorekeep-worker"])
        .assert()
        .success();
    let bundle = dir.path().join("bundle");
    let zip = std::fs::File::open(
        dir.path()
            .join("target/scorekeep-deploy/scorekeep-worker.zip"),
    );
    zip::ZipArchive::new(zip.unwrap())
        .unwrap()
        .extract(&bundle)
        .unwrap();
    let adot = crate::util::repo_root().join(".venv/adot");
    assert!(adot.join("amazon").is_dir(), "run scripts/setup first");
    let out = Command::new(venv_bin("python"))
        .args(["-c", COMPARE_EXPORTERS])
        .arg(&bundle)
        .arg(&adot)
        .env_remove("AWS_XRAY_DAEMON_ADDRESS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let sent: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(sent > 100, "a datagram of {sent} bytes");
}

/// Two spans (a parent with an indexed annotation and a client child) exported once through
/// each exporter to its own UDP socket; the two datagrams must be equal.
const COMPARE_EXPORTERS: &str = r#"
import socket, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import tracing_otel_sdk
from amazon.opentelemetry.distro.otlp_udp_exporter import OTLPUdpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

class Keep(SpanExporter):
    def __init__(self):
        self.spans = []
    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

keep = Keep()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(keep))
tracer = provider.get_tracer("compare")
with tracer.start_as_current_span("annotations", attributes={"Name": "Ada", "aws.xray.annotations": ["Name"]}):
    with tracer.start_as_current_span("SNS.Publish", kind=SpanKind.CLIENT):
        pass

def datagram(make):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    assert make(sock.getsockname()).export(keep.spans) == SpanExportResult.SUCCESS
    return sock.recv(65536)

ours = datagram(lambda a: tracing_otel_sdk.UdpSpanExporter(a))
adots = datagram(lambda a: OTLPUdpSpanExporter(endpoint=f"{a[0]}:{a[1]}"))
assert len(keep.spans) == 2, keep.spans
assert ours == adots, (ours[:60], adots[:60])
print(len(ours))
"#;

/// Build random-name alone with `sdk`: the zip's entries (name, bytes) and its manifest.
fn build_random_name(dir: &Path, sdk: &str) -> (Vec<(String, Vec<u8>)>, Value) {
    use_sdk(dir, sdk);
    cli(dir).args(["build", "random-name"]).assert().success();
    random_name_zip(dir)
}

/// The zip's entries (name, bytes) and manifest of the last random-name build.
fn random_name_zip(dir: &Path) -> (Vec<(String, Vec<u8>)>, Value) {
    let zip = dir.join("target/scorekeep-deploy/random-name.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let entries = (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
            (f.name().to_string(), bytes)
        })
        .collect();
    (entries, manifest(dir, "random-name"))
}

/// The entries outside `node_modules`, and the packages (`name`, `@scope/name`) in it.
fn layout(entries: &[(String, Vec<u8>)]) -> (Vec<&str>, BTreeSet<String>) {
    let mut top = Vec::new();
    let mut packages = BTreeSet::new();
    for (name, _) in entries {
        match name.strip_prefix("node_modules/") {
            None => top.push(name.as_str()),
            Some(rest) => {
                let depth = if rest.starts_with('@') { 2 } else { 1 };
                let package: Vec<&str> = rest.splitn(depth + 1, '/').take(depth).collect();
                packages.insert(package.join("/"));
            }
        }
    }
    (top, packages)
}

#[test]
fn random_name_otel_is_one_bundled_file_with_the_aws_sdk_beside_it() {
    let first = project_copy();
    let second = project_copy();
    let (entries, m) = build_random_name(first.path(), "otel");
    let (again, m2) = build_random_name(second.path(), "otel");
    // Byte-identical from another directory: zip, manifest and the map beside the zip.
    assert!(entries == again, "the two otel bundles differ");
    assert_eq!(m, m2);
    let map = |d: &Path| std::fs::read(d.join("target/scorekeep-deploy/random-name.js.map"));
    assert_eq!(map(first.path()).unwrap(), map(second.path()).unwrap());

    let (top, packages) = layout(&entries);
    assert_eq!(top, ["index.js"], "one file; tracing-otel*.js are inlined");
    for kept in ["@aws-sdk/client-sns", "@aws-sdk/core", "@smithy/core"] {
        assert!(packages.contains(kept), "{kept} beside: {packages:?}");
    }
    for bundled in [
        "@opentelemetry/",
        "chance",
        "require-in-the-middle",
        "aws-xray",
    ] {
        assert!(
            !packages.iter().any(|p| p.starts_with(bundled)),
            "{bundled} should be in index.js: {packages:?}"
        );
    }
    let bundler = &m["bundler"];
    assert_eq!(bundler["name"], "esbuild", "{m:#}");
    assert_eq!(bundler["beside_bundle"], json!(["@aws-sdk/client-sns"]));
    assert!(bundler.get("externals").is_none(), "{bundler}");
    // The SDK is in the file (class names survive --keep-names), the client is required.
    let bundle = String::from_utf8(entries[0].1.clone()).unwrap();
    assert!(bundle.contains("AWSXRayIdGenerator") && bundle.contains("AwsInstrumentation"));
    assert!(bundle.contains(r#"require("@aws-sdk/client-sns")"#));
    assert!(!bundle.contains(r#"require("@opentelemetry/"#));
    // What was bundled is still listed as a dependency.
    let deps = m["dependencies"].as_array().unwrap();
    assert!(deps
        .iter()
        .any(|d| d["name"] == "@opentelemetry/sdk-trace-node"));

    // Listed in `externals` (the runtime's AWS SDK): required from there, not shipped beside.
    edit(
        first.path(),
        CONFIG,
        "    handler: index.handler\n",
        "    handler: index.handler\n    externals: ['@aws-sdk/client-sns']\n",
    );
    cli(first.path())
        .args(["build", "random-name"])
        .assert()
        .success();
    let (entries, m) = random_name_zip(first.path());
    assert_eq!(layout(&entries), (vec!["index.js"], BTreeSet::new()));
    assert_eq!(m["bundler"]["externals"], json!(["@aws-sdk/client-sns"]));
    assert!(m["bundler"].get("beside_bundle").is_none(), "{m:#}");
}

/// Loads the unzipped bundle at `root` as Lambda would with AWS's layer: the layer's
/// `@opentelemetry/api` (a stub here) on NODE_PATH, as `/opt/nodejs/node_modules` is, and a
/// preload that hooks `Module.prototype.require` as the layer's instrumentations do
/// (require-in-the-middle). Prints the ids it saw and the handler's name.
fn load_as_the_layer_would(root: &Path) -> Value {
    let opt = tempfile::tempdir().unwrap();
    let api = opt.path().join("nodejs/node_modules/@opentelemetry/api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("package.json"),
        r#"{"name":"@opentelemetry/api","main":"index.js"}"#,
    )
    .unwrap();
    std::fs::write(
        api.join("index.js"),
        "exports.trace = { getTracer: () => ({ startSpan: () => ({ end() {} }) }) };\n",
    )
    .unwrap();
    let hook = opt.path().join("hook.js");
    std::fs::write(
        &hook,
        "const Module = require('module');\nconst original = Module.prototype.require;\n\
globalThis.seen = [];\nModule.prototype.require = function (id) { globalThis.seen.push(id); return original.apply(this, arguments); };\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg("--require")
        .arg(&hook)
        .args([
            "-e",
            "const m = require(process.argv[1] + '/index.js'); console.log(JSON.stringify({ seen: globalThis.seen, handler: m.handler.name }));",
        ])
        .arg(root)
        .env("NODE_PATH", opt.path().join("nodejs/node_modules"))
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn random_name_otel_layer_is_bundled_without_the_api_and_the_layers_hooks_see_the_aws_sdk() {
    let dir = project_copy();
    let (entries, m) = build_random_name(dir.path(), "otel-layer");
    let (top, packages) = layout(&entries);
    assert_eq!(top, ["index.js"]);
    assert!(packages.contains("@aws-sdk/client-sns"), "{packages:?}");
    assert!(
        !packages
            .iter()
            .any(|p| p.starts_with("@opentelemetry/") || p == "chance"),
        "{packages:?}"
    );
    let bundler = &m["bundler"];
    assert_eq!(bundler["name"], "esbuild", "{m:#}");
    assert_eq!(bundler["externals"], json!(["@opentelemetry/api"]));
    assert_eq!(bundler["beside_bundle"], json!(["@aws-sdk/client-sns"]));

    let root = tempfile::tempdir().unwrap();
    for (name, bytes) in &entries {
        let path = root.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let loaded = load_as_the_layer_would(root.path());
    let seen: Vec<&str> = loaded["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The layer's hooks get the client and the smithy Client whose `send` they patch, and
    // the function uses the layer's API.
    for id in [
        "@aws-sdk/client-sns",
        "@smithy/core/client",
        "@opentelemetry/api",
    ] {
        assert!(seen.contains(&id), "{id} not required: {seen:?}");
    }
    // No SDK of its own: the layer wraps the handler, tracing-otel.js leaves it as it is.
    assert_eq!(loaded["handler"], "handler", "{loaded}");
}

#[test]
fn otel_layer_cannot_run_locally_and_says_so() {
    let dir = project_copy();
    use_sdk(dir.path(), "otel-layer");
    let out = cli(dir.path())
        .args(["invoke", "--local", "random-name", "--event", "{}"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("function `random-name` has `tracing_sdk: otel-layer`"),
        "{err}"
    );
    assert!(err.contains("tracing_sdk: otel"), "{err}");
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

/// `otel-layer` rendered: the roles get the managed policy AWS documents for its layers, and
/// cfn-lint and checkov still have nothing to say (as tests/rendered_templates.rs checks for
/// the committed config).
#[test]
fn otel_layer_template_adds_the_documented_policy_and_stays_lint_and_checkov_clean() {
    let dir = project_copy();
    use_sdk(dir.path(), "otel-layer");
    cli(dir.path())
        .args(["render", "--out", "rendered"])
        .assert()
        .success();
    let file = dir.path().join("rendered/scorekeep-lambda.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("CloudWatchLambdaApplicationSignalsExecutionRolePolicy"),
        "{text}"
    );
    assert!(
        text.contains("RandomNameTracingSdk:") && text.contains("Default: otel-layer"),
        "{text}"
    );
    let lint = crate::rendered_templates::cfn_lint(&file);
    assert!(lint.trim().is_empty(), "cfn-lint:\n{lint}");
    let report = crate::rendered_templates::checkov(&file);
    assert_eq!(
        report["summary"]["failed"], 0,
        "{}",
        report["results"]["failed_checks"]
    );
}

/// Publish AWS's OpenTelemetry layers into moto under their names, up to `version`, so the
/// versions the tool asks for exist (moto looks a layer version up by name and number).
fn publish_layers(region: &str, version: u32) {
    let status = Command::new(venv_bin("python"))
        .args([
            "-c",
            r#"import boto3, io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, 'w') as z:
    z.writestr('otel-instrument', '#!/bin/sh\nexec "$@"\n')
c = boto3.client('lambda', endpoint_url=sys.argv[1], region_name=sys.argv[2],
                 aws_access_key_id='testing', aws_secret_access_key='testing')
for name in ('AWSOpenTelemetryDistroJs', 'AWSOpenTelemetryDistroPython'):
    for _ in range(int(sys.argv[3])):
        c.publish_layer_version(LayerName=name, Content={'ZipFile': buf.getvalue()},
                                CompatibleArchitectures=['x86_64', 'arm64'])
"#,
            &moto().endpoint,
            region,
            &version.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "publishing the layers in moto failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn otel_layer_up_sets_the_layer_and_exec_wrapper_and_plan_shows_the_switch() {
    if skip_emulator() {
        return;
    }
    // A region this binary's unique_region() never hands out (it has 3 emulator tests) and
    // where src/otel_layer.rs records both languages' layers.
    let region = "eu-west-3";
    let dir = project_copy();
    publish_layers(region, 26);
    up(dir.path(), region);
    use_sdk(dir.path(), "otel-layer");
    let plan = moto_cli(dir.path(), region, &["plan", "--output", "json"])
        .assert()
        .success();
    let plan = String::from_utf8_lossy(&plan.get_output().stdout).into_owned();
    assert!(plan.contains("layers"), "{plan}");
    assert!(plan.contains("AWS_LAMBDA_EXEC_WRAPPER"), "{plan}");
    up(dir.path(), region);

    let lambda = aws_sdk_lambda::Client::new(&crate::util::sdk_config(region).await);
    for (function, layer) in [
        ("random-name", ":layer:AWSOpenTelemetryDistroJs:15"),
        ("scorekeep-worker", ":layer:AWSOpenTelemetryDistroPython:26"),
    ] {
        let c = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .unwrap();
        let arns: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
        assert!(
            arns.len() == 1 && arns[0].ends_with(layer),
            "{function}: {arns:?}"
        );
        let vars = c
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            vars.get("AWS_LAMBDA_EXEC_WRAPPER").map(String::as_str),
            Some("/opt/otel-instrument"),
            "{function}"
        );
    }

    // Where AWS publishes no layer (Python in me-south-1): plan, up and update-functions fail
    // naming the function and region, and up has created no stack.
    for command in [
        &["plan"][..],
        &["up"],
        &["update-functions", "scorekeep-worker"],
    ] {
        let out = moto_cli(dir.path(), "me-south-1", command).assert().code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            err.contains("function `scorekeep-worker`") && err.contains("for region me-south-1"),
            "{command:?}: {err}"
        );
    }
    let cfn = aws_sdk_cloudformation::Client::new(&crate::util::sdk_config("me-south-1").await);
    let stacks = cfn.list_stacks().send().await.unwrap();
    assert!(stacks.stack_summaries().is_empty(), "{stacks:?}");
}

/// Issue 23: the layer table is regenerated from AWS's `lambdaLayerArns.js`, whatever its
/// layout: each region's highest version of each language, the date it was taken.
#[test]
fn update_layer_arns_takes_each_regions_newest_layer_from_awss_list() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("lambdaLayerArns.js");
    std::fs::write(
        &source,
        r#"export const lambdaLayerArnsConfig = { tabs: {
  python: { arns: {
    "us-east-1": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:25",
    "eu-west-1": "arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:22" } },
  nodejs: { arns: {
    "us-east-1": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:13",
    "us-east-1-old": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:9" } },
  java: { arns: {
    "us-east-1": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJava:13" } } } };"#,
    )
    .unwrap();
    let out = dir.path().join("arns.json");
    let run =
        std::process::Command::new(crate::util::repo_root().join("scripts/update-layer-arns"))
            .arg(&source)
            .args(["--date", "2026-01-02", "--out"])
            .arg(&out)
            .output()
            .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(table["snapshot"], "2026-01-02");
    assert_eq!(
        table["layers"],
        json!({
            "eu-west-1": {"python": "arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:22"},
            "us-east-1": {
                "nodejs": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:13",
                "python": "arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:25",
            },
        })
    );
    // A file without any layer leaves the table alone.
    std::fs::write(&source, "export const nothing = {};").unwrap();
    let run =
        std::process::Command::new(crate::util::repo_root().join("scripts/update-layer-arns"))
            .arg(&source)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("2026-01-02"));
}
