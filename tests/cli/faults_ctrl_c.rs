//! Ctrl-C (SIGINT) sent at chosen moments of `up`, through the proxy in `tests/cli/util/proxy.rs`:
//! each test checks, just before the signal, that the run is in the phase it aims at (the chosen
//! request in flight at the proxy, or the stand-in npm running) and that `up` is still running.

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::util::proxy::{self, Fault, Proxy, Request, Rule, When};
use crate::util::{self, moto, project_copy, skip_emulator, unique_region};

struct Interrupted {
    status: ExitStatus,
    stderr: String,
    /// From the (last) SIGINT to the exit.
    after_signal: Duration,
}

/// Run `up` through `proxy` and send SIGINT `signals` times once `ready` says so. Just before
/// the first signal, `up` must still run and `in_phase` hold (e.g. the chosen request is still
/// in flight): a test that interrupted some other moment would prove nothing.
fn interrupt_up(
    dir: &Path,
    proxy: &Proxy,
    env: &[(&str, &str)],
    signals: usize,
    ready: impl Fn(&Proxy) -> bool,
    in_phase: impl Fn(&Proxy) -> bool,
) -> Interrupted {
    let region = unique_region();
    let stderr_path = dir.join("stderr.txt");
    let mut cmd = util::background_cli(dir, &proxy.endpoint, region, &["up"], &stderr_path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready(proxy) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "up ended ({status}) before the moment to interrupt:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the moment to interrupt never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the request be in flight.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "up ended ({status}) before SIGINT:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    }
    assert!(
        in_phase(proxy),
        "up is not in the phase to interrupt; the proxy saw {:?}",
        proxy
            .requests()
            .iter()
            .map(|r| r.action().unwrap_or(&r.path).to_string())
            .collect::<Vec<_>>()
    );
    let mut sent = Instant::now();
    for i in 0..signals {
        if i > 0 {
            // Two signals that arrive before the listener runs are one to it: send the next
            // once the tool has said it saw the first.
            wait_for_text(
                &stderr_path,
                "interrupted: stopping",
                Duration::from_secs(10),
            );
        }
        sent = Instant::now();
        // SAFETY: SIGINT to the child we spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!(
                "up still running 30 s after SIGINT:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Interrupted {
        status,
        after_signal: sent.elapsed(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// Poll `path` until it contains `text` (or `limit` passes; the caller's asserts then say why).
fn wait_for_text(path: &Path, text: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn seen(pred: impl Fn(&Request) -> bool) -> impl Fn(&Proxy) -> bool {
    move |p: &Proxy| p.count(&pred) > 0
}

fn in_flight(pred: impl Fn(&Request) -> bool) -> impl Fn(&Proxy) -> bool {
    move |p: &Proxy| p.in_flight(&pred) > 0
}

fn assert_interrupted(run: &Interrupted, done: &[&str], not_done: &[&str]) {
    let stderr = &run.stderr;
    eprintln!(
        "exit {:?} {:?} after SIGINT\n{stderr}",
        run.status.code(),
        run.after_signal
    );
    assert_eq!(run.status.code(), Some(130), "{stderr}");
    // The goal is 1 s; the slack is for a loaded machine (npm/pip are stopped and cleaned up).
    assert!(
        run.after_signal < Duration::from_secs(2),
        "took {:?}",
        run.after_signal
    );
    let line = |prefix: &str| {
        stderr
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line:\n{stderr}"))
            .to_string()
    };
    let (done_line, not_done_line) = (line("done:"), line("not done:"));
    for d in done {
        assert!(done_line.contains(d), "`{d}` not in {done_line}");
    }
    for n in not_done {
        assert!(not_done_line.contains(n), "`{n}` not in {not_done_line}");
    }
    assert!(
        stderr.contains("hint: rerun `scorekeep-deploy up`"),
        "{stderr}"
    );
}

const SLOW: Fault = Fault::Delay(Duration::from_secs(60));

#[test]
fn ctrl_c_during_create_stack_stops_at_once() {
    if skip_emulator() {
        return;
    }
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(proxy::action("CreateStack"), When::Always, SLOW)],
    );
    let dir = project_copy();
    let run = interrupt_up(
        dir.path(),
        &proxy,
        &[],
        1,
        seen(proxy::action("CreateStack")),
        in_flight(proxy::action("CreateStack")),
    );
    assert_interrupted(
        &run,
        &[],
        &["stack scorekeep-lambda", "function random-name code"],
    );
    assert!(
        run.stderr
            .contains("while deploying stack scorekeep-lambda"),
        "{}",
        run.stderr
    );
}

#[test]
fn ctrl_c_during_the_code_upload_stops_at_once() {
    if skip_emulator() {
        return;
    }
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            proxy::method_path_suffix("PUT", "/random-name/code"),
            When::Always,
            SLOW,
        )],
    );
    let dir = project_copy();
    let run = interrupt_up(
        dir.path(),
        &proxy,
        &[],
        1,
        seen(proxy::method_path_suffix("PUT", "/random-name/code")),
        in_flight(proxy::method_path_suffix("PUT", "/random-name/code")),
    );
    assert_interrupted(
        &run,
        &["stack scorekeep-lambda (created)", "build"],
        // Functions are synced concurrently: the worker may finish while random-name's upload
        // hangs, so only random-name's steps and Beanstalk are surely not done.
        &[
            "function random-name code",
            "function random-name release",
            "beanstalk scorekeep-dev",
        ],
    );
    assert!(
        run.stderr
            .contains("while uploading the code of function random-name"),
        "{}",
        run.stderr
    );
}

