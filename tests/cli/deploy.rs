//! The deploy engine end to end against a real moto server: `up`, a no-op rerun,
//! `update-functions`, `plan`, a template change, a broken change, and `down`.
//! API calls are counted from moto's own request recorder.

use crate::util::{
    edit, emulator_project, manifest, moto, moto_cli, project_copy, s3_client, sdk_config,
    skip_emulator, stdout_json, unique_region, TEMPLATE,
};
use predicates::prelude::*;

const WRITES: &[&str] = &[
    "CreateStack",
    "UpdateStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteStack",
    "UpdateEnvironment",
];

fn is_lambda_write(op: &str) -> bool {
    op.starts_with("PUT /2015-03-31/functions/")
}

/// One project deployed to a region of its own and taken through a release's life, step by
/// step (each step below is one function).
struct Scenario {
    dir: tempfile::TempDir,
    region: &'static str,
    cfn: aws_sdk_cloudformation::Client,
    lambda: aws_sdk_lambda::Client,
}

impl Scenario {
    async fn new() -> Scenario {
        let region = unique_region();
        let config = sdk_config(region).await;
        Scenario {
            dir: project_copy(),
            region,
            cfn: aws_sdk_cloudformation::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }

    fn run(&self, args: &[&str]) -> assert_cmd::Command {
        moto_cli(self.dir.path(), self.region, args)
    }

    /// How many requests moto has seen in this scenario's region.
    fn op_count(&self) -> usize {
        moto().operations(self.region).len()
    }

    /// The requests since [`Scenario::op_count`] said `before`.
    fn ops_since(&self, before: usize) -> Vec<String> {
        moto().operations(self.region)[before..].to_vec()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_rerun_update_plan_failure_and_down() {
    if skip_emulator() {
        return;
    }
    let s = Scenario::new().await;
    let outputs = first_up_creates_the_stack_and_both_functions(&s).await;
    a_rerun_with_nothing_changed_writes_nothing(&s);
    update_functions_uploads_only_the_changed_code(&s);
    a_template_change_is_planned_then_applied(&s);
    a_broken_change_fails_and_leaves_the_stack_as_it_was(&s).await;
    status_compares_the_deployed_code_with_the_build(&s);
    a_function_deleted_out_of_band_names_its_stack(&s).await;
    down_needs_yes_then_deletes_the_stack_and_keeps_the_bucket(&s, &outputs).await;
}

/// First `up` creates the stack, uploads both bundles and sets their environment.
async fn first_up_creates_the_stack_and_both_functions(s: &Scenario) -> serde_json::Value {
    let out = s.run(&["up", "--output", "json"]).assert().success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["stacks"][0]["action"], "created");
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["code"], "updated", "{f}");
        assert_eq!(f["config"], "updated", "{f}");
    }
    let outputs = &report["stacks"][0]["outputs"];
    for key in [
        "ScorekeepWorkerQueueUrl",
        "ScorekeepRecordsBucketName",
        "ScorekeepNotificationTopicArn",
    ] {
        assert!(
            outputs[key].as_str().is_some_and(|v| !v.is_empty()),
            "output {key} missing: {outputs}"
        );
    }
    let rn = s
        .lambda
        .get_function_configuration()
        .function_name("random-name")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rn.code_sha256(),
        manifest(s.dir.path(), "random-name")["sha256_base64"].as_str()
    );
    let env = rn.environment().unwrap().variables().unwrap();
    assert_eq!(
        env["TOPIC_ARN"],
        outputs["ScorekeepNotificationTopicArn"].as_str().unwrap()
    );
    let worker = s
        .lambda
        .get_function_configuration()
        .function_name("scorekeep-worker")
        .send()
        .await
        .unwrap();
    assert_eq!(
        worker.code_sha256(),
        manifest(s.dir.path(), "scorekeep-worker")["sha256_base64"].as_str()
    );
    assert_eq!(
        worker.environment().unwrap().variables().unwrap()["WORKER_QUEUE"],
        outputs["ScorekeepWorkerQueueUrl"].as_str().unwrap()
    );
    assert_eq!(worker.memory_size(), Some(256));
    outputs.clone()
}

