//! The worker's two triggers end to end (issue 23), built and run as in `functions_e2e`: a
//! scheduled run drains a backlog by itself, and an SQS event (the event source mapping's, or
//! `--sqs-message`/`--sqs-messages-file`) reports only its poison record as failed.

use serde_json::json;

use crate::functions_e2e::{
    built, invoke, new_bucket, new_queue, queue_counts, scheduled_event, work_order,
    VISIBILITY_TIMEOUT,
};
use crate::util::{moto_cli, send_message, skip_emulator, stderr, stdout_json, ApiStub};

/// `trigger: schedule` (issue 23): one scheduled run drains a backlog of 25 messages, batch
/// after batch, where the seed's worker read one batch of at most 10 every 5 minutes.
#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_drains_a_queue_of_25_messages() {
    if skip_emulator() {
        return;
    }
    let stub = ApiStub::start();
    let queue = new_queue("backlog", Some(VISIBILITY_TIMEOUT)).await;
    let bucket = new_bucket().await;
    let order = work_order(
        &stub,
        &stub.info["host_port"],
        &stub.info["game_id"],
        &bucket,
    );
    for _ in 0..25 {
        send_message(built().region, &queue, &order).await;
    }
    assert_eq!(queue_counts(&queue).await, (25, 0));
    let run = invoke(
        "scorekeep-worker",
        &scheduled_event(),
        &[format!("WORKER_QUEUE={queue}")],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.report["result"],
        json!({"processed": 25, "failed": 0}),
        "{}",
        run.stderr
    );
    assert_eq!(queue_counts(&queue).await, (0, 0), "the queue is empty");
    // Batches of at most 10: at least three receives in the one run; each message deleted.
    assert!(run.aws_calls("sqs", "ReceiveMessage").len() >= 3);
    assert_eq!(run.aws_calls("sqs", "DeleteMessage").len(), 25);
}

/// The event source mapping's trigger (issue 23): an SQS event of two records, one poison;
/// the handler reports only that one in `batchItemFailures`, writes the good one's record,
/// and the poison one's subsegment is a fault.
#[tokio::test(flavor = "multi_thread")]
async fn worker_reports_the_poison_record_of_an_sqs_event() {
    if skip_emulator() {
        return;
    }
    let stub = ApiStub::start();
    let bucket = new_bucket().await;
    let good = work_order(
        &stub,
        &stub.info["host_port"],
        &stub.info["game_id"],
        &bucket,
    );
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
            "attributes": {"SentTimestamp": "1709251199999", "ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:worker",
        })
    };
    let event = json!({"Records": [record("poison-1", "{not json"), record("good-1", &good)]});
    // The queue is the event source mapping's; the handler does not read WORKER_QUEUE then.
    let run = invoke(
        "scorekeep-worker",
        &event,
        &["WORKER_QUEUE=unused".to_string()],
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.report["result"],
        json!({"batchItemFailures": [{"itemIdentifier": "poison-1"}]}),
        "{}",
        run.stderr
    );
    run.assert_attached_and_closed();
    let fault_of = |id: &str| {
        run.documents
            .iter()
            .find(|d| d["name"] == "process message" && d["annotations"]["MessageId"] == id)
            .map(|d| d["fault"] == true)
    };
    assert_eq!(fault_of("poison-1"), Some(true), "{:?}", run.documents);
    assert_eq!(fault_of("good-1"), Some(false), "{:?}", run.documents);
    // No queue call: Lambda's event source mapping receives and deletes.
    assert!(run.aws_calls("sqs", "ReceiveMessage").is_empty());
    assert!(run.aws_calls("sqs", "DeleteMessage").is_empty());
    assert_eq!(run.aws_calls("s3", "PutObject").len(), 1);

    // The same through `--sqs-message`: the tool builds the event and names the failed record.
    let built = built();
    let args = [
        "invoke",
        "--local",
        "scorekeep-worker",
        "--sqs-message",
        "{not json",
        "--sqs-message",
        &good,
        "--env",
        "WORKER_QUEUE=unused",
        "--output",
        "json",
    ];
    let out = moto_cli(&built.dir, built.region, &args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["result"],
        json!({"batchItemFailures": [{"itemIdentifier": "local-1"}]})
    );
    assert!(
        stderr(&out)
            .contains("records: 1 of 2 failed (local-1); Lambda would deliver only those again"),
        "{}",
        stderr(&out)
    );

    // And from a file, a body per line: the poison one second this time.
    let file = built.dir.join("orders.jsonl");
    std::fs::write(&file, format!("{good}\n{{not json\n")).unwrap();
    let args = [
        "invoke",
        "--local",
        "scorekeep-worker",
        "--sqs-messages-file",
        file.to_str().unwrap(),
        "--env",
        "WORKER_QUEUE=unused",
        "--output",
        "json",
    ];
    let out = moto_cli(&built.dir, built.region, &args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["result"],
        json!({"batchItemFailures": [{"itemIdentifier": "local-2"}]})
    );
}
