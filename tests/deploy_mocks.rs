//! Deploy steps that the moto emulator cannot exercise, checked with the SDK's own typed mocks
//! (aws-smithy-mocks): moto 5.2.5 answers Elastic Beanstalk's UpdateEnvironment,
//! DescribeConfigurationSettings and DescribeEvents with HTTP 500, does not store Lambda's
//! TracingConfig, never raises ResourceConflictException, and cannot leave a stack in
//! ROLLBACK_COMPLETE or UPDATE_ROLLBACK_FAILED. Each test asserts on the requests sent.

use std::collections::BTreeMap;

use aws_smithy_mocks::{mock, mock_client, RuleMode};
use scorekeep_deploy::cli::OutputFormat;
use scorekeep_deploy::config::BeanstalkConfig;
use scorekeep_deploy::deploy::{beanstalk, functions, stack, Mode};
use scorekeep_deploy::report::Reporter;

fn task() -> scorekeep_deploy::report::Task {
    Reporter::new(OutputFormat::Json, true).task("test")
}

mod lambda {
    use super::*;
    use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
    use aws_sdk_lambda::operation::update_function_configuration::{
        UpdateFunctionConfigurationError, UpdateFunctionConfigurationOutput,
    };
    use aws_sdk_lambda::types::error::ResourceConflictException;
    use aws_sdk_lambda::types::{LastUpdateStatus, TracingConfigResponse, TracingMode};
    use aws_sdk_lambda::Client;

    fn configuration(
        status: LastUpdateStatus,
        tracing: TracingMode,
    ) -> GetFunctionConfigurationOutput {
        GetFunctionConfigurationOutput::builder()
            .function_name("scorekeep-worker")
            .function_arn("arn:aws:lambda:us-east-1:123456789012:function:scorekeep-worker")
            .code_sha256("abc=")
            .last_update_status(status)
            .tracing_config(TracingConfigResponse::builder().mode(tracing).build())
            .build()
    }

    fn desired() -> functions::DesiredFunction {
        functions::DesiredFunction {
            key: "scorekeep-worker".into(),
            name: "scorekeep-worker".into(),
            settings: functions::FunctionSettings {
                runtime: "python3.13".into(),
                handler: "lambda_function.lambda_handler".into(),
                memory: 256,
                timeout: 60,
                tracing: "Active".into(),
                layers: Vec::new(),
                environment: BTreeMap::from([("WORKER_QUEUE".into(), "https://q".into())]),
            },
        }
    }

    #[tokio::test]
    async fn tracing_change_sends_only_tracing_and_retries_a_conflict_after_waiting() {
        // First attempt: Lambda is still applying a code update.
        let conflict = mock!(Client::update_function_configuration)
            .sequence()
            .error(|| {
                UpdateFunctionConfigurationError::ResourceConflictException(
                    ResourceConflictException::builder()
                        .message("The operation cannot be performed at this time. An update is in progress")
                        // What the SDK's deserializer records from the response.
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("ResourceConflictException")
                                .build(),
                        )
                        .build(),
                )
            })
            .build();
        // The request must carry TracingConfig Active and nothing else we did not ask for.
        let update = mock!(Client::update_function_configuration)
            .match_requests(|r| {
                r.function_name() == Some("scorekeep-worker")
                    && r.tracing_config().and_then(|t| t.mode()) == Some(&TracingMode::Active)
                    && r.environment().is_none()
                    && r.memory_size().is_none()
                    && r.runtime().is_none()
            })
            .then_output(|| UpdateFunctionConfigurationOutput::builder().build());
        // While waiting: one InProgress answer, then Successful from then on.
        let reads = mock!(Client::get_function_configuration)
            .sequence()
            .output(|| configuration(LastUpdateStatus::InProgress, TracingMode::PassThrough))
            .output(|| configuration(LastUpdateStatus::Successful, TracingMode::Active))
            .repeatedly()
            .build();
        let client = mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&conflict, &update, &reads]
        );

        let changes = vec![functions::ConfigChange {
            field: "tracing".into(),
            live: "PassThrough".into(),
            desired: "Active".into(),
        }];
        let live = functions::update_configuration(&client, &desired(), &changes)
            .await
            .unwrap();
        assert_eq!(live.settings.tracing, "Active");
        assert_eq!(conflict.num_calls(), 1, "the conflict was met once");
        assert!(
            reads.num_calls() >= 3,
            "it waited through InProgress before retrying"
        );
        assert_eq!(
            update.num_calls(),
            1,
            "then sent the tracing update again, once"
        );
    }

    #[tokio::test]
    async fn a_failed_update_is_reported_with_lambdas_reason() {
        let failed = mock!(Client::get_function_configuration).then_output(|| {
            GetFunctionConfigurationOutput::builder()
                .last_update_status(LastUpdateStatus::Failed)
                .last_update_status_reason("Unzipped size must be smaller than 262144000 bytes")
                .build()
        });
        let client = mock_client!(aws_sdk_lambda, [&failed]);
        let err = functions::wait_until_updated(&client, "random-name")
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("function random-name"), "{msg}");
        assert!(msg.contains("Unzipped size must be smaller"), "{msg}");
    }
}

