//! The deploy engine end to end against a real moto server: `up`, a no-op rerun,
//! `update-functions`, `plan`, a template change, a broken change, and `down`.
//! API calls are counted from moto's own request recorder.

use crate::util::{
    self, cli, edit, emulator_project, manifest, moto, moto_cli, project_copy, s3_client,
    sdk_config, skip_emulator, stderr, stdout, stdout_json, unique_region, up, TEMPLATE,
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

#[test]
fn unreachable_endpoint_is_explained() {
    let dir = project_copy();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot reach the AWS endpoint"));
}

#[test]
fn missing_credentials_are_explained() {
    let dir = project_copy();
    let home = tempfile::tempdir().unwrap();
    without_credentials(&mut cli(dir.path()), home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no credentials found"))
        .stderr(predicate::str::contains("hint: no usable AWS credentials"))
        .stderr(predicate::str::contains("DispatchFailure {").not());
}

#[test]
fn a_failing_credential_provider_is_not_dumped_without_verbose() {
    let dir = project_copy();
    let home = tempfile::tempdir().unwrap();
    // The instance-metadata provider is tried (no AWS_EC2_METADATA_DISABLED) and refused, as
    // off EC2 behind a proxy; aws-config then warns with a Debug dump of the failure.
    let imds = plain_http_server("403 Forbidden", "text/plain", "denied");
    let assert = without_credentials(&mut cli(dir.path()), home.path())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{imds}"),
        )
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("hint: no usable AWS credentials"));
    let stderr = stderr(assert.get_output());
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("ProviderError("), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_with_delete_data_empties_and_deletes_the_bucket() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let out = run(&["up", "--output", "json"]).assert().success();
    let bucket = stdout_json(out.get_output())["stacks"][0]["outputs"]
        ["ScorekeepRecordsBucketName"]
        .as_str()
        .unwrap()
        .to_string();
    let s3 = s3_client(region).await;
    s3.put_object()
        .bucket(&bucket)
        .key("2026/11/25/s/g.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let out = run(&["down", "--yes", "--delete-data", "--output", "json"])
        .assert()
        .success();
    assert_eq!(
        stdout_json(out.get_output())["deleted_buckets"][0],
        bucket.as_str()
    );
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "bucket {bucket} still exists"
    );
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

/// `up`, returning the records bucket's name.
fn up_and_get_bucket(dir: &std::path::Path, region: &str) -> String {
    up(dir, region)["ScorekeepRecordsBucketName"]
        .as_str()
        .unwrap()
        .to_string()
}

// Issue 9 item 2: DeleteObjects reporting per-object errors made `down --delete-data` loop
// forever after the stack was already gone. The stack's bucket is versioned but not created
// with Object Lock; moto (like S3) lets Object Lock be enabled on an empty versioned bucket, so
// the test does that and puts a legal hold on one object: a real per-object DeleteObjects error.
#[tokio::test(flavor = "multi_thread")]
async fn down_delete_data_stops_on_objects_it_cannot_delete_and_keeps_the_stack() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let bucket = up_and_get_bucket(dir.path(), region);
    let s3 = s3_client(region).await;
    // The template enables versioning; moto's CloudFormation does not apply it, so do it here.
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            aws_sdk_s3::types::ObjectLockConfiguration::builder()
                .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for key in ["2026/11/25/held.json", "2026/11/25/free.json"] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
    s3.put_object_legal_hold()
        .bucket(&bucket)
        .key("2026/11/25/held.json")
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let before = moto().operations(region).len();
    let out = moto_cli(
        dir.path(),
        region,
        &["down", "--yes", "--delete-data", "--output", "json"],
    )
    .timeout(std::time::Duration::from_secs(60))
    .assert()
    .code(1)
    .stderr(predicate::str::contains(format!("bucket {bucket}")))
    .stderr(predicate::str::contains("2026/11/25/held.json"))
    .stderr(predicate::str::contains("AccessDenied"))
    .stderr(predicate::str::contains("hint:"));
    eprintln!("{}", String::from_utf8_lossy(&out.get_output().stderr));
    let doc = stdout_json(out.get_output());
    assert_eq!(
        doc["error"]["resource"],
        format!("s3 bucket {bucket}"),
        "{doc}"
    );
    assert_eq!(doc["error"]["exit_code"], 1, "{doc}");
    let ops = moto().operations(region)[before..].to_vec();
    let delete_objects = ops
        .iter()
        .filter(|op| op.trim_end_matches('/') == format!("POST /{bucket}"))
        .count();
    assert!(
        (1..=5).contains(&delete_objects),
        "DeleteObjects must be retried a bounded number of times, got {delete_objects}: {ops:?}"
    );
    assert!(
        !ops.iter().any(|op| op == "DeleteStack"),
        "the stack must stay when its bucket cannot be emptied: {ops:?}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    assert!(cfn
        .describe_stacks()
        .stack_name("scorekeep-lambda")
        .send()
        .await
        .is_ok());
    // What could be deleted was deleted; the held object is still there.
    let left = s3
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = left.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, vec!["2026/11/25/held.json"]);
}

