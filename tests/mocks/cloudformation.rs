use super::*;
use aws_sdk_cloudformation::operation::continue_update_rollback::ContinueUpdateRollbackOutput;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::create_stack::CreateStackOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Replacement, ResourceChange, ResourceStatus, Stack,
    StackEvent, StackStatus,
};
use aws_sdk_cloudformation::Client;
use aws_smithy_types::error::ErrorMetadata;

pub(crate) fn rendered() -> scorekeep_deploy::template::RenderedStack {
    scorekeep_deploy::template::RenderedStack {
        stack: "scorekeep-lambda".into(),
        source: "templates/scorekeep.yaml".into(),
        body: "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n".into(),
        size_bytes: 40,
        needs_s3_upload: false,
        parameters: BTreeMap::new(),
        resources: BTreeMap::from([("Topic".to_string(), "AWS::SNS::Topic".to_string())]),
        outputs: vec![],
        functions: vec![],
        role_arn: None,
        parameters_from_outputs: BTreeMap::new(),
    }
}

pub(crate) async fn deploy(
    client: &Client,
    options: stack::StackOptions,
) -> anyhow::Result<stack::StackResult> {
    stack::deploy(
        client,
        &rendered(),
        None,
        &BTreeMap::new(),
        options,
        &task(),
    )
    .await
}

pub(crate) fn stack_in(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("scorekeep-lambda")
                .stack_status(status)
                .build(),
        )
        .build()
}

fn missing() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message("Stack with id scorekeep-lambda does not exist")
            .build(),
    )
}

fn failed_events() -> DescribeStackEventsOutput {
    DescribeStackEventsOutput::builder()
        .stack_events(
            StackEvent::builder()
                .event_id("2")
                .logical_resource_id("WorkerQueue")
                .resource_type("AWS::SQS::Queue")
                .resource_status(ResourceStatus::UpdateFailed)
                .resource_status_reason("Queue is being deleted by another process")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn rollback_complete_needs_replace_failed() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::RollbackComplete));
    let events = mock!(Client::describe_stack_events).then_output(failed_events);
    let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &delete]
    );
    let err = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap_err();
    let msg = scorekeep_deploy::error::render(err);
    assert!(
        msg.contains("ROLLBACK_COMPLETE") && msg.contains("--replace-failed"),
        "{msg}"
    );
    assert!(
        msg.contains("WorkerQueue"),
        "the first failure is named: {msg}"
    );
    assert_eq!(delete.num_calls(), 0, "nothing is deleted without the flag");
}

#[tokio::test]
async fn replace_failed_deletes_then_creates() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack_in(StackStatus::RollbackComplete))
        .error(missing) // wait for delete: gone
        .error(missing) // re-describe before create
        .output(|| stack_in(StackStatus::CreateComplete)) // wait for create
        .build();
    let events = mock!(Client::describe_stack_events)
        .then_output(|| DescribeStackEventsOutput::builder().build());
    let delete = mock!(Client::delete_stack)
        .match_requests(|r| r.stack_name() == Some("scorekeep-lambda"))
        .then_output(|| DeleteStackOutput::builder().build());
    let create = mock!(Client::create_stack)
        .match_requests(|r| r.template_body() == Some(rendered().body.as_str()))
        .then_output(|| CreateStackOutput::builder().stack_id("id").build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &delete, &create]
    );
    let options = stack::StackOptions {
        replace_failed: true,
        ..Default::default()
    };
    let result = deploy(&client, options).await.unwrap();
    assert_eq!(result.action, stack::StackAction::Created);
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn update_rollback_failed_names_blockers_and_continue_rollback_resumes() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack_in(StackStatus::UpdateRollbackFailed));
    let events = mock!(Client::describe_stack_events).then_output(failed_events);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events]
    );
    let err = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap_err();
    let msg = scorekeep_deploy::error::render(err);
    assert!(
        msg.contains("UPDATE_ROLLBACK_FAILED") && msg.contains("--continue-rollback"),
        "{msg}"
    );
    assert!(
        msg.contains("WorkerQueue") && msg.contains("being deleted by another process"),
        "{msg}"
    );

    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack_in(StackStatus::UpdateRollbackFailed))
        .output(|| stack_in(StackStatus::UpdateRollbackComplete))
        .repeatedly()
        .build();
    let events = mock!(Client::describe_stack_events).then_output(failed_events);
    let resume = mock!(Client::continue_update_rollback)
        .match_requests(|r| r.stack_name() == Some("scorekeep-lambda"))
        .then_output(|| ContinueUpdateRollbackOutput::builder().build());
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body(rendered().body)
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &resume, &template]
    );
    let options = stack::StackOptions {
        continue_rollback: true,
        ..Default::default()
    };
    let result = deploy(&client, options).await.unwrap();
    assert_eq!(resume.num_calls(), 1);
    assert_eq!(
        result.action,
        stack::StackAction::Unchanged,
        "same template after the rollback"
    );
}

/// Real CloudFormation fails a resource during the update and rolls back: the error names
/// the first failed resource with CloudFormation's reason.
#[tokio::test]
async fn a_failed_update_names_the_resource_and_reason_from_the_events() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack_in(StackStatus::UpdateComplete))
        .output(|| stack_in(StackStatus::UpdateRollbackInProgress))
        .output(|| stack_in(StackStatus::UpdateRollbackComplete))
        .build();
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body("old body")
            .build()
    });
    let create = mock!(Client::create_change_set)
        .match_requests(|r| r.template_body() == Some(rendered().body.as_str()))
        .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
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
        .match_requests(|r| r.change_set_name() == Some("cs-1"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    // Before the execution: nothing; afterwards: the failure.
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| DescribeStackEventsOutput::builder().build())
        .output(failed_events)
        .repeatedly()
        .build();
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
    let err = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap_err();
    let msg = scorekeep_deploy::error::render(err);
    assert!(
        msg.contains("stack scorekeep-lambda ended in UPDATE_ROLLBACK_COMPLETE"),
        "{msg}"
    );
    assert!(
        msg.contains("failed resource: WorkerQueue (AWS::SQS::Queue) UPDATE_FAILED: Queue is being deleted by another process"),
        "{msg}"
    );
    assert!(msg.contains("previous good state"), "{msg}");
    assert_eq!(execute.num_calls(), 1);
}

#[tokio::test]
async fn a_stack_in_progress_is_waited_for_first() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack_in(StackStatus::UpdateInProgress))
        .output(|| stack_in(StackStatus::UpdateInProgress))
        .output(|| stack_in(StackStatus::UpdateComplete))
        .repeatedly()
        .build();
    let events = mock!(Client::describe_stack_events)
        .then_output(|| DescribeStackEventsOutput::builder().build());
    let template = mock!(Client::get_template).then_output(|| {
        GetTemplateOutput::builder()
            .template_body(rendered().body)
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &events, &template]
    );
    let result = deploy(&client, stack::StackOptions::default())
        .await
        .unwrap();
    assert_eq!(result.action, stack::StackAction::Unchanged);
    assert!(
        describe.num_calls() >= 3,
        "it polled until the update finished"
    );
    assert_eq!(template.num_calls(), 1, "then compared templates once");
}
