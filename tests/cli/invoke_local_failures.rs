//! `invoke --local` with handlers that throw or hang: exit 1 with the error and its stack, or
//! killed at the timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::invoke_local::{invoke, offline};
use crate::util::{edit, project_copy, stderr, stdout_json, CONFIG};

/// Functions that only exist in a test's copy of the project. `invoke` needs a function in
/// the config and its sources, nothing more (no stack creates them: `render`/`up` are never
/// run on this copy), so this is the honest way to get handlers that throw or hang.
const TEST_FUNCTIONS: &str = "
  # Test-only functions (tests/cli/invoke_local_failures.rs).
  sleeper:
    source: functions/sleeper
    runtime: python3.11
    handler: app.handler
    timeout: 30
  thrower:
    source: functions/thrower
    runtime: python3.11
    handler: app.handler
  node-hang:
    source: functions/node-hang
    runtime: nodejs22.x
    handler: index.handler
";

fn copy_with_test_functions() -> tempfile::TempDir {
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        &format!("{TEST_FUNCTIONS}\nbeanstalk:"),
    );
    let write = |path: &str, text: &str| {
        let path = dir.path().join("functions").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "sleeper/app.py",
        "import time\n\ndef handler(event, context):\n    time.sleep(600)\n",
    );
    write(
        "thrower/app.py",
        "def handler(event, context):\n    print('hello from thrower')\n    check(event)\n\n\n\
def check(event):\n    raise ValueError('bad input: ' + repr(event))\n",
    );
    // Keeps the event loop busy and never settles.
    write(
        "node-hang/index.js",
        "exports.handler = () => new Promise(() => setInterval(() => {}, 1000));\n",
    );
    dir
}

#[test]
fn handlers_that_throw_exit_1_with_the_error_and_its_stack() {
    let dir = copy_with_test_functions();

    // random-name without a userid (TOPIC_ARN given, so no AWS is needed).
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "random-name", "--event", r#"{"user":"typo"}"#],
    ))
    .args([
        "--env",
        "TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:scorekeep",
    ])
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains(
            "error: function `random-name` failed: Error: random-name: event.userid is missing"
        ),
        "{text}"
    );
    // The bundle is one minified file: its positions are mapped back through the source map
    // the build wrote, to the line that throws in the function's own index.js.
    assert!(
        text.contains("at handler (functions/random-name/index.js:68:"),
        "{text}"
    );
    assert!(!text.contains("/task/index.js:"), "{text}");
    assert!(
        !text.contains("runner.js"),
        "the runner's frames are left out: {text}"
    );
    assert!(text.contains("X-Ray trace 1-"), "{text}");
    assert!(out.get_output().stdout.is_empty(), "no result on stdout");

    // A Python handler: the report has the type, message and traceback; its print() went to
    // stderr, so stdout is only the report.
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &[
            "--local",
            "thrower",
            "--event",
            r#"{"a": 1}"#,
            "--output",
            "json",
        ],
    ))
    .assert()
    .code(1);
    let report = stdout_json(out.get_output());
    assert_eq!(report["error"]["type"], "ValueError", "{report:#}");
    assert_eq!(report["error"]["message"], "bad input: {'a': 1}");
    let stack = report["error"]["stack"].to_string();
    assert!(stack.contains("app.py\\\", line 7, in check"), "{stack}");
    assert!(stack.contains("line 3, in handler"), "{stack}");
    assert!(!stack.contains("runner.py"), "{stack}");
    assert!(report["result"].is_null());
    assert!(stderr(out.get_output()).contains("hello from thrower"));
}

#[test]
fn a_hung_handler_is_killed_at_the_timeout() {
    let dir = copy_with_test_functions();

    let started = Instant::now();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "sleeper", "--timeout", "1", "--output", "json"],
    ))
    .assert()
    .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let report = stdout_json(out.get_output());
    assert_eq!(report["timed_out"], true, "{report:#}");
    assert_eq!(report["error"]["type"], "Timeout");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("did not finish within 1 s; killed its process"),
        "{message}"
    );
    let pid: u32 = message
        .rsplit_once("pid ")
        .and_then(|(_, p)| p.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message}"));
    #[cfg(target_os = "linux")]
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
    let _ = pid;

    // Node.js, in text mode.
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "node-hang", "--timeout", "1"],
    ))
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains("error: function `node-hang` failed: Timeout: did not finish within 1 s; killed its process"),
        "{text}"
    );
    assert!(
        text.contains("hint: if it needs longer, raise --timeout"),
        "{text}"
    );
}
