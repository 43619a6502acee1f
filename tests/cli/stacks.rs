//! CloudFormation change sets against moto: updates that change only outputs or parameter
//! values are executed (CloudFormation computes them with no resource rows), the next `up` is
//! a no-op that sends no CreateChangeSet, retried change-set calls carry the same token, and
//! `up --revert-drift` asks for REVERT_DRIFT change sets.
//!
//! moto 5.2.5, measured (its `moto/cloudformation/models.py` and `moto/logs/models.py`):
//! - ExecuteChangeSet stores the new template but never rebuilds the stack's outputs, so
//!   DescribeStacks keeps the outputs the stack was created with. GetTemplate shows the new
//!   template; real CloudFormation shows the new outputs (tests/mocks covers the report).
//! - A change set's rows ignore parameter values; an AWS::Logs::LogGroup has no
//!   CloudFormation update at all, so `LogRetentionDays` 30 → 14 leaves the log groups at 30
//!   while the stack's parameter becomes 14.
//! - DetectStackDrift and the other drift operations answer HTTP 500, and DeploymentMode is
//!   ignored: drift detection and REVERT_DRIFT change sets are tested with aws-smithy-mocks
//!   (tests/mocks/change_sets.rs); here only what the tool sends and how it fails.

use std::path::Path;

use serde_json::Value;

use crate::util::proxy::{action, Fault, Proxy, Rule, When};
use crate::util::{
    cli_via, count, edit, emulator_project, manifest, moto, moto_cli, sdk_config, stderr, stdout,
    stdout_json, up, CONFIG, TEMPLATE,
};

const STACK: &str = "scorekeep-lambda";

/// The CloudFormation actions moto received for `region` since `before` of them.
fn actions_since(region: &str, before: usize) -> Vec<String> {
    moto().actions(region)[before..].to_vec()
}

/// `up --output json` against moto: the report and the query actions it sent.
fn up_report(dir: &Path, region: &str) -> (Value, Vec<String>) {
    let before = moto().actions(region).len();
    let out = moto_cli(dir, region, &["up", "--output", "json"])
        .assert()
        .success();
    (stdout_json(out.get_output()), actions_since(region, before))
}

