//! Releases (issue 13) against a real moto server: `up` publishes version 1 and points the
//! alias `live` at it, a code edit publishes 2, `rollback` moves the alias back with Lambda
//! calls only, a configuration-only change publishes a version, a no-op publishes nothing,
//! and old versions are pruned. Requests are read from moto's own request recorder.
//!
//! moto 5.2.5 accepts PublishVersion's `CodeSha256`/`RevisionId` but never checks them, so
//! the guard against publishing someone else's change is checked with aws-smithy-mocks below.

use crate::util::proxy::{self, Fault, Proxy, Rule, When};
use crate::util::{
    cli_via, edit, moto, moto_cli, project_copy, sdk_config, skip_emulator, stdout_json,
    unique_region, CONFIG,
};

async fn alias_version(lambda: &aws_sdk_lambda::Client, function: &str) -> String {
    lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap_or_else(|e| panic!("alias live of {function}: {e:?}"))
        .function_version()
        .unwrap()
        .to_string()
}

async fn published(lambda: &aws_sdk_lambda::Client, function: &str) -> Vec<String> {
    let out = lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter_map(|v| v.version().map(String::from))
        .filter(|v| v != "$LATEST")
        .collect()
}

/// The operations a command made: moto's log for `region` past `before` entries.
fn ops_since(region: &str, before: usize) -> Vec<String> {
    moto().operations(region)[before..].to_vec()
}

fn is_publish(op: &str) -> bool {
    op.starts_with("POST /2015-03-31/functions/") && op.ends_with("/versions")
}

fn is_alias_write(op: &str) -> bool {
    op.contains("/aliases") && (op.starts_with("PUT ") || op.starts_with("POST "))
}

