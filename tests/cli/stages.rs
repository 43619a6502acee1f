//! Stages (issue 24, item 1) against moto: `dev` and `prod` deployed from one config into
//! one account and region keep to their own stacks, functions and export names, and the
//! unstaged deployment keeps its names and physical resources across the upgrade that added
//! stages to the template.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{
    edit, emulator_project, manifest, moto_cli, repo_root, sdk_config, stdout_json, up, CONFIG,
    TEMPLATE,
};

const STAGES: &str = "
stages:
  dev:
    parameters:
      LogRetentionDays: 7
    beanstalk: null
  prod:
    functions:
      random-name:
        memory: 256
    tags:
      stage: prod
    beanstalk:
      environment: scorekeep-prod
";

fn add_stages(dir: &Path) {
    crate::util::append_config(dir, STAGES);
}

/// `up --stage NAME --output json`, which must succeed.
fn up_stage(dir: &Path, region: &str, stage: &str) -> Value {
    let out = moto_cli(dir, region, &["up", "--stage", stage, "--output", "json"])
        .assert()
        .success();
    stdout_json(out.get_output())
}

/// Export name → value, as CloudFormation lists them in `region`.
async fn exports(region: &str) -> BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let out = cfn.list_exports().send().await.unwrap();
    out.exports()
        .iter()
        .map(|e| {
            let name = e.name().unwrap_or_default().to_string();
            (name, e.value().unwrap_or_default().to_string())
        })
        .collect()
}

