//! A convergent engine (issue 19), against moto: every run compares what Lambda has with what
//! the source wants, so a release stopped partway is finished by the next run, an alias moved
//! by hand is drift that `plan` shows and `up` undoes, a rollback pin on the alias is left
//! alone until `--unpin`, lost answers are recovered, and a failed run's JSON report says what
//! each function released. Each case creates the state or injects the fault itself.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::util::proxy::{self, Fault, Proxy, Request, Rule, When};
use crate::util::{
    background_cli, cli_via, edit, manifest, moto, moto_cli, project_copy, sdk_config,
    skip_emulator, stdout, stdout_json, unique_region, CONFIG,
};

/// Where the alias `live` of `function` points, and its description (a rollback pin).
async fn alias(lambda: &aws_sdk_lambda::Client, function: &str) -> (String, String) {
    let out = lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap_or_else(|e| panic!("alias live of {function}: {e:?}"));
    (
        out.function_version().unwrap().to_string(),
        out.description().unwrap_or_default().to_string(),
    )
}

/// `function` as the version its alias names reports it: (code sha, memory).
async fn served(lambda: &aws_sdk_lambda::Client, function: &str) -> (String, i32) {
    let (version, _) = alias(lambda, function).await;
    let out = lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(&version)
        .send()
        .await
        .unwrap();
    (
        out.code_sha256().unwrap().to_string(),
        out.memory_size().unwrap(),
    )
}

/// The alias of every function names a version with the local build's code and the
/// configured memory: what a finished release leaves.
async fn assert_released(lambda: &aws_sdk_lambda::Client, dir: &Path, worker_memory: i32) {
    for (function, memory) in [("random-name", 128), ("scorekeep-worker", worker_memory)] {
        let sha = manifest(dir, function)["sha256_base64"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            served(lambda, function).await,
            (sha, memory),
            "{function}: the alias's version is not the source's release"
        );
    }
}

/// A code change to random-name (a new exported marker), so its bundle's sha changes.
fn change_random_name(dir: &Path, marker: &str) {
    let to = format!("module.exports = {{\n  {marker}: 1,");
    edit(
        dir,
        "functions/random-name/index.js",
        "module.exports = {",
        &to,
    );
}

fn plan_exit(dir: &Path, region: &str) -> (i32, serde_json::Value) {
    let out = moto_cli(
        dir,
        region,
        &["plan", "--detailed-exitcode", "--output", "json"],
    )
    .output()
    .unwrap();
    (out.status.code().unwrap_or(-1), stdout_json(&out))
}

fn function<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

