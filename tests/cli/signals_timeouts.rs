//! `invoke --local --timeout` leaves nothing running: at the timeout the handler and everything
//! it started (also what left its process group with setsid) are killed, so `invoke … | cat`
//! ends in time. Processes are found as in `signals.rs` (see `util::procs`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::signals::{assert_no_sleep_left, build_first, copy_with_spawners};
use crate::util::procs::{self, marked_sleep, KillOnDrop};
use serde_json::Value;

/// `invoke --local FN --timeout 2 --output json 2>&1 | cat`, through sh, once the handler's
/// `sleeps` children were seen running: the output that reached cat, and the time from then
/// to the pipeline's end.
fn invoke_through_cat(dir: &Path, function: &str, sleeps: usize) -> (String, Duration) {
    let sleep = marked_sleep(dir);
    let bin = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let line = format!(
        "'{}' invoke --local {function} --timeout 2 --env SLEEP='{}' --output json 2>&1 | cat",
        bin.display(),
        sleep.display()
    );
    let started = Instant::now();
    let child = Command::new("sh")
        .args(["-c", &line])
        .current_dir(dir)
        .env("CI", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let found = procs::wait_for_program(&sleep, sleeps, Duration::from_secs(60));
    let running = Instant::now();
    assert_eq!(found.len(), sleeps, "the handler's sleeps: {found:#?}");
    let output = wait_with_limit(child, Duration::from_secs(30));
    eprintln!(
        "{function}: `invoke --timeout 2 | cat` took {:?} in all",
        started.elapsed()
    );
    // From the handler's children seen running: the interpreter's start before the timeout
    // clock runs is not what is measured.
    (output, running.elapsed())
}

/// The child's stdout once it exits; a panic (and the child killed) past `limit`.
fn wait_with_limit(mut child: Child, limit: Duration) -> String {
    use std::io::Read;
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`invoke … | cat` still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap()
}

fn assert_timed_out_with_nothing_left(dir: &Path, function: &str, sleeps: usize) {
    // Dropped after the asserts: it only cleans up after a failure.
    let _cleanup = KillOnDrop::Program(marked_sleep(dir));
    build_first(dir, function);
    let (output, took) = invoke_through_cat(dir, function, sleeps);
    eprintln!("{function}: the pipeline ended {took:?} after the handler's children ran\n{output}");
    // The report is the JSON document among the lines cat passed on (stderr came too).
    let start = output.find("\n{").map_or(0, |i| i + 1);
    let report: Value = serde_json::from_str(&output[start..])
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{output}"));
    assert_eq!(report["timed_out"], true, "{report:#}");
    assert!(
        took < Duration::from_secs(2 + 2),
        "`invoke --timeout 2 | cat` ended {took:?} after the handler's children ran"
    );
    assert_no_sleep_left(&dir.join("bin/sleep"));
}

#[test]
fn a_timed_out_python_handler_leaves_no_process_and_a_pipe_ends_in_time() {
    let dir = copy_with_spawners();
    assert_timed_out_with_nothing_left(dir.path(), "spawner", 5);
}

#[test]
fn a_timed_out_node_handler_leaves_no_process_and_a_pipe_ends_in_time() {
    let dir = copy_with_spawners();
    assert_timed_out_with_nothing_left(dir.path(), "node-spawner", 3);
}
