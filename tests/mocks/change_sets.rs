//! Change sets CloudFormation computes with no resource rows, retried change-set calls,
//! REVERT_DRIFT change sets and drift detection (issue 19). moto 5.2.5 does not rebuild a
//! stack's outputs on ExecuteChangeSet, ignores ClientToken and DeploymentMode, and answers
//! the drift operations with HTTP 500, so what CloudFormation answers there is mocked here.

use super::cloudformation::{deploy, rendered, stack_in};
use super::*;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeSetType, Replacement, ResourceChange, Stack,
    StackStatus,
};
use aws_sdk_cloudformation::Client;
use aws_smithy_types::error::ErrorMetadata;

fn with_output(body: &str) -> String {
    format!("{body}Outputs:\n  Extra:\n    Value: hello\n")
}

fn stack_with_output(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("scorekeep-lambda")
                .stack_status(status)
                .outputs(
                    aws_sdk_cloudformation::types::Output::builder()
                        .output_key("Extra")
                        .output_value("hello")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn no_events() -> DescribeStackEventsOutput {
    DescribeStackEventsOutput::builder().build()
}

/// A template change that only adds an output: CloudFormation computes the change set
/// (CREATE_COMPLETE) with no resource rows. It is executed, with a ClientToken on the create
/// and a ClientRequestToken on the execution, and the report carries the new output.
#[tokio::test]
async fn a_change_set_without_resource_rows_is_executed() {
    let deployed_body = rendered().body;
    let mut rendered = rendered();
    rendered.body = with_output(&rendered.body);
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack_in(StackStatus::UpdateComplete))
        .output(|| stack_with_output(StackStatus::UpdateComplete))
        .repeatedly()
        .build();
    let template = mock!(Client::get_template).then_output(move || {
        GetTemplateOutput::builder()
            .template_body(deployed_body.clone())
            .build()
    });
    let body = rendered.body.clone();
    let create = mock!(Client::create_change_set)
        .match_requests(move |r| {
            r.template_body() == Some(body.as_str())
                && r.change_set_type() == Some(&ChangeSetType::Update)
                && r.deployment_mode().is_none()
                && r.client_token()
                    .is_some_and(|t| t.starts_with("scorekeep-deploy-change-set-"))
        })
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .build()
    });
    let execute = mock!(Client::execute_change_set)
        .match_requests(|r| {
            r.change_set_name() == Some("cs-1") && r.client_request_token().is_some()
        })
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let delete_cs =
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let events = mock!(Client::describe_stack_events).then_output(no_events);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &delete_cs,
            &events
        ]
    );
    let result = stack::deploy(
        &client,
        &rendered,
        None,
        &BTreeMap::new(),
        stack::StackOptions::default(),
        &task(),
    )
    .await
    .unwrap();
    assert_eq!(result.action, stack::StackAction::Updated);
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
    assert_eq!(
        delete_cs.num_calls(),
        0,
        "an executed change set is not deleted"
    );
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["outputs"]["Extra"], "hello", "{json}");
    assert_eq!(json["changes"], serde_json::json!([]), "{json}");
    assert_eq!(json["stack_changes"][0]["part"], "output", "{json}");
    assert_eq!(json["stack_changes"][0]["name"], "Extra", "{json}");
}

/// Only a FAILED change set whose reason says it has no changes is a no-op: deleted, never
/// executed, the stack unchanged.
#[tokio::test]
async fn a_failed_no_change_change_set_is_deleted_not_executed() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::UpdateComplete));
    // The deployed body differs only in formatting, so a change set is asked for.
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body(format!("{}\n", rendered().body))
            .build()
    });
    let create = mock!(Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes. Submit different information to create a change set.")
            .build()
    });
    let execute =
        mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let delete_cs = mock!(Client::delete_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs-1"))
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &delete_cs
        ]
    );
    let result = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap();
    assert_eq!(result.action, stack::StackAction::Unchanged);
    assert_eq!((execute.num_calls(), delete_cs.num_calls()), (0, 1));
}