/// The second `up` after a change: "no changes", and the stack step is its two reads.
fn assert_settled(dir: &Path, region: &str) {
    let (report, actions) = up_report(dir, region);
    assert_eq!(report["changed"], false, "{report}");
    assert_eq!(report["stacks"][0]["action"], "unchanged", "{report}");
    for write in ["CreateChangeSet", "ExecuteChangeSet", "DeleteChangeSet"] {
        assert_eq!(count(&actions, write), 0, "{write} sent: {actions:?}");
    }
    assert_eq!(count(&actions, "GetTemplate"), 1, "{actions:?}");
    moto_cli(dir, region, &["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

fn stack_changes(report: &Value) -> Vec<Value> {
    report["stacks"][0]["stack_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn describe(region: &str) -> aws_sdk_cloudformation::types::Stack {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let out = cfn
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    out.stacks()[0].clone()
}

async fn deployed_template(region: &str) -> String {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let out = cfn.get_template().stack_name(STACK).send().await.unwrap();
    out.template_body().unwrap_or_default().to_string()
}

fn add_output(dir: &Path) {
    edit(
        dir,
        TEMPLATE,
        "Outputs:\n",
        "Outputs:\n  ScorekeepDeployedBy:\n    Description: Added by a test.\n    Value: scorekeep-deploy\n",
    );
}

/// Issue 19: a template change that touches only Outputs is a change set with no resource
/// rows; `plan` reports it (exit 2), one `up` executes it, and the next `up` sends no
/// CreateChangeSet.
#[tokio::test]
async fn an_added_output_is_planned_deployed_by_one_up_then_settles() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let created = up(dir.path(), region);
    add_output(dir.path());

    let out = moto_cli(
        dir.path(),
        region,
        &["plan", "--detailed-exitcode", "--output", "json"],
    )
    .assert()
    .code(2);
    let plan = stdout_json(out.get_output());
    assert_eq!(
        plan["stacks"][0]["changes"],
        serde_json::json!([]),
        "{plan}"
    );
    assert!(
        stack_changes(&plan).iter().any(|c| c["part"] == "output"
            && c["name"] == "ScorekeepDeployedBy"
            && c["action"] == "Add"),
        "{plan}"
    );

    let (report, actions) = up_report(dir.path(), region);
    assert_eq!(report["stacks"][0]["action"], "updated", "{report}");
    assert_eq!(count(&actions, "ExecuteChangeSet"), 1, "{actions:?}");
    assert_eq!(count(&actions, "DeleteChangeSet"), 0, "{actions:?}");
    assert!(
        deployed_template(region)
            .await
            .contains("ScorekeepDeployedBy"),
        "CloudFormation holds the template with the output"
    );
    let outputs: Vec<String> = describe(region)
        .await
        .outputs()
        .iter()
        .filter_map(|o| o.output_key().map(String::from))
        .collect();
    if !outputs.iter().any(|k| k == "ScorekeepDeployedBy") {
        // moto 5.2.5 never rebuilds outputs on ExecuteChangeSet (see the module comment): the
        // outputs must then be exactly the ones the stack was created with.
        let before: Vec<&String> = created.as_object().unwrap().keys().collect();
        let mut now: Vec<&String> = outputs.iter().collect();
        now.sort();
        assert_eq!(now, before, "outputs changed in another way");
        eprintln!("note: moto keeps the created stack's outputs after ExecuteChangeSet");
    }
    assert_settled(dir.path(), region);
}

/// Issue 19: `LogRetentionDays` 30 → 14 was reported "unchanged" because a change set with
/// no resource rows was deleted. Now the stack's parameter becomes 14 and the next `up` is a
/// no-op. (moto itself never updates a log group from CloudFormation: see the module comment.)
#[tokio::test]
async fn a_parameter_value_change_is_deployed_and_then_settles() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    up(dir.path(), region);
    edit(
        dir.path(),
        CONFIG,
        "LogRetentionDays: 30",
        "LogRetentionDays: 14",
    );
    let (report, actions) = up_report(dir.path(), region);
    assert_eq!(report["stacks"][0]["action"], "updated", "{report}");
    assert!(
        stack_changes(&report)
            .iter()
            .any(|c| c["part"] == "parameter"
                && c["name"] == "LogRetentionDays"
                && c["from"] == "30"
                && c["to"] == "14"),
        "{report}"
    );
    assert_eq!(count(&actions, "ExecuteChangeSet"), 1, "{actions:?}");
    let stack = describe(region).await;
    let value = stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("LogRetentionDays"))
        .and_then(|p| p.parameter_value());
    assert_eq!(value, Some("14"));
    assert_settled(dir.path(), region);
}

/// Issue 19: after switching `tracing_sdk`, the second `up` is again a no-op with the minimal
/// reads (the switch changes only the TracingSdk parameters' values: no resource rows on moto).
#[tokio::test]
async fn after_switching_tracing_sdk_the_second_up_is_a_no_op() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    crate::util::use_tracing_sdk(dir.path(), "xray");
    up(dir.path(), region);
    edit(dir.path(), CONFIG, "tracing_sdk: xray", "tracing_sdk: otel");
    let (report, actions) = up_report(dir.path(), region);
    assert_eq!(report["stacks"][0]["action"], "updated", "{report}");
    assert_eq!(count(&actions, "ExecuteChangeSet"), 1, "{actions:?}");
    assert!(
        stack_changes(&report)
            .iter()
            .any(|c| c["name"] == "RandomNameTracingSdk" && c["to"] == "otel"),
        "{report}"
    );
    assert_settled(dir.path(), region);
}