// Issue 9 item 3: after `down --yes` the hint said "delete it with `down --delete-data`", which
// then found no stack, printed "did not exist", exited 0 and left the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn the_retained_bucket_hint_works_after_the_stack_is_gone() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let bucket = up_and_get_bucket(dir.path(), region);
    let s3 = s3_client(region).await;
    s3.put_object()
        .bucket(&bucket)
        .key("2026/11/25/s/g.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    run(&["down", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "bucket {bucket}: retained with its data (delete it with `scorekeep-deploy down --delete-data`)"
        )));
    // A plain rerun still reports the bucket as retained, not as forgotten.
    run(&["down", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "bucket {bucket}: retained"
        )));
    // The hint, as given.
    let out = run(&["down", "--yes", "--delete-data"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "bucket {bucket}: emptied (1 object version(s) deleted) and deleted"
        )));
    assert!(String::from_utf8_lossy(&out.get_output().stdout)
        .contains("stack scorekeep-lambda: did not exist"));
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "bucket {bucket} still exists"
    );
    // Nothing left to find: a further run deletes nothing and says so.
    run(&["down", "--yes", "--delete-data", "--output", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"deleted_buckets\": []"));
}

// `--bucket NAME` deletes a bucket the record does not know (e.g. retained from another checkout).
#[tokio::test(flavor = "multi_thread")]
async fn down_delete_data_takes_a_bucket_by_name() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let bucket = up_and_get_bucket(dir.path(), region);
    moto_cli(dir.path(), region, &["down", "--yes"])
        .assert()
        .success();
    // Another checkout: no record of the retained bucket.
    let other = project_copy();
    let out = moto_cli(
        other.path(),
        region,
        &[
            "down",
            "--yes",
            "--delete-data",
            "--bucket",
            &bucket,
            "--output",
            "json",
        ],
    )
    .assert()
    .success();
    assert_eq!(
        stdout_json(out.get_output())["deleted_buckets"][0],
        bucket.as_str()
    );
    let s3 = s3_client(region).await;
    assert!(s3.head_bucket().bucket(&bucket).send().await.is_err());
}

/// The one JSON document on stdout of a command run with `--output json`.
fn json_document(output: &std::process::Output) -> serde_json::Value {
    let doc = stdout_json(output);
    assert!(doc.is_object(), "{doc}");
    doc
}

// Issue 9 item 15: with `--output json`, a failing command printed nothing on stdout.
#[test]
fn a_failing_command_prints_one_json_document() {
    let dir = project_copy();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // An unreachable endpoint: exit 1 with the hint.
    let out = cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["status", "--output", "json"])
        .assert()
        .code(1);
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "status");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 1);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("describing stack scorekeep-lambda"),
        "{doc}"
    );
    assert!(
        !doc["error"]["message"].as_str().unwrap().contains("hint:"),
        "hints are a field of their own: {doc}"
    );
    assert!(doc["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("cannot reach the AWS endpoint"));
    assert!(doc["error"].get("resource").is_some(), "{doc}");

    // A config error: exit 2, the resource is the file position.
    std::fs::write(dir.path().join("scorekeep-deploy.yaml"), "stacks: [\n").unwrap();
    let out = cli(dir.path())
        .args(["render", "--output", "json"])
        .assert()
        .code(2);
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "render");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["exit_code"], 2);
    assert!(
        doc["error"]["resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("scorekeep-deploy.yaml")),
        "{doc}"
    );
}

// Issue 9 item 15: `status --output json` had no `command` key; success reports carry `ok`.
#[test]
fn status_json_names_its_command() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let out = moto_cli(dir.path(), region, &["status", "--output", "json"])
        .assert()
        .success();
    let doc = json_document(out.get_output());
    assert_eq!(doc["command"], "status");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["stacks"][0]["status"], serde_json::Value::Null);
}

