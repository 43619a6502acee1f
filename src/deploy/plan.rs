//! `plan`: what `up` would change, changing nothing: each stack's change rows (from a change
//! set that is deleted again, or every resource of a stack that does not exist), the function
//! step in preview mode, and the Beanstalk differences.

use std::collections::BTreeMap;
use std::time::Instant;

use super::beanstalk::{self, BeanstalkResult};
use super::output_parameters;
use super::release::Unpin;
use super::results::SdkSwitch;
use super::stack::{self, StackAction, StackResult};
use super::stack_diff::{StackChange, StackPart};
use super::sync::{sync_functions, FunctionInputs, How, Ledger, Run};
use super::{
    drift, functions, merged_outputs, template_url, Change, DeployReport, FunctionResult, Mode,
};
use crate::aws::Clients;
use crate::bundle::{self, Artifact, BuildOptions};
use crate::config::Project;
use crate::interrupt::{self, Journal};
use crate::report::Reporter;
use crate::template::{self, RenderedStack};

/// `plan`: what `up` would change, changing nothing.
pub async fn plan(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
) -> anyhow::Result<DeployReport> {
    plan_with(clients, project, reporter, drift::DriftCheck::Skip).await
}

/// `plan`, with or without CloudFormation drift detection (`--drift`).
pub async fn plan_with(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    drift_check: drift::DriftCheck,
) -> anyhow::Result<DeployReport> {
    let started = Instant::now();
    functions::check_layers(project, &project.function_keys(), &clients.region)?;
    if let Some(stale) = functions::stale_layer_table(project, &crate::otel_layer::today()) {
        reporter.warn(stale);
    }
    let rendered = template::render_project(project)?;
    let artifacts = bundle::build_functions(
        project,
        &project.function_keys(),
        &BuildOptions::default(),
        reporter,
    )?;
    bundle::limits::check_project(project, &artifacts)?;
    let stacks = preview_stacks(clients, project, reporter, &rendered, drift_check).await?;
    let outputs = merged_outputs(&stacks);
    let all_exist = stacks.iter().all(|s| !s.status.is_empty());
    let mut functions = if all_exist {
        let journal = Journal::new("plan", Vec::new());
        let ledger = Ledger::default();
        let how = How {
            mode: Mode::Preview,
            unpin: Unpin::No,
            strategy: None,
        };
        let run = Run {
            journal: &journal,
            ledger: &ledger,
        };
        let inputs = FunctionInputs {
            rendered: &rendered,
            artifacts: &artifacts,
            outputs: &outputs,
        };
        sync_functions(clients, project, reporter, inputs, how, run).await?
    } else {
        functions_before_create(project, &artifacts)
    };
    name_tracing_sdk_switches(&stacks, &mut functions);
    let beanstalk = match (&project.config.beanstalk, all_exist) {
        (Some(eb), true) => Some(beanstalk_compare(clients, eb, &outputs, reporter).await?),
        (Some(eb), false) => Some(beanstalk_before_create(clients, eb, reporter).await?),
        (None, _) => None,
    };
    Ok(DeployReport::new(
        "plan", clients, stacks, functions, beanstalk, started,
    ))
}

/// The stack step of `plan`: each rendered stack's change rows and output, parameter and tag
/// changes, from a change set that is deleted again, or every resource for a stack that does
/// not exist; with `--drift`, what drift detection finds in each existing stack.
async fn preview_stacks(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    rendered: &[RenderedStack],
    drift_check: drift::DriftCheck,
) -> anyhow::Result<Vec<StackResult>> {
    let mut stacks = Vec::new();
    for r in rendered {
        let task = reporter.task(format!("stack {}: comparing", r.stack));
        // Output-filled parameters as `up` would fill them now (the stacks before this one
        // as they are: `plan` deploys none of them).
        let earlier: BTreeMap<String, String> = stacks
            .iter()
            .flat_map(|s: &StackResult| s.outputs.clone())
            .collect();
        let cfn = &clients.cloudformation;
        let live = crate::aws::cfn::describe(cfn, &r.stack).await?;
        let r = &output_parameters::filled(r, &earlier, live.as_ref(), &clients.region)?;
        let url = template_url(clients, project, r).await?;
        let desired = stack::Desired {
            rendered: r,
            template_url: url.as_deref(),
            tags: &project.config.tags,
        };
        let mut preview = stack::preview(cfn, desired, live, &task).await?;
        if preview.live.is_none() {
            let later = output_parameters::after_create(r);
            preview.stack_changes.extend(later);
        }
        let drift = match (drift_check, &preview.live) {
            (drift::DriftCheck::Detect, Some(_)) => Some(
                interrupt::race_while(
                    format!("detecting drift on stack {}", r.stack),
                    drift::detect(cfn, &r.stack, &task),
                )
                .await?,
            ),
            _ => None,
        };
        let pending = preview.rows.len() + preview.stack_changes.len();
        task.finish(format!("stack {}: {pending} change(s)", r.stack));
        stacks.push(StackResult {
            stack: r.stack.clone(),
            action: match &preview.live {
                _ if pending == 0 => StackAction::Unchanged,
                Some(_) => StackAction::Updated,
                None => StackAction::Created,
            },
            status: preview
                .live
                .as_ref()
                .map(|l| l.status.clone())
                .unwrap_or_default(),
            changes: preview.rows,
            stack_changes: preview.stack_changes,
            outputs: preview.live.map(|l| l.outputs).unwrap_or_default(),
            drift,
        });
    }
    Ok(stacks)
}

