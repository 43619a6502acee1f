//! `down` and `rollback` against moto (issue 20 item 10): the confirmation prompt lists what
//! goes and what stays before asking, on a real terminal (a pty from util-linux `script`); a
//! rollback of a function that does not exist says so.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{cannot_run, emulator_project, moto, moto_cli, sdk_config, stdout_json, up};

/// `scorekeep-deploy ARGS` on a pseudo-terminal (so stdin is a TTY), against moto in `region`,
/// answering `answer` to the prompt: the exit code and everything the terminal showed.
fn on_a_terminal(dir: &Path, region: &str, args: &str, answer: &str) -> Option<(i32, String)> {
    let binary = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let command = format!("'{}' {args}", binary.display());
    let child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            cannot_run(&format!(
                "util-linux `script` (for a pty) did not start: {e}"
            ));
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    Some((out.status.code().unwrap_or(-1), shown))
}

fn stack_exists(dir: &Path, region: &str) -> bool {
    let out = moto_cli(dir, region, &["status", "--output", "json"])
        .assert()
        .success();
    stdout_json(out.get_output())["stacks"][0]["status"].is_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn down_lists_what_it_deletes_and_keeps_before_asking() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let bucket = up(dir.path(), region)["ScorekeepRecordsBucketName"]
        .as_str()
        .unwrap()
        .to_string();

    let Some((code, shown)) = on_a_terminal(dir.path(), region, "down", "n\n") else {
        return;
    };
    assert_eq!(code, 2, "{shown}");
    let listed = [
        format!("`down` in {region} will delete:"),
        "  - stack scorekeep-lambda (".into(),
        "      function random-name, its versions and aliases".into(),
        "      function scorekeep-worker, its versions and aliases".into(),
        "and keep:".into(),
        format!("  - bucket {bucket} of stack scorekeep-lambda with its data (retained; `down --delete-data` deletes it)"),
        "  - Beanstalk environment scorekeep-dev of application scorekeep (not part of the stacks)".into(),
        "Delete these? [y/N]".into(),
        "not confirmed; nothing was deleted".into(),
    ];
    for line in &listed {
        assert!(
            shown.contains(line.as_str()),
            "missing {line:?} in:\n{shown}"
        );
    }
    let prompt = shown.find("Delete these?").unwrap();
    assert!(
        shown.find("will delete:").unwrap() < prompt,
        "the list comes before the question:\n{shown}"
    );
    assert!(
        stack_exists(dir.path(), region),
        "answering no deleted the stack"
    );

    // With --delete-data the bucket moves to the deleted list.
    let (code, shown) = on_a_terminal(dir.path(), region, "down --delete-data", "no\n").unwrap();
    assert_eq!(code, 2, "{shown}");
    let goes = format!("      bucket {bucket} and all its data (emptied first)");
    assert!(shown.contains(&goes), "missing {goes:?} in:\n{shown}");
    assert!(!shown.contains("with its data (retained"), "{shown}");

    // Yes deletes, as `--yes` does.
    let (code, shown) = on_a_terminal(dir.path(), region, "down", "y\n").unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("stack scorekeep-lambda: deleted"), "{shown}");
    assert!(!stack_exists(dir.path(), region));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_of_a_function_that_does_not_exist_says_so() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let out = moto_cli(
        dir.path(),
        region,
        &["rollback", "random-name", "--output", "json"],
    )
    .assert()
    .code(1);
    let error = &stdout_json(out.get_output())["error"];
    assert_eq!(
        error["message"], "function random-name does not exist, so there is nothing to roll back",
        "{error}"
    );
    assert_eq!(error["resource"], "lambda function random-name", "{error}");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .starts_with("`scorekeep-deploy up` creates it"),
        "{error}"
    );

    // The function exists but its alias does not: that is what the error names then.
    up(dir.path(), region);
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    lambda
        .delete_alias()
        .function_name("random-name")
        .name("live")
        .send()
        .await
        .unwrap();
    let out = moto_cli(
        dir.path(),
        region,
        &["rollback", "random-name", "--output", "json"],
    )
    .assert()
    .code(1);
    let error = &stdout_json(out.get_output())["error"];
    assert_eq!(
        error["message"],
        "function random-name: alias live does not exist, so there is nothing to roll back",
        "{error}"
    );
}
