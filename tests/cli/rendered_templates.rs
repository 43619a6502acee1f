//! The rendered templates themselves: cfn-lint and checkov accept them, and moto deploys them
//! to CREATE_COMPLETE with every output present (through the AWS SDK for Rust, not the CLI).

use std::path::PathBuf;
use std::process::Command;

use crate::util::{cli, moto, project_copy, sdk_config, skip_emulator, unique_region, venv_bin};

fn rendered(dir: &std::path::Path) -> PathBuf {
    cli(dir)
        .args(["render", "--out", "rendered"])
        .assert()
        .success();
    dir.join("rendered/scorekeep-lambda.yaml")
}

fn tool(name: &str) -> PathBuf {
    let bin = venv_bin(name);
    assert!(
        bin.exists(),
        "{} not found: run scripts/setup",
        bin.display()
    );
    bin
}

/// cfn-lint's findings on `file`: empty when it has nothing to say.
pub(crate) fn cfn_lint(file: &std::path::Path) -> String {
    let out = Command::new(tool("cfn-lint"))
        .arg("--")
        .arg(file)
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.success(),
        report.trim().is_empty(),
        "cfn-lint: {report}"
    );
    report
}

/// checkov's JSON report on `file`.
pub(crate) fn checkov(file: &std::path::Path) -> serde_json::Value {
    let out = Command::new(tool("checkov"))
        .args([
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
            "-f",
        ])
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov output is not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Findings make checkov exit non-zero; without any, a failed exit is checkov's own.
    assert!(
        out.status.success() || report["summary"]["failed"] != 0,
        "checkov exited {:?}",
        out.status
    );
    report
}

#[test]
fn cfn_lint_reports_nothing() {
    let dir = project_copy();
    let report = cfn_lint(&rendered(dir.path()));
    assert!(
        report.trim().is_empty(),
        "cfn-lint found problems:\n{report}"
    );
}

#[test]
fn checkov_has_no_unsuppressed_findings_and_every_suppression_has_a_reason() {
    let dir = project_copy();
    let report = checkov(&rendered(dir.path()));
    let summary = &report["summary"];
    assert_eq!(
        summary["failed"], 0,
        "checkov findings: {}",
        report["results"]["failed_checks"]
    );
    assert!(
        summary["passed"].as_u64().unwrap() > 20,
        "checkov checked too little: {summary}"
    );
    let skipped = report["results"]["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for check in &skipped {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.len() > 20,
            "suppression without a written reason: {check}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_creates_the_rendered_stack_with_all_outputs() {
    if skip_emulator() {
        return;
    }
    let dir = project_copy();
    let body = std::fs::read_to_string(rendered(dir.path())).unwrap();
    let region = unique_region();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    cfn.create_stack()
        .stack_name("render-check")
        .template_body(body)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create_stack on {}: {e:?}", moto().endpoint));
    let stack = loop {
        let out = cfn
            .describe_stacks()
            .stack_name("render-check")
            .send()
            .await
            .unwrap();
        let stack = out.stacks()[0].clone();
        if !stack
            .stack_status()
            .unwrap()
            .as_str()
            .ends_with("IN_PROGRESS")
        {
            break stack;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(stack.stack_status().unwrap().as_str(), "CREATE_COMPLETE");
    let outputs: std::collections::BTreeMap<&str, &str> = stack
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap(),
                o.output_value().unwrap_or_default(),
            )
        })
        .collect();
    for key in [
        "ScorekeepWorkerQueueUrl",
        "ScorekeepWorkerQueueArn",
        "ScorekeepRecordsBucketName",
        "ScorekeepNotificationTopicArn",
        "RandomNameFunctionArn",
        "ScorekeepWorkerFunctionArn",
    ] {
        assert!(
            outputs.get(key).is_some_and(|v| !v.is_empty()),
            "output {key} missing: {outputs:?}"
        );
    }
    let exports = cfn.list_exports().send().await.unwrap();
    let names: Vec<&str> = exports.exports().iter().filter_map(|e| e.name()).collect();
    assert!(
        names.contains(&"ScorekeepWorkerQueueUrl") && names.contains(&"ScorekeepRecordsBucketName"),
        "{names:?}"
    );
}

