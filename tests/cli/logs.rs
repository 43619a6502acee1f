//! `logs` (issue 25, second part) against moto's CloudWatch Logs: lines put into a
//! function's group come back with their function, request and, for a traced request, the
//! trace id from its REPORT line; `--trace` keeps one trace's lines; `--follow` prints a new
//! line within 2 s and stops on Ctrl-C with 130. moto's StartLiveTail answers one snapshot of
//! every stored event and closes the stream, so here `--follow` parses that session, says once
//! that live tail is unavailable and falls back to polling (the live path itself is tested
//! with aws-smithy-mocks in `src/aws/live_tail.rs`). Behind the fault proxy answering
//! UnknownOperationException for StartLiveTail, it falls back the same way.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::util::proxy::{target, Fault, Proxy, Rule, When};
use crate::util::{background_cli, emulator_project, moto, moto_cli, sdk_config, stdout_json};

const TRACED: &str = "8f2c1d0e-1111-2222-3333-444455556666";
const UNTRACED: &str = "0badc0de-1111-2222-3333-444455556666";
const TRACE: &str = "1-6b12c407-b77ee9c1dfc7b6029b019507";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Put `messages` (one ms apart, from `at`) into `group` in `region`, making the group and a
/// stream of `stream`'s name when missing.
async fn put(region: &str, group: &str, stream: &str, at: i64, messages: &[String]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config(region).await);
    let _ = logs.create_log_group().log_group_name(group).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let events = messages.iter().enumerate().map(|(i, m)| {
        InputLogEvent::builder()
            .timestamp(at + i as i64)
            .message(m)
            .build()
            .unwrap()
    });
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
}

fn request(id: &str, text: &str, trace: Option<&str>) -> Vec<String> {
    let xray = trace.map(|t| format!("\tXRAY TraceId: {t}\tSegmentId: 1f2e\tSampled: true"));
    vec![
        format!("START RequestId: {id} Version: 1"),
        format!("2026-12-04T12:00:00.000Z\t{id}\tINFO\t{text}"),
        format!("END RequestId: {id}"),
        format!(
            "REPORT RequestId: {id}\tDuration: 2.00 ms{}",
            xray.unwrap_or_default()
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_shows_each_line_with_its_request_and_trace_and_follows_new_ones() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let group = "/aws/lambda/random-name";
    let at = now_ms() - 60_000;
    put(
        region,
        group,
        "2026/12/04/[1]a",
        at,
        &request(TRACED, "picked Ada", Some(TRACE)),
    )
    .await;
    put(
        region,
        group,
        "2026/12/04/[1]b",
        at + 10,
        &request(UNTRACED, "picked Bo", None),
    )
    .await;

    let run = |args: &[&str]| moto_cli(dir.path(), region, args).assert().success();
    let out = run(&["logs", "random-name", "--since", "5m"]);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(&format!("8f2c1d0e INFO picked Ada  trace={TRACE}")),
        "{text}"
    );
    assert!(
        text.lines().all(|l| l.starts_with("random-name ")),
        "{text}"
    );
    assert!(text.contains("0badc0de INFO picked Bo\n"), "{text}");
    assert_eq!(text.lines().count(), 8, "{text}");

    // One trace's lines: its request's four, nothing of the other.
    let out = run(&[
        "logs", "--since", "5m", "--trace", TRACE, "--output", "json",
    ]);
    let report = stdout_json(out.get_output());
    let lines = report["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 4, "{report:#}");
    assert!(lines
        .iter()
        .all(|l| l["request_id"] == TRACED && l["trace_id"] == TRACE));
    // The worker never logged here: said, not an error.
    let out = run(&["logs", "scorekeep-worker"]);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no log group /aws/lambda/scorekeep-worker yet"),
        "{err}"
    );

    // --follow: a line put now shows within 2 s; Ctrl-C ends it with 130, promptly.
    let stdout = dir.path().join("follow.out");
    let mut child = background_cli(
        dir.path(),
        &moto().endpoint,
        region,
        &["logs", "random-name", "--follow", "--since", "5m"],
        &dir.path().join("follow.err"),
    )
    .stdout(std::fs::File::create(&stdout).unwrap())
    .spawn()
    .unwrap();
    let seen = |what: &str| {
        std::fs::read_to_string(&stdout)
            .unwrap_or_default()
            .contains(what)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen("picked Bo") {
        assert!(Instant::now() < deadline, "follow printed nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let fresh = vec![format!(
        "2026-12-04T12:00:01.000Z\t{UNTRACED}\tINFO\tfresh line"
    )];
    put(region, group, "2026/12/04/[1]c", now_ms(), &fresh).await;
    // From PutLogEvents' answer to the line on stdout, polled often so the check adds little.
    let put_at = Instant::now();
    while !seen("fresh line") {
        assert!(
            put_at.elapsed() < Duration::from_secs(10),
            "the new line did not show"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        put_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        put_at.elapsed()
    );
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let sent = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    // Each line once, however many polls saw it.
    let printed = std::fs::read_to_string(&stdout).unwrap();
    assert_eq!(printed.matches("picked Ada").count(), 1, "{printed}");
    assert_eq!(printed.matches("fresh line").count(), 1, "{printed}");
    // The fallback, said once (not per poll).
    let err = std::fs::read_to_string(dir.path().join("follow.err")).unwrap();
    assert_eq!(
        err.matches("live tail unavailable here (the endpoint ended the session")
            .count(),
        1,
        "{err}"
    );
}

/// Wait until `file` holds `what`, at most `limit`; how long it took.
fn wait_for_text(file: &std::path::Path, what: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while !std::fs::read_to_string(file)
        .unwrap_or_default()
        .contains(what)
    {
        assert!(start.elapsed() < limit, "no `{what}` in {}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// An endpoint without StartLiveTail (the proxy answers UnknownOperationException for it):
/// `--follow` says so once and polls, and a new line still shows within 2 s.
#[tokio::test(flavor = "multi_thread")]
async fn follow_falls_back_to_polling_where_live_tail_is_an_unknown_operation() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let group = "/aws/lambda/random-name";
    put(region, group, "s", now_ms(), &["before".to_string()]).await;
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            target("StartLiveTail"),
            When::Always,
            Fault::UnknownOperation,
        )],
    );
    let (stdout, stderr) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = background_cli(
        dir.path(),
        &proxy.endpoint,
        region,
        &["logs", "random-name", "--follow"],
        &stderr,
    )
    .stdout(std::fs::File::create(&stdout).unwrap())
    .spawn()
    .unwrap();
    wait_for_text(
        &stderr,
        "polling every 500 ms instead",
        Duration::from_secs(30),
    );
    put(region, group, "s", now_ms(), &["after".to_string()]).await;
    let took = wait_for_text(&stdout, "after", Duration::from_secs(10));
    assert!(took < Duration::from_secs(2), "{took:?}");
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(
        err.matches("note: live tail unavailable here (StartLiveTail: UnknownOperationException")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(proxy.count(target("StartLiveTail")), 1);
    let printed = std::fs::read_to_string(&stdout).unwrap();
    assert_eq!(printed.matches("before").count(), 1, "{printed}");
}