mod elastic_beanstalk {
    use super::*;
    use aws_sdk_elasticbeanstalk::operation::describe_configuration_settings::DescribeConfigurationSettingsOutput;
    use aws_sdk_elasticbeanstalk::operation::describe_environments::DescribeEnvironmentsOutput;
    use aws_sdk_elasticbeanstalk::operation::describe_events::DescribeEventsOutput;
    use aws_sdk_elasticbeanstalk::operation::update_environment::UpdateEnvironmentOutput;
    use aws_sdk_elasticbeanstalk::types::{
        ConfigurationOptionSetting, ConfigurationSettingsDescription, EnvironmentDescription,
        EnvironmentHealth, EnvironmentStatus, EventDescription,
    };
    use aws_sdk_elasticbeanstalk::Client;

    fn config() -> BeanstalkConfig {
        BeanstalkConfig {
            application: "scorekeep".into(),
            environment: "scorekeep-dev".into(),
            optional: false,
            xray: true,
            properties: BTreeMap::from([
                ("AWS_REGION".into(), "${region}".into()),
                (
                    "WORKER_QUEUE".into(),
                    "${output:ScorekeepWorkerQueueUrl}".into(),
                ),
            ]),
        }
    }

    fn outputs() -> BTreeMap<String, String> {
        BTreeMap::from([(
            "ScorekeepWorkerQueueUrl".to_string(),
            "https://sqs/new".to_string(),
        )])
    }

    fn environment(status: EnvironmentStatus) -> DescribeEnvironmentsOutput {
        DescribeEnvironmentsOutput::builder()
            .environments(
                EnvironmentDescription::builder()
                    .environment_name("scorekeep-dev")
                    .status(status)
                    .health(EnvironmentHealth::Green)
                    .build(),
            )
            .build()
    }

    fn setting(ns: &str, name: &str, value: &str) -> ConfigurationOptionSetting {
        ConfigurationOptionSetting::builder()
            .namespace(ns)
            .option_name(name)
            .value(value)
            .build()
    }

