//! CloudFormation StackSets (self-managed permissions): the thin calls a stage with
//! `targets` needs, and the wait for one operation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudformation::types::{
    AutoDeployment, CallAs as SdkCallAs, Capability, DeploymentTargets, OperationResultFilter,
    OperationResultFilterName, Parameter, PermissionModels, RegionConcurrencyType,
    StackSetOperationPreferences, Tag,
};
use aws_sdk_cloudformation::Client;

use super::progress::Progress;
use crate::aws::explain;
use crate::config::{CallAs, RegionConcurrency, Share, Targets};
use crate::error::Problem;

/// What DescribeStackSet says.
#[derive(Debug, Clone)]
pub(crate) struct LiveStackSet {
    pub(crate) template: String,
    pub(crate) parameters: BTreeMap<String, String>,
}

/// One stack instance: where, and whether it has the StackSet's latest template and values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Instance {
    pub(crate) account: String,
    pub(crate) region: String,
    /// The organizational unit it was deployed for (service-managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ou: Option<String>,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub(crate) status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) drift: Option<String>,
}

/// One account and region's result in an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceResult {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
}

/// What the StackSet should be: its template, parameters and who acts.
pub(crate) struct Desired<'a> {
    pub(crate) name: &'a str,
    pub(crate) template: &'a str,
    pub(crate) parameters: &'a BTreeMap<String, String>,
    pub(crate) tags: &'a BTreeMap<String, String>,
    pub(crate) targets: &'a Targets,
}

/// Who the calls act as: only a service-managed StackSet has a choice.
fn call_as(targets: &Targets) -> Option<SdkCallAs> {
    targets.service_managed().then_some(match targets.call_as {
        CallAs::Myself => SdkCallAs::SelfValue,
        CallAs::DelegatedAdmin => SdkCallAs::DelegatedAdmin,
    })
}

/// Organizational units as DeploymentTargets (service-managed); accounts go in `Accounts`.
fn units(targets: &Targets, ids: &[String]) -> Option<DeploymentTargets> {
    targets.service_managed().then(|| {
        DeploymentTargets::builder()
            .set_organizational_unit_ids(Some(ids.to_vec()))
            .build()
    })
}

fn accounts(targets: &Targets, ids: Vec<String>) -> Option<Vec<String>> {
    (!targets.service_managed() && !ids.is_empty()).then_some(ids)
}

pub(crate) async fn describe(
    cfn: &Client,
    name: &str,
    targets: &Targets,
) -> anyhow::Result<Option<LiveStackSet>> {
    let call = cfn.describe_stack_set().stack_set_name(name);
    let out = match call.set_call_as(call_as(targets)).send().await {
        Ok(out) => out,
        Err(err) if super::error_code(&err) == Some("StackSetNotFoundException") => {
            return Ok(None)
        }
        Err(err) => return Err(explain(format!("describing StackSet {name}"), &err).into()),
    };
    let Some(set) = out.stack_set() else {
        return Ok(None);
    };
    if set.status().is_some_and(|s| s.as_str() == "DELETED") {
        return Ok(None);
    }
    let parameters = set
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.into(), p.parameter_value()?.into())))
        .collect();
    Ok(Some(LiveStackSet {
        template: set.template_body().unwrap_or_default().to_string(),
        parameters,
    }))
}

