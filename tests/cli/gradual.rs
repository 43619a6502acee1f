//! Gradual releases (issue 22) against moto: the alias's weights during a canary's bake and
//! after it, linear steps, a gate closed by an alarm or by the new version's own Errors, and
//! Ctrl-C or kill -9 during the bake. Each test deploys version 1 at once, edits random-name
//! and runs `update-functions random-name --strategy …` in the background while it watches
//! the alias with the SDK. CloudWatch goes through `scripts/moto-cloudwatch-proxy` (moto's
//! CloudWatch has no CBOR protocol; see `util/cloudwatch.rs`); the alarm states and metrics
//! are moto's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic,
};

use crate::util::proxy::{Fault, Proxy, Rule, When};
use crate::util::{
    background_cli, cloudwatch_client, cloudwatch_endpoint, edit, moto, moto_cli, project_copy,
    sdk_config, skip_emulator, stdout_json, unique_region, CONFIG, TEMPLATE,
};

const FUNCTION: &str = "random-name";

/// Version 1 released at once in a region of its own; then a code edit, so the next run
/// releases version 2. `None` when emulator tests are skipped.
fn deployed_then_edited() -> Option<(&'static str, tempfile::TempDir)> {
    if skip_emulator() {
        return None;
    }
    let region = unique_region();
    let dir = project_copy();
    moto_cli(dir.path(), region, &["up"]).assert().success();
    edit_random_name(dir.path());
    Some((region, dir))
}

/// One more `releases:` setting in the project's config, e.g. `strategy: linear:25:1s`.
fn releases_setting(dir: &Path, setting: &str) {
    edit(
        dir,
        CONFIG,
        "  keep_versions: 5",
        &format!("  keep_versions: 5\n  {setting}"),
    );
}

fn edit_random_name(dir: &Path) {
    edit(
        dir,
        "functions/random-name/index.js",
        "module.exports = {",
        "module.exports = {\n  gradualReleaseTest: 1,",
    );
}