/// Logical id → physical id of the stack's resources.
async fn physical_ids(region: &str, stack: &str) -> BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let out = cfn
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    out.stack_resources()
        .iter()
        .map(|r| {
            let logical = r.logical_resource_id().unwrap_or_default().to_string();
            (
                logical,
                r.physical_resource_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn dev_and_prod_coexist_in_one_region_with_their_own_names() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    add_stages(dir.path());
    let unstaged = up(dir.path(), region);
    let dev = up_stage(dir.path(), region, "dev");
    let prod = up_stage(dir.path(), region, "prod");
    assert_eq!(dev["stacks"][0]["stack"], "scorekeep-lambda-dev", "{dev}");
    assert_eq!(
        prod["stacks"][0]["stack"], "scorekeep-lambda-prod",
        "{prod}"
    );

    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    let local_sha = manifest(dir.path(), "random-name")["sha256_base64"].clone();
    let mut memories = BTreeMap::new();
    for name in ["random-name", "random-name-dev", "random-name-prod"] {
        let f = lambda.get_function().function_name(name).send().await;
        let config = f.unwrap().configuration.unwrap();
        assert_eq!(Some(name), config.function_name());
        assert_eq!(local_sha.as_str(), config.code_sha256(), "{name}");
        memories.insert(name, config.memory_size().unwrap());
    }
    assert_eq!(memories["random-name"], 128);
    assert_eq!(memories["random-name-dev"], 128);
    assert_eq!(memories["random-name-prod"], 256, "prod's override");

    // Three queues, each exported under its own name; the unstaged one keeps the legacy name.
    let exports = exports(region).await;
    let queue = |name: &str| exports.get(name).cloned().unwrap_or_default();
    let legacy = queue("ScorekeepWorkerQueueUrl");
    let dev_queue = queue("scorekeep-lambda-dev-ScorekeepWorkerQueueUrl");
    let prod_queue = queue("scorekeep-lambda-prod-ScorekeepWorkerQueueUrl");
    assert_eq!(
        legacy,
        unstaged["ScorekeepWorkerQueueUrl"].as_str().unwrap(),
        "{exports:?}"
    );
    assert!(
        !dev_queue.is_empty() && !prod_queue.is_empty(),
        "{exports:?}"
    );
    assert!(
        legacy != dev_queue && dev_queue != prod_queue,
        "{exports:?}"
    );
    assert_eq!(
        dev["stacks"][0]["outputs"]["ScorekeepWorkerQueueUrl"], dev_queue,
        "dev's functions are wired to dev's queue"
    );

    // Each deployment is settled and untouched by the others.
    for args in [
        &["up"][..],
        &["up", "--stage", "dev"],
        &["up", "--stage", "prod"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let out = moto_cli(dir.path(), region, &args).assert().success();
        let report = stdout_json(out.get_output());
        assert_eq!(report["changed"], false, "{args:?}: {report}");
    }

    let out = moto_cli(
        dir.path(),
        region,
        &["status", "--stage", "prod", "--output", "json"],
    )
    .assert()
    .success();
    let status = stdout_json(out.get_output());
    let names: Vec<&str> = crate::util::strings(&status["functions"], "name");
    assert_eq!(
        names,
        ["random-name-prod", "scorekeep-worker-prod"],
        "{status}"
    );
}

/// The template as it was before stages: no `Stage` parameter, the fixed export names.
/// Each edit must apply, so this cannot silently return today's template.
fn pre_stage_template(today: &str) -> String {
    let mut text = today.to_string();
    let mut cut = |from: &str, to: &str| {
        let n = text.matches(from).count();
        assert_eq!(n, 1, "expected one `{from}` in the template");
        text = text.replace(from, to);
    };
    cut(
        "      - Label:\n          default: Stage\n        Parameters:\n          - Stage\n",
        "",
    );
    cut("  HasStage: !Not [!Equals [!Ref Stage, \"\"]]\n", "");
    for name in ["ScorekeepWorkerQueueUrl", "ScorekeepRecordsBucketName"] {
        let staged = format!("!If [HasStage, !Sub \"${{AWS::StackName}}-{name}\", {name}]");
        cut(&staged, name);
    }
    // From the section comment above `Stage:` to `Conditions:`.
    let parameter = text.find("\n  Stage:\n").expect("the Stage parameter");
    let start = text[..parameter].rfind("\n  # ").unwrap() + 1;
    let end = start + text[start..].find("\nConditions:\n").unwrap() + 1;
    text.replace_range(start..end, "");
    assert!(!text.contains("Stage"), "a stage reference is left");
    text
}

/// Done when: "the default (no stage) deployment is unchanged by the upgrade (same names, no
/// replacement)". Deployed with the template from before stages, then upgraded.
#[tokio::test]
async fn the_unstaged_deployment_keeps_its_resources_across_the_upgrade() {
    let Some((region, dir)) = emulator_project() else {
        return;
    };
    let today = std::fs::read_to_string(repo_root().join(TEMPLATE)).unwrap();
    let before = pre_stage_template(&today);
    std::fs::write(dir.path().join(TEMPLATE), &before).unwrap();
    // Nor did the config fill the dead-letter queue's WorkerQueueArn then.
    let filled = "      WorkerQueueArn: ${output:ScorekeepWorkerQueueArn}\n";
    edit(dir.path(), CONFIG, filled, "");
    up(dir.path(), region);
    let ids_before = physical_ids(region, "scorekeep-lambda").await;
    let exports_before = exports(region).await;

    // The upgrade: today's template (with a `Stage` parameter the config does not set).
    edit(dir.path(), TEMPLATE, &before, &today);
    edit(
        dir.path(),
        CONFIG,
        "      LogRetentionDays: 30\n",
        &format!("      LogRetentionDays: 30\n{filled}"),
    );
    let out = moto_cli(dir.path(), region, &["up", "--output", "json"])
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let rows = report["stacks"][0]["changes"].as_array().cloned();
    for row in rows.unwrap_or_default() {
        assert_ne!(row["replacement"], "True", "{row}");
    }
    assert_eq!(physical_ids(region, "scorekeep-lambda").await, ids_before);
    // The stack existed, so its queue's ARN was known at once: one update set it.
    let changes = report["stacks"][0]["stack_changes"].as_array().cloned();
    let set = changes
        .unwrap_or_default()
        .into_iter()
        .find(|c| c["name"] == "WorkerQueueArn");
    let queue = report["stacks"][0]["outputs"]["ScorekeepWorkerQueueArn"].clone();
    assert_eq!(set.map(|c| c["to"].clone()), Some(queue), "{report}");
    let exports_after = exports(region).await;
    assert_eq!(exports_after, exports_before);
    assert!(exports_after.contains_key("ScorekeepRecordsBucketName"));
    let lambda = aws_sdk_lambda::Client::new(&sdk_config(region).await);
    for name in ["random-name", "scorekeep-worker"] {
        let found = lambda.get_function().function_name(name).send().await;
        assert!(found.is_ok(), "{name} kept its name");
    }
}

#[test]
fn a_stage_typo_is_a_usage_error_naming_the_stages() {
    let dir = crate::util::project_copy();
    add_stages(dir.path());
    let out = crate::util::cli(dir.path())
        .args(["render", "--stage", "prdo", "--stdout"])
        .assert()
        .code(2);
    let err = crate::util::stderr(out.get_output());
    assert!(err.contains("--stage prdo"), "{err}");
    assert!(err.contains("did you mean `prod`?"), "{err}");
    assert!(err.contains("dev, prod"), "{err}");
}