// Issue 9 items 19 and 20: against moto every `up` repeated, per function, that the endpoint
// reports tracing differently; `status` showed `tracing PassThrough` without flagging it; a
// no-op `up` listed every output; `function random-name (random-name)` repeated the name.
#[test]
fn emulator_tracing_is_noted_once_and_status_marks_the_drift() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let first = run(&["up"]).assert().success();
    let first = stdout(first.get_output());
    assert!(
        first.contains("output ScorekeepRecordsBucketName = "),
        "{first}"
    );
    let again = run(&["up"]).assert().success();
    let stdout = stdout(again.get_output());
    let stderr = stderr(again.get_output());
    let noted = format!("{stdout}{stderr}")
        .matches("reports tracing")
        .count();
    assert_eq!(
        noted, 1,
        "the tracing note must appear once per run:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("tracing of random-name, scorekeep-worker"),
        "one note names both functions: {stdout}"
    );
    assert!(
        !stdout.contains("output "),
        "a no-op up lists no outputs: {stdout}"
    );
    assert!(
        !stdout.contains("function random-name (random-name)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("function random-name: code unchanged"),
        "{stdout}"
    );

    let status = run(&["status"]).assert().success();
    let status = util::stdout(status.get_output());
    assert!(
        status.contains("tracing PassThrough (drift: desired Active)"),
        "{status}"
    );
    assert!(
        status.contains("ScorekeepRecordsBucketName = "),
        "status shows outputs: {status}"
    );
    let json_status = run(&["status", "--output", "json"]).assert().success();
    let doc = stdout_json(json_status.get_output());
    assert_eq!(doc["functions"][0]["drift"][0]["field"], "tracing", "{doc}");
}