/// A second `up` with nothing changed: no writes, a handful of reads, "no changes".
fn a_rerun_with_nothing_changed_writes_nothing(s: &Scenario) {
    let before = s.op_count();
    s.run(&["up"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no changes"));
    let ops = s.ops_since(before);
    assert!(
        !ops.iter()
            .any(|op| WRITES.contains(&op.as_str()) || is_lambda_write(op)),
        "a no-op up must not write: {ops:?}"
    );
    // Two reads per stack; per function three (GetFunction: `$LATEST` with its tags; the
    // release alias; the alias's version); one for Beanstalk. No ListTags: moto reports tracing
    // PassThrough where Active was set, and the unstored tag that says so came with GetFunction.
    let tag_reads = ops.iter().filter(|o| o.contains("/tags/")).count();
    assert_eq!(tag_reads, 0, "{ops:?}");
    for f in ["random-name", "scorekeep-worker"] {
        let latest = format!("GET /2015-03-31/functions/{f}");
        assert_eq!(count_ops(&ops, &latest), 1, "{ops:?}");
    }
    assert_eq!(ops.len(), 2 + 3 * 2 + 1, "calls for a no-op up: {ops:?}");
}

fn count_ops(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| o.as_str() == op).count()
}

/// `update-functions` after a source change updates exactly that function's code.
fn update_functions_uploads_only_the_changed_code(s: &Scenario) {
    edit(
        s.dir.path(),
        "functions/random-name/index.js",
        "'use strict';",
        // Code, not a comment: the minified bundle drops comments.
        "'use strict';\nexports.release = 2;",
    );
    let before = s.op_count();
    let out = s
        .run(&["update-functions", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let by_name = |name: &str| {
        report["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("random-name")["code"], "updated");
    assert_eq!(by_name("scorekeep-worker")["code"], "unchanged");
    let ops = s.ops_since(before);
    let code_updates: Vec<&String> = ops.iter().filter(|op| op.ends_with("/code")).collect();
    assert_eq!(
        code_updates,
        vec!["PUT /2015-03-31/functions/random-name/code"],
        "{ops:?}"
    );
    assert!(
        !ops.iter().any(|op| WRITES.contains(&op.as_str())),
        "update-functions touched CloudFormation: {ops:?}"
    );
}

/// A template change: `plan` shows the row and changes nothing; `up` applies it.
fn a_template_change_is_planned_then_applied(s: &Scenario) {
    edit(
        s.dir.path(),
        TEMPLATE,
        "MessageRetentionPeriod: 345600",
        "MessageRetentionPeriod: 432000",
    );
    let before = s.op_count();
    s.run(&["plan", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("Modify").and(predicate::str::contains("WorkerQueue")));
    let ops = s.ops_since(before);
    assert!(
        !ops.iter().any(|op| op == "ExecuteChangeSet"),
        "plan executed a change set: {ops:?}"
    );
    let out = s.run(&["up", "--output", "json"]).assert().success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["stacks"][0]["action"], "updated");
    assert!(report["stacks"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["logical_id"] == "WorkerQueue" && row["action"] == "Modify"));
    s.run(&["plan", "--detailed-exitcode"]).assert().code(0);
}

/// A broken change fails naming the resource and the reason, and leaves the stack as it was.
async fn a_broken_change_fails_and_leaves_the_stack_as_it_was(s: &Scenario) {
    let good = s
        .cfn
        .get_template()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .unwrap();
    edit(
        s.dir.path(),
        TEMPLATE,
        "KmsMasterKeyId: alias/aws/sns",
        "KmsMasterKeyId: alias/aws/sns\n      TopicName: \"not a valid name!\"",
    );
    s.run(&["up"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NotificationTopic"))
        .stderr(predicate::str::contains("Topic names must"));
    let after = s
        .cfn
        .get_template()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.template_body(),
        good.template_body(),
        "the failed change must not stick"
    );
    let live = s
        .cfn
        .describe_stacks()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .unwrap();
    let status = live.stacks()[0]
        .stack_status()
        .unwrap()
        .as_str()
        .to_string();
    assert!(
        status.ends_with("_COMPLETE") && !status.contains("ROLLBACK"),
        "{status}"
    );
}

/// `status` compares the deployed code with the local build.
fn status_compares_the_deployed_code_with_the_build(s: &Scenario) {
    let out = s.run(&["status", "--output", "json"]).assert().success();
    let status = stdout_json(out.get_output());
    assert_eq!(
        status["stacks"][0]["status"]
            .as_str()
            .map(|s| s.ends_with("_COMPLETE")),
        Some(true)
    );
    for f in status["functions"].as_array().unwrap() {
        assert_eq!(f["code_in_sync"], true, "{f}");
        assert_eq!(f["last_update_status"], "Successful", "{f}");
    }
}

/// A function deleted behind the tool's back: the error names the stack that owns it.
async fn a_function_deleted_out_of_band_names_its_stack(s: &Scenario) {
    let worker = s
        .lambda
        .get_function_configuration()
        .function_name("scorekeep-worker")
        .send()
        .await
        .unwrap();
    let role = worker.role().unwrap().to_string();
    s.lambda
        .delete_function()
        .function_name("scorekeep-worker")
        .send()
        .await
        .unwrap();
    s.run(&["update-functions", "scorekeep-worker"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "function scorekeep-worker does not exist",
        ))
        .stderr(predicate::str::contains(
            "stack scorekeep-lambda should have created it",
        ));
    // Put it back: moto's DeleteStack fails on a function that vanished out of band.
    let zip = std::fs::read(
        s.dir
            .path()
            .join("target/scorekeep-deploy/scorekeep-worker.zip"),
    )
    .unwrap();
    s.lambda
        .create_function()
        .function_name("scorekeep-worker")
        .role(role)
        .runtime(aws_sdk_lambda::types::Runtime::Python313)
        .handler("lambda_function.lambda_handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// `down` needs --yes without a terminal, then deletes the stack and keeps the bucket.
async fn down_needs_yes_then_deletes_the_stack_and_keeps_the_bucket(
    s: &Scenario,
    outputs: &serde_json::Value,
) {
    s.run(&["down"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert!(s
        .cfn
        .describe_stacks()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .is_ok());
    let bucket = outputs["ScorekeepRecordsBucketName"]
        .as_str()
        .unwrap()
        .to_string();
    let out = s
        .run(&["down", "--yes", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["deleted"][0], "scorekeep-lambda");
    assert_eq!(report["retained_buckets"][0], bucket.as_str());
    assert!(
        s.cfn
            .describe_stacks()
            .stack_name("scorekeep-lambda")
            .send()
            .await
            .is_err(),
        "stack still there"
    );
    let s3 = s3_client(s.region).await;
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_ok(),
        "the records bucket must be retained"
    );
}

#[test]
fn update_functions_without_stacks_fails_loudly() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    moto_cli(dir.path(), region, &["update-functions"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "stack scorekeep-lambda does not exist",
        ))
        .stderr(predicate::str::contains("scorekeep-deploy up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_over_the_inline_limit_goes_through_the_artifact_bucket() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    // Pad the template past CloudFormation's 51,200-byte inline limit.
    let padding = "x".repeat(52_000);
    edit(
        dir.path(),
        "templates/scorekeep.yaml",
        "\nMetadata:\n",
        &format!("\nMetadata:\n  Padding: {padding}\n"),
    );
    moto_cli(dir.path(), region, &["up"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "over CloudFormation's 51200-byte inline limit",
        ))
        .stderr(predicate::str::contains("set `artifact_bucket:`"));

    let s3 = s3_client(region).await;
    let bucket = "scorekeep-deploy-artifacts";
    // us-east-1 is the one region that takes no location constraint.
    let location = (region != "us-east-1").then(|| {
        aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
            .build()
    });
    s3.create_bucket()
        .bucket(bucket)
        .set_create_bucket_configuration(location)
        .send()
        .await
        .unwrap();
    let config_file = dir.path().join("scorekeep-deploy.yaml");
    let mut text = std::fs::read_to_string(&config_file).unwrap();
    text.push_str(&format!("\nartifact_bucket: {bucket}\n"));
    std::fs::write(&config_file, text).unwrap();

    let before = moto().operations(region).len();
    moto_cli(dir.path(), region, &["up"]).assert().success();
    let ops = moto().operations(region)[before..].to_vec();
    assert!(
        ops.iter()
            .any(|op| op.starts_with(&format!("PUT /{bucket}/scorekeep-deploy/templates/"))),
        "the template was not uploaded: {ops:?}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let deployed = cfn
        .get_template()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .unwrap();
    assert!(deployed.template_body().unwrap().contains(&padding));

    // A rerun finds the same template already uploaded and deployed: no writes at all.
    let before = moto().operations(region).len();
    moto_cli(dir.path(), region, &["up"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no changes"));
    let ops = moto().operations(region)[before..].to_vec();
    assert!(
        !ops.iter()
            .any(|op| op.starts_with("PUT ") || WRITES.contains(&op.as_str())),
        "a no-op up must not write: {ops:?}"
    );
}