fn parameters(values: &BTreeMap<String, String>) -> Vec<Parameter> {
    values
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

fn tags(values: &BTreeMap<String, String>) -> Vec<Tag> {
    values
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) async fn create(cfn: &Client, d: &Desired<'_>) -> anyhow::Result<()> {
    let t = d.targets;
    let (model, auto) = if t.service_managed() {
        let auto = AutoDeployment::builder()
            .enabled(t.auto_deployment)
            .set_retain_stacks_on_account_removal(t.auto_deployment.then_some(false))
            .build();
        (PermissionModels::ServiceManaged, Some(auto))
    } else {
        (PermissionModels::SelfManaged, None)
    };
    cfn.create_stack_set()
        .stack_set_name(d.name)
        .permission_model(model)
        .set_auto_deployment(auto)
        .set_call_as(call_as(t))
        .template_body(d.template)
        .set_parameters(Some(parameters(d.parameters)))
        .set_tags(Some(tags(d.tags)))
        .capabilities(Capability::CapabilityIam)
        .set_administration_role_arn(d.targets.administration_role_arn.clone())
        .set_execution_role_name(d.targets.execution_role_name.clone())
        .send()
        .await
        .map_err(|e| explain(format!("creating StackSet {}", d.name), &e))?;
    Ok(())
}

/// The operation preferences from `targets`.
pub(crate) fn preferences(targets: &Targets) -> StackSetOperationPreferences {
    let mut p = StackSetOperationPreferences::builder()
        .region_concurrency_type(match targets.region_concurrency {
            RegionConcurrency::Sequential => RegionConcurrencyType::Sequential,
            RegionConcurrency::Parallel => RegionConcurrencyType::Parallel,
        })
        .set_region_order(Some(targets.ordered_regions()));
    p = match targets.failure_tolerance {
        Some(Share::Percent(n)) => p.failure_tolerance_percentage(n as i32),
        Some(Share::Count(n)) => p.failure_tolerance_count(n as i32),
        None => p.failure_tolerance_count(0),
    };
    p = match targets.max_concurrent {
        Some(Share::Percent(n)) => p.max_concurrent_percentage(n as i32),
        Some(Share::Count(n)) => p.max_concurrent_count(n as i32),
        None => p.max_concurrent_count(1),
    };
    p.build()
}

/// UpdateStackSet for the given instances; `template: None` keeps the current template.
pub(crate) async fn update(
    cfn: &Client,
    d: &Desired<'_>,
    template: Option<&str>,
    (ids, regions): (Vec<String>, Vec<String>),
) -> anyhow::Result<String> {
    let t = d.targets;
    let deployment = (!ids.is_empty()).then(|| units(t, &ids)).flatten();
    let out = cfn
        .update_stack_set()
        .stack_set_name(d.name)
        .set_call_as(call_as(t))
        .set_deployment_targets(deployment)
        .set_template_body(template.map(String::from))
        .set_use_previous_template(template.is_none().then_some(true))
        .set_parameters(Some(parameters(d.parameters)))
        .set_tags(Some(tags(d.tags)))
        .capabilities(Capability::CapabilityIam)
        .set_administration_role_arn(d.targets.administration_role_arn.clone())
        .set_execution_role_name(d.targets.execution_role_name.clone())
        .set_accounts(accounts(t, ids))
        .set_regions((!regions.is_empty()).then_some(regions))
        .operation_preferences(preferences(d.targets))
        .send()
        .await
        .map_err(|e| explain(format!("updating StackSet {}", d.name), &e))?;
    Ok(out.operation_id().unwrap_or_default().to_string())
}

pub(crate) async fn create_instances(
    cfn: &Client,
    d: &Desired<'_>,
    (ids, regions): (Vec<String>, Vec<String>),
) -> anyhow::Result<String> {
    let t = d.targets;
    let out = cfn
        .create_stack_instances()
        .stack_set_name(d.name)
        .set_call_as(call_as(t))
        .set_deployment_targets(units(t, &ids))
        .set_accounts(accounts(t, ids))
        .set_regions(Some(regions))
        .operation_preferences(preferences(d.targets))
        .send()
        .await
        .map_err(|e| explain(format!("creating instances of StackSet {}", d.name), &e))?;
    Ok(out.operation_id().unwrap_or_default().to_string())
}

pub(crate) async fn delete_instances(
    cfn: &Client,
    name: &str,
    targets: &Targets,
    (ids, regions): (Vec<String>, Vec<String>),
) -> anyhow::Result<String> {
    let out = cfn
        .delete_stack_instances()
        .stack_set_name(name)
        .set_call_as(call_as(targets))
        .set_deployment_targets(units(targets, &ids))
        .set_accounts(accounts(targets, ids))
        .set_regions(Some(regions))
        .retain_stacks(false)
        .operation_preferences(preferences(targets))
        .send()
        .await
        .map_err(|e| explain(format!("deleting instances of StackSet {name}"), &e))?;
    Ok(out.operation_id().unwrap_or_default().to_string())
}

pub(crate) async fn delete(cfn: &Client, name: &str, targets: &Targets) -> anyhow::Result<()> {
    let call = cfn.delete_stack_set().stack_set_name(name);
    match call.set_call_as(call_as(targets)).send().await {
        Ok(_) => Ok(()),
        Err(err) if super::error_code(&err) == Some("StackSetNotFoundException") => Ok(()),
        Err(err) => Err(explain(format!("deleting StackSet {name}"), &err).into()),
    }
}

pub(crate) async fn instances(
    cfn: &Client,
    name: &str,
    targets: &Targets,
) -> anyhow::Result<Vec<Instance>> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = cfn
            .list_stack_instances()
            .stack_set_name(name)
            .set_call_as(call_as(targets))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| explain(format!("listing instances of StackSet {name}"), &e))?;
        all.extend(out.summaries().iter().map(|s| {
            Instance {
                account: s.account().unwrap_or_default().into(),
                region: s.region().unwrap_or_default().into(),
                ou: s.organizational_unit_id().map(String::from),
                status: s
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: s.status_reason().map(String::from),
                drift: s.drift_status().map(|d| d.as_str().to_string()),
            }
        }));
        token = out.next_token().map(String::from);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Wait for an operation to end; its final status. Polls every second at first, then every