    fn live_settings(
        queue: &'static str,
        xray: &'static str,
    ) -> DescribeConfigurationSettingsOutput {
        DescribeConfigurationSettingsOutput::builder()
            .configuration_settings(
                ConfigurationSettingsDescription::builder()
                    .option_settings(setting(
                        beanstalk::PROPERTIES_NAMESPACE,
                        "AWS_REGION",
                        "us-east-1",
                    ))
                    .option_settings(setting(
                        beanstalk::PROPERTIES_NAMESPACE,
                        "WORKER_QUEUE",
                        queue,
                    ))
                    .option_settings(setting(
                        beanstalk::XRAY_NAMESPACE,
                        beanstalk::XRAY_OPTION,
                        xray,
                    ))
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn only_differing_settings_are_sent_then_it_waits_for_ready() {
        let describe = mock!(Client::describe_environments)
            .sequence()
            .output(|| environment(EnvironmentStatus::Ready))
            .output(|| environment(EnvironmentStatus::Updating))
            .output(|| environment(EnvironmentStatus::Ready))
            .build();
        let settings = mock!(Client::describe_configuration_settings)
            .match_requests(|r| {
                r.application_name() == Some("scorekeep")
                    && r.environment_name() == Some("scorekeep-dev")
            })
            .then_output(|| live_settings("https://sqs/old", "false"));
        let update = mock!(Client::update_environment)
            .match_requests(|r| {
                let mut sent: Vec<(String, String, String)> = r
                    .option_settings()
                    .iter()
                    .map(|s| {
                        (
                            s.namespace().unwrap_or_default().to_string(),
                            s.option_name().unwrap_or_default().to_string(),
                            s.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                sent.sort();
                sent == vec![
                    (
                        beanstalk::PROPERTIES_NAMESPACE.into(),
                        "WORKER_QUEUE".into(),
                        "https://sqs/new".into(),
                    ),
                    (
                        beanstalk::XRAY_NAMESPACE.into(),
                        beanstalk::XRAY_OPTION.into(),
                        "true".into(),
                    ),
                ]
            })
            .then_output(|| UpdateEnvironmentOutput::builder().build());
        let events = mock!(Client::describe_events).then_output(|| {
            DescribeEventsOutput::builder()
                .events(
                    EventDescription::builder()
                        .message("Environment update is starting.")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(
            aws_sdk_elasticbeanstalk,
            RuleMode::MatchAny,
            [&describe, &settings, &update, &events]
        );

        let result = beanstalk::wire(
            &client,
            &config(),
            &outputs(),
            "us-east-1",
            Mode::Apply,
            &task(),
        )
        .await
        .unwrap();
        assert_eq!(result.action, "updated");
        assert_eq!(result.changes.len(), 2);
        assert_eq!(
            update.num_calls(),
            1,
            "exactly one UpdateEnvironment with the two differences"
        );
        assert_eq!(
            describe.num_calls(),
            3,
            "it waited through Updating until Ready"
        );
        assert!(
            events.num_calls() >= 1,
            "it showed the environment's events while waiting"
        );
        assert_eq!(result.status.as_deref(), Some("Ready"));
    }

    #[tokio::test]
    async fn matching_settings_send_no_update() {
        let describe = mock!(Client::describe_environments)
            .then_output(|| environment(EnvironmentStatus::Ready));
        let settings = mock!(Client::describe_configuration_settings)
            .then_output(|| live_settings("https://sqs/new", "true"));
        let update = mock!(Client::update_environment)
            .then_output(|| UpdateEnvironmentOutput::builder().build());
        let client = mock_client!(
            aws_sdk_elasticbeanstalk,
            RuleMode::MatchAny,
            [&describe, &settings, &update]
        );
        let result = beanstalk::wire(
            &client,
            &config(),
            &outputs(),
            "us-east-1",
            Mode::Apply,
            &task(),
        )
        .await
        .unwrap();
        assert_eq!(result.action, "unchanged");
        assert_eq!(update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_missing_required_environment_is_an_error_and_optional_is_skipped() {
        let none = mock!(Client::describe_environments)
            .then_output(|| DescribeEnvironmentsOutput::builder().build());
        let client = mock_client!(aws_sdk_elasticbeanstalk, RuleMode::MatchAny, [&none]);
        let err = beanstalk::wire(
            &client,
            &config(),
            &outputs(),
            "us-east-1",
            Mode::Apply,
            &task(),
        )
        .await
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("scorekeep-dev of application scorekeep does not exist")
        );
        let mut optional = config();
        optional.optional = true;
        let result = beanstalk::wire(
            &client,
            &optional,
            &outputs(),
            "us-east-1",
            Mode::Apply,
            &task(),
        )
        .await
        .unwrap();
        assert_eq!(result.action, "skipped");
    }
}

mod cloudformation {
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

    fn rendered() -> scorekeep_deploy::template::RenderedStack {
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
        }
    }

    async fn deploy(
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

    fn stack_in(status: StackStatus) -> DescribeStacksOutput {
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
        let delete =
            mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&describe, &events, &delete]
        );
        let err = deploy(&client, stack::StackOptions::default())
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
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
            continue_rollback: false,
        };
        let result = deploy(&client, options).await.unwrap();
        assert_eq!(result.action, stack::StackAction::Created);
        assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn update_rollback_failed_names_blockers_and_continue_rollback_resumes() {
        let describe = mock!(Client::describe_stacks)
            .then_output(|| stack_in(StackStatus::UpdateRollbackFailed));
        let events = mock!(Client::describe_stack_events).then_output(failed_events);
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&describe, &events]
        );
        let err = deploy(&client, stack::StackOptions::default())
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
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
            replace_failed: false,
            continue_rollback: true,
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
        let msg = format!("{err:#}");
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
}
