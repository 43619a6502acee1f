//! SIGTERM and SIGHUP (how CI cancels a job, and what a closed terminal sends) stop a run as
//! the first Ctrl-C does: at a safe point, with the done / not done summary, child processes
//! killed and staging removed, exit 143 and 129. And `invoke --local` leaves nothing running:
//! on a signal, the handler and everything it started (also what left its process group with
//! setsid) are killed; at its timeout, see `signals_timeouts.rs`. Processes are found in
//! `/proc` by the test's own directory in their command line (see `util::procs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::util::procs::{self, descends_from, marked_sleep, KillOnDrop};
use crate::util::proxy::{self, Fault, Proxy, Rule, When};
use crate::util::{cli, edit, moto, project_copy, skip_emulator, unique_region, CONFIG};
use serde_json::Value;

/// How a signalled run ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// From the signal to the exit.
    after_signal: Duration,
}

/// The binary, started in `dir` with `args` and `env`, its output going to files in `dir`.
struct Started {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Started {
    start_under(None, dir, args, env)
}

/// [`start`], through `wrapper` (e.g. `nohup`) when one is given.
fn start_under(wrapper: Option<&str>, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Started {
    let stdout = dir.join("stdout.txt");
    let stderr = dir.join("stderr.txt");
    let bin = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let mut cmd = match wrapper {
        Some(w) => {
            let mut cmd = Command::new(w);
            cmd.arg(&bin);
            cmd
        }
        None => Command::new(&bin),
    };
    cmd.current_dir(dir)
        .args(args)
        .env("CI", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // No AWS call is expected unless `env` gives an endpoint; should one happen, it goes nowhere.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Started {
        child: cmd.spawn().unwrap(),
        stdout,
        stderr,
    }
}

impl Started {
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Fail the test (killing the run) unless it is still running: it must not end before the
    /// moment the test aims at.
    fn assert_running(&mut self, waiting_for: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the run ended ({status}) before {waiting_for}:\n{}",
                self.stderr_text()
            );
        }
    }

    /// Send `signal`, then wait (at most 30 s) for the exit.
    fn signal(mut self, signal: i32) -> Run {
        let sent = Instant::now();
        // SAFETY: kill(2) on the child this test spawned.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!(
                    "still running 30 s after the signal:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            status,
            after_signal: sent.elapsed(),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: self.stderr_text(),
        };
        eprintln!(
            "exit {:?} {:?} after the signal\n{}",
            run.status.code(),
            run.after_signal,
            run.stderr
        );
        run
    }
}

impl Run {
    /// The `done:` or `not done:` line of the summary.
    fn line(&self, prefix: &str) -> String {
        self.stderr
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line:\n{}", self.stderr))
            .to_string()
    }

    /// The exit code, the time to stop, and that the tool said which signal stopped it.
    fn assert_stopped_by(&self, name: &str, code: i32) {
        assert_eq!(self.status.code(), Some(code), "{}", self.stderr);
        // The goal is 1 s; the slack is for a loaded machine (npm is stopped and cleaned up).
        assert!(
            self.after_signal < Duration::from_secs(2),
            "took {:?}",
            self.after_signal
        );
        assert!(
            self.stderr.contains(&format!(
                "interrupted: stopping after the current step on {name}"
            )),
            "{}",
            self.stderr
        );
        assert!(
            self.stderr.contains(&format!("interrupted ({name})")),
            "{}",
            self.stderr
        );
    }
}

/// Until `ok` or `limit`: what a process needs to die after SIGKILL.
fn eventually(limit: Duration, ok: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ok()
}

fn assert_nothing_left(marker: &str) {
    let none_left = eventually(Duration::from_millis(500), || {
        procs::mentioning(marker).is_empty()
    });
    assert!(none_left, "still running: {:#?}", procs::mentioning(marker));
}

pub(crate) fn assert_no_sleep_left(sleep: &Path) {
    let none_left = eventually(Duration::from_millis(500), || {
        procs::running(sleep).is_empty()
    });
    assert!(none_left, "still running: {:#?}", procs::running(sleep));
}

// ---- the deploy engine --------------------------------------------------------------------------

