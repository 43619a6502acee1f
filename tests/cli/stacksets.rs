//! A stage with `targets` (issue 24, items 2-3) against moto's self-managed StackSets: each
//! instance is a real stack in that account's and region's backend, and the test reads the
//! other account's functions through STS AssumeRole of the execution role, as CloudFormation
//! itself would reach it.
//!
//! moto 5.2.5, measured: every StackSet operation ends SUCCEEDED at once, and UpdateStackSet
//! stores the new template and parameter values but does not update the instances' stacks
//! (its `update_instances` only records parameters). So the code of an update is checked on
//! the StackSet's parameters here; failed instances are covered in `tests/mocks/stacksets.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{
    edit, emulator_project, manifest, moto_cli, s3_client, sdk_config, stdout_json, unique_region,
};

const OTHER_ACCOUNT: &str = "111111111111";
const MOTO_ACCOUNT: &str = "123456789012";

/// A `prod` stage (no Beanstalk) whose `targets` take these lines.
fn add_prod(dir: &Path, targets: &str) {
    let stage = "\nstages:\n  prod:\n    beanstalk: null\n    targets:\n      code_bucket: sk-code-{region}\n";
    crate::util::append_config(dir, &format!("{stage}{targets}"));
}

fn add_prod_with_targets(dir: &Path, regions: [&str; 2]) {
    let [first, second] = regions;
    add_prod(
        dir,
        &format!(
            "      regions: [{first}, {second}]
      accounts: ['{MOTO_ACCOUNT}', '{OTHER_ACCOUNT}']
      failure_tolerance: 0
      max_concurrent: 1
"
        ),
    );
}

async fn create_code_buckets(regions: &[&str]) {
    for &region in regions {
        let s3 = s3_client(region).await;
        let location = aws_sdk_s3::types::BucketLocationConstraint::from(region);
        let config = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(location)
            .build();
        // us-east-1 is the one region that takes no location constraint.
        let config = (region != "us-east-1").then_some(config);
        s3.create_bucket()
            .bucket(format!("sk-code-{region}"))
            .set_create_bucket_configuration(config)
            .send()
            .await
            .unwrap();
    }
}

/// An emulator test's start: a project copy with the `prod` stage over its own two regions
/// (the first is the administrator's), and their code buckets.
async fn prod_project() -> Option<(&'static str, [&'static str; 2], tempfile::TempDir)> {
    let (admin, dir) = emulator_project()?;
    let regions = [admin, unique_region()];
    add_prod_with_targets(dir.path(), regions);
    create_code_buckets(&regions).await;
    Some((admin, regions, dir))
}

