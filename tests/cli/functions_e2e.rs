//! The two functions end to end, as the tool builds and runs them: `scorekeep-deploy build`,
//! then `scorekeep-deploy invoke --local` against moto (SNS, SQS, S3), the Scorekeep API stub
//! and the tool's own X-Ray socket, whose documents `--trace-out` keeps. Asserted: what each
//! function sends to SNS, SQS, S3 and the API, its subsegments, and the trace header the API
//! sees. Resources are made here, named per test, and handed over with `--env`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{
    assert_game_stored, cli, copy_project_into, moto_cli, read_jsonl, s3_client, sdk_config,
    send_message, skip_emulator, sqs_client, stderr, stdout_json, unique_region, utc_date,
    worker_on_this_python, ApiStub,
};

/// Seconds before a message the worker did not delete is visible again.
pub(crate) const VISIBILITY_TIMEOUT: u64 = 4;

/// The project, built once for every test here (the worker for this machine's Python), and
/// the region they share: each test names its own resources.
pub(crate) struct Built {
    pub(crate) dir: PathBuf,
    pub(crate) region: &'static str,
}

pub(crate) fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Under cargo's per-target scratch dir, not /tmp: a static is never dropped.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("functions-e2e");
        let _ = std::fs::remove_dir_all(&dir);
        copy_project_into(&dir);
        // The X-Ray SDK's documents and subsegments are what these tests assert.
        crate::util::use_tracing_sdk(&dir, "xray");
        worker_on_this_python(&dir);
        cli(&dir).arg("build").assert().success();
        Built {
            dir,
            region: unique_region(),
        }
    })
}

/// A resource name no other test here uses.
fn name(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("e2e-{}-{what}", N.fetch_add(1, Ordering::SeqCst))
}

/// One `invoke --local` run: its JSON report, its stderr and the X-Ray documents it received.
pub(crate) struct Run {
    pub(crate) ok: bool,
    pub(crate) report: Value,
    pub(crate) stderr: String,
    pub(crate) documents: Vec<Value>,
}

impl Run {
    /// The facade segment's id, which the SDK's top-level subsegments name as their parent.
    fn facade(&self) -> &str {
        self.report["trace"][0]["id"].as_str().unwrap()
    }

    fn trace_id(&self) -> &str {
        self.report["trace_id"].as_str().unwrap()
    }

    /// The documents named `name` (any case) with the AWS `operation`.
    pub(crate) fn aws_calls(&self, name: &str, operation: &str) -> Vec<&Value> {
        self.documents
            .iter()
            .filter(|d| {
                d["name"].as_str().unwrap_or("").eq_ignore_ascii_case(name)
                    && d["aws"]["operation"] == operation
                    && d["namespace"] == "aws"
            })
            .collect()
    }

    /// Every document is a closed subsegment of the facade or of another document (the
    /// worker's calls for one message hang off its `process message` subsegment), and no
    /// datagram was unreadable.
    pub(crate) fn assert_attached_and_closed(&self) {
        assert!(
            !self.documents.is_empty(),
            "no X-Ray documents: {}",
            self.stderr
        );
        let ids: Vec<&Value> = self.documents.iter().map(|d| &d["id"]).collect();
        for doc in &self.documents {
            assert_eq!(doc["type"], "subsegment", "{doc}");
            assert!(
                doc["parent_id"] == self.facade() || ids.contains(&&doc["parent_id"]),
                "not under the facade or another subsegment: {doc}"
            );
            assert_eq!(doc["trace_id"], self.trace_id(), "{doc}");
            let open = doc["in_progress"] == true;
            assert!(doc["end_time"].is_f64() && !open, "not closed: {doc}");
        }
        let warnings = self.report["warnings"].to_string();
        assert!(!warnings.contains("X-Ray socket"), "{warnings}");
    }
}

/// `invoke --local function --event event --env KEY=VALUE…` in the built project.
pub(crate) fn invoke(function: &str, event: &Value, env: &[String]) -> Run {
    let built = built();
    let trace_out = built.dir.join(format!("{}.jsonl", name("trace")));
    let event = event.to_string();
    let args = [
        "invoke", "--local", function, "--event", &event, "--output", "json",
    ];
    let mut cmd = moto_cli(&built.dir, built.region, &args);
    for pair in env {
        cmd.args(["--env", pair]);
    }
    let output = cmd.arg("--trace-out").arg(&trace_out).output().unwrap();
    Run {
        ok: output.status.success(),
        report: stdout_json(&output),
        stderr: stderr(&output),
        documents: read_jsonl(&trace_out),
    }
}

async fn sqs() -> aws_sdk_sqs::Client {
    sqs_client(built().region).await
}

pub(crate) async fn new_queue(what: &str, visibility_timeout: Option<u64>) -> String {
    let mut create = sqs().await.create_queue().queue_name(name(what));
    if let Some(seconds) = visibility_timeout {
        let key = aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout;
        create = create.attributes(key, seconds.to_string());
    }
    create.send().await.unwrap().queue_url.unwrap()
}

