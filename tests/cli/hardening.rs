//! Hardening: what the tool prints, reads and runs is safe, bounded and checked before any
//! AWS call (issue 20). Text output shows control characters from outside instead of sending
//! them to the terminal; JSON keeps them exactly; URL credentials are never printed.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::traces::traces_cmd;
use crate::util::{self, cli, emulator_project, project_copy, stdout_json, CONFIG};

/// The subsegment name of the issue: retitle the terminal (OSC 0 … BEL), clear the screen.
const EVIL: &str = "sub\u{1b}]0;pwned\u{7}\u{1b}[2J";

/// A trace of `random-name` whose subsegment name, annotation key, exception and URL carry
/// escape sequences, stored in moto with PutTraceSegments.
fn put_evil_trace(region: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let trace_id = format!("1-{:08x}-{:024x}", now as u64, 0xe5c_u64);
    let doc = json!({
        "id": "2222222222222221", "trace_id": trace_id, "name": "random-name",
        "origin": "AWS::Lambda::Function", "start_time": now - 1.0, "end_time": now,
        "subsegments": [{
            "id": "2222222222222222", "name": EVIL, "start_time": now - 0.9, "end_time": now - 0.1,
            "annotations": {"k\u{1b}[31m": "v\u{1b}[31m"},
            "http": {"request": {"method": "GET\u{1b}[5m", "url": "http://x/\u{1b}]8;;evil\u{7}"}},
            "fault": true,
            "cause": {"exceptions": [{"type": "E\u{1b}[1m", "message": "m\u{7}\n[fake line]"}]},
        }],
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let out = runtime.block_on(async {
        aws_sdk_xray::Client::new(&util::sdk_config(region).await)
            .put_trace_segments()
            .trace_segment_documents(doc.to_string())
            .send()
            .await
            .unwrap()
    });
    assert!(out.unprocessed_trace_segments().is_empty());
    trace_id
}

#[test]
fn traces_show_escape_sequences_from_x_ray_documents_instead_of_obeying_them() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let trace_id = put_evil_trace(region);
    for args in [
        vec!["random-name", "--since", "5m"],
        vec!["--trace-id", trace_id.as_str()],
    ] {
        let out = traces_cmd(dir.path(), region, &args).assert().success();
        let stdout = &out.get_output().stdout;
        let text = String::from_utf8_lossy(stdout);
        // The phase aimed at: the trace was found and printed.
        assert!(text.contains(&format!("X-Ray trace {trace_id}")), "{text}");
        assert!(text.contains("sub\\e]0;pwned\\a\\e[2J"), "{text}");
        assert!(text.contains("annotation k\\e[31m = "), "{text}");
        assert!(text.contains("cause E\\e[1m: m\\a\\n[fake line]"), "{text}");
        assert!(text.contains("GET\\e[5m http://x/\\e]8;;evil\\a"), "{text}");
        // The bytes written: no ESC, BEL or other control but the line breaks.
        let bad: Vec<u8> = stdout
            .iter()
            .copied()
            .filter(|b| b.is_ascii_control() && *b != b'\n')
            .collect();
        assert!(bad.is_empty(), "control bytes {bad:?} in:\n{text}");
        let stderr = &out.get_output().stderr;
        assert!(!stderr.contains(&0x1b) && !stderr.contains(&0x07));
    }
    // JSON keeps the documents exactly.
    let out = traces_cmd(
        dir.path(),
        region,
        &["--trace-id", &trace_id, "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let docs: Vec<&Value> = report["traces"][0]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let sub = &docs[0]["subsegments"][0];
    assert_eq!(sub["name"], EVIL);
    assert_eq!(
        sub["cause"]["exceptions"][0]["message"],
        "m\u{7}\n[fake line]"
    );
}

/// The binary under a 1 GB address-space limit, from `dir`, with `args`: a read that grows
/// without bound fails inside the limit instead of taking the machine.
fn capped_cli(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--as=1073741824")
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(args)
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("AWS_ENDPOINT_URL");
    cmd
}

#[test]
fn config_template_and_event_from_dev_zero_fail_at_once_under_a_1_gb_limit() {
    let dir = project_copy();
    let d = dir.path();
    let template = d.join("templates/scorekeep.yaml");
    let cases: [(&[&str], &str); 3] = [
        (
            &["render", "--config", "/dev/zero"],
            "cannot read config /dev/zero: larger than 1 MiB, the limit for a config file",
        ),
        (&["render"], "larger than 1 MiB, the limit for a template"),
        (
            &[
                "invoke",
                "--local",
                "random-name",
                "--event-file",
                "/dev/zero",
            ],
            "larger than 16 MiB, the limit for an event",
        ),
    ];
    for (i, (args, expected)) in cases.into_iter().enumerate() {
        if i == 1 {
            std::fs::remove_file(&template).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &template).unwrap();
        }
        let started = Instant::now();
        let out = capped_cli(d, args).output().unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
    }
}

/// A closed port: a command that got as far as an AWS call would fail there (exit 1).
const NOWHERE: &str = "http://127.0.0.1:9";

#[test]
fn bad_arguments_and_settings_are_usage_errors_before_any_aws_call() {
    let dir = project_copy();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = cli(d)
            .env("AWS_ENDPOINT_URL", NOWHERE)
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args(args)
            .assert()
            .code(2);
        util::stderr(out.get_output())
    };
    let stderr = run(&["status", "--region", "us-east-1;id"]);
    assert!(
        stderr.contains("`us-east-1;id` is not an AWS region name"),
        "{stderr}"
    );
    for to in ["abc", "0"] {
        let stderr = run(&["rollback", "--to", to]);
        assert!(
            stderr.contains(&format!("`{to}` is not a version number")),
            "{stderr}"
        );
    }

    let config = d.join(CONFIG);
    let original = std::fs::read_to_string(&config).unwrap();
    let with = |from: &str, to: &str| {
        assert!(original.contains(from), "{from}");
        std::fs::write(&config, original.replacen(from, to, 1)).unwrap();
    };
    with("region: us-east-1", "region: us-east-1;id");
    let stderr = run(&["render"]);
    assert!(stderr.contains("scorekeep-deploy.yaml:6:"), "{stderr}");
    assert!(
        stderr.contains("`us-east-1;id` is not an AWS region name"),
        "{stderr}"
    );
    with("trigger: queue", "schedule: rate(1 minutes)");
    let stderr = run(&["render"]);
    assert!(
        stderr.contains("schedule `rate(1 minutes)`: EventBridge wants `rate(1 minute)`"),
        "{stderr}"
    );
    with("keep_versions: 5", "keep_versions: 1");
    let stderr = run(&["render"]);
    assert!(
        stderr.contains("`keep_versions` must be at least 2"),
        "{stderr}"
    );
    with("memory: 128", "memory: lots");
    let stderr = run(&["render"]);
    assert!(stderr.contains("expected a whole number"), "{stderr}");
    assert!(
        !stderr.contains("u16") && !stderr.contains("u32"),
        "{stderr}"
    );

    // Latin-1 `é` on line 2: located, with a hint about the encoding.
    let mut bytes = b"# caf\xe9\n".to_vec();
    bytes.splice(0..0, b"# scorekeep\n".iter().copied());
    bytes.extend_from_slice(original.as_bytes());
    std::fs::write(&config, &bytes).unwrap();
    let stderr = run(&["render"]);
    assert!(
        stderr.contains("scorekeep-deploy.yaml:2:6: this byte is not UTF-8"),
        "{stderr}"
    );
    assert!(stderr.contains("save the config as UTF-8"), "{stderr}");
    assert!(!stderr.contains("project directory"), "{stderr}");
}

#[test]
fn a_file_name_with_a_backslash_is_refused_when_collected() {
    let dir = project_copy();
    let d = dir.path();
    std::fs::write(d.join("functions/random-name/odd\\name.js"), "1").unwrap();
    let out = cli(d).args(["build", "random-name"]).assert().failure();
    let stderr = util::stderr(out.get_output());
    assert!(
        stderr.contains("odd\\name.js: the file name has a backslash"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: rename the file"), "{stderr}");
    assert!(!stderr.contains("check the disk"), "{stderr}");
}

#[test]
fn credentials_in_the_endpoint_url_are_never_printed() {
    let dir = project_copy();
    let endpoint = "http://scorekeep:s3cr3t-pw@127.0.0.1:9";
    for args in [
        &["status", "-vvv"][..],
        &["status", "--output", "json", "-v"][..],
    ] {
        let out = cli(dir.path())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args(args)
            .assert()
            .code(1);
        let output = out.get_output();
        let all = format!("{}{}", util::stdout(output), util::stderr(output));
        // The phase aimed at: the endpoint was named while failing to reach it.
        assert!(all.contains("http://***@127.0.0.1:9"), "{args:?}: {all}");
        assert!(!all.contains("s3cr3t"), "{args:?}: {all}");
    }
}

/// The text of `name` in the zip at `zip`.
fn zip_text(zip: &Path, name: &str) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn files_esbuild_reads_from_outside_the_function_are_checked_and_rebuild_when_edited() {
    let dir = project_copy();
    let d = dir.path();
    let zip = d.join("target/scorekeep-deploy/random-name.zip");
    let require = |path: &Path| {
        let index = d.join("functions/random-name/index.js");
        let text = std::fs::read_to_string(&index).unwrap();
        let line = format!(
            "exports.outside = require({:?}).marker;\n",
            path.to_str().unwrap()
        );
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("exports.outside"))
            .collect();
        std::fs::write(&index, format!("{}\n{line}", kept.join("\n"))).unwrap();
    };
    let build = || cli(d).args(["build", "random-name"]).assert();

    // Inside the project, outside the function: bundled, and its bytes are part of the key.
    let shared = d.join("shared.json");
    std::fs::write(&shared, r#"{"marker": "first-4f1c"}"#).unwrap();
    require(&shared);
    build().success();
    assert!(zip_text(&zip, "index.js").contains("first-4f1c"));
    let m = util::manifest(d, "random-name");
    let inputs = &m["bundler"]["outside_inputs"];
    assert_eq!(inputs.as_array().map(Vec::len), Some(1), "{m:#}");
    assert!(inputs[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/shared.json"));
    build()
        .success()
        .stderr(predicates::str::contains("random-name: unchanged"));
    std::fs::write(&shared, r#"{"marker": "second-9b2e"}"#).unwrap();
    let out = build().success();
    assert!(!util::stderr(out.get_output()).contains("random-name: unchanged"));
    assert!(zip_text(&zip, "index.js").contains("second-9b2e"));

    // Outside the project: refused, unless the function allows it.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside.json");
    std::fs::write(&outside, r#"{"marker": "outside-77d0"}"#).unwrap();
    require(&outside);
    let out = build().failure();
    let stderr = util::stderr(out.get_output());
    assert!(
        stderr.contains("outside.json, which is outside the project directory"),
        "{stderr}"
    );
    assert!(stderr.contains("allow_outside_project: true"), "{stderr}");
    util::edit(
        d,
        CONFIG,
        "    source: functions/random-name\n",
        "    source: functions/random-name\n    allow_outside_project: true\n",
    );
    build().success();
    assert!(zip_text(&zip, "index.js").contains("outside-77d0"));
    std::fs::write(&outside, r#"{"marker": "edited-3a5f"}"#).unwrap();
    build().success();
    assert!(zip_text(&zip, "index.js").contains("edited-3a5f"));
}

#[test]
fn invoke_local_shows_escape_sequences_in_the_handlers_error_instead_of_obeying_them() {
    let dir = project_copy();
    let d = dir.path();
    util::edit(
        d,
        CONFIG,
        "\nbeanstalk:",
        "\n  evil:\n    source: functions/evil\n    runtime: python3.11\n    handler: app.handler\n\nbeanstalk:",
    );
    std::fs::create_dir_all(d.join("functions/evil")).unwrap();
    std::fs::write(
        d.join("functions/evil/app.py"),
        "def handler(event, context):\n    raise ValueError('\\x1b]0;pwned\\x07\\x1b[2J')\n",
    )
    .unwrap();
    let run = |json: bool| {
        let mut cmd = cli(d);
        cmd.env("AWS_ENDPOINT_URL", NOWHERE)
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["invoke", "--local", "evil", "--event", "{}"]);
        if json {
            cmd.args(["--output", "json"]);
        }
        cmd.assert().code(1)
    };
    let out = run(false);
    let stderr = &out.get_output().stderr;
    let text = String::from_utf8_lossy(stderr);
    // The phase aimed at: the handler ran and its error was printed.
    assert!(
        text.contains("failed: ValueError: \\e]0;pwned\\a\\e[2J"),
        "{text}"
    );
    assert!(!stderr.contains(&0x1b) && !stderr.contains(&0x07), "{text}");
    let report = stdout_json(run(true).get_output());
    assert_eq!(report["error"]["message"], "\u{1b}]0;pwned\u{7}\u{1b}[2J");
}

/// A bundle over Lambda's direct-upload limit without `artifact_bucket` stops `plan` and `up`
/// with a usage error before any change: no stack is created (the limit is lowered through the
/// build's setting so a small bundle is "over" it).
#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_over_lambdas_upload_limit_stops_plan_and_up_before_any_change() {
    if util::skip_emulator() {
        return;
    }
    let region = util::unique_region();
    let dir = project_copy();
    for command in ["plan", "up"] {
        let out = util::moto_cli(dir.path(), region, &[command])
            .env("SCOREKEEP_MAX_DIRECT_UPLOAD_BYTES", "1000")
            .output()
            .unwrap();
        let stderr = util::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("over Lambda's direct-upload limit")
                && stderr.contains("function `random-name`")
                && stderr.contains("hint: add `artifact_bucket: BUCKET`"),
            "{command}: {stderr}"
        );
    }
    let cfn = aws_sdk_cloudformation::Client::new(&util::sdk_config(region).await);
    let stacks = cfn.describe_stacks().send().await.unwrap();
    assert!(stacks.stacks().is_empty(), "{:?}", stacks.stacks());
}