#[test]
fn sigterm_during_up_exits_143_with_the_summary_and_an_interrupted_json_report() {
    if skip_emulator() {
        return;
    }
    let is_upload = proxy::method_path_suffix("PUT", "/random-name/code");
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            is_upload,
            When::Always,
            Fault::Delay(Duration::from_secs(60)),
        )],
    );
    let dir = project_copy();
    let mut run = start(
        dir.path(),
        &["up", "--output", "json"],
        &[
            ("AWS_ENDPOINT_URL", &proxy.endpoint),
            ("AWS_REGION", unique_region()),
        ],
    );
    let uploading = proxy.wait_for(
        proxy::method_path_suffix("PUT", "/random-name/code"),
        Duration::from_secs(180),
    );
    run.assert_running("the code upload");
    assert!(
        uploading,
        "the upload never started:\n{}",
        run.stderr_text()
    );
    // Let the request be in flight.
    std::thread::sleep(Duration::from_millis(300));
    let run = run.signal(libc::SIGTERM);

    run.assert_stopped_by("SIGTERM", 143);
    assert!(
        run.stderr
            .contains("while uploading the code of function random-name"),
        "{}",
        run.stderr
    );
    let done = run.line("done:");
    assert!(done.contains("stack scorekeep-lambda (created)"), "{done}");
    let not_done = run.line("not done:");
    for step in ["function random-name code", "function random-name release"] {
        assert!(not_done.contains(step), "`{step}` not in {not_done}");
    }
    assert!(
        run.stderr.contains("hint: rerun `scorekeep-deploy up`"),
        "{}",
        run.stderr
    );

    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout));
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["command"], "up");
    assert_eq!(report["error"]["exit_code"], 143, "{report:#}");
    assert_eq!(report["error"]["interrupted_by"], "SIGTERM", "{report:#}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not done:") && message.contains("function random-name code"),
        "{message}"
    );
}

/// How the npm stand-in takes SIGTERM.
#[derive(Clone, Copy, PartialEq)]
enum OnTerm {
    Exit,
    /// `trap '' TERM`, so only SIGKILL stops it (and the first signal waits out the grace).
    Ignore,
}