/// A Lambda client acting in `account` (moto's own, or through the execution role).
async fn lambda_in(account: &str, region: &str) -> aws_sdk_lambda::Client {
    let base = sdk_config(region).await;
    if account == MOTO_ACCOUNT {
        return aws_sdk_lambda::Client::new(&base);
    }
    let role = format!("arn:aws:iam::{account}:role/AWSCloudFormationStackSetExecutionRole");
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("stacksets-test")
        .configure(&base)
        .build()
        .await;
    let config = aws_sdk_lambda::config::Builder::from(&base)
        .credentials_provider(provider)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn up_prod(dir: &Path, region: &str, command: &str) -> Value {
    let out = moto_cli(
        dir,
        region,
        &[command, "--stage", "prod", "--output", "json"],
    )
    .assert()
    .success();
    stdout_json(out.get_output())
}

/// `plan --stage prod --detailed-exitcode --output json`: its exit code and report.
fn plan_prod(dir: &Path, region: &str) -> (i32, Value) {
    let args = [
        "plan",
        "--stage",
        "prod",
        "--detailed-exitcode",
        "--output",
        "json",
    ];
    let out = moto_cli(dir, region, &args).output().unwrap();
    (out.status.code().unwrap(), stdout_json(&out))
}

async fn stack_set_parameters(region: &str) -> BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(region).await);
    let out = cfn
        .describe_stack_set()
        .stack_set_name("scorekeep-lambda-prod")
        .send()
        .await
        .unwrap();
    let set = out.stack_set().unwrap();
    set.parameters()
        .iter()
        .map(|p| {
            let key = p.parameter_key().unwrap_or_default().to_string();
            (key, p.parameter_value().unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test]
async fn prod_deploys_to_two_accounts_in_two_regions_and_then_settles() {
    let Some((admin, regions, dir)) = prod_project().await else {
        return;
    };

    let (code, plan) = plan_prod(dir.path(), admin);
    assert_eq!(
        (code, plan["exists"].clone()),
        (2, Value::Bool(false)),
        "{plan}"
    );
    assert_eq!(plan["create"].as_array().unwrap().len(), 4, "{plan}");

    let out = moto_cli(
        dir.path(),
        admin,
        &["up", "--stage", "prod", "--output", "json"],
    )
    .assert()
    .success();
    let report = stdout_json(out.get_output());
    // Each account and region is reported as it finishes.
    let progress = crate::util::stderr(out.get_output());
    for account in [MOTO_ACCOUNT, OTHER_ACCOUNT] {
        for region in regions {
            let line = format!("StackSet scorekeep-lambda-prod: {account} {region} SUCCEEDED");
            assert!(progress.contains(&line), "{line} not in {progress}");
        }
    }
    let actions: Vec<&str> = crate::util::strings(&report["operations"], "action");
    assert_eq!(
        actions,
        ["create-stack-set", "create-instances"],
        "{report}"
    );
    let instances = report["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4, "{report}");
    assert!(
        instances.iter().all(|i| i["status"] == "CURRENT"),
        "{report}"
    );

    for function in ["random-name", "scorekeep-worker"] {
        let local = manifest(dir.path(), function)["sha256_base64"].clone();
        for account in [MOTO_ACCOUNT, OTHER_ACCOUNT] {
            for region in regions {
                let lambda = lambda_in(account, region).await;
                let name = format!("{function}-prod");
                let found = lambda.get_function().function_name(&name).send().await;
                let config =
                    found.unwrap_or_else(|e| panic!("{name} in {account}/{region}: {e:?}"));
                let config = config.configuration.unwrap();
                assert_eq!(
                    local.as_str(),
                    config.code_sha256(),
                    "{name} in {account}/{region}"
                );
                assert!(config.function_arn().unwrap().contains(account));
                if function == "random-name" {
                    // The environment is in the template: the topic of this very instance.
                    let env = config.environment().and_then(|e| e.variables()).unwrap();
                    let topic = &env["TOPIC_ARN"];
                    assert!(topic.contains(&format!(":{region}:{account}:")), "{topic}");
                }
            }
        }
    }

    let again = up_prod(dir.path(), admin, "up");
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["operations"], serde_json::json!([]), "{again}");
    let (code, plan) = plan_prod(dir.path(), admin);
    assert_eq!(code, 0, "{plan}");
    let status = up_prod(dir.path(), admin, "status");
    assert_eq!(status["instances"].as_array().unwrap().len(), 4, "{status}");
    for c in status["code"].as_array().unwrap() {
        assert!(
            c["deployed"].is_string() && c["deployed"] == c["local"],
            "{status}"
        );
    }

    // `down --stage prod`: every instance's stack, then the StackSet.
    let out = moto_cli(
        dir.path(),
        admin,
        &["down", "--stage", "prod", "--yes", "--output", "json"],
    )
    .assert()
    .success();
    let down = stdout_json(out.get_output());
    assert_eq!(
        down["deleted_instances"].as_array().unwrap().len(),
        4,
        "{down}"
    );
    for account in [MOTO_ACCOUNT, OTHER_ACCOUNT] {
        for region in regions {
            let lambda = lambda_in(account, region).await;
            let gone = lambda
                .get_function()
                .function_name("random-name-prod")
                .send()
                .await;
            assert!(
                gone.is_err(),
                "random-name-prod is left in {account}/{region}"
            );
        }
    }
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(admin).await);
    let set = cfn
        .describe_stack_set()
        .stack_set_name("scorekeep-lambda-prod")
        .send()
        .await;
    let status = set
        .ok()
        .and_then(|o| o.stack_set()?.status().map(|s| s.as_str().to_string()));
    assert!(
        matches!(status.as_deref(), None | Some("DELETED")),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_code_edit_is_one_update_operation_of_the_code_parameters() {
    let Some((admin, regions, dir)) = prod_project().await else {
        return;
    };
    up_prod(dir.path(), admin, "up");
    let before = stack_set_parameters(admin).await;

    edit(
        dir.path(),
        "functions/random-name/index.js",
        "module.exports = {",
        "module.exports = {\n  editedByATest: 1,",
    );
    let (code, plan) = plan_prod(dir.path(), admin);
    assert_eq!(code, 2, "{plan}");
    let changed: Vec<&str> = crate::util::strings(&plan["parameter_changes"], "name");
    assert_eq!(
        changed,
        ["RandomNameCodeKey", "RandomNameCodeSha256"],
        "{plan}"
    );
    assert_eq!(plan["update"].as_array().unwrap().len(), 4, "{plan}");
    let report = up_prod(dir.path(), admin, "update-functions");
    let operations = report["operations"].as_array().unwrap();
    assert_eq!(operations.len(), 1, "{report}");
    assert_eq!(operations[0]["action"], "update", "{report}");
    let local = manifest(dir.path(), "random-name")["sha256_base64"].clone();
    let after = stack_set_parameters(admin).await;
    assert_eq!(after["RandomNameCodeSha256"], local.as_str().unwrap());
    assert_ne!(
        after["RandomNameCodeSha256"],
        before["RandomNameCodeSha256"]
    );
    assert_eq!(
        after["ScorekeepWorkerCodeSha256"],
        before["ScorekeepWorkerCodeSha256"]
    );
    // The new bundle is in both regions' buckets, under its own sha.
    for region in regions {
        let s3 = s3_client(region).await;
        let key = &after["RandomNameCodeKey"];
        let head = s3
            .head_object()
            .bucket(format!("sk-code-{region}"))
            .key(key);
        assert!(head.send().await.is_ok(), "{key} in {region}");
    }
    let settled = up_prod(dir.path(), admin, "up");
    assert_eq!(settled["operations"], serde_json::json!([]), "{settled}");
}

const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// DescribeStackSetOperation's answer for an operation that FAILED.
fn failed_operation() -> &'static str {
    let body = format!(
        "<DescribeStackSetOperationResponse xmlns=\"{NS}\"><DescribeStackSetOperationResult><StackSetOperation><OperationId>op-1</OperationId><Action>CREATE</Action><Status>FAILED</Status></StackSetOperation></DescribeStackSetOperationResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></DescribeStackSetOperationResponse>"
    );
    Box::leak(body.into_boxed_str())
}

/// ListStackSetOperationResults' answer: the other account failed in `region`.
fn one_failed_result(region: &str) -> &'static str {
    let body = format!(
        "<ListStackSetOperationResultsResponse xmlns=\"{NS}\"><ListStackSetOperationResultsResult><Summaries><member><Account>{OTHER_ACCOUNT}</Account><Region>{region}</Region><Status>FAILED</Status><StatusReason>ResourceLogicalId:WorkerQueue, ResourceStatusReason:Resource limit exceeded.</StatusReason></member></Summaries></ListStackSetOperationResultsResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></ListStackSetOperationResultsResponse>"
    );
    Box::leak(body.into_boxed_str())
}

/// Done when: "a failure in one target exits 1 naming that account and region", and region
/// order with zero tolerance is what CloudFormation is asked for. moto ends every operation
/// SUCCEEDED and does not model tolerance, so the proxy answers the operation's status and
/// results as CloudFormation does for a failed instance; that later regions stay unchanged
/// is CloudFormation's contract for RegionOrder + FailureToleranceCount 0 + SEQUENTIAL, which
/// the test checks the tool sends.
#[tokio::test]
async fn a_failed_target_is_named_and_the_rollout_is_sequential_with_zero_tolerance() {
    use crate::util::cli_via;
    use crate::util::proxy::{action, Fault, Proxy, Rule, When};
    let Some((admin, regions, dir)) = prod_project().await else {
        return;
    };
    let rules = vec![
        Rule::new(
            action("DescribeStackSetOperation"),
            When::Always,
            Fault::Answer(failed_operation()),
        ),
        Rule::new(
            action("ListStackSetOperationResults"),
            When::Always,
            Fault::Answer(one_failed_result(regions[1])),
        ),
    ];
    let proxy = Proxy::start(&crate::util::moto().endpoint, rules);
    let args = ["up", "--stage", "prod", "--output", "json"];
    let out = cli_via(dir.path(), &proxy.endpoint, admin, &args)
        .assert()
        .code(1);
    let err = crate::util::stderr(out.get_output());
    let named = format!("account {OTHER_ACCOUNT} in {}: FAILED", regions[1]);
    assert!(err.contains(&named), "{err}");
    assert!(err.contains("Resource limit exceeded"), "{err}");
    let progress = format!(
        "StackSet scorekeep-lambda-prod: {OTHER_ACCOUNT} {} FAILED",
        regions[1]
    );
    assert!(err.contains(&progress), "{err}");
    assert!(err.contains("rerun"), "{err}");

    let requests = proxy.requests();
    let answered = requests
        .iter()
        .filter(|r| r.action() == Some("DescribeStackSetOperation") && r.fault.is_some())
        .count();
    assert_eq!(
        answered, 1,
        "the fault hit the wait for the create-instances operation"
    );
    let create = requests
        .iter()
        .find(|r| r.action() == Some("CreateStackInstances"))
        .expect("CreateStackInstances sent");
    let body = &create.body;
    for expected in [
        format!("OperationPreferences.RegionOrder.member.1={}", regions[0]),
        format!("OperationPreferences.RegionOrder.member.2={}", regions[1]),
        "OperationPreferences.FailureToleranceCount=0".to_string(),
        "OperationPreferences.MaxConcurrentCount=1".to_string(),
        "OperationPreferences.RegionConcurrencyType=SEQUENTIAL".to_string(),
    ] {
        assert!(body.contains(&expected), "{expected} not in {body}");
    }
}

/// Done when: "cfn-lint and checkov are clean on the StackSet template" (the template
/// `render --stage prod` writes for a stage with targets, which is what `up` sends).
#[test]
fn the_stack_set_template_is_clean_under_cfn_lint_and_checkov() {
    use crate::rendered_templates::{cfn_lint, checkov};
    let dir = crate::util::project_copy();
    add_prod_with_targets(dir.path(), ["us-east-1", "eu-west-1"]);
    let out = crate::util::cli(dir.path())
        .args(["render", "--stage", "prod", "--out", "rendered"])
        .assert()
        .success();
    let file = dir.path().join("rendered/scorekeep-lambda-prod.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The fixed-name policy replaces the one the default template fills by a second stack
    // pass, which a StackSet does not make: its parameter and condition are gone, unnoted.
    for gone in [
        "KnowsWorkerQueueArn",
        "\n  WorkerQueueArn:",
        "- WorkerQueueArn\n",
    ] {
        assert!(!text.contains(gone), "{gone:?} is left:\n{text}");
    }
    let said = crate::util::stderr(out.get_output()) + &crate::util::stdout(out.get_output());
    assert!(!said.contains("known only at deploy"), "{said}");
    // It is the StackSet's template: code from the region's bucket, a version per code sha.
    for expected in [
        "RedriveAllowPolicy",
        "sqs:${AWS::Region}:${AWS::AccountId}:scorekeep-lambda-prod-WorkerQueue",
        "RandomNameCodeKey",
        "sk-code-${AWS::Region}",
        "AWS::Lambda::Version",
        "TOPIC_ARN",
    ] {
        assert!(
            text.contains(expected),
            "{expected} not in {}",
            file.display()
        );
    }
    let lint = cfn_lint(&file);
    assert!(lint.trim().is_empty(), "cfn-lint found problems:\n{lint}");
    let report = checkov(&file);
    assert_eq!(
        report["summary"]["failed"], 0,
        "checkov findings: {}",
        report["results"]["failed_checks"]
    );
}

/// One AWS Organizations call (JSON 1.1) to moto as its default account, the management
/// account; the SDK for Organizations is not a dependency for this one test's setup.
fn organizations(operation: &str, body: &str) -> Value {
    use std::io::{Read, Write};
    let endpoint = crate::util::moto().endpoint.clone();
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/organizations/aws4_request, SignedHeaders=host, Signature=0";
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSOrganizationsV20161128.{operation}\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{operation}: {answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(json).unwrap_or(Value::Null)
}

/// An organization with a `prod` unit holding one new member account: (unit, account).
fn organization_with_a_prod_unit() -> (String, String) {
    organizations("CreateOrganization", r#"{"FeatureSet":"ALL"}"#);
    let roots = organizations("ListRoots", "{}");
    let root = roots["Roots"][0]["Id"].as_str().unwrap().to_string();
    let unit = organizations(
        "CreateOrganizationalUnit",
        &format!(r#"{{"ParentId":"{root}","Name":"prod"}}"#),
    );
    let unit = unit["OrganizationalUnit"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = organizations(
        "CreateAccount",
        r#"{"Email":"member@example.com","AccountName":"member"}"#,
    );
    let account = status["CreateAccountStatus"]["AccountId"].as_str().unwrap();
    organizations(
        "MoveAccount",
        &format!(
            r#"{{"AccountId":"{account}","SourceParentId":"{root}","DestinationParentId":"{unit}"}}"#
        ),
    );
    (unit, account.to_string())
}

/// A service-managed stage (`organizational_units`) deploys to the unit's member account
/// through moto's organizations backend. moto's ListStackInstances leaves out each instance's
/// OrganizationalUnitId, which the tool matches service-managed instances by (real
/// CloudFormation returns it; `deploy::stackset` unit-tests that decision), so only the first
/// `up` is checked here: what it asks CloudFormation, and the functions in the member account.
#[tokio::test]
async fn an_organizational_unit_stage_reaches_its_member_accounts() {
    let Some((admin, dir)) = emulator_project() else {
        return;
    };
    let (unit, member) = organization_with_a_prod_unit();
    let targets = format!("      regions: [{admin}]\n      organizational_units: [{unit}]\n");
    add_prod(dir.path(), &targets);
    create_code_buckets(&[admin]).await;

    let proxy = crate::util::proxy::Proxy::start(&crate::util::moto().endpoint, vec![]);
    let args = ["up", "--stage", "prod", "--output", "json"];
    let out = crate::util::cli_via(dir.path(), &proxy.endpoint, admin, &args)
        .assert()
        .success();
    let report = stdout_json(out.get_output());
    let accounts: Vec<&str> = crate::util::strings(&report["instances"], "account");
    assert_eq!(accounts, [member.as_str()], "{report}");
    let requests = proxy.requests();
    let body = |action: &str| {
        let found = requests.iter().find(|r| r.action() == Some(action));
        found.map(|r| r.body.clone()).unwrap_or_default()
    };
    let create = body("CreateStackSet");
    for expected in [
        "PermissionModel=SERVICE_MANAGED",
        "AutoDeployment.Enabled=true",
        "CallAs=SELF",
    ] {
        assert!(create.contains(expected), "{expected} not in {create}");
    }
    let instances = body("CreateStackInstances");
    let targeted = format!("DeploymentTargets.OrganizationalUnitIds.member.1={unit}");
    assert!(instances.contains(&targeted), "{instances}");
    assert!(!instances.contains("Accounts.member"), "{instances}");

    let lambda = lambda_in(&member, admin).await;
    let found = lambda
        .get_function()
        .function_name("random-name-prod")
        .send()
        .await;
    let config = found
        .expect("random-name-prod in the member account")
        .configuration
        .unwrap();
    let local = manifest(dir.path(), "random-name")["sha256_base64"].clone();
    assert_eq!(local.as_str(), config.code_sha256());
}

/// A code bucket that is not there stops `up` before any StackSet exists, naming the bucket,
/// its region and what to do.
#[tokio::test]
async fn a_missing_code_bucket_is_named_before_anything_is_created() {
    let Some((admin, dir)) = emulator_project() else {
        return;
    };
    let regions = [admin, unique_region()];
    add_prod_with_targets(dir.path(), regions);
    create_code_buckets(&regions[..1]).await;
    let out = moto_cli(dir.path(), admin, &["up", "--stage", "prod"])
        .assert()
        .code(1);
    let err = crate::util::stderr(out.get_output());
    let named = format!(
        "the code bucket sk-code-{} does not exist in {}",
        regions[1], regions[1]
    );
    assert!(err.contains(&named), "{err}");
    assert!(err.contains("hint: create it in that region"), "{err}");
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(admin).await);
    let set = cfn
        .describe_stack_set()
        .stack_set_name("scorekeep-lambda-prod")
        .send()
        .await;
    assert!(set.is_err(), "no StackSet may exist: {set:?}");
}