/// 5 s: the operation's status on `progress`, and a line for each account and region as it
/// finishes (ListStackSetOperationResults), so a long rollout shows where it is.
pub(crate) async fn wait(
    cfn: &Client,
    (name, targets): (&str, &Targets),
    operation: &str,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    let mut delay = Duration::from_secs(1);
    let mut shown = BTreeSet::new();
    loop {
        let out = cfn
            .describe_stack_set_operation()
            .stack_set_name(name)
            .set_call_as(call_as(targets))
            .operation_id(operation)
            .send()
            .await
            .map_err(|e| {
                explain(
                    format!("reading operation {operation} of StackSet {name}"),
                    &e,
                )
            })?;
        let status = out
            .stack_set_operation()
            .and_then(|o| o.status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        for r in results(cfn, (name, targets), operation, Which::All).await? {
            let finished = !matches!(r.status.as_str(), "PENDING" | "RUNNING");
            if finished && shown.insert((r.account.clone(), r.region.clone())) {
                // A success's reason is only the account gate's note (e.g. no gate function).
                let failed = r.status != "SUCCEEDED";
                let reason = r.reason.filter(|_| failed).map(|why| format!(": {why}"));
                let reason = reason.unwrap_or_default();
                progress.note(format!(
                    "StackSet {name}: {} {} {}{reason}",
                    r.account, r.region, r.status
                ));
            }
        }
        if !matches!(status.as_str(), "RUNNING" | "QUEUED" | "STOPPING") {
            return Ok(status);
        }
        progress.status(format!("StackSet {name}: operation {operation} {status}"));
        tokio::select! {
            biased;
            why = progress.stopped() => {
                return Err(Problem::interrupted(format!(
                    "{why} while StackSet {name}'s operation {operation} is {status}: CloudFormation carries on"
                ))
                .hint("rerun the same command: it waits for the operation and finishes what is left")
                .into())
            }
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Which results of an operation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    All,
    /// Those that did not succeed.
    Failed,
}

/// The accounts and regions of an operation and how each went, every page.
pub(crate) async fn results(
    cfn: &Client,
    (name, targets): (&str, &Targets),
    operation: &str,
    which: Which,
) -> anyhow::Result<Vec<InstanceResult>> {
    let failed = OperationResultFilter::builder()
        .name(OperationResultFilterName::OperationResultStatus)
        .values("FAILED")
        .build();
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = cfn
            .list_stack_set_operation_results()
            .stack_set_name(name)
            .set_call_as(call_as(targets))
            .operation_id(operation)
            .set_filters((which == Which::Failed).then(|| vec![failed.clone()]))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| explain(format!("reading the results of operation {operation}"), &e))?;
        all.extend(out.summaries().iter().map(|s| {
            InstanceResult {
                account: s.account().unwrap_or_default().into(),
                region: s.region().unwrap_or_default().into(),
                status: s
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: s.status_reason().map(String::from).or_else(|| {
                    s.account_gate_result()
                        .and_then(|g| g.status_reason().map(String::from))
                }),
            }
        }));
        token = out.next_token().map(String::from);
        if token.is_none() {
            break;
        }
    }
    if which == Which::Failed {
        all.retain(|r| r.status != "SUCCEEDED");
    }
    Ok(all)
}