/// `plan` before the stacks exist: every function would be created by its stack, so there is
/// nothing in Lambda to compare with.
fn functions_before_create(project: &Project, artifacts: &[Artifact]) -> Vec<FunctionResult> {
    artifacts
        .iter()
        .map(|a| FunctionResult {
            function: a.function.clone(),
            name: project.lambda_name(&a.function).to_string(),
            code: Change::WouldCreate,
            code_sha256: a.manifest.sha256_base64.clone(),
            live_code_sha256: None,
            config: Change::WouldCreate,
            config_changes: Vec::new(),
            unconfirmed_fields: Vec::new(),
            notes: vec!["its stack does not exist yet".into()],
            release: None,
            pending_release: None,
            pinned: None,
            error: None,
            tracing_sdk: None,
            staged: None,
        })
        .collect()
}

/// `plan` with the stacks in place: the environment's differences from what `up` would set.
async fn beanstalk_compare(
    clients: &Clients,
    eb: &crate::config::BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    reporter: &Reporter,
) -> anyhow::Result<BeanstalkResult> {
    let task = reporter.task(format!("beanstalk {}: comparing", eb.environment));
    let result = beanstalk::wire(
        &clients.beanstalk,
        eb,
        outputs,
        &clients.region,
        Mode::Preview,
        &task,
    )
    .await?;
    task.finish(format!(
        "beanstalk {}: {} difference(s)",
        eb.environment,
        result.changes.len()
    ));
    Ok(result)
}

/// `plan` before the stacks exist: what `up` would set on the environment, with the values
/// that come from stack outputs named as such (they exist only after the create).
async fn beanstalk_before_create(
    clients: &Clients,
    eb: &crate::config::BeanstalkConfig,
    reporter: &Reporter,
) -> anyhow::Result<BeanstalkResult> {
    let task = reporter.task(format!("beanstalk {}: comparing", eb.environment));
    let referenced = |value: &str| crate::config::referenced_outputs(value);
    // Stand-ins that no live value equals, so every output-fed property shows as a change.
    let placeholders: BTreeMap<String, String> = eb
        .properties
        .values()
        .flat_map(|v| referenced(v))
        .map(|name| (name.clone(), format!("(stack output {name})")))
        .collect();
    let mut result = beanstalk::wire(
        &clients.beanstalk,
        eb,
        &placeholders,
        &clients.region,
        Mode::Preview,
        &task,
    )
    .await?;
    for change in &mut result.changes {
        let outputs = eb.properties.get(&change.option).map(|v| referenced(v));
        if let Some(outputs) = outputs.filter(|o| !o.is_empty()) {
            change.change = format!("(from stack output {}, after create)", outputs.join(", "));
        }
    }
    task.finish(format!(
        "beanstalk {}: {} difference(s) once the stacks exist",
        eb.environment,
        result.changes.len()
    ));
    Ok(result)
}

/// The tracing SDK a function's deployed stack records (its `<Prefix>TracingSdk` parameter, the
/// SDK the deployed bundle was built with) against the config's: a switch is named on the
/// function, not only as a parameter row, since it changes what the bundle contains.
fn name_tracing_sdk_switches(stacks: &[StackResult], functions: &mut [FunctionResult]) {
    for func in functions {
        let parameter = format!("{}TracingSdk", template::parameter_prefix(&func.function));
        let change = stacks
            .iter()
            .flat_map(|s| &s.stack_changes)
            .find(|c| c.part == StackPart::Parameter && c.name == parameter);
        if let Some(StackChange {
            from: Some(from),
            to: Some(to),
            ..
        }) = change
        {
            func.tracing_sdk = Some(SdkSwitch {
                from: from.clone(),
                to: to.clone(),
            });
        }
    }
}
