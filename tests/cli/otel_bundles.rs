//! What `tracing_sdk: otel` builds: bundles with no X-Ray SDK that rebuild to the same bytes
//! for x86_64 and arm64, random-name as one esbuild file with the AWS SDK beside it, and a
//! worker exporter that sends what ADOT's UDP exporter sends.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::otel::use_sdk;
use crate::util::{cli, edit, manifest, project_copy, stdout_json, venv_bin, CONFIG};
use serde_json::{json, Value};

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
pub(crate) fn build_random_name(dir: &Path, sdk: &str) -> (Vec<(String, Vec<u8>)>, Value) {
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
pub(crate) fn layout(entries: &[(String, Vec<u8>)]) -> (Vec<&str>, BTreeSet<String>) {
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
