use super::*;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::operation::update_function_configuration::{
    UpdateFunctionConfigurationError, UpdateFunctionConfigurationOutput,
};
use aws_sdk_lambda::types::error::ResourceConflictException;
use aws_sdk_lambda::types::{LastUpdateStatus, TracingConfigResponse, TracingMode};
use aws_sdk_lambda::Client;

fn configuration(status: LastUpdateStatus, tracing: TracingMode) -> GetFunctionConfigurationOutput {
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
        settings: scorekeep_deploy::aws::lambda::FunctionSettings {
            runtime: "python3.13".into(),
            handler: "lambda_function.lambda_handler".into(),
            memory: 256,
            timeout: 60,
            tracing: "Active".into(),
            architecture: "x86_64".into(),
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
                    .message(
                        "The operation cannot be performed at this time. An update is in progress",
                    )
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

    let desired = desired();
    let live = scorekeep_deploy::aws::lambda::update_configuration(
        &client,
        &desired.name,
        &desired.settings,
        &["tracing"],
        &crate::task(),
    )
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
    let err = scorekeep_deploy::aws::lambda::wait_until_updated(&client, "random-name")
        .await
        .unwrap_err();
    let msg = scorekeep_deploy::error::render(err);
    assert!(msg.contains("function random-name"), "{msg}");
    assert!(msg.contains("Unzipped size must be smaller"), "{msg}");
}

/// An update Lambda answers as already applied (`Successful`) is not read back; one it answers
/// `InProgress` is read until applied.
#[tokio::test]
async fn an_update_answered_as_applied_is_not_polled() {
    for (answered, reads_expected) in [
        (LastUpdateStatus::Successful, 0),
        (LastUpdateStatus::InProgress, 2),
    ] {
        let status = answered.clone();
        let update = mock!(Client::update_function_configuration).then_output(move || {
            UpdateFunctionConfigurationOutput::builder()
                .function_name("scorekeep-worker")
                .last_update_status(status.clone())
                .tracing_config(
                    TracingConfigResponse::builder()
                        .mode(TracingMode::Active)
                        .build(),
                )
                .build()
        });
        let reads = mock!(Client::get_function_configuration)
            .sequence()
            .output(|| configuration(LastUpdateStatus::InProgress, TracingMode::Active))
            .output(|| configuration(LastUpdateStatus::Successful, TracingMode::Active))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&update, &reads]);
        let desired = desired();
        let live = scorekeep_deploy::aws::lambda::update_configuration(
            &client,
            &desired.name,
            &desired.settings,
            &["tracing"],
            &crate::task(),
        )
        .await
        .unwrap();
        assert_eq!(live.settings.tracing, "Active");
        assert_eq!(update.num_calls(), 1);
        assert_eq!(reads.num_calls(), reads_expected, "answered {answered:?}");
    }
}

/// Issue 20: eight functions waiting at once share one poll rate. Unbounded, their backoffs
/// (100 ms, 200 ms, 400 ms, ...) would send 32 polls within 0.7 s; the region's bucket lets 10
/// go at once and then 10 a second (docs/deploying.md). Two readings, one per direction, so
/// load on the machine cannot make it pass or fail by itself: the 40 polls cannot all arrive
/// sooner than 3 s after the first wait started (30 beyond the burst at 10 a second; load only
/// delays them), and no second holds more than the burst plus a second's rate, with 3 polls of
/// slack because a poll reaches the endpoint a scheduling delay after its token.
#[tokio::test(flavor = "multi_thread")]
async fn eight_waits_share_one_poll_rate() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let polls: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let started = Instant::now();
    let answer = |status: LastUpdateStatus| {
        let polls = polls.clone();
        move || {
            polls.lock().unwrap().push(Instant::now());
            configuration(status.clone(), TracingMode::Active)
        }
    };
    // One client each: the mock interceptor keeps one pending answer per client, so waits
    // sharing a client would take each other's answers. One region for all eight: the bucket is
    // per region (a region of its own, as other tests poll in us-east-1).
    let mut rules = Vec::new();
    let waits: Vec<_> = (0..8)
        .map(|_| {
            let reads = mock!(Client::get_function_configuration)
                .sequence()
                .output(answer(LastUpdateStatus::InProgress))
                .times(4)
                .output(answer(LastUpdateStatus::Successful))
                .build();
            let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&reads], |c| c.region(
                aws_sdk_lambda::config::Region::from_static("poll-rate-test")
            ));
            rules.push(reads);
            tokio::spawn(async move {
                scorekeep_deploy::aws::lambda::wait_until_updated(&client, "scorekeep-worker").await
            })
        })
        .collect();
    for wait in waits {
        wait.await.unwrap().unwrap();
    }
    let polls = polls.lock().unwrap().clone();
    assert_eq!(polls.len(), 40, "each wait polled until Successful");
    assert!(rules.iter().all(|r| r.num_calls() == 5));
    let most_in_a_second = (0..polls.len())
        .map(|i| {
            polls[i..]
                .iter()
                .take_while(|t| t.duration_since(polls[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        most_in_a_second <= 10 + 10 + 3,
        "{most_in_a_second} polls within one second"
    );
    let last = polls.iter().max().unwrap().duration_since(started);
    assert!(
        last >= Duration::from_millis(3000),
        "40 polls done {last:?} after the start: faster than the bucket allows"
    );
}