/// Receive (and delete) what arrives on `queue` within `wait`: the first batch, or nothing.
async fn receive(queue: &str, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
    let client = sqs().await;
    let deadline = Instant::now() + wait;
    loop {
        let got = client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        for m in &got {
            let handle = m.receipt_handle().unwrap();
            let delete = client
                .delete_message()
                .queue_url(queue)
                .receipt_handle(handle);
            delete.send().await.unwrap();
        }
        if !got.is_empty() || Instant::now() > deadline {
            return got;
        }
    }
}

/// (visible, in flight) messages on `queue`.
pub(crate) async fn queue_counts(queue: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = sqs()
        .await
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let count = |a: A| attributes[&a].parse::<u64>().unwrap();
    (
        count(A::ApproximateNumberOfMessages),
        count(A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// A topic with a queue subscribed to it: (topic ARN, queue URL).
async fn subscribed_topic() -> (String, String) {
    let sns = aws_sdk_sns::Client::new(&sdk_config(built().region).await);
    let topic = sns.create_topic().name(name("topic")).send().await.unwrap();
    let topic = topic.topic_arn.unwrap();
    let queue = new_queue("notifications", None).await;
    let arn = sqs()
        .await
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let subscribe = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn);
    subscribe.send().await.unwrap();
    (topic, queue)
}

pub(crate) async fn new_bucket() -> String {
    let bucket = name("records");
    let region = built().region;
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(region.into())
        .build();
    let create = s3_client(region).await.create_bucket().bucket(&bucket);
    // us-east-1 is the one region that takes no location constraint.
    let create = match region {
        "us-east-1" => create,
        _ => create.create_bucket_configuration(location),
    };
    create.send().await.unwrap();
    bucket
}

/// What EventBridge's schedule sends the worker.
pub(crate) fn scheduled_event() -> Value {
    json!({"source": "aws.events", "detail-type": "Scheduled Event"})
}

/// What the Scorekeep API sends the worker: where to read game `game` and where to write it.
pub(crate) fn work_order(stub: &ApiStub, endpoint: &Value, game: &Value, bucket: &str) -> String {
    json!({"endpoint": endpoint, "gameid": game, "sessionid": stub.info["session_id"],
        "bucketname": bucket})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn random_name_publishes_the_name_to_sns_and_traces_the_publish() {
    if skip_emulator() {
        return;
    }
    let (topic, notifications) = subscribed_topic().await;
    let user = name("user");
    let run = invoke(
        "random-name",
        &json!({ "userid": user }),
        &[format!("TOPIC_ARN={topic}")],
    );
    assert!(run.ok, "{}", run.stderr);
    let name = run.report["result"]["name"].as_str().unwrap_or_default();
    assert!(!name.is_empty(), "{:#}", run.report);

    // SNS delivered one notification naming the user and the name.
    let received = receive(&notifications, Duration::from_secs(8)).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let note: Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    assert_eq!(note["TopicArn"], topic.as_str(), "{note}");
    for field in ["Subject", "Message"] {
        let text = note[field].as_str().unwrap_or_default();
        assert!(
            text.contains(&user) && text.contains(name),
            "{field}: {text}"
        );
    }

    // The SDK's subsegments: the annotations and one SNS Publish, without an error.
    run.assert_attached_and_closed();
    let annotations: Vec<_> = run
        .documents
        .iter()
        .filter(|d| d["name"] == "annotations")
        .collect();
    assert_eq!(annotations.len(), 1, "{:?}", run.documents);
    assert_eq!(
        annotations[0]["annotations"],
        json!({"Name": name, "UserID": user})
    );
    let publish = run.aws_calls("SNS", "Publish");
    assert_eq!(publish.len(), 1, "{:?}", run.documents);
    assert!(
        publish[0]["fault"].is_null() && publish[0]["error"].is_null(),
        "{}",
        publish[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn random_name_without_a_userid_fails_clearly_and_publishes_nothing() {
    if skip_emulator() {
        return;
    }
    let (topic, notifications) = subscribed_topic().await;
    let run = invoke(
        "random-name",
        &json!({"user": "typo"}),
        &[format!("TOPIC_ARN={topic}")],
    );
    assert!(!run.ok, "{:#}", run.report);
    let message = run.report["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("random-name: event.userid is missing"),
        "{:#}",
        run.report
    );
    assert!(receive(&notifications, Duration::from_secs(1))
        .await
        .is_empty());
    assert!(
        run.aws_calls("SNS", "Publish").is_empty(),
        "{:?}",
        run.documents
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_writes_the_dereferenced_game_deletes_the_message_and_traces_every_call() {
    if skip_emulator() {
        return;
    }
    let stub = ApiStub::start();
    let (queue, bucket) = (new_queue("worker", None).await, new_bucket().await);
    // "host:port" without a scheme, as the Scorekeep API sends it.
    let order = work_order(
        &stub,
        &stub.info["host_port"],
        &stub.info["game_id"],
        &bucket,
    );
    let before = utc_date();
    send_message(built().region, &queue, &order).await;
    let run = invoke(
        "scorekeep-worker",
        &scheduled_event(),
        &[format!("WORKER_QUEUE={queue}")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.report["result"], json!({"processed": 1, "failed": 0}));
    assert_game_stored(built().region, &bucket, &stub.info, [before, utc_date()]).await;
    assert_eq!(queue_counts(&queue).await, (0, 0), "the message is deleted");

    // One subsegment per AWS call and one per API request; the message's own calls under
    // its `process message` subsegment (issue 23), the queue's under the facade.
    run.assert_attached_and_closed();
    let processing: Vec<&Value> = run
        .documents
        .iter()
        .filter(|d| d["name"] == "process message")
        .collect();
    assert_eq!(processing.len(), 1, "{:?}", run.documents);
    assert!(processing[0]["annotations"]["MessageId"].is_string());
    assert_eq!(processing[0]["parent_id"], run.facade());
    assert_eq!(
        run.aws_calls("s3", "PutObject")[0]["parent_id"],
        processing[0]["id"]
    );
    for (service, operation) in [
        ("sqs", "ReceiveMessage"),
        ("s3", "PutObject"),
        ("sqs", "DeleteMessage"),
    ] {
        assert_eq!(
            run.aws_calls(service, operation).len(),
            1,
            "{service} {operation}: {:?}",
            run.documents
        );
    }
    let paths = stub.paths();
    let base_url = stub.info["base_url"].as_str().unwrap().to_string();
    for path in &paths {
        let url = format!("{base_url}{path}");
        assert!(
            run.documents
                .iter()
                .any(|d| d["namespace"] == "remote" && d["http"]["request"]["url"] == url.as_str()),
            "no HTTP subsegment for {url}: {:?}",
            run.documents
        );
    }
    // The API saw exactly the game's objects, each request carrying the trace's header.
    let trace_id = run.trace_id().to_string();
    let mut seen = stub.finish();
    seen.sort();
    assert_eq!(
        seen.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        paths.iter().collect::<Vec<_>>()
    );
    for (path, header) in &seen {
        assert!(
            header.contains(&format!("Root={trace_id}")),
            "{path}: {header:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_with_an_empty_queue_processes_nothing() {
    if skip_emulator() {
        return;
    }
    let queue = new_queue("empty", None).await;
    let run = invoke(
        "scorekeep-worker",
        &scheduled_event(),
        &[format!("WORKER_QUEUE={queue}")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.report["result"], json!({"processed": 0, "failed": 0}));
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_leaves_failed_messages_queued_and_writes_the_good_one() {
    if skip_emulator() {
        return;
    }
    let stub = ApiStub::start();
    let queue = new_queue("mixed", Some(VISIBILITY_TIMEOUT)).await;
    let bucket = new_bucket().await;
    let malformed = send_message(built().region, &queue, r#"{"gameid": "half a message""#).await;
    let failing = work_order(
        &stub,
        &stub.info["host_port"],
        &stub.info["fail_game_id"],
        &bucket,
    );
    let api_500 = send_message(built().region, &queue, &failing).await;
    // With a scheme and a trailing slash this time.
    let endpoint = json!(format!("{}/", stub.info["base_url"].as_str().unwrap()));
    let good = work_order(&stub, &endpoint, &stub.info["game_id"], &bucket);
    send_message(built().region, &queue, &good).await;

    let before = utc_date();
    let run = invoke(
        "scorekeep-worker",
        &scheduled_event(),
        &[format!("WORKER_QUEUE={queue}")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.report["result"],
        json!({"processed": 1, "failed": 2}),
        "{}",
        run.stderr
    );
    assert_game_stored(built().region, &bucket, &stub.info, [before, utc_date()]).await;
    for id in [&malformed, &api_500] {
        assert!(
            run.stderr.contains(id.as_str()),
            "failed message {id} not logged:\n{}",
            run.stderr
        );
    }
    // Each message in a subsegment of its own: the two failures are faults with their
    // exception, the good one is not (issue 23).
    let faults = |faulted: bool| {
        run.documents
            .iter()
            .filter(|d| d["name"] == "process message" && (d["fault"] == true) == faulted)
            .map(|d| d["annotations"]["MessageId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut failed = faults(true);
    failed.sort();
    let mut expected = vec![malformed.clone(), api_500.clone()];
    expected.sort();
    assert_eq!(failed, expected, "{:?}", run.documents);
    assert_eq!(faults(false).len(), 1);
    assert!(run
        .documents
        .iter()
        .any(|d| d["fault"] == true && d["cause"]["exceptions"][0]["message"].is_string()));
    let (visible, in_flight) = queue_counts(&queue).await;
    assert_eq!(visible + in_flight, 2, "the two failed messages stay");
    // Left alone, they come back after the visibility timeout.
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(VISIBILITY_TIMEOUT + 10);
    while back.len() < 2 && Instant::now() < deadline {
        let got = receive(&queue, Duration::from_secs(1)).await;
        back.extend(got.into_iter().map(|m| m.message_id.unwrap()));
    }
    back.sort();
    let mut expected = vec![malformed, api_500];
    expected.sort();
    assert_eq!(back, expected);
}