/// An npm stand-in that starts a Node.js process, a sleep, and a sleep in a session of its
/// own (out of npm's process group), then waits: `npm ci` running its install scripts.
fn slow_npm(dir: &Path, on_term: OnTerm) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let sleep = marked_sleep(dir);
    let script = dir.join("slow-npm");
    let trap = if on_term == OnTerm::Ignore {
        "trap '' TERM\n"
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{trap}\
node -e 'setInterval(() => {{}}, 1000)' '{dir}' &\n\
'{sleep}' 1000 &\n\
setsid '{sleep}' 1001 &\n\
wait\n",
            dir = dir.display(),
            sleep = sleep.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Start `args` with the slow npm, and wait until npm and the three processes it starts run
/// below the tool: the signal must hit the install, not something before it.
fn start_with_npm_running(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Started {
    start_with_npm_running_under(None, OnTerm::Exit, dir, args, env)
}

fn start_with_npm_running_under(
    wrapper: Option<&str>,
    on_term: OnTerm,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Started {
    let npm = slow_npm(dir, on_term);
    let mut env = env.to_vec();
    env.push(("SCOREKEEP_NPM", npm.to_str().unwrap()));
    let mut run = start_under(wrapper, dir, args, &env);
    let marker = dir.to_str().unwrap();
    let found = procs::wait_for(marker, 4, Duration::from_secs(180));
    run.assert_running("npm ran");
    assert_eq!(found.len(), 4, "npm and its children: {found:#?}");
    for p in &found {
        assert!(
            descends_from(p.pid, run.child.id()),
            "{p:?} does not run below the tool"
        );
    }
    run
}

pub(crate) fn assert_no_staging_left(dir: &Path) {
    let staging = dir.join("target/scorekeep-deploy-cache/staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging dirs left: {left:?}");
}

#[test]
fn sigterm_during_npm_ci_exits_143_and_no_process_of_the_build_survives() {
    if skip_emulator() {
        return;
    }
    let dir = project_copy();
    let _cleanup = KillOnDrop::Mentioning(dir.path().to_str().unwrap().to_string());
    let run = start_with_npm_running(
        dir.path(),
        &["up"],
        &[
            ("AWS_ENDPOINT_URL", &moto().endpoint),
            ("AWS_REGION", unique_region()),
        ],
    );
    let run = run.signal(libc::SIGTERM);

    run.assert_stopped_by("SIGTERM", 143);
    assert!(run.line("not done:").contains("build"), "{}", run.stderr);
    assert_nothing_left(dir.path().to_str().unwrap());
    assert_no_staging_left(dir.path());
}

/// `build` needs no AWS: SIGHUP (the terminal closed) stops it the same way, with 129.
#[test]
fn sighup_during_a_build_exits_129_and_stops_npm() {
    let dir = project_copy();
    let _cleanup = KillOnDrop::Mentioning(dir.path().to_str().unwrap().to_string());
    let run = start_with_npm_running(dir.path(), &["build", "random-name"], &[]);
    let run = run.signal(libc::SIGHUP);

    run.assert_stopped_by("SIGHUP", 129);
    assert!(
        run.stderr.contains("ran for") && run.stderr.contains("function random-name"),
        "{}",
        run.stderr
    );
    assert_nothing_left(dir.path().to_str().unwrap());
    assert_no_staging_left(dir.path());
}

/// A second SIGTERM aborts at once, as a second Ctrl-C does: npm ignores SIGTERM, so the first
/// would wait out the grace period before SIGKILL.
#[test]
fn a_second_sigterm_aborts_at_once_and_kills_npm() {
    let dir = project_copy();
    let _cleanup = KillOnDrop::Mentioning(dir.path().to_str().unwrap().to_string());
    let run = start_with_npm_running_under(
        None,
        OnTerm::Ignore,
        dir.path(),
        &["build", "random-name"],
        &[],
    );
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGTERM) };
    // Two signals that arrive before the listener runs are one to it: send the second once
    // the tool said it saw the first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run.stderr_text().contains("interrupted: stopping") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = run.signal(libc::SIGTERM);

    assert_eq!(run.status.code(), Some(143), "{}", run.stderr);
    assert!(
        run.after_signal < Duration::from_secs(1),
        "took {:?}",
        run.after_signal
    );
    assert!(
        run.stderr.contains("aborted: a second SIGTERM"),
        "{}",
        run.stderr
    );
    assert_nothing_left(dir.path().to_str().unwrap());
}

/// Under `nohup` SIGHUP is ignored, and stays so: the run goes on (SIGTERM still stops it).
#[test]
fn under_nohup_sighup_is_ignored_as_asked() {
    let dir = project_copy();
    let _cleanup = KillOnDrop::Mentioning(dir.path().to_str().unwrap().to_string());
    let mut run = start_with_npm_running_under(
        Some("nohup"),
        OnTerm::Exit,
        dir.path(),
        &["build", "random-name"],
        &[],
    );
    // SAFETY: kill(2) on the child this test spawned (nohup exec'd the tool).
    unsafe { libc::kill(run.child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(500));
    run.assert_running("SIGTERM (SIGHUP must not stop it under nohup)");
    assert!(
        !run.stderr_text().contains("interrupted"),
        "{}",
        run.stderr_text()
    );
    let run = run.signal(libc::SIGTERM);
    run.assert_stopped_by("SIGTERM", 143);
    assert_nothing_left(dir.path().to_str().unwrap());
}

// ---- invoke --local ------------------------------------------------------------------------------

/// Test-only functions: `invoke --local` needs a function in the config and its sources.
const SPAWNERS: &str = "
  spawner:
    source: functions/spawner
    runtime: python3.11
    handler: app.handler
    timeout: 60
  node-spawner:
    source: functions/node-spawner
    runtime: nodejs22.x
    handler: index.handler
";

/// Handlers that start children (one in the background, some in sessions of their own, one
/// orphaned at once) through `dir/bin/sleep`, then hang; their output pipes are inherited.
pub(crate) fn copy_with_spawners() -> tempfile::TempDir {
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        &format!("{SPAWNERS}\nbeanstalk:"),
    );
    let write = |path: &str, text: &str| {
        let path = dir.path().join("functions").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "spawner/app.py",
        r#"import os
import subprocess
import time


def handler(event, context):
    s = os.environ["SLEEP"]
    subprocess.Popen(["sh", "-c", f'"{s}" 1000 & "{s}" 1001'])
    # Its own session, and its shell exits at once: the sleeps are orphans.
    subprocess.Popen(["setsid", "sh", "-c", f'"{s}" 1002 & "{s}" 1003 & exit 0'])
    subprocess.Popen([s, "1004"], start_new_session=True)
    print("spawned", flush=True)
    time.sleep(600)
"#,
    );
    write(
        "node-spawner/index.js",
        r#"const { spawn } = require('child_process');
exports.handler = () => {
  const s = process.env.SLEEP;
  spawn('sh', ['-c', `"${s}" 1000 & "${s}" 1001`], { stdio: 'inherit' });
  spawn(s, ['1002'], { stdio: 'inherit', detached: true });
  return new Promise(() => {});
};
"#,
    );
    dir
}

pub(crate) fn build_first(dir: &Path, function: &str) {
    cli(dir).args(["build", function]).assert().success();
}

#[test]
fn sigterm_during_invoke_local_stops_the_handler_and_all_it_started() {
    let dir = copy_with_spawners();
    build_first(dir.path(), "spawner");
    let sleep = marked_sleep(dir.path());
    let _cleanup = KillOnDrop::Program(sleep.clone());
    let env = format!("SLEEP={}", sleep.display());
    let mut run = start(
        dir.path(),
        &["invoke", "--local", "spawner", "--env", &env],
        &[],
    );
    let found = procs::wait_for_program(&sleep, 5, Duration::from_secs(60));
    run.assert_running("the handler's children ran");
    assert_eq!(found.len(), 5, "the handler's sleeps: {found:#?}");
    let run = run.signal(libc::SIGTERM);

    assert_eq!(run.status.code(), Some(143), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("interrupted (SIGTERM) while the handler ran"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("spawned"), "{}", run.stderr);
    assert_no_sleep_left(&sleep);
}