/// The CLI in the background, against moto and the CloudWatch proxy; stdout and stderr into
/// files in `dir`.
struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn start(dir: &Path, region: &str, args: &[&str]) -> Background {
        let stdout = dir.join("run.stdout");
        let stderr = dir.join("run.stderr");
        let child = background_cli(dir, &moto().endpoint, region, args, &stderr)
            .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .spawn()
            .unwrap();
        Background {
            child,
            stdout,
            stderr,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the child this test spawned.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Exit code, stdout, stderr (fails the test after 120 s).
    fn wait(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let code = status.code().unwrap_or(-1);
                let out = std::fs::read_to_string(&self.stdout).unwrap();
                let err = std::fs::read_to_string(&self.stderr).unwrap();
                return (code, out, err);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the run did not end: {}",
                    std::fs::read_to_string(&self.stderr).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The alias as Lambda reports it: its version and weights.
async fn alias(lambda: &aws_sdk_lambda::Client) -> (String, HashMap<String, f64>) {
    let out = lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await
        .unwrap();
    let weights = out
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .cloned()
        .unwrap_or_default();
    (out.function_version().unwrap().to_string(), weights)
}

/// Wait until the alias routes `weight` to version 2 (version 1 primary); fails after 60 s.
async fn wait_for_weight(lambda: &aws_sdk_lambda::Client, weight: f64, run: &Background) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (version, weights) = alias(lambda).await;
        if version == "1" && weights.get("2").is_some_and(|w| (w - weight).abs() < 1e-6) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "alias never routed {weight} to version 2 (now {version} {weights:?}): {}",
            std::fs::read_to_string(&run.stderr).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lambda_client(region: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&sdk_config(region).await)
}

fn shares(report: &serde_json::Value) -> Vec<f64> {
    let f = report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == FUNCTION)
        .unwrap();
    f["release"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {f}"))
        .iter()
        .map(|s| s["share"].as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_routes_half_during_the_bake_then_all_and_reruns_do_nothing() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    let args = [
        "update-functions",
        FUNCTION,
        "--strategy",
        "canary:50:3s",
        "--output",
        "json",
    ];
    let run = Background::start(dir.path(), region, &args);
    wait_for_weight(&lambda, 0.5, &run).await;
    let (code, out, err) = run.wait();
    assert_eq!(code, 0, "{err}");
    assert_eq!(alias(&lambda).await, ("2".to_string(), HashMap::new()));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shares(&report), vec![0.5, 1.0]);
    let release = &report["functions"][0]["release"];
    assert_eq!(release["strategy"], "canary:50:3s", "{release}");
    assert_eq!(release["previous_version"], "1");
    // The bake happened: the last step came at least 3 s after the first.
    let at = release["steps"][1]["at_seconds"].as_f64().unwrap();
    assert!(at >= 3.0, "{release}");
    // Released: a rerun changes nothing.
    let again = moto_cli(
        dir.path(),
        region,
        &["update-functions", FUNCTION, "--output", "json"],
    )
    .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
    .assert()
    .success();
    let again = stdout_json(again.get_output());
    assert!(again["functions"][0]["release"].is_null(), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn linear_25_every_second_reaches_all_in_four_steps() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    // From the config this time, as a team would set it.
    releases_setting(dir.path(), "strategy: linear:25:1s");
    let args = ["update-functions", FUNCTION, "--output", "json"];
    let run = Background::start(dir.path(), region, &args);
    let (code, out, err) = run.wait();
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shares(&report), vec![0.25, 0.5, 0.75, 1.0]);
    assert_eq!(alias(&lambda).await, ("2".to_string(), HashMap::new()));
}

/// The config names `alarm` as a gate; the alarm exists in moto, in state OK.
async fn with_alarm_gate(dir: &Path, region: &str, alarm: &str) -> aws_sdk_cloudwatch::Client {
    releases_setting(dir, &format!("alarms: [{alarm}]"));
    alarm_in_moto(region, alarm).await
}

/// An alarm on random-name's Errors in moto, in state OK.
async fn alarm_in_moto(region: &str, alarm: &str) -> aws_sdk_cloudwatch::Client {
    let cw = cloudwatch_client(region).await;
    cw.put_metric_alarm()
        .alarm_name(alarm)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(dimension("FunctionName", FUNCTION))
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    cw.set_alarm_state()
        .alarm_name(alarm)
        .state_value(StateValue::Ok)
        .state_reason("quiet")
        .send()
        .await
        .unwrap();
    cw
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The end of a release a gate stopped: exit 1, the alias back on 1 with no weights.
async fn assert_reverted(lambda: &aws_sdk_lambda::Client, run: Background, names: &str) {
    let (code, _, err) = run.wait();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("release stopped by a gate"), "{err}");
    assert!(err.contains(names), "{err}");
    assert!(err.contains("random-name on version 1"), "{err}");
    assert_eq!(alias(lambda).await, ("1".to_string(), HashMap::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_going_off_during_the_bake_returns_the_alias_and_is_named() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let cw = with_alarm_gate(dir.path(), region, "random-name-errors").await;
    let reason = "Threshold Crossed: 3 datapoints";
    alarm_goes_off_mid_bake(dir.path(), region, &cw, "random-name-errors", reason).await;
}

/// A canary of 60 s; once half the traffic reaches version 2, `alarm` goes to ALARM for
/// `reason`: the release must stop on it, name it and return the alias.
async fn alarm_goes_off_mid_bake(
    dir: &Path,
    region: &str,
    cw: &aws_sdk_cloudwatch::Client,
    alarm: &str,
    reason: &str,
) {
    let lambda = lambda_client(region).await;
    let args = ["update-functions", FUNCTION, "--strategy", "canary:50:60s"];
    let run = Background::start(dir, region, &args);
    wait_for_weight(&lambda, 0.5, &run).await;
    cw.set_alarm_state()
        .alarm_name(alarm)
        .state_value(StateValue::Alarm)
        .state_reason(reason)
        .send()
        .await
        .unwrap();
    let named = format!("alarm {alarm} is in ALARM ({reason})");
    assert_reverted(&lambda, run, &named).await;
}

/// The template's own alarms are gates by default: its output ReleaseGateAlarms names them.
/// moto's CloudFormation has no AWS::CloudWatch::Alarm, so the template leaves them (and the
/// output) out in moto's account; here the output names an alarm the test makes in moto.
#[tokio::test(flavor = "multi_thread")]
async fn the_alarms_the_stack_names_are_gates_without_any_config() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    edit(
        dir.path(),
        TEMPLATE,
        "    Condition: StackCreatesAliases\n    Value: !Join\n      - \",\"\n      - - !Ref RandomNameErrorsAlarm\n        - !Ref ScorekeepWorkerErrorsAlarm\n        - !Ref WorkerDeadLetterAlarm\n        - !Ref WorkerQueueAgeAlarm\n",
        "    Value: stack-gate-alarm\n",
    );
    let cw = alarm_in_moto(region, "stack-gate-alarm").await;
    moto_cli(dir.path(), region, &["up"]).assert().success();
    edit_random_name(dir.path());
    alarm_goes_off_mid_bake(dir.path(), region, &cw, "stack-gate-alarm", "DLQ not empty").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_of_the_new_version_over_the_threshold_return_the_alias() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    let cw = cloudwatch_client(region).await;
    let args = ["update-functions", FUNCTION, "--strategy", "canary:50:60s"];
    let run = Background::start(dir.path(), region, &args);
    wait_for_weight(&lambda, 0.5, &run).await;
    // What Lambda would publish for version 2 invoked through the alias: 3 of 10 failed.
    let datum = |metric: &str, value: f64| {
        MetricDatum::builder()
            .metric_name(metric)
            .dimensions(dimension("FunctionName", FUNCTION))
            .dimensions(dimension("Resource", "random-name:live"))
            .dimensions(dimension("ExecutedVersion", "2"))
            .value(value)
            .timestamp(std::time::SystemTime::now().into())
            .build()
    };
    cw.put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(datum("Invocations", 10.0))
        .metric_data(datum("Errors", 3.0))
        .send()
        .await
        .unwrap();
    assert_reverted(
        &lambda,
        run,
        "Errors of function random-name version 2: 3 of 10 invocations (30.0 %), over max_error_rate 1.0 %",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_or_sigterm_during_the_bake_returns_the_alias_and_exits_130_or_143() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    // The second run finds version 2, published by the first, and routes to it again.
    for (signal, exit) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let args = ["update-functions", FUNCTION, "--strategy", "canary:50:60s"];
        let run = Background::start(dir.path(), region, &args);
        wait_for_weight(&lambda, 0.5, &run).await;
        run.signal(signal);
        let (code, _, err) = run.wait();
        assert_eq!(code, exit, "{err}");
        assert!(err.contains("during a gradual release"), "{err}");
        assert!(err.contains("random-name on version 1"), "{err}");
        assert_eq!(alias(&lambda).await, ("1".to_string(), HashMap::new()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_killed_mid_bake_shows_in_status_and_plan_and_a_rerun_finishes_it() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    let args = ["update-functions", FUNCTION, "--strategy", "linear:25:60s"];
    let run = Background::start(dir.path(), region, &args);
    wait_for_weight(&lambda, 0.25, &run).await;
    run.signal(libc::SIGKILL);
    let _ = run.wait();
    // Nothing reverted it: the release's state is in the alias.
    let (version, weights) = alias(&lambda).await;
    assert_eq!((version.as_str(), weights.get("2")), ("1", Some(&0.25)));
    let status = moto_cli(dir.path(), region, &["status"]).assert().success();
    let status = String::from_utf8_lossy(&status.get_output().stdout).to_string();
    assert!(
        status.contains("release in progress: version 2 takes 25 % of the traffic"),
        "{status}"
    );
    let plan = moto_cli(dir.path(), region, &["plan"]).assert().success();
    let plan = String::from_utf8_lossy(&plan.get_output().stdout).to_string();
    assert!(
        plan.contains(
            "a gradual release is in progress (version 1 keeps the rest, version 2 takes 25 %)"
        ),
        "{plan}"
    );
    // The rerun resumes at 25 % (no new version published) and finishes.
    let args = [
        "update-functions",
        FUNCTION,
        "--strategy",
        "linear:25:1s",
        "--output",
        "json",
    ];
    let (code, out, err) = Background::start(dir.path(), region, &args).wait();
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shares(&report), vec![0.25, 0.5, 0.75, 1.0]);
    assert_eq!(report["functions"][0]["release"]["version"], "2");
    assert_eq!(alias(&lambda).await, ("2".to_string(), HashMap::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_that_does_not_exist_moves_no_traffic() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    let lambda = lambda_client(region).await;
    releases_setting(dir.path(), "alarms: [no-such-alarm]");
    let args = ["update-functions", FUNCTION, "--strategy", "canary:10:5m"];
    let (code, _, err) = Background::start(dir.path(), region, &args).wait();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("alarm(s) no-such-alarm named in `releases.alarms` or the stack output ReleaseGateAlarms do not exist in"),
        "{err}"
    );
    assert!(err.contains("no function was changed"), "{err}");
    // Checked before the function step: no upload, no version.
    let versions = lambda
        .list_versions_by_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2, "$LATEST and 1: {versions:?}");
    assert_eq!(alias(&lambda).await, ("1".to_string(), HashMap::new()));
}

/// random-name with a smoke event (a file beside the config).
fn with_smoke_event(dir: &Path) {
    std::fs::write(dir.join("smoke.json"), r#"{"userid": "smoke-test"}"#).unwrap();
    edit(
        dir,
        CONFIG,
        "    handler: index.handler\n",
        "    handler: index.handler\n    smoke_event: smoke.json\n",
    );
}

fn is_invoke_of_version_2(r: &crate::util::proxy::Request) -> bool {
    r.method == "POST"
        && r.path
            .starts_with("/2015-03-31/functions/random-name/invocations")
        && r.path.contains("Qualifier=2")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smoke_event_that_fails_moves_no_traffic() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    with_smoke_event(dir.path());
    let lambda = lambda_client(region).await;
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            is_invoke_of_version_2,
            When::Always,
            Fault::HandlerError,
        )],
    );
    for strategy in ["canary:50:3s", "all-at-once"] {
        let out = crate::util::cli_via(
            dir.path(),
            &proxy.endpoint,
            region,
            &["update-functions", FUNCTION, "--strategy", strategy],
        )
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
        .assert()
        .code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("smoke test of function random-name version 2 failed (Unhandled)"),
            "{strategy}: {err}"
        );
        assert!(
            err.contains("injected by the test proxy: the handler threw"),
            "{err}"
        );
        assert!(err.contains("no traffic was moved to it"), "{err}");
        assert_eq!(
            alias(&lambda).await,
            ("1".to_string(), HashMap::new()),
            "{strategy}"
        );
    }
    // Each run invoked version 2 itself, directly, and nothing else answered for it.
    assert_eq!(proxy.count(is_invoke_of_version_2), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_smoke_event_comes_before_any_traffic() {
    let Some((region, dir)) = deployed_then_edited() else {
        return;
    };
    // The harness started moto with `lambda.use_docker: false` (util/moto.rs): its Invoke
    // answers a fixed payload with no function error.
    with_smoke_event(dir.path());
    let lambda = lambda_client(region).await;
    let proxy = Proxy::start(&moto().endpoint, Vec::new());
    crate::util::cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["update-functions", FUNCTION, "--strategy", "canary:50:1s"],
    )
    .env("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch_endpoint())
    .assert()
    .success();
    assert_eq!(alias(&lambda).await, ("2".to_string(), HashMap::new()));
    let seen = proxy.requests();
    let smoke = seen.iter().position(is_invoke_of_version_2);
    let first_alias_move = seen
        .iter()
        .position(|r| r.method == "PUT" && r.path.contains("/aliases/live"));
    assert!(
        smoke.is_some() && smoke < first_alias_move,
        "smoke at {smoke:?}, first alias move at {first_alias_move:?}"
    );
}