/// A CreateChangeSet that was processed but whose answer was lost, retried against an
/// endpoint that ignores the ClientToken: AlreadyExists. The change set under our name is
/// read and executed, not created twice or reported as a failure.
#[tokio::test]
async fn a_retried_create_change_set_uses_the_change_set_it_created() {
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetError;
    use aws_sdk_cloudformation::types::error::AlreadyExistsException;
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::UpdateComplete));
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body("old body")
            .build()
    });
    let create = mock!(Client::create_change_set).then_error(|| {
        CreateChangeSetError::AlreadyExistsException(
            AlreadyExistsException::builder()
                .message("ChangeSet scorekeep-deploy-1 already exists")
                .meta(
                    ErrorMetadata::builder()
                        .code("AlreadyExistsException")
                        .build(),
                )
                .build(),
        )
    });
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .change_set_id("arn:cs/scorekeep-deploy-1")
            .status(ChangeSetStatus::CreateComplete)
            .build()
    });
    let execute = mock!(Client::execute_change_set)
        .match_requests(|r| r.change_set_name() == Some("arn:cs/scorekeep-deploy-1"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let events = mock!(Client::describe_stack_events).then_output(no_events);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &events
        ]
    );
    let result = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap();
    assert_eq!(result.action, stack::StackAction::Updated);
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
    assert!(
        describe_cs.num_calls() >= 2,
        "read by name, then polled by id"
    );
}

/// `up --revert-drift` with an unchanged template still creates a change set: an UPDATE one
/// with DeploymentMode REVERT_DRIFT, whose rows are the drifted resources; it is executed.
#[tokio::test]
async fn revert_drift_executes_an_update_change_set_in_revert_drift_mode() {
    use aws_sdk_cloudformation::types::DeploymentMode;
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::UpdateComplete));
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body(rendered().body)
            .build()
    });
    let create = mock!(Client::create_change_set)
        .match_requests(|r| {
            r.deployment_mode() == Some(&DeploymentMode::RevertDrift)
                && r.change_set_type() == Some(&ChangeSetType::Update)
        })
        .then_output(|| CreateChangeSetOutput::builder().id("cs-drift").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .action(ChangeAction::Modify)
                            .logical_resource_id("Topic")
                            .resource_type("AWS::SNS::Topic")
                            .replacement(Replacement::False)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let execute = mock!(Client::execute_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs-drift"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let events = mock!(Client::describe_stack_events).then_output(no_events);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &events
        ]
    );
    let options = stack::StackOptions {
        change_sets: change_set::ChangeSetMode::RevertDrift,
        ..Default::default()
    };
    let result = deploy(&client, options).await.unwrap();
    assert_eq!(result.action, stack::StackAction::Updated);
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["changes"][0]["logical_id"], "Topic", "{json}");

    // Without the flag, the same stack is unchanged and no change set is created.
    let create_std = mock!(Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().id("cs-std").build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create_std]
    );
    let result = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap();
    assert_eq!(result.action, stack::StackAction::Unchanged);
    assert_eq!(create_std.num_calls(), 0);
}

