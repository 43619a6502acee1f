//! `invoke FN` without `--local` (issue 25, first part) against moto: the deployed alias is
//! invoked with the event and a trace header of the tool's own, the result is printed, a
//! handler error exits 1, and the invocation's trace is fetched from X-Ray by that id. moto
//! runs no handler without Docker: the harness starts it with `lambda.use_docker: false`, so
//! Invoke answers with the event itself (`util/moto.rs`); a handler error comes from the
//! fault proxy, a trace from PutTraceSegments with the id the request carried.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::proxy::{Fault, Proxy, Request, Rule, When};
use crate::util::{
    background_cli, cli_via, moto, project_copy, sdk_config, skip_emulator, stdout_json,
    unique_region, up,
};

fn is_invoke(r: &Request) -> bool {
    r.method == "POST"
        && r.path
            .starts_with("/2015-03-31/functions/random-name/invocations")
}

/// The trace id the Invoke request carried (`X-Amzn-Trace-Id: Root=…;…`).
fn trace_root(r: &Request) -> String {
    let header = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-trace-id"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no trace header: {r:?}"));
    header
        .split(';')
        .find_map(|p| p.strip_prefix("Root="))
        .unwrap()
        .to_string()
}

/// The project deployed to moto in a region of its own, and a recording proxy in front of
/// moto; `None` when emulator tests are skipped.
fn deployed_behind_a_proxy() -> Option<(&'static str, tempfile::TempDir, Proxy)> {
    if skip_emulator() {
        return None;
    }
    let region = unique_region();
    let dir = project_copy();
    up(dir.path(), region);
    Some((region, dir, Proxy::start(&moto().endpoint, Vec::new())))
}

#[test]
fn invoke_calls_the_release_alias_prints_the_result_and_fails_with_the_handler() {
    let Some((region, dir, proxy)) = deployed_behind_a_proxy() else {
        return;
    };
    let event = r#"{"userid":"u-1"}"#;
    let args = ["invoke", "random-name", "--event", event, "--wait", "0"];
    let out = cli_via(dir.path(), &proxy.endpoint, region, &args)
        .assert()
        .success();
    // moto's Invoke without Docker answers the event itself.
    let stdout: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stdout, json!({"userid": "u-1"}));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("X-Ray did not have trace 1-"), "{stderr}");
    let sent: Vec<Request> = proxy.requests().into_iter().filter(is_invoke).collect();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].path.contains("Qualifier=live"),
        "{:?}",
        sent[0].path
    );
    assert!(trace_root(&sent[0]).starts_with("1-"));

    // --output json: the whole report; a version as qualifier.
    let args = [
        "invoke",
        "random-name",
        "--event",
        event,
        "--qualifier",
        "1",
        "--wait",
        "0",
        "--output",
        "json",
    ];
    let out = cli_via(dir.path(), &proxy.endpoint, region, &args)
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["qualifier"], "1");
    assert_eq!(report["result"], json!({"userid": "u-1"}));
    assert!(report["trace_id"].as_str().unwrap().starts_with("1-"));

    // A handler that throws: exit 1, its error named.
    let failing = Proxy::start(
        &moto().endpoint,
        vec![Rule::new(is_invoke, When::Always, Fault::HandlerError)],
    );
    let args = ["invoke", "random-name", "--event", event, "--wait", "0"];
    let out = cli_via(dir.path(), &failing.endpoint, region, &args)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("function `random-name` failed (Unhandled)"),
        "{stderr}"
    );
    let result: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        result["errorMessage"],
        "injected by the test proxy: the handler threw"
    );
}

/// The trace: the CLI waits for X-Ray to have the id its request carried; the test puts a
/// Lambda segment with that id into moto meanwhile, and the tree shows it; `--open` hands the
/// trace page (in the temp dir) to `$BROWSER`, here a script recording its argument.
#[test]
fn invoke_shows_the_invocations_trace_once_x_ray_has_it() {
    let Some((region, dir, proxy)) = deployed_behind_a_proxy() else {
        return;
    };
    let stdout = dir.path().join("out.json");
    let args = [
        "invoke",
        "random-name",
        "--event",
        r#"{"userid":"u-2"}"#,
        "--wait",
        "60",
        "--output",
        "json",
        "--open",
    ];
    let errors = dir.path().join("invoke.stderr");
    let (tmp, opened) = (dir.path().join("tmp"), dir.path().join("opened"));
    std::fs::create_dir(&tmp).unwrap();
    let browser = dir.path().join("browser.sh");
    let script = format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display());
    std::fs::write(&browser, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = background_cli(dir.path(), &proxy.endpoint, region, &args, &errors)
        .env("BROWSER", &browser)
        .env("TMPDIR", &tmp)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .spawn()
        .unwrap();
    assert!(
        proxy.wait_for(is_invoke, Duration::from_secs(30)),
        "no Invoke"
    );
    let sent = proxy.requests().into_iter().find(is_invoke).unwrap();
    let trace_id = trace_root(&sent);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let segment = json!({
        "id": "2222222222222222", "trace_id": trace_id, "name": "random-name",
        "origin": "AWS::Lambda::Function", "start_time": now - 0.2, "end_time": now,
        "subsegments": [{"id": "2222222222222223", "name": "Invocation",
            "start_time": now - 0.19, "end_time": now - 0.01}],
    });
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        aws_sdk_xray::Client::new(&sdk_config(region).await)
            .put_trace_segments()
            .trace_segment_documents(segment.to_string())
            .send()
            .await
            .unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "invoke did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&stdout).unwrap()).unwrap();
    assert_eq!(report["trace_id"], trace_id.as_str());
    assert_eq!(report["trace"]["id"], trace_id.as_str(), "{report:#}");
    let tree = report["trace"]["tree"].to_string();
    assert!(tree.contains("Invocation"), "{report:#}");
    // The browser script runs detached: give it a moment to write.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !opened.exists() {
        assert!(Instant::now() < deadline, "the browser was not called");
        std::thread::sleep(Duration::from_millis(20));
    }
    let page = std::path::PathBuf::from(std::fs::read_to_string(&opened).unwrap());
    assert_eq!(page.parent(), Some(tmp.as_path()));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&trace_id), "the page is not the trace's");
}
