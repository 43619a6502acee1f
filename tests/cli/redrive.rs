//! The dead-letter queue's RedriveAllowPolicy (issue 23), against moto: the worker queue is
//! the only queue allowed to dead-letter into it. The template cannot name the worker queue's
//! ARN there (the worker queue's RedrivePolicy names the DLQ: a circular reference), so the
//! config fills the `WorkerQueueArn` parameter from the stack's own `ScorekeepWorkerQueueArn`
//! output: `up` creates the stack, then updates it with the ARN; a run stopped in between is
//! finished by the next, which reads the output from CloudFormation.
//!
//! moto 5.2.5 keeps a queue's RedriveAllowPolicy only when CloudFormation creates the queue,
//! and GetQueueAttributes never returns it (it is not among moto's queue attributes): what is
//! checked here is the stack's parameter value and the template CloudFormation holds, which
//! is what real CloudFormation applies to the queue. cfn-lint checks that filled template.

use std::path::Path;

use aws_sdk_cloudformation::Client;
use serde_json::Value;

use crate::converge::interrupted_run;
use crate::rendered_templates::cfn_lint;
use crate::util::proxy::{action, Fault, Proxy, Rule, When};
use crate::util::{count, emulator_project, moto, moto_cli, sdk_config, stdout_json};

const STACK: &str = "scorekeep-lambda";

async fn cloudformation(region: &str) -> Client {
    Client::new(&sdk_config(region).await)
}

/// The stack's `WorkerQueueArn` parameter and its `ScorekeepWorkerQueueArn` output.
async fn parameter_and_queue(cfn: &Client) -> (String, String) {
    let out = cfn
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let stack = &out.stacks()[0];
    let parameter = stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("WorkerQueueArn"))
        .and_then(|p| p.parameter_value())
        .expect("the stack has a WorkerQueueArn parameter")
        .to_string();
    let queue = stack
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("ScorekeepWorkerQueueArn"))
        .and_then(|o| o.output_value())
        .expect("the stack has the queue's ARN as an output")
        .to_string();
    (parameter, queue)
}

/// `plan --detailed-exitcode --output json`: its exit code and report.
fn plan(dir: &Path, region: &str) -> (i32, Value) {
    let out = moto_cli(
        dir,
        region,
        &["plan", "--detailed-exitcode", "--output", "json"],
    )
    .output()
    .unwrap();
    (out.status.code().unwrap_or(-1), stdout_json(&out))
}

/// The report's parameter change of `WorkerQueueArn`, if any.
fn worker_queue_arn_change(report: &Value) -> Option<Value> {
    report["stacks"][0]["stack_changes"]
        .as_array()?
        .iter()
        .find(|c| c["part"] == "parameter" && c["name"] == "WorkerQueueArn")
        .cloned()
}

#[tokio::test]
async fn a_new_stack_gets_its_own_queue_arn_in_a_second_pass_and_then_settles() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let cfn = cloudformation(region).await;
    // Before anything exists, `plan` says the value is known only after the create.
    let (code, planned) = plan(dir.path(), region);
    assert_eq!(code, 2, "{planned}");
    let change = worker_queue_arn_change(&planned).expect("plan names the parameter");
    assert_eq!(
        change["to"], "(known after create: ${output:ScorekeepWorkerQueueArn})",
        "{change}"
    );

    let before = moto().actions(region).len();
    let out = moto_cli(dir.path(), region, &["up", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let actions = moto().actions(region)[before..].to_vec();
    assert_eq!(report["stacks"][0]["action"], "created", "{report}");
    assert_eq!(count(&actions, "CreateStack"), 1, "{actions:?}");
    assert_eq!(
        count(&actions, "ExecuteChangeSet"),
        1,
        "the second pass: {actions:?}"
    );

    let (parameter, queue) = parameter_and_queue(&cfn).await;
    assert!(queue.starts_with("arn:aws:sqs:"), "{queue}");
    assert_eq!(parameter, queue, "the DLQ allows exactly the worker queue");
    let change = worker_queue_arn_change(&report).expect("the second pass is reported");
    assert_eq!(change["from"], "", "{change}");
    assert_eq!(change["to"], queue.as_str(), "{change}");

    // What CloudFormation holds: the policy, and the ARN as the parameter's value. cfn-lint
    // accepts the filled template too.
    let held = cfn.get_template().stack_name(STACK).send().await.unwrap();
    let body = held.template_body().unwrap_or_default().to_string();
    assert!(body.contains("redrivePermission: byQueue"), "{body}");
    assert!(body.contains(&format!("Default: {queue}")), "{body}");
    let file = dir.path().join("deployed.yaml");
    std::fs::write(&file, &body).unwrap();
    let lint = cfn_lint(&file);
    assert!(
        lint.is_empty(),
        "cfn-lint on the deployed template:\n{lint}"
    );

    let before = moto().actions(region).len();
    let out = moto_cli(dir.path(), region, &["up", "--output", "json"])
        .assert()
        .success();
    let again = stdout_json(out.get_output());
    let actions = moto().actions(region)[before..].to_vec();
    assert_eq!(again["stacks"][0]["action"], "unchanged", "{again}");
    assert_eq!(count(&actions, "CreateChangeSet"), 0, "{actions:?}");
    assert_eq!(plan(dir.path(), region).0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_before_the_second_pass_is_finished_by_the_next() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let cfn = cloudformation(region).await;
    // The stack is created; the second pass's change set never gets an answer: SIGINT then.
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            action("CreateChangeSet"),
            When::Always,
            Fault::Hang,
        )],
    );
    let (status, stderr) = interrupted_run(dir.path(), &proxy.endpoint, region, &["up"], |_| {
        proxy.count(action("CreateChangeSet")) > 0
    });
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(
        proxy.count(action("CreateStack")),
        1,
        "the stop came after the create: {stderr}"
    );
    assert!(
        stderr.contains("deploying stack scorekeep-lambda"),
        "{stderr}"
    );
    let (parameter, queue) = parameter_and_queue(&cfn).await;
    assert_eq!(parameter, "", "the stop came before the second pass");

    // What is deployed is behind what should be: `plan` says so, one `up` finishes it.
    let (code, report) = plan(dir.path(), region);
    assert_eq!(code, 2, "{report}");
    let change = worker_queue_arn_change(&report).expect("plan names the parameter");
    assert_eq!(change["to"], queue.as_str(), "{change}");
    let out = moto_cli(dir.path(), region, &["up", "--output", "json"])
        .assert()
        .success();
    let finished = stdout_json(out.get_output());
    assert_eq!(finished["stacks"][0]["action"], "updated", "{finished}");
    assert_eq!(parameter_and_queue(&cfn).await.0, queue);
    assert_eq!(plan(dir.path(), region).0, 0);
}