/// `plan --drift` (moto 5.2.5 answers the drift operations with HTTP 500): DetectStackDrift,
/// polling DescribeStackDriftDetectionStatus until complete, then DescribeStackResourceDrifts
/// for MODIFIED and DELETED resources, reduced to expected-against-actual per property path.
#[tokio::test]
async fn drift_detection_waits_and_lists_drifted_resources_and_properties() {
    use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput as Status;
    use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
    use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference, StackDriftDetectionStatus, StackDriftStatus,
        StackResourceDrift, StackResourceDriftStatus,
    };
    let detect = mock!(Client::detect_stack_drift)
        .match_requests(|r| r.stack_name() == Some("scorekeep-lambda"))
        .then_output(|| {
            DetectStackDriftOutput::builder()
                .stack_drift_detection_id("det-1")
                .build()
        });
    let status = |detection, drift: Option<StackDriftStatus>| {
        Status::builder()
            .stack_id("id")
            .stack_drift_detection_id("det-1")
            .detection_status(detection)
            .set_stack_drift_status(drift)
            .timestamp(aws_smithy_types::DateTime::from_secs(0))
            .build()
    };
    let poll = mock!(Client::describe_stack_drift_detection_status)
        .match_requests(|r| r.stack_drift_detection_id() == Some("det-1"))
        .sequence()
        .output(move || status(StackDriftDetectionStatus::DetectionInProgress, None))
        .output(move || {
            status(
                StackDriftDetectionStatus::DetectionComplete,
                Some(StackDriftStatus::Drifted),
            )
        })
        .build();
    let drifts = mock!(Client::describe_stack_resource_drifts)
        .match_requests(|r| {
            r.stack_resource_drift_status_filters()
                == [
                    StackResourceDriftStatus::Modified,
                    StackResourceDriftStatus::Deleted,
                ]
        })
        .then_output(|| {
            DescribeStackResourceDriftsOutput::builder()
                .stack_resource_drifts(
                    StackResourceDrift::builder()
                        .stack_id("id")
                        .logical_resource_id("WorkerQueue")
                        .physical_resource_id("https://sqs/worker")
                        .resource_type("AWS::SQS::Queue")
                        .stack_resource_drift_status(StackResourceDriftStatus::Modified)
                        .timestamp(aws_smithy_types::DateTime::from_secs(0))
                        .property_differences(
                            PropertyDifference::builder()
                                .property_path("/VisibilityTimeout")
                                .expected_value("60")
                                .actual_value("30")
                                .difference_type(DifferenceType::NotEqual)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&detect, &poll, &drifts]
    );
    let drift = drift::detect(&client, "scorekeep-lambda", &task())
        .await
        .unwrap();
    assert_eq!(
        (detect.num_calls(), poll.num_calls(), drifts.num_calls()),
        (1, 2, 1)
    );
    assert!(drift.drifted());
    assert_eq!(drift.stack_drift_status, "DRIFTED");
    let json = serde_json::to_value(&drift).unwrap();
    let diff = &json["resources"][0]["differences"][0];
    assert_eq!(json["resources"][0]["logical_id"], "WorkerQueue", "{json}");
    assert_eq!(
        (
            diff["path"].as_str(),
            diff["expected"].as_str(),
            diff["actual"].as_str()
        ),
        (Some("/VisibilityTimeout"), Some("60"), Some("30")),
        "{json}"
    );
}

/// An ExecuteChangeSet that was processed but whose answer was lost, retried against an
/// endpoint that ignores the ClientRequestToken: InvalidChangeSetStatus. The change set is
/// read; executing (or executed) means the first attempt went through, so the deploy waits
/// for the stack instead of failing.
#[tokio::test]
async fn a_retried_execute_finds_its_change_set_executing() {
    use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetError;
    use aws_sdk_cloudformation::types::error::InvalidChangeSetStatusException;
    use aws_sdk_cloudformation::types::ExecutionStatus;
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::UpdateComplete));
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body("old body")
            .build()
    });
    let create = mock!(Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::ExecuteInProgress)
            .build()
    });
    let execute = mock!(Client::execute_change_set).then_error(|| {
        ExecuteChangeSetError::InvalidChangeSetStatusException(
            InvalidChangeSetStatusException::builder()
                .message("ChangeSet [cs-1] cannot be executed in its current status of [EXECUTE_IN_PROGRESS]")
                .meta(ErrorMetadata::builder().code("InvalidChangeSetStatus").build())
                .build(),
        )
    });
    let events = mock!(Client::describe_stack_events).then_output(no_events);
    let delete_cs =
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &events,
            &delete_cs
        ]
    );
    let result = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap();
    assert_eq!(result.action, stack::StackAction::Updated);
    assert_eq!(delete_cs.num_calls(), 0, "the executing change set is kept");

    // Any other status (here: never executed, still AVAILABLE) is the error it was.
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Available)
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [
            &describe,
            &template,
            &create,
            &describe_cs,
            &execute,
            &events,
            &delete_cs
        ]
    );
    let err = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap_err();
    let msg = scorekeep_deploy::error::render(err);
    assert!(msg.contains("InvalidChangeSetStatus"), "{msg}");
    assert!(msg.contains("keeps its previous template"), "{msg}");
}