#[test]
fn ctrl_c_during_the_configuration_update_stops_at_once() {
    if skip_emulator() {
        return;
    }
    let is_config = proxy::method_path_suffix("PUT", "/random-name/configuration");
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(is_config, When::Always, SLOW)],
    );
    let dir = project_copy();
    let run = interrupt_up(
        dir.path(),
        &proxy,
        &[],
        1,
        seen(proxy::method_path_suffix(
            "PUT",
            "/random-name/configuration",
        )),
        in_flight(proxy::method_path_suffix(
            "PUT",
            "/random-name/configuration",
        )),
    );
    assert_interrupted(
        &run,
        &["function random-name code (updated)"],
        // The worker is synced concurrently and may be done by now.
        &[
            "function random-name configuration",
            "function random-name release",
        ],
    );
}

/// moto answers Beanstalk's update calls with HTTP 500 (see docs/architecture.md), and its environment does
/// not exist there, so the Beanstalk step is interrupted at its first call, DescribeEnvironments.
/// The wait for `Ready` after an update uses the same listener (`interrupt::cancelled`).
#[test]
fn ctrl_c_during_the_beanstalk_step_stops_at_once() {
    if skip_emulator() {
        return;
    }
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(
            proxy::action("DescribeEnvironments"),
            When::Always,
            SLOW,
        )],
    );
    let dir = project_copy();
    let run = interrupt_up(
        dir.path(),
        &proxy,
        &[],
        1,
        seen(proxy::action("DescribeEnvironments")),
        in_flight(proxy::action("DescribeEnvironments")),
    );
    assert_interrupted(
        &run,
        &[
            "function random-name configuration",
            "function scorekeep-worker configuration",
        ],
        &["beanstalk scorekeep-dev"],
    );
}

/// `up` in a fresh project copy whose npm blocks, sent `signals` SIGINTs once npm runs.
fn interrupt_npm(ignore_term: bool, signals: usize) -> (tempfile::TempDir, Interrupted) {
    let proxy = Proxy::start(&moto().endpoint, Vec::new());
    let dir = project_copy();
    let npm = slow_npm(dir.path(), ignore_term);
    let pid_file = dir.path().join("npm.pid");
    let run = interrupt_up(
        dir.path(),
        &proxy,
        &[("SCOREKEEP_NPM", npm.to_str().unwrap())],
        signals,
        |_| pid_file.exists(),
        // npm (its stand-in's sleep) is running: the build is the phase.
        |_| {
            std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .is_some_and(process_alive)
        },
    );
    (dir, run)
}

/// An npm stand-in that records its PID and then blocks; `ignore_term` makes it ignore SIGTERM.
fn slow_npm(dir: &Path, ignore_term: bool) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("slow-npm");
    let pid_file = dir.join("npm.pid");
    let trap = if ignore_term { "trap '' TERM\n" } else { "" };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{trap}sleep 60 &\necho $! > {}\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Running (a zombie waiting to be reaped does not count).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn assert_build_cleaned_up(dir: &Path) {
    assert_build_cleaned_up_process_only(dir);
    crate::signals::assert_no_staging_left(dir);
}

#[test]
fn ctrl_c_during_the_build_kills_npm_and_removes_its_staging_dir() {
    if skip_emulator() {
        return;
    }
    let (dir, run) = interrupt_npm(false, 1);
    assert_interrupted(&run, &[], &["build", "function random-name code"]);
    assert_build_cleaned_up(dir.path());
}

#[test]
fn a_second_ctrl_c_aborts_at_once() {
    if skip_emulator() {
        return;
    }
    // npm ignores SIGTERM: the first Ctrl-C would wait out the grace period before SIGKILL.
    let (dir, run) = interrupt_npm(true, 2);
    eprintln!(
        "exit {:?} {:?} after the second SIGINT\n{}",
        run.status.code(),
        run.after_signal,
        run.stderr
    );
    assert_eq!(run.status.code(), Some(130), "{}", run.stderr);
    assert!(
        run.after_signal < Duration::from_secs(1),
        "took {:?}",
        run.after_signal
    );
    assert!(
        run.stderr.contains("aborted: a second Ctrl-C"),
        "{}",
        run.stderr
    );
    assert_build_cleaned_up_process_only(dir.path());
}

fn assert_build_cleaned_up_process_only(dir: &Path) {
    let pid: i32 = std::fs::read_to_string(dir.join("npm.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !process_alive(pid),
        "npm's child {pid} still runs after the abort"
    );
}
