//! `invoke --local` input problems, caught before anything runs: bad arguments, missing stack
//! outputs, the wrong Python version or architecture, and AWS out of reach.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::invoke_local::{invoke, offline, FakePath};
use crate::util::{edit, project_copy, skip_emulator, stderr, unique_region, venv_bin, CONFIG};

#[test]
fn missing_stack_outputs_are_a_usage_error_naming_the_variables() {
    if skip_emulator() {
        return;
    }
    // No `up` in this region: the stack does not exist. The value around the reference is a
    // secret: it must not be printed (text or JSON), only the function, key and output.
    let region = unique_region();
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "TOPIC_ARN: ${output:ScorekeepNotificationTopicArn}",
        "TOPIC_ARN: ${output:ScorekeepNotificationTopicArn}?token=s3cr3t-do-not-print",
    );
    let json = invoke(
        dir.path(),
        Some(region),
        &["--local", "random-name", "--output", "json", "-vv"],
    )
    .assert()
    .code(2);
    let out = invoke(
        dir.path(),
        Some(region),
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    )
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    for output in [out.get_output(), json.get_output()] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!all.contains("s3cr3t"), "the value was printed: {all}");
        assert!(!all.contains("token="), "the value was printed: {all}");
    }
    assert!(
        text.contains("function `random-name`: 1 environment variable without a value"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "TOPIC_ARN needs stack output ScorekeepNotificationTopicArn, which is not in {region}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "stack scorekeep-lambda does not exist in {region}"
        )),
        "{text}"
    );
    assert!(
        text.contains("`scorekeep-deploy up`") && text.contains("--env TOPIC_ARN=VALUE"),
        "{text}"
    );
    assert!(out.get_output().stdout.is_empty());
    // Nothing was built: the problem was found first.
    assert!(!dir.path().join("target").exists());
}

#[test]
fn bad_input_is_a_usage_error_before_anything_runs() {
    let dir = project_copy();
    let check = |args: &[&str], stdin: Option<&str>, expected: &[&str]| {
        let mut cmd = invoke(dir.path(), None, args);
        offline(&mut cmd);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        let out = cmd.assert().code(2);
        let text = stderr(out.get_output());
        for e in expected {
            assert!(text.contains(e), "{args:?}: expected {e:?} in:\n{text}");
        }
        assert!(out.get_output().stdout.is_empty());
    };
    check(
        &["--local", "nope"],
        None,
        &["unknown function `nope`", "random-name, scorekeep-worker"],
    );
    check(
        &["--local", "random-name", "--event", r#"{"userid": }"#],
        None,
        &[
            "the event from --event (inline) is not valid JSON: expected value at line 1, column 12",
            "hint: pass one JSON document",
        ],
    );
    std::fs::write(
        dir.path().join("bad.json"),
        "{\n  \"userid\": \"u-1\",\n}\n",
    )
    .unwrap();
    check(
        &["--local", "random-name", "--event-file", "bad.json"],
        None,
        &[
            "the event from --event-file bad.json is not valid JSON",
            "at line 3, column 1",
        ],
    );
    check(
        &["--local", "random-name", "--event-file", "-"],
        Some("not json"),
        &[
            "the event from standard input (--event-file -) is not valid JSON",
            "line 1, column 2",
        ],
    );
    check(
        &["--local", "random-name", "--event-file", "missing.json"],
        None,
        &["cannot read the event from --event-file missing.json"],
    );
    check(
        &["--local", "random-name", "--env", "TOPIC_ARN"],
        None,
        &["--env `TOPIC_ARN` is not KEY=VALUE"],
    );
    check(
        &["--local", "random-name", "--timeout", "0"],
        None,
        &["--timeout 0"],
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}

#[test]
fn a_python_version_mismatch_is_explained_before_anything_runs() {
    let python_version = |program: &Path| -> Option<String> {
        let out = Command::new(program)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let dir = project_copy();

    // The committed config (python3.13) where no 3.13 exists: `python3` is 3.11, `python3.13`
    // a pyenv shim that fails, pyenv has no 3.13 and there is no uv. Every place is named,
    // and how to get one.
    let fake = FakePath::with_python3_311_and_a_failing_313_shim();
    let empty_pyenv = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty_pyenv.path().join("versions/3.11.7/bin")).unwrap();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "scorekeep-worker"],
    ))
    .env("PATH", &fake.path)
    .env("PYENV_ROOT", empty_pyenv.path())
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    let local = python_version(&venv_bin("python3")).unwrap();
    for expected in [
        "function `scorekeep-worker` runs on python3.13: no Python 3.13 found on this machine",
        "python3.13 on PATH: ",
        "python3.13: command not found",
        "python3 on PATH: ",
        &format!("is Python {local}."),
        &format!("{}/versions: no 3.13.*", empty_pyenv.path().display()),
        "uv: not installed",
        "hint: install Python 3.13: `pyenv install 3.13` or `uv python install 3.13`",
        "apt install python3.13",
        "--runtime-path /path/to/python3.13",
    ] {
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    }

    // An explicit --runtime-path of another version, whatever this machine has.
    let venv_python = venv_bin("python");
    let venv_version = python_version(&venv_python).expect("the venv python runs");
    let runtime = if venv_version == "3.13" {
        "python3.12"
    } else {
        "python3.13"
    };
    edit(
        dir.path(),
        CONFIG,
        "runtime: python3.13",
        &format!("runtime: {runtime}"),
    );
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "scorekeep-worker"],
    ))
    .arg("--runtime-path")
    .arg(&venv_python)
    .assert()
    .code(2);
    let text = stderr(out.get_output());
    assert!(
        text.contains(&format!("runs on {runtime}, but the Python here")),
        "{text}"
    );
    assert!(
        text.contains(&format!("hint: install Python {}", &runtime[6..])),
        "{text}"
    );
    assert!(text.contains("--runtime-path"), "{text}");
    assert!(
        text.contains(&format!("runtime: python{venv_version}")),
        "{text}"
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}

