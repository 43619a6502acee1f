//! The Beanstalk step against moto (issue 20 item 8). moto 5.2.5 serves DescribeEnvironments
//! but answers UpdateEnvironment, DescribeEvents and DescribeConfigurationSettings with HTTP
//! 500, so the update itself (waiting for Ready, judging health and events) is tested with
//! aws-smithy-mocks in `tests/mocks/elastic_beanstalk.rs`; here: an optional environment that
//! does not exist is a warning on every run, in text and in JSON.

use crate::util::{emulator_project, moto_cli, stderr, stdout, stdout_json};

const WARNING: &str = "Beanstalk environment scorekeep-dev of application scorekeep does not exist: not wired (optional: true)";

#[tokio::test(flavor = "multi_thread")]
async fn an_absent_optional_environment_is_a_warning_on_every_run() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let json = moto_cli(dir.path(), region, &["up", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(json.get_output());
    assert_eq!(report["beanstalk"]["action"], "skipped", "{report}");
    assert_eq!(report["beanstalk"]["warning"], WARNING, "{report}");
    let err = stderr(json.get_output());
    assert!(err.contains(&format!("warning: {WARNING}")), "{err}");

    // A no-op rerun, as text, and `plan`: the same warning each time.
    for args in [&["up"][..], &["plan"][..]] {
        let text = moto_cli(dir.path(), region, args).assert().success();
        let (out, err) = (stdout(text.get_output()), stderr(text.get_output()));
        assert!(
            out.contains(&format!("  warning: {WARNING}")),
            "{args:?}: {out}"
        );
        assert!(
            err.contains(&format!("warning: {WARNING}")),
            "{args:?}: {err}"
        );
    }
}
