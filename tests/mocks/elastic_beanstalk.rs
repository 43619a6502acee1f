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

fn live_settings(queue: &'static str, xray: &'static str) -> DescribeConfigurationSettingsOutput {
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
    let describe =
        mock!(Client::describe_environments).then_output(|| environment(EnvironmentStatus::Ready));
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
    assert!(scorekeep_deploy::error::render(err)
        .contains("scorekeep-dev of application scorekeep does not exist"));
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
