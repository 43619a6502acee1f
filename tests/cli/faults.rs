//! Faults injected between the CLI and a real moto server by the proxy in
//! `tests/cli/util/proxy.rs` (hung endpoint, throttling, lost responses, dropped connections and
//! server errors). Ctrl-C at chosen moments of `up` is `faults_ctrl_c.rs`.

use std::time::{Duration, Instant};

use crate::util::proxy::{self, Fault, Proxy, Request, Rule, When};
use crate::util::{
    self, cli_via, emulator_project, moto, project_copy, skip_emulator, stderr, unique_region,
};

#[test]
fn status_against_a_hung_endpoint_fails_within_30_seconds_naming_it() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(proxy::any(), When::Always, Fault::Hang)],
    );
    let dir = project_copy();
    let started = Instant::now();
    let output = cli_via(dir.path(), &proxy.endpoint, region, &["status"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = stderr(&output);
    eprintln!(
        "status against a hung endpoint: exit {:?} after {took:?}\n{stderr}",
        output.status.code()
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        stderr.contains(&proxy.endpoint),
        "the endpoint is not named:\n{stderr}"
    );
    assert!(
        stderr.contains("no answer from cloudformation"),
        "no retry line:\n{stderr}"
    );
    assert!(
        stderr.contains("describing stack scorekeep-lambda"),
        "{stderr}"
    );
}

#[test]
fn up_under_30_percent_throttling_finishes_and_says_it_is_retrying() {
    if skip_emulator() {
        return;
    }
    let dir = project_copy();
    // Build first so both runs deploy the same cached bundles.
    util::cli(dir.path()).arg("build").assert().success();

    let (plain_region, region) = (unique_region(), unique_region());
    let plain = Proxy::start(&moto().endpoint, Vec::new());
    cli_via(dir.path(), &plain.endpoint, plain_region, &["up"])
        .assert()
        .success();

    let throttling = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(proxy::any(), When::Probability(0.3), Fault::Throttle).seed(7)],
    );
    let output = cli_via(dir.path(), &throttling.endpoint, region, &["up"])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = stderr(&output);
    let (sent, throttled) = (throttling.requests().len(), throttling.injected());
    eprintln!(
        "up unthrottled: {} requests; up with 30 % throttling: {sent} requests, {throttled} throttled",
        plain.requests().len(),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(throttled > 0, "the proxy throttled nothing");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("throttled by ") && l.contains("retrying within")),
        "no retry line on stderr:\n{stderr}"
    );
    // Every write reached moto exactly once, as without throttling: a throttled call was
    // retried until it went through, and none was sent twice or given up on.
    assert_eq!(
        writes(&throttling.requests(), region),
        writes(&plain.requests(), plain_region),
        "the writes moto received differ from an unthrottled run's"
    );
    // Retries are bounded: at 30 % each attempt is throttled, so about 0.43 retries per call
    // reached moto; twice that allows for the seeded draw, not for a retry storm.
    let forwarded = sent - throttled;
    assert!(
        throttled * 100 <= forwarded * 86,
        "{throttled} throttled for {forwarded} forwarded requests"
    );
}

/// The write calls among `requests` that reached moto, as sorted operation names (the query
/// `Action`, else method and path, `region` replaced by `{region}` for ARNs in paths): reads
/// are left out because waiters poll a timing-dependent number of times.
fn writes(requests: &[Request], region: &str) -> Vec<String> {
    let mut ops: Vec<String> = requests
        .iter()
        .filter(|r| r.forwarded())
        .filter_map(|r| match r.action() {
            Some(a) => (!["Describe", "Get", "List", "Validate", "Estimate"]
                .iter()
                .any(|p| a.starts_with(p)))
            .then(|| a.to_string()),
            None => (!["GET", "HEAD"].contains(&r.method.as_str())).then(|| {
                let path = r.path.split('?').next().unwrap_or("");
                format!("{} {}", r.method, path.replace(region, "{region}"))
            }),
        })
        .collect();
    ops.sort();
    ops
}

#[test]
fn a_dropped_connection_and_a_500_are_retried_visibly() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![
            Rule::new(proxy::action("DescribeStacks"), When::Nth(1), Fault::Drop),
            Rule::new(
                proxy::path_prefix("/2015-03-31/functions"),
                When::Nth(1),
                Fault::ServerError,
            ),
        ],
    );
    let dir = project_copy();
    let output = cli_via(dir.path(), &proxy.endpoint, region, &["status"])
        .output()
        .unwrap();
    let stderr = stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(proxy.injected(), 2);
    assert!(
        stderr.contains(&format!(
            "connection to cloudformation at {} failed (DescribeStacks); retrying within",
            proxy.endpoint
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "lambda failed (GetFunctionConfiguration: HTTP 500 ServiceException); retrying within"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_stack_whose_answer_was_lost_is_attached_to() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            proxy::action("CreateStack"),
            When::Nth(1),
            Fault::FailAfterForward,
        )],
    );
    let dir = project_copy();
    let output = cli_via(dir.path(), &proxy.endpoint, region, &["up"])
        .output()
        .unwrap();
    let stderr = stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("stack scorekeep-lambda already exists"),
        "{stderr}"
    );
    assert!(
        proxy.count(proxy::action("CreateStack")) >= 2,
        "the SDK did not retry CreateStack"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&util::sdk_config(region).await);
    let stacks = cfn.list_stacks().send().await.unwrap();
    let live: Vec<_> = stacks
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_name() == Some("scorekeep-lambda"))
        .filter(|s| s.stack_status().map(|st| st.as_str()) != Some("DELETE_COMPLETE"))
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    // Created once, then updated by the second pass that fills WorkerQueueArn from its output.
    assert_eq!(live[0].stack_status().unwrap().as_str(), "UPDATE_COMPLETE");
}

#[test]
fn verbose_shows_each_aws_call_without_colour() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let output = util::moto_cli(dir.path(), region, &["status", "-v"])
        .output()
        .unwrap();
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    let describe = text
        .lines()
        .find(|l| l.contains("aws cloudformation DescribeStacks scorekeep-lambda "))
        .unwrap_or_else(|| panic!("no DescribeStacks line:\n{text}"));
    // The stack does not exist yet: CloudFormation answers 400 ValidationError.
    assert!(
        describe.contains(" 400 ValidationError (") && describe.ends_with(" ms)"),
        "{describe}"
    );
    assert!(
        text.lines().any(|l| l.contains("aws lambda GetFunctionConfiguration /2015-03-31/functions/random-name/configuration 404")),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes off a terminal:\n{text}"
    );

    let quiet = util::moto_cli(dir.path(), region, &["status"])
        .output()
        .unwrap();
    assert!(
        !stderr(&quiet).contains("aws cloudformation"),
        "calls logged without -v"
    );

    let debug = util::moto_cli(dir.path(), region, &["status", "-vvv"])
        .output()
        .unwrap();
    assert!(debug.status.success());
    assert!(
        !stderr(&debug).contains('\u{1b}'),
        "ANSI escapes at -vvv off a terminal"
    );
}