/// The topic, like the queues and the bucket, refuses any request that is not over TLS.
#[test]
fn topic_policy_denies_requests_without_tls() {
    use scorekeep_deploy::yaml::{self, Value};
    let dir = project_copy();
    let doc: Value =
        yaml::from_str(&std::fs::read_to_string(rendered(dir.path())).unwrap()).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let refs_topic = |v: &Value| yaml::to_string(v).unwrap().trim() == "!Ref NotificationTopic";
    let policy = resources
        .values()
        .find(|r| {
            r["Type"] == "AWS::SNS::TopicPolicy"
                && r["Properties"]["Topics"]
                    .as_sequence()
                    .is_some_and(|topics| topics.iter().any(refs_topic))
        })
        .expect("an AWS::SNS::TopicPolicy for NotificationTopic");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert!(
        statements.iter().any(|s| {
            s["Effect"] == "Deny"
                && s["Principal"] == "*"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                && refs_topic(&s["Resource"])
                && s["Action"]
                    .as_sequence()
                    .is_some_and(|a| a.contains(&Value::from("sns:Publish")))
        }),
        "no statement denies non-TLS access to the topic: {statements:?}"
    );
}

/// Issue 23: the worker is fed by an event source mapping on the release alias, with partial
/// batch failures, bounded concurrency and the trigger chosen by the config; the schedule rule
/// exists only for `trigger: schedule`; the queue's alarms are there (and are release gates).
#[test]
fn the_worker_queue_feeds_the_alias_through_a_mapping_with_partial_failures() {
    use scorekeep_deploy::yaml::{self, Value};
    let dir = project_copy();
    let doc: Value =
        yaml::from_str(&std::fs::read_to_string(rendered(dir.path())).unwrap()).unwrap();
    let text = |v: &Value| yaml::to_string(v).unwrap().trim().to_string();
    let mapping = &doc["Resources"]["WorkerQueueMapping"];
    assert_eq!(mapping["Type"], "AWS::Lambda::EventSourceMapping");
    assert_eq!(mapping["Condition"], "WorkerFedByQueue");
    let props = &mapping["Properties"];
    assert_eq!(text(&props["FunctionName"]), "!Ref ScorekeepWorkerAlias");
    assert_eq!(text(&props["EventSourceArn"]), "!GetAtt WorkerQueue.Arn");
    assert_eq!(
        props["FunctionResponseTypes"],
        Value::Sequence(vec![Value::from("ReportBatchItemFailures")])
    );
    assert!(props["ScalingConfig"]["MaximumConcurrency"]
        .as_u64()
        .is_some());
    assert_eq!(
        doc["Parameters"]["ScorekeepWorkerTrigger"]["Default"],
        "queue"
    );
    assert_eq!(
        doc["Resources"]["WorkerScheduleRule"]["Condition"],
        "WorkerRunsOnSchedule"
    );
    for alarm in ["WorkerDeadLetterAlarm", "WorkerQueueAgeAlarm"] {
        assert_eq!(
            doc["Resources"][alarm]["Type"], "AWS::CloudWatch::Alarm",
            "{alarm}"
        );
    }
    // The seed's timer instead: the rendered default says so.
    crate::util::edit(
        dir.path(),
        crate::util::CONFIG,
        "trigger: queue",
        "trigger: schedule\n    schedule: rate(10 minutes)",
    );
    let doc: Value =
        yaml::from_str(&std::fs::read_to_string(rendered(dir.path())).unwrap()).unwrap();
    assert_eq!(
        doc["Parameters"]["ScorekeepWorkerTrigger"]["Default"],
        "schedule"
    );
    assert_eq!(
        doc["Parameters"]["ScorekeepWorkerSchedule"]["Default"],
        "rate(10 minutes)"
    );
}