// Issue 9 item 20: an endpoint that is a plain HTTP server (404, HTML) gave "error parsing XML:
// no root element" and no hint.
#[test]
fn a_non_aws_endpoint_is_explained() {
    let port = plain_http_server(
        "404 Not Found",
        "text/html",
        "<html><body>Not Found</body></html>",
    );
    let dir = project_copy();
    cli(dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .args(["status"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("HTTP 404"))
        .stderr(predicate::str::contains(
            "hint: the endpoint does not look like an AWS API",
        ))
        .stderr(predicate::str::contains("--endpoint-url"));
}

// Issue 9 item 20: `plan` omitted the Beanstalk section when the stack did not exist yet.
// CloudFormation, Lambda and S3 are moto; moto 5.2.5 answers Beanstalk's
// DescribeConfigurationSettings with HTTP 500, so Beanstalk is the SDK's typed mock here.
#[tokio::test(flavor = "multi_thread")]
async fn plan_before_the_stack_exists_shows_what_beanstalk_would_get() {
    use aws_sdk_elasticbeanstalk::operation::describe_configuration_settings::DescribeConfigurationSettingsOutput;
    use aws_sdk_elasticbeanstalk::operation::describe_environments::DescribeEnvironmentsOutput;
    use aws_sdk_elasticbeanstalk::operation::update_environment::UpdateEnvironmentOutput;
    use aws_sdk_elasticbeanstalk::types::{
        ConfigurationOptionSetting, ConfigurationSettingsDescription, EnvironmentDescription,
        EnvironmentHealth, EnvironmentStatus,
    };
    use aws_sdk_elasticbeanstalk::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let describe = mock!(Client::describe_environments).then_output(|| {
        DescribeEnvironmentsOutput::builder()
            .environments(
                EnvironmentDescription::builder()
                    .environment_name("scorekeep-dev")
                    .status(EnvironmentStatus::Ready)
                    .health(EnvironmentHealth::Green)
                    .build(),
            )
            .build()
    });
    let settings = mock!(Client::describe_configuration_settings).then_output(|| {
        DescribeConfigurationSettingsOutput::builder()
            .configuration_settings(
                ConfigurationSettingsDescription::builder()
                    .option_settings(
                        ConfigurationOptionSetting::builder()
                            .namespace("aws:elasticbeanstalk:xray")
                            .option_name("XRayEnabled")
                            .value("false")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let update = mock!(Client::update_environment)
        .then_output(|| UpdateEnvironmentOutput::builder().build());
    let project =
        scorekeep_deploy::config::Project::load(&dir.path().join("scorekeep-deploy.yaml")).unwrap();
    let mut clients = scorekeep_deploy::aws::Clients::from_config(&sdk_config(region).await);
    clients.beanstalk = mock_client!(
        aws_sdk_elasticbeanstalk,
        RuleMode::MatchAny,
        [&describe, &settings, &update]
    );
    let reporter =
        scorekeep_deploy::report::Reporter::new(scorekeep_deploy::cli::OutputFormat::Json, true);
    let report = scorekeep_deploy::deploy::plan(&clients, &project, &reporter)
        .await
        .unwrap();
    let text = report.to_string();
    assert!(
        text.contains("stack scorekeep-lambda: would be created"),
        "{text}"
    );
    assert!(
        text.contains("beanstalk scorekeep/scorekeep-dev: would update"),
        "{text}"
    );
    assert!(
        text.contains("aws:elasticbeanstalk:application:environment:WORKER_QUEUE (from stack output ScorekeepWorkerQueueUrl, after create)"),
        "{text}"
    );
    assert!(
        text.contains("aws:elasticbeanstalk:application:environment:AWS_REGION (set)"),
        "{text}"
    );
    assert!(text.contains("XRayEnabled false -> true"), "{text}");
    assert_eq!(update.num_calls(), 0, "plan changes nothing");
    let doc = serde_json::to_value(&report).unwrap();
    assert_eq!(doc["functions"][0]["code"], "would_create", "{doc}");
    assert_eq!(doc["functions"][0]["config"], "would_create", "{doc}");
    assert_eq!(doc["beanstalk"]["action"], "would_update", "{doc}");
}

// Issue 9 items 18 and 20: `scripts/demo` ran `cargo build --quiet` (minutes of silence on a
// fresh machine) and left /tmp/moto-demo.*.log behind. The real script runs here in a copy of
// the project with its own TMPDIR; `scripts/setup` is a no-op stub (the .venv is linked), and
// `cargo` is a stub that records its arguments, with the already-built binary in its place.
#[test]
fn the_demo_shows_cargo_progress_and_cleans_up_its_log() {
    if skip_emulator() {
        return;
    }
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = project_copy();
    let root = util::repo_root();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::copy(root.join("scripts/demo"), scripts.join("demo")).unwrap();
    let write_exe = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_exe(&scripts.join("setup"), "#!/bin/sh\nexit 0\n");
    symlink(root.join(".venv"), dir.path().join(".venv")).unwrap();
    let stubs = tempfile::tempdir().unwrap();
    let cargo_args = stubs.path().join("cargo-args");
    write_exe(
        &stubs.path().join("cargo"),
        &format!("#!/bin/sh\necho \"$@\" > '{}'\n", cargo_args.display()),
    );
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(target.path().join("debug")).unwrap();
    symlink(
        assert_cmd::cargo::cargo_bin("scorekeep-deploy"),
        target.path().join("debug/scorekeep-deploy"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        stubs.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(scripts.join("demo"))
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target.path())
        .env("TMPDIR", tmp.path())
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&cargo_args).unwrap().trim(),
        "build"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("moto-demo."))
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} in TMPDIR");
}

// Issue 9 item 20: `{err:#}` printed a hint and then the OS error again after it
// ("…\n  hint: run from the project directory…: No such file or directory (os error 2)").
#[test]
fn the_hint_comes_last_and_the_os_error_once() {
    let dir = project_copy();
    let out = cli(dir.path())
        .args(["render", "--config", "nope.yaml"])
        .assert()
        .code(2);
    let stderr = stderr(out.get_output());
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("  hint: ") && !last.contains("os error"),
        "{stderr}"
    );
}

// A bucket retained by an earlier `down` is not forgotten when the stack is created again:
// `down --delete-data` of the new stack deletes both its bucket and the older one.
#[tokio::test(flavor = "multi_thread")]
async fn down_delete_data_also_deletes_buckets_retained_from_an_earlier_stack() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let old = up_and_get_bucket(dir.path(), region);
    moto_cli(dir.path(), region, &["down", "--yes"])
        .assert()
        .success();
    let new = up_and_get_bucket(dir.path(), region);
    assert_ne!(old, new);
    let out = moto_cli(
        dir.path(),
        region,
        &["down", "--yes", "--delete-data", "--output", "json"],
    )
    .assert()
    .success();
    let doc = stdout_json(out.get_output());
    let deleted: Vec<&str> = doc["deleted_buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str())
        .collect();
    assert_eq!(deleted, vec![new.as_str(), old.as_str()], "{doc}");
    let s3 = s3_client(region).await;
    for bucket in [&old, &new] {
        assert!(
            s3.head_bucket().bucket(bucket).send().await.is_err(),
            "{bucket} left"
        );
    }
}

/// A plain HTTP server on 127.0.0.1 answering every request with `status` and `body`; its port.
fn plain_http_server(status: &'static str, content_type: &'static str, body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// No credentials anywhere in the chain (environment, profile files under `home`), and an
/// endpoint nothing listens on.
fn without_credentials<'a>(
    cmd: &'a mut assert_cmd::Command,
    home: &std::path::Path,
) -> &'a mut assert_cmd::Command {
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("HOME", home)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
}
