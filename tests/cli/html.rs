//! The trace page (issue 25, third part), rendered by a real browser: Debian's chromium,
//! headless (`scripts/setup` installs it where apt-get may run; without it the test cannot
//! run, which fails it under CI=true). The page comes from `traces --trace-id … --html`
//! against moto, over documents `invoke --local` captured; the DOM Chromium builds must have a
//! bar for the `annotations` subsegment and for SNS `Publish`, the Publish bar the wider (it
//! lasted longer), the annotation values in the details, and nothing loaded from elsewhere.

use std::path::Path;
use std::process::Command;

use crate::util::{
    cannot_run, moto_cli, project_copy, skip_emulator, stdout_json, unique_region, up,
};

/// The DOM headless Chromium builds for `page` (scripts run), or `None` without Chromium.
fn rendered_dom(page: &Path) -> Option<String> {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `width` of the first bar whose `data-name` is `name`.
fn bar_width(dom: &str, name: &str) -> f64 {
    let at = dom
        .find(&format!("data-name=\"{name}\""))
        .unwrap_or_else(|| panic!("no bar {name} in the rendered page"));
    let rest = &dom[at..];
    let end = rest.find('>').unwrap();
    let attrs = &rest[..end];
    let w = attrs.split("width=\"").nth(1).unwrap();
    w[..w.find('"').unwrap()].parse().unwrap()
}

#[test]
fn the_trace_page_renders_a_bar_per_span_in_chromium() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    // X-Ray's SDK: what it sends, segment documents, is what PutTraceSegments stores.
    crate::util::use_tracing_sdk(dir.path(), "xray");
    up(dir.path(), region);
    // A trace of random-name: run it here, and put what its SDK sent into moto's X-Ray.
    let trace_out = dir.path().join("spans.jsonl");
    let out = moto_cli(
        dir.path(),
        region,
        &[
            "invoke",
            "--local",
            "random-name",
            "--event",
            r#"{"userid":"u-html"}"#,
            "--output",
            "json",
        ],
    )
    .arg("--trace-out")
    .arg(&trace_out)
    .arg("--html")
    .arg(dir.path().join("local.html"))
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    let trace_id = report["trace_id"].as_str().unwrap().to_string();
    let docs: Vec<String> = std::fs::read_to_string(&trace_out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        aws_sdk_xray::Client::new(&crate::util::sdk_config(region).await)
            .put_trace_segments()
            .set_trace_segment_documents(Some(docs))
            .send()
            .await
            .unwrap();
    });
    let page = dir.path().join("t.html");
    moto_cli(
        dir.path(),
        region,
        &["traces", "--trace-id", &trace_id, "--html"],
    )
    .arg(&page)
    .assert()
    .success();
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["src=", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "the page loads {external}…");
    }
    let Some(dom) = rendered_dom(&page) else {
        cannot_run("no chromium on this machine for the trace page's browser test (scripts/setup installs it where apt-get may run)");
        return;
    };
    let annotations = bar_width(&dom, "annotations");
    let publish = bar_width(&dom, "SNS");
    assert!(
        publish > annotations,
        "Publish {publish} vs annotations {annotations}"
    );
    assert!(
        dom.contains("annotation UserID = &quot;u-html&quot;")
            || dom.contains("annotation UserID = \"u-html\""),
        "{dom}"
    );
    assert!(dom.contains(&trace_id));
    // The local run's page is the same page.
    let local = rendered_dom(&dir.path().join("local.html")).unwrap();
    assert!(local.contains("data-name=\"annotations\""), "{local}");
}

/// `--open`: the page goes to `$BROWSER` (here a script that records its argument), written
/// to the temp dir without `--html`; with no browser at all the page is written, the path and
/// a hint said, and the run exits 0.
#[test]
fn open_hands_the_page_to_the_browser_or_says_where_it_is() {
    let Some((region, dir)) = crate::util::emulator_project() else {
        return;
    };
    let record = dir.path().join("browser-got");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", record.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = moto_cli(dir.path(), region, &["traces", "--since", "5m", "--open"])
        .env("BROWSER", &browser)
        .env("TMPDIR", &tmp)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    // The opener runs detached: wait for what it recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !record.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser was not called: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let page = std::path::PathBuf::from(std::fs::read_to_string(&record).unwrap());
    assert_eq!(page.parent(), Some(tmp.as_path()), "{err}");
    assert!(std::fs::read_to_string(&page).unwrap().contains("<html"));
    assert!(
        err.contains(&format!("wrote {} and opened it with", page.display())),
        "{err}"
    );

    // No BROWSER, no xdg-open or open on PATH: the page is written, its path and a hint said.
    let page = dir.path().join("t.html");
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let out = moto_cli(
        dir.path(),
        region,
        &["traces", "--since", "5m", "--open", "--html"],
    )
    .arg(&page)
    .env_remove("BROWSER")
    .env("PATH", &empty)
    .assert()
    .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(page.exists());
    assert!(
        err.contains(&format!(
            "wrote {}; no browser to open it here",
            page.display()
        )),
        "{err}"
    );
    assert!(err.contains("hint: set BROWSER"), "{err}");
}