/// Put the freshly built bundle of `function` on `$LATEST` by hand, as a release stopped
/// after its code upload leaves it: the alias stays where it was.
async fn upload_by_hand(lambda: &aws_sdk_lambda::Client, dir: &Path, region: &str, function: &str) {
    moto_cli(dir, region, &["build", function])
        .assert()
        .success();
    let bytes = std::fs::read(dir.join(format!("target/scorekeep-deploy/{function}.zip"))).unwrap();
    lambda
        .update_function_code()
        .function_name(function)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(bytes))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_stopped_after_the_code_upload_is_finished_by_the_next_run() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    moto_cli(dir.path(), region, &["up"]).assert().success();
    change_random_name(dir.path(), "edited");
    upload_by_hand(&lambda, dir.path(), region, "random-name").await;
    assert_eq!(alias(&lambda, "random-name").await.0, "1");

    // plan sees it although $LATEST already has the source's code.
    let (code, report) = plan_exit(dir.path(), region);
    assert_eq!(code, 2, "{report}");
    let rn = function(&report, "random-name");
    assert_eq!(rn["code"], "unchanged", "{rn}");
    let reason = rn["pending_release"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("version 1, which the alias named, has other code"),
        "{rn}"
    );
    assert!(function(&report, "scorekeep-worker")["pending_release"].is_null());

    // One run finishes it: no upload, a version published, the alias moved.
    let out = moto_cli(
        dir.path(),
        region,
        &["update-functions", "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let rn = function(&report, "random-name");
    assert_eq!(
        (rn["code"].as_str(), rn["release"]["version"].as_str()),
        (Some("unchanged"), Some("2")),
        "{rn}"
    );
    assert!(function(&report, "scorekeep-worker")["release"].is_null());
    assert_released(&lambda, dir.path(), 256).await;
    assert_eq!(plan_exit(dir.path(), region).0, 0);
    // Deleting the tool's local cache changes nothing: still converged.
    let _ = std::fs::remove_dir_all(dir.path().join("target/scorekeep-deploy-cache/applied"));
    assert_eq!(plan_exit(dir.path(), region).0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_moved_alias_is_drift_and_a_rollback_pin_holds_until_unpinned() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    moto_cli(dir.path(), region, &["up"]).assert().success();
    change_random_name(dir.path(), "edited");
    moto_cli(dir.path(), region, &["up"]).assert().success();
    assert_eq!(alias(&lambda, "random-name").await.0, "2");

    // Someone moves the alias back by hand: drift.
    lambda
        .update_alias()
        .function_name("random-name")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let (code, report) = plan_exit(dir.path(), region);
    assert_eq!(code, 2, "{report}");
    assert_eq!(
        function(&report, "random-name")["pending_release"]["current_version"],
        "1"
    );
    let out = moto_cli(dir.path(), region, &["up"]).assert().success();
    let text = stdout(out.get_output());
    assert!(
        text.contains(
            "alias live -> version 2 (was 1; version 1, which the alias named, has other code"
        ),
        "{text}"
    );
    assert_eq!(alias(&lambda, "random-name").await.0, "2");
    assert_released(&lambda, dir.path(), 256).await;

    // A rollback pins, on the alias, where every machine sees it.
    moto_cli(dir.path(), region, &["rollback", "random-name"])
        .assert()
        .success();
    let (version, description) = alias(&lambda, "random-name").await;
    assert_eq!(version, "1");
    assert!(
        description.contains("pinned at version 1 by a rollback from 2"),
        "{description}"
    );
    let (code, report) = plan_exit(dir.path(), region);
    assert_eq!(code, 0, "a pin is intended, not pending: {report}");
    assert_eq!(function(&report, "random-name")["pinned"]["version"], "1");
    let out = moto_cli(dir.path(), region, &["up"]).assert().success();
    let text = stdout(out.get_output());
    assert!(text.contains("pinned at version 1 by a rollback from 2: left alone; `scorekeep-deploy update-functions random-name --unpin`"), "{text}");
    assert_eq!(alias(&lambda, "random-name").await.0, "1");
    let text = stdout(
        moto_cli(dir.path(), region, &["status"])
            .assert()
            .success()
            .get_output(),
    );
    assert!(
        text.contains("pinned at version 1 by a rollback from 2"),
        "{text}"
    );

    // The explicit step releases the source again and clears the pin.
    let out = moto_cli(
        dir.path(),
        region,
        &["update-functions", "random-name", "--unpin"],
    )
    .assert()
    .success();
    assert!(stdout(out.get_output()).contains("--unpin released the rollback pin"));
    assert_eq!(
        alias(&lambda, "random-name").await,
        ("2".to_string(), String::new())
    );
    assert_eq!(plan_exit(dir.path(), region).0, 0);
}

/// Run the CLI with `args` through `endpoint`, and send SIGINT once `ready` says so (checked
/// every 10 ms with the time since the start). The exit status and stderr.
pub(crate) fn interrupted_run(
    dir: &Path,
    endpoint: &str,
    region: &str,
    args: &[&str],
    mut ready: impl FnMut(Duration) -> bool,
) -> (ExitStatus, String) {
    let stderr_path = dir.join("stderr.txt");
    let mut child = background_cli(dir, endpoint, region, args, &stderr_path)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut signalled = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !signalled && ready(started.elapsed()) {
            // SAFETY: SIGINT to the child we spawned.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            signalled = true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{args:?} still running"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status,
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

fn is_publish(function: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    proxy::method_path_suffix(
        "POST",
        if function == "random-name" {
            "/random-name/versions"
        } else {
            "/scorekeep-worker/versions"
        },
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_after_the_code_put_then_one_rerun_releases() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    moto_cli(dir.path(), region, &["up"]).assert().success();
    change_random_name(dir.path(), "edited");
    // The code PUT is answered; the publish that follows never is: SIGINT while it hangs.
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            is_publish("random-name"),
            When::Always,
            Fault::Hang,
        )],
    );
    let put = proxy::method_path_suffix("PUT", "/random-name/code");
    let (status, stderr) = interrupted_run(
        dir.path(),
        &proxy.endpoint,
        region,
        &["update-functions"],
        |_| proxy.count(is_publish("random-name")) > 0,
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(proxy.count(&put), 1, "the code PUT was made: {stderr}");
    assert!(
        stderr.contains("while publishing a version of function random-name"),
        "{stderr}"
    );
    assert_eq!(
        alias(&lambda, "random-name").await.0,
        "1",
        "the stop left the alias behind"
    );

    let (code, report) = plan_exit(dir.path(), region);
    assert_eq!(code, 2, "{report}");
    assert!(
        !function(&report, "random-name")["pending_release"].is_null(),
        "{report}"
    );
    moto_cli(dir.path(), region, &["update-functions"])
        .assert()
        .success();
    assert_released(&lambda, dir.path(), 256).await;
    assert_eq!(plan_exit(dir.path(), region).0, 0);
}

/// 20 SIGINTs at spread-out moments of `up` and `update-functions` (code and configuration
/// changed before each), each followed by one plain rerun: every alias then names a version
/// with the source's code and configuration. At least a third of the trials must have been
/// stopped (exit 130), or the moments missed the work.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_interruptions_each_finished_by_one_rerun() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    // moto numbers a new version by counting the versions it holds, so after pruning deleted
    // one it hands out a number again (two "version 6"s, GetAlias finds the old one). Keep
    // them all here; pruning itself is tested in releases.rs.
    edit(dir.path(), CONFIG, "keep_versions: 5", "keep_versions: 100");
    moto_cli(dir.path(), region, &["up"]).assert().success();
    let mut stopped = 0;
    let mut memory = 256;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for trial in 1..=20 {
        change_random_name(dir.path(), &format!("trial{trial}"));
        let next = if trial % 3 == 0 { memory + 64 } else { memory };
        if next != memory {
            edit(
                dir.path(),
                CONFIG,
                &format!("memory: {memory}"),
                &format!("memory: {next}"),
            );
            memory = next;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = Duration::from_millis(50 + seed % 1200);
        let command = if trial % 2 == 0 {
            "up"
        } else {
            "update-functions"
        };
        let (status, stderr) =
            interrupted_run(dir.path(), &moto().endpoint, region, &[command], |t| {
                t >= at
            });
        match status.code() {
            Some(130) => stopped += 1,
            Some(0) => {}
            other => panic!("trial {trial}: {command} exited {other:?}: {stderr}"),
        }
        let out = moto_cli(dir.path(), region, &[command]).output().unwrap();
        assert!(
            out.status.success(),
            "trial {trial}: rerun failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "trial {trial} {command} at {at:?}: {status}\n{stderr}\nrerun:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_released(&lambda, dir.path(), memory).await;
    }
    assert!(
        stopped >= 7,
        "only {stopped} of 20 trials were interrupted before they finished"
    );
}

/// Every call answered HTTP 500 after moto processed it, 30 % of the time: `up` (stacks,
/// upload, configuration, publish, CreateAlias) and then `update-functions` finish on their
/// first run, for 10 seeds.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_on_every_call_are_recovered_for_ten_seeds() {
    if skip_emulator() {
        return;
    }
    let dir = project_copy();
    for seed in 1..=10u64 {
        let region = unique_region();
        let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
        let proxy = Proxy::start(
            &moto().endpoint,
            vec![Rule::new(
                proxy::any(),
                When::Probability(0.3),
                Fault::FailAfterForward,
            )
            .seed(seed)],
        );
        let out = cli_via(dir.path(), &proxy.endpoint, region, &["up"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seed {seed}: up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        change_random_name(dir.path(), &format!("seed{seed}"));
        let out = cli_via(dir.path(), &proxy.endpoint, region, &["update-functions"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seed {seed}: update-functions: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            proxy.injected() > 5,
            "seed {seed}: only {} faults",
            proxy.injected()
        );
        assert_released(&lambda, dir.path(), 256).await;
        assert_eq!(
            alias(&lambda, "random-name").await.0,
            "2",
            "seed {seed}: published once per release"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_architecture_is_deployed_with_the_code_and_then_settles() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    moto_cli(dir.path(), region, &["up"]).assert().success();
    let rn = "    runtime: nodejs22.x\n    architecture: x86_64";
    edit(
        dir.path(),
        CONFIG,
        rn,
        "    runtime: nodejs22.x\n    architecture: arm64",
    );
    let proxy = Proxy::start(&moto().endpoint, Vec::new());
    let out = cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["update-functions", "random-name", "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let f = function(&report, "random-name");
    assert_eq!(f["code"], "updated", "{f}");
    assert!(
        f["config_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "architecture" && c["desired"] == "arm64"),
        "{f}"
    );
    assert_eq!(manifest(dir.path(), "random-name")["architecture"], "arm64");
    let puts: Vec<Request> = proxy
        .requests()
        .into_iter()
        .filter(proxy::method_path_suffix("PUT", "/random-name/code"))
        .collect();
    assert_eq!(puts.len(), 1);
    assert!(
        puts[0].body.contains(r#""Architectures":["arm64"]"#),
        "{}",
        &puts[0].body[..200.min(puts[0].body.len())]
    );
    // moto does not store Architectures: its echo is recorded on the function, so the next
    // run, on any machine, sends nothing again.
    let out = moto_cli(dir.path(), region, &["update-functions", "random-name"])
        .assert()
        .success();
    let text = stdout(out.get_output());
    assert!(text.contains("no changes"), "{text}");
}

/// A release that fails partway: the JSON failure report lists what each function released,
/// and `scripts/rollback-released` rolls back exactly that.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_release_reports_what_it_released_and_the_pipeline_undoes_it() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    moto_cli(dir.path(), region, &["up"]).assert().success();
    change_random_name(dir.path(), "edited");
    edit(dir.path(), CONFIG, "memory: 256", "memory: 320");
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            is_publish("scorekeep-worker"),
            When::Always,
            Fault::ServerError,
        )],
    );
    let out = cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["up", "--output", "json"],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["ok"], false);
    let rn = function(&report, "random-name");
    assert_eq!(
        (
            rn["release"]["version"].as_str(),
            rn["release"]["previous_version"].as_str()
        ),
        (Some("2"), Some("1")),
        "{report}"
    );
    let worker = function(&report, "scorekeep-worker");
    assert_eq!(worker["config"], "updated", "{worker}");
    assert!(worker["release"].is_null(), "{worker}");
    assert!(
        worker["error"]
            .as_str()
            .unwrap()
            .contains("publishing a version of function scorekeep-worker"),
        "{worker}"
    );

    let report_path = dir.path().join("deploy.json");
    std::fs::write(&report_path, serde_json::to_vec(&report).unwrap()).unwrap();
    let mut rollback = Command::new(crate::util::repo_root().join("scripts/rollback-released"));
    rollback
        .arg(&report_path)
        .arg(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .current_dir(dir.path());
    let mut cmd = assert_cmd::Command::from_std(rollback);
    crate::util::aws_env(&mut cmd, region);
    cmd.assert().success();
    assert_eq!(alias(&lambda, "random-name").await.0, "1");
    assert_eq!(alias(&lambda, "scorekeep-worker").await.0, "1");
}