#[tokio::test(flavor = "multi_thread")]
async fn up_publishes_1_update_publishes_2_rollback_moves_back_and_a_no_op_publishes_nothing() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);

    // `up`: version 1 of each function, alias live -> 1.
    let report = stdout_json(
        run(&["up", "--output", "json"])
            .assert()
            .success()
            .get_output(),
    );
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["release"]["version"], "1", "{f}");
        assert_eq!(f["release"]["alias"], "live", "{f}");
    }
    for function in ["random-name", "scorekeep-worker"] {
        assert_eq!(alias_version(&lambda, function).await, "1");
        assert_eq!(published(&lambda, function).await, vec!["1"]);
    }

    // A no-op `up` publishes nothing and moves no alias.
    let before = moto().operations(region).len();
    run(&["up"]).assert().success();
    let ops = ops_since(region, before);
    assert!(
        !ops.iter().any(|o| is_publish(o) || is_alias_write(o)),
        "no-op up wrote releases: {ops:?}"
    );

    // Edit random-name: update-functions publishes 2 and moves live; the worker stays on 1.
    // A code change (the bundle is minified: a comment would not change it).
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "'use strict';",
        "'use strict';\nexports.release = 2;",
    );
    let report = stdout_json(
        run(&["update-functions", "--output", "json"])
            .assert()
            .success()
            .get_output(),
    );
    let rn = &report["functions"][0];
    assert_eq!(rn["name"], "random-name");
    assert_eq!(rn["release"]["version"], "2", "{rn}");
    assert_eq!(rn["release"]["previous_version"], "1", "{rn}");
    assert!(report["functions"][1].get("release").is_none(), "{report}");
    assert_eq!(alias_version(&lambda, "random-name").await, "2");
    assert_eq!(alias_version(&lambda, "scorekeep-worker").await, "1");

    // rollback: live back to 1, with Lambda reads and one UpdateAlias only.
    let before = moto().operations(region).len();
    let out = run(&["rollback", "random-name", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let ops = ops_since(region, before);
    assert_eq!(alias_version(&lambda, "random-name").await, "1");
    assert_eq!(report["functions"][0]["from_version"], "2");
    assert_eq!(report["functions"][0]["to_version"], "1");
    assert_eq!(report["functions"][0]["latest_differs"], true, "{report}");
    assert!(
        ops.iter()
            .all(|o| o.contains("/2015-03-31/functions/random-name")),
        "rollback called more than Lambda for random-name: {ops:?}"
    );
    assert_eq!(
        ops.iter()
            .filter(|o| o.starts_with("PUT "))
            .collect::<Vec<_>>(),
        vec!["PUT /2015-03-31/functions/random-name/aliases/live"],
        "{ops:?}"
    );
    eprintln!(
        "rollback took {} ms in {} requests",
        report["elapsed_ms"],
        ops.len()
    );
    let text = run(&["rollback", "random-name", "--to", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8_lossy(&text).contains("alias live 1 -> 2"),
        "{}",
        String::from_utf8_lossy(&text)
    );

    // After a rollback, a no-op `up` leaves the alias where the rollback put it.
    run(&["rollback", "random-name"]).assert().success();
    run(&["up"]).assert().success();
    assert_eq!(alias_version(&lambda, "random-name").await, "1");

    // `status` names the alias, its version and says $LATEST runs other code.
    let status = run(&["status"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let status = String::from_utf8_lossy(&status);
    assert!(status.contains("alias live -> version 1"), "{status}");
    assert!(status.contains("$LATEST has other code"), "{status}");
    // moto writes LastModified with nanoseconds; times are shown to the millisecond.
    let published = status
        .split("published ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("status names when the alias's version was published");
    let fraction = published.split('.').nth(1).unwrap_or_default();
    let digits = fraction.chars().take_while(char::is_ascii_digit).count();
    assert!(digits <= 3, "{published}: {status}");
}

/// Lambda refuses UpdateFunctionCode, PublishVersion and UpdateAlias with
/// ResourceConflictException while the function's previous update is still being applied
/// (moto never does: the proxy answers it once for each). Each is retried after waiting, and
/// said on the progress stream, and the release completes.
#[tokio::test(flavor = "multi_thread")]
async fn conflicts_while_an_update_is_in_progress_are_retried_and_shown() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    moto_cli(dir.path(), region, &["up"]).assert().success();
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "'use strict';",
        "'use strict';\nexports.release = 2;",
    );
    let conflict_once = |method, suffix| {
        Rule::new(
            proxy::method_path_suffix(method, suffix),
            When::Nth(1),
            Fault::Conflict,
        )
    };
    let proxy = Proxy::start(
        &moto().endpoint,
        vec![
            conflict_once("PUT", "/random-name/code"),
            conflict_once("POST", "/random-name/versions"),
            conflict_once("PUT", "/random-name/aliases/live"),
        ],
    );
    let out = cli_via(
        dir.path(),
        &proxy.endpoint,
        region,
        &["update-functions", "random-name"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(proxy.injected(), 3, "{stderr}");
    for what in [
        "updating the code of function random-name",
        "publishing a version of function random-name",
        "moving alias live of function random-name",
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(what)
                && l.contains("ResourceConflictException")
                && l.contains("retry 1/5")),
            "no retry line for {what}:\n{stderr}"
        );
    }
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    assert_eq!(alias_version(&lambda, "random-name").await, "2");
}

/// The release pipeline's rollback (scripts/rollback-released, run when the smoke test fails)
/// moves back only the functions the failed release published: a function the release left
/// alone keeps its alias, which a plain `rollback` would have moved back a version too.
#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_rolls_back_only_what_the_release_published() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    run(&["up"]).assert().success();
    // Both functions to version 2, then only random-name to 3: the release under test.
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "'use strict';",
        "'use strict';\nexports.release = 2;",
    );
    edit(
        dir.path(),
        "functions/scorekeep-worker/lambda_function.py",
        "import os\n",
        "import os\nRELEASE = 2\n",
    );
    run(&["up"]).assert().success();
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "exports.release = 2;",
        "exports.release = 3;",
    );
    let deploy = run(&["up", "--output", "json"]).assert().success();
    let report = dir.path().join("deploy.json");
    std::fs::write(&report, &deploy.get_output().stdout).unwrap();

    let mut script =
        assert_cmd::Command::new(crate::util::repo_root().join("scripts/rollback-released"));
    script
        .arg(&report)
        .arg(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .current_dir(dir.path());
    crate::util::aws_env(&mut script, region);
    let out = script.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rollbacks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rollbacks.as_array().map(Vec::len), Some(1), "{rollbacks}");
    assert_eq!(
        rollbacks[0]["functions"][0]["from_version"], "3",
        "{rollbacks}"
    );
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    assert_eq!(alias_version(&lambda, "random-name").await, "2");
    assert_eq!(alias_version(&lambda, "scorekeep-worker").await, "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_only_change_publishes_and_old_versions_are_pruned() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    edit(dir.path(), CONFIG, "keep_versions: 5", "keep_versions: 2");
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    run(&["up"]).assert().success();

    // Two memory changes, no code change: each publishes a version and moves the alias.
    // (Only two: moto 5.2.5 numbers a new version len(versions)+1, so after a prune it would
    // reuse a number; Lambda never does.)
    for (n, (from, to)) in [("128", "192"), ("192", "256")].iter().enumerate() {
        edit(
            dir.path(),
            CONFIG,
            &format!("memory: {from}\n    timeout: 10"),
            &format!("memory: {to}\n    timeout: 10"),
        );
        let report = stdout_json(
            run(&["update-functions", "random-name", "--output", "json"])
                .assert()
                .success()
                .get_output(),
        );
        let f = &report["functions"][0];
        assert_eq!(f["code"], "unchanged", "{f}");
        assert_eq!(f["config"], "updated", "{f}");
        assert_eq!(f["release"]["version"], (n + 2).to_string(), "{f}");
    }
    assert_eq!(alias_version(&lambda, "random-name").await, "3");
    // keep_versions: 2 keeps 2 and 3; 1 had no alias left and was deleted.
    assert_eq!(published(&lambda, "random-name").await, vec!["2", "3"]);
    let got = lambda
        .get_function_configuration()
        .function_name("random-name")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.memory_size(), Some(256));

    // Rolling back past the oldest kept version is refused, naming the function.
    run(&["rollback", "random-name"]).assert().success();
    let out = run(&["rollback", "random-name"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("random-name") && stderr.contains("no version older than 2"),
        "{stderr}"
    );
}

/// A project with `n` one-file Node.js functions `fn-1` … `fn-n` in one stack.
fn generated_project(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut params, mut resources, mut functions) = (String::new(), String::new(), String::new());
    for i in 1..=n {
        params.push_str(&format!(
            "  Fn{i}FunctionName:\n    Type: String\n    Default: fn-{i}\n"
        ));
        resources.push_str(&format!(
            "  Fn{i}Function:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: !Ref Fn{i}FunctionName\n      Runtime: nodejs22.x\n      Handler: index.handler\n      Role: !GetAtt Role.Arn\n      Code:\n        ZipFile: \"exports.handler = async () => 'placeholder';\"\n"
        ));
        functions.push_str(&format!(
            "  fn-{i}:\n    source: functions/fn-{i}\n    runtime: nodejs22.x\n    handler: index.handler\n    tracing: PassThrough\n"
        ));
        let src = dir.path().join(format!("functions/fn-{i}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("index.js"),
            format!("exports.handler = async () => ({{ fn: {i} }});\n"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/many.yaml"),
        format!(
            "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n{params}Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: '2012-10-17'\n        Statement:\n          - Effect: Allow\n            Principal:\n              Service: lambda.amazonaws.com\n            Action: sts:AssumeRole\n{resources}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("scorekeep-deploy.yaml"),
        format!("project: many\nstacks:\n  - name: many\n    template: templates/many.yaml\nfunctions:\n{functions}"),
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_functions_are_read_with_one_listing_and_all_released_together() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = generated_project(10);
    let run = |args: &[&str]| moto_cli(dir.path(), region, args);
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    run(&["up"]).assert().success();

    // A no-op reads the ten functions' $LATEST and every published version with one
    // ListFunctions (FunctionVersion=ALL), and each alias with GetAlias: what the alias serves
    // is compared every run (so a stopped release or a moved alias is seen), from the listed
    // configuration of the version the alias names, without a read per version.
    let before = moto().operations(region).len();
    run(&["up"]).assert().success();
    let ops = ops_since(region, before);
    let mut lambda_reads: Vec<&str> = ops
        .iter()
        .filter(|o| o.contains("/functions"))
        .map(String::as_str)
        .collect();
    lambda_reads.sort();
    let mut expected = vec!["GET /2015-03-31/functions".to_string()];
    for i in 1..=10 {
        expected.push(format!("GET /2015-03-31/functions/fn-{i}/aliases/live"));
    }
    expected.sort();
    assert_eq!(lambda_reads, expected, "{ops:?}");

    for i in 1..=10 {
        edit(
            dir.path(),
            &format!("functions/fn-{i}/index.js"),
            "exports.handler",
            "exports.release = 2;\nexports.handler",
        );
    }
    let report = stdout_json(
        run(&["update-functions", "--output", "json"])
            .assert()
            .success()
            .get_output(),
    );
    for f in report["functions"].as_array().unwrap() {
        assert_eq!(f["code"], "updated", "{f}");
        assert_eq!(f["release"]["version"], "2", "{f}");
    }
    for i in 1..=10 {
        assert_eq!(alias_version(&lambda, &format!("fn-{i}")).await, "2");
    }
}

/// The table of the pipeline roles' permissions in docs/ci.md lists every AWS operation the tool
/// calls in the pipeline's commands (plan before and after the stack exists, up,
/// update-functions, status, rollback), as `-v` logs them against moto: a new call without a
/// permission fails here rather than in a user's first release.
#[test]
fn the_readme_permissions_cover_every_call_the_pipeline_makes() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let mut calls = std::collections::BTreeSet::new();
    let mut run = |args: &[&str]| {
        let out = moto_cli(dir.path(), region, &[args, &["-v"]].concat())
            .env(
                "AWS_ENDPOINT_URL_CLOUDWATCH",
                crate::util::cloudwatch_endpoint(),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        for line in stderr.lines() {
            let mut words = line.split_whitespace().skip_while(|w| *w != "aws").skip(1);
            if let (Some(service), Some(operation)) = (words.next(), words.next()) {
                calls.insert((service.to_string(), operation.to_string()));
            }
        }
    };
    run(&["plan"]);
    run(&["up"]);
    // A template change: plan and up go through a change set.
    edit(
        dir.path(),
        CONFIG,
        "LogRetentionDays: 30",
        "LogRetentionDays: 14",
    );
    run(&["plan"]);
    run(&["up"]);
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "'use strict';",
        "'use strict';\nexports.release = 2;",
    );
    run(&["update-functions"]);
    // A gradual release reads CloudWatch too.
    edit(
        dir.path(),
        "functions/random-name/index.js",
        "exports.release = 2;",
        "exports.release = 3;",
    );
    run(&["update-functions", "--strategy", "canary:50:2s"]);
    run(&["status"]);
    run(&["rollback", "random-name"]);
    assert!(
        calls.contains(&("cloudformation".into(), "CreateChangeSet".into())),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("cloudwatch".into(), "GetMetricData".into())),
        "{calls:?}"
    );

    let doc = std::fs::read_to_string(crate::util::repo_root().join("docs/ci.md")).unwrap();
    let start = doc
        .find("Permissions, from the calls")
        .expect("permissions table");
    let end = start + doc[start..].find("`down` is not in the pipeline").unwrap();
    let rows: Vec<&str> = doc[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .collect();
    let missing: Vec<String> = calls
        .iter()
        .filter(|(service, operation)| {
            !rows.iter().any(|row| {
                row.contains(&format!("`{service}:"))
                    && (row.contains(&format!("`{service}:{operation}`"))
                        || row.contains(&format!("`{operation}`")))
            })
        })
        .map(|(s, o)| format!("{s}:{o}"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ci.md permissions lack {missing:?} (calls: {calls:?})"
    );
}
