//! What the release pipeline relies on (issue 22): `up --artifacts DIR` deploys the bytes the
//! test job built (Lambda's CodeSha256 is the artifact's) and refuses a zip that is not its
//! manifest's before any AWS call; `stacks[].role_arn` reaches CloudFormation as the
//! service role of CreateStack and CreateChangeSet.

use std::path::Path;

use crate::util::proxy::Proxy;
use crate::util::{
    cli, cli_via, edit, manifest, moto, moto_cli, project_copy, sdk_config, skip_emulator,
    unique_region, CONFIG, TEMPLATE,
};

/// `build` in one project copy; its artifact directory copied out, as the pipeline's
/// artifact upload and download do.
fn built_elsewhere() -> (tempfile::TempDir, tempfile::TempDir) {
    let builder = project_copy();
    cli(builder.path()).args(["build"]).assert().success();
    let bundles = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(builder.path().join("target/scorekeep-deploy")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, bundles.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    (builder, bundles)
}

fn arg(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_artifacts_deploys_exactly_the_built_bytes_and_builds_nothing() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let (builder, bundles) = built_elsewhere();
    let dir = project_copy();
    let artifacts = arg(bundles.path());
    moto_cli(dir.path(), region, &["up", "--artifacts", &artifacts])
        .assert()
        .success();
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    for function in ["random-name", "scorekeep-worker"] {
        let live = lambda
            .get_function_configuration()
            .function_name(function)
            .qualifier("live")
            .send()
            .await
            .unwrap();
        let built = manifest(builder.path(), function);
        assert_eq!(
            live.code_sha256().unwrap(),
            built["sha256_base64"].as_str().unwrap(),
            "{function}"
        );
    }
    // Nothing was built in the deploying copy.
    assert!(!dir
        .path()
        .join("target/scorekeep-deploy/random-name.zip")
        .exists());
}

#[test]
fn a_zip_changed_after_the_build_is_refused_before_any_aws_call() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let (_builder, bundles) = built_elsewhere();
    let zip = bundles.path().join("random-name.zip");
    let mut bytes = std::fs::read(&zip).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&zip, bytes).unwrap();
    let dir = project_copy();
    let artifacts = arg(bundles.path());
    let out = moto_cli(dir.path(), region, &["up", "--artifacts", &artifacts])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("artifact of function random-name refused"),
        "{err}"
    );
    assert!(err.contains("the zip changed after the build"), "{err}");
    assert!(
        moto().operations(region).is_empty(),
        "{:?}",
        moto().operations(region)
    );

    // A manifest for another runtime is refused too.
    let (_builder, bundles) = built_elsewhere();
    edit(
        dir.path(),
        CONFIG,
        "runtime: python3.13",
        "runtime: python3.12",
    );
    let out = moto_cli(
        dir.path(),
        region,
        &["update-functions", "--artifacts", &arg(bundles.path())],
    )
    .assert()
    .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("the artifact was built for runtime python3.13, the config says python3.12"),
        "{err}"
    );
}

#[test]
fn a_service_role_in_the_config_is_the_role_cloudformation_acts_with() {
    if skip_emulator() {
        return;
    }
    let region = unique_region();
    let dir = project_copy();
    let role = "arn:aws:iam::123456789012:role/scorekeep-cloudformation";
    edit(
        dir.path(),
        CONFIG,
        "    template: templates/scorekeep.yaml\n",
        &format!("    template: templates/scorekeep.yaml\n    role_arn: {role}\n"),
    );
    let proxy = Proxy::start(&moto().endpoint, Vec::new());
    cli_via(dir.path(), &proxy.endpoint, region, &["up"])
        .assert()
        .success();
    // A template change: the update goes through a change set.
    edit(
        dir.path(),
        TEMPLATE,
        "MessageRetentionPeriod: 1209600",
        "MessageRetentionPeriod: 1209000",
    );
    cli_via(dir.path(), &proxy.endpoint, region, &["up"])
        .assert()
        .success();
    let encoded = "RoleARN=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fscorekeep-cloudformation";
    for action in ["CreateStack", "CreateChangeSet"] {
        let sent: Vec<_> = proxy
            .requests()
            .into_iter()
            .filter(|r| r.action() == Some(action))
            .collect();
        assert!(!sent.is_empty(), "no {action}");
        assert!(
            sent.iter().all(|r| r.body.contains(encoded)),
            "{action}: {:?}",
            sent[0].body
        );
    }
    // And a role that is not a role ARN is a config error at its line.
    edit(dir.path(), CONFIG, role, "cfn-role");
    let out = cli(dir.path()).args(["render"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("`cfn-role` is not an IAM role ARN"), "{err}");
}