#[test]
fn compiled_code_for_another_architecture_is_refused_before_running() {
    // A Python function whose bundle carries an extension module for the other architecture
    // (a stand-in file with a real ELF header is enough: it is never loaded).
    let (other, machine, triple): (&str, u16, &str) = if std::env::consts::ARCH == "aarch64" {
        ("x86_64", 0x3e, "x86_64-linux-gnu")
    } else {
        ("arm64", 0xb7, "aarch64-linux-gnu")
    };
    // The venv's python runs it, and the runtime is its version: only the architecture differs.
    let version = Command::new(venv_bin("python"))
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let dir = project_copy();
    edit(
        dir.path(),
        CONFIG,
        "\nbeanstalk:",
        &format!(
            "\n  native:\n    source: functions/native\n    runtime: python{version}\n    architecture: {other}\n    handler: app.handler\n\nbeanstalk:"
        ),
    );
    let src = dir.path().join("functions/native");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "import _native\n\ndef handler(e, c):\n    return 1\n",
    )
    .unwrap();
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    elf.resize(18, 0);
    elf.extend_from_slice(&machine.to_le_bytes());
    elf.resize(64, 0);
    let so = format!("_native.cpython-311-{triple}.so");
    std::fs::File::create(src.join(&so))
        .unwrap()
        .write_all(&elf)
        .unwrap();

    let out = offline(&mut invoke(dir.path(), None, &["--local", "native"]))
        .arg("--runtime-path")
        .arg(venv_bin("python"))
        .assert()
        .code(2);
    let text = stderr(out.get_output());
    assert!(
        text.contains(&format!(
            "function `native` (architecture {other}) bundles compiled code for {other} ({so})"
        )),
        "{text}"
    );
    assert!(text.contains("cannot load on this"), "{text}");
    assert!(
        text.contains("hint: for local runs set `architecture: "),
        "{text}"
    );
    assert!(
        !text.contains("invoking native locally"),
        "it did not run: {text}"
    );
}

#[test]
fn unreachable_aws_is_a_failure_with_a_way_around_it() {
    // TOPIC_ARN needs a stack output, and the endpoint refuses connections.
    let dir = project_copy();
    let out = offline(&mut invoke(
        dir.path(),
        None,
        &["--local", "random-name", "--event", r#"{"userid":"u-1"}"#],
    ))
    .assert()
    .code(1);
    let text = stderr(out.get_output());
    assert!(
        text.contains("function `random-name`: cannot read the stack outputs TOPIC_ARN needs: describing stack scorekeep-lambda"),
        "{text}"
    );
    assert!(
        text.contains("hint: to run without AWS, give the values with --env TOPIC_ARN=VALUE"),
        "{text}"
    );
    assert!(!dir.path().join("target").exists(), "nothing was built");
}
