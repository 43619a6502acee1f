//! `tracing_sdk: otel-layer`: bundled without the API for AWS's layer, whose hooks see the AWS
//! SDK; `up` deploys the layer and exec wrapper (and `plan` shows the switch), the template
//! stays lint-clean, it refuses to run locally, and the layer table is regenerated.

use std::path::Path;
use std::process::Command;

use crate::otel::use_sdk;
use crate::otel_bundles::{build_random_name, layout};
use crate::util::{cli, moto, moto_cli, project_copy, skip_emulator, up, venv_bin};
use serde_json::{json, Value};

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