/// Issue 20: `plan` after switching `tracing_sdk` names the switch on the function (from the
/// deployed stack's parameter) and the old and new code sha, short, in text; both in JSON.
#[test]
fn plan_names_a_tracing_sdk_switch_and_the_old_and_new_code_sha() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    crate::util::use_tracing_sdk(dir.path(), "xray");
    up(dir.path(), region);
    let sha = |f: &str| {
        manifest(dir.path(), f)["sha256_base64"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = sha("random-name");
    edit(dir.path(), CONFIG, "tracing_sdk: xray", "tracing_sdk: otel");
    let out = moto_cli(dir.path(), region, &["plan", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let new = sha("random-name");
    assert_ne!(old, new, "the otel bundle is another build");
    let function = |name: &str| {
        report["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {report}"))
    };
    let random = function("random-name");
    assert_eq!(random["code"], "would_update", "{random}");
    assert_eq!(random["live_code_sha256"], old.as_str(), "{random}");
    assert_eq!(random["code_sha256"], new.as_str(), "{random}");
    assert_eq!(random["tracing_sdk"]["from"], "xray", "{random}");
    assert_eq!(random["tracing_sdk"]["to"], "otel", "{random}");
    let worker = function("scorekeep-worker");
    assert!(worker.get("tracing_sdk").is_none(), "{worker}");

    let text = stdout(
        moto_cli(dir.path(), region, &["plan"])
            .assert()
            .success()
            .get_output(),
    );
    assert!(text.contains("  tracing SDK xray -> otel\n"), "{text}");
    let line = format!("  code sha256 {} -> {}\n", &old[..12], &new[..12]);
    assert!(text.contains(&line), "no `{line}` in:\n{text}");
}

/// A CreateChangeSet and an ExecuteChangeSet each processed by moto but answered 500: the SDK
/// retries with the same ClientToken / ClientRequestToken, and the update completes.
#[test]
fn retried_change_set_calls_carry_the_same_token() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    up(dir.path(), region);
    add_output(dir.path());
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![
            Rule::new(
                action("CreateChangeSet"),
                When::Nth(1),
                Fault::FailAfterForward,
            ),
            Rule::new(
                action("ExecuteChangeSet"),
                When::Nth(1),
                Fault::FailAfterForward,
            ),
        ],
    );
    let out = cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["up", "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["stacks"][0]["action"], "updated", "{report}");
    assert_eq!(proxy.injected(), 2, "both faults hit");
    for (call, field) in [
        ("CreateChangeSet", "ClientToken="),
        ("ExecuteChangeSet", "ClientRequestToken="),
    ] {
        let tokens: Vec<String> = proxy
            .requests()
            .iter()
            .filter(|r| r.action() == Some(call))
            .map(|r| {
                r.body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(field))
                    .unwrap_or_else(|| panic!("{call} without {field}: {}", r.body))
                    .to_string()
            })
            .collect();
        assert_eq!(tokens.len(), 2, "{call} was retried once: {tokens:?}");
        assert_eq!(tokens[0], tokens[1], "{call} retried with another token");
    }
    assert_settled(dir.path(), region);
}

/// `up --revert-drift` creates an UPDATE change set with DeploymentMode REVERT_DRIFT even when
/// the template is unchanged (drift is not in the template). moto ignores the mode and answers
/// "no changes", so the stack stays unchanged; what CloudFormation does with it is in
/// tests/mocks.
#[test]
fn up_revert_drift_sends_a_revert_drift_update_change_set() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    up(dir.path(), region);
    let proxy = Proxy::start(&moto().endpoint, Vec::new());
    let out = cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["up", "--revert-drift", "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["stacks"][0]["action"], "unchanged", "{report}");
    let creates: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.action() == Some("CreateChangeSet"))
        .map(|r| r.body)
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert!(
        creates[0].contains("DeploymentMode=REVERT_DRIFT")
            && creates[0].contains("ChangeSetType=UPDATE"),
        "{}",
        creates[0]
    );
}

/// moto 5.2.5 has no drift detection (HTTP 500): `plan --drift` fails naming the stack, the
/// call and what the caller may do, instead of reporting "no drift".
#[test]
fn plan_drift_where_the_endpoint_cannot_detect_drift_fails_loudly() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    up(dir.path(), region);
    let out = moto_cli(dir.path(), region, &["plan", "--drift"])
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(
        err.contains("starting drift detection on stack scorekeep-lambda"),
        "{err}"
    );
    assert!(err.contains("cloudformation:DetectStackDrift"), "{err}");
    let actions = moto().actions(region);
    assert!(count(&actions, "DetectStackDrift") >= 1, "{actions:?}");
}
