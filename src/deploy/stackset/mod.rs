//! `up` and `update-functions` for a stage with `targets`: one CloudFormation StackSet whose
//! instances (one per account and region) each hold the whole stack, code included.
//!
//! Every run compares what should be with what CloudFormation says is there: the StackSet's
//! template and parameters, and its instances (missing, extra, or not CURRENT after a stopped
//! or failed operation). Only a difference starts an operation, so a rerun after any stop
//! finishes the work and a settled stage starts none. `plan` and `status` read the same
//! (`view.rs`); `down` deletes instances and the StackSet (`teardown.rs`).

mod decide;
mod teardown;
mod view;

use decide::by_accounts;
pub(crate) use decide::{decide, Step};
pub(crate) use teardown::{live_instances, teardown};
pub(crate) use view::{plan, status};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::aws::stackset::{self, Desired, Instance};
use crate::aws::Clients;
use crate::bundle::{self, Artifact, BuildOptions};
use crate::config::{Project, Targets};
use crate::error::Problem;
use crate::report::{Reporter, Task};
use crate::template::{self, stackset::stack_set_template};

/// What a run may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `up`: template, parameters and instances.
    Everything,
    /// `update-functions`: the code parameters only, on the StackSet's current template.
    CodeOnly,
}

/// Whether instances no longer in `targets` are deleted (`--prune`) or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prune {
    Yes,
    No,
}

/// One StackSet operation this run started.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Operation {
    pub(crate) action: &'static str,
    pub(crate) id: String,
    pub(crate) status: String,
}

/// The report of `up`/`update-functions` for a stage with targets.
#[derive(Debug, Serialize)]
pub(crate) struct StackSetReport {
    pub(crate) command: &'static str,
    pub(crate) stage: String,
    pub(crate) stack_set: String,
    /// Function key → the code sha256 (base64) deployed in every target.
    pub(crate) code: BTreeMap<String, String>,
    pub(crate) operations: Vec<Operation>,
    pub(crate) instances: Vec<Instance>,
    /// Instances outside `targets`, kept because `--prune` was not given.
    pub(crate) not_in_targets: Vec<Instance>,
    pub(crate) changed: bool,
    pub(crate) elapsed_ms: u128,
}

impl fmt::Display for StackSetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "StackSet {} (stage {})", self.stack_set, self.stage)?;
        for op in &self.operations {
            writeln!(f, "  {} operation {}: {}", op.action, op.id, op.status)?;
        }
        for i in &self.instances {
            writeln!(f, "  {} {:<14} {}", i.account, i.region, i.status)?;
        }
        for i in &self.not_in_targets {
            writeln!(
                f,
                "  {} {:<14} not in targets (kept; --prune deletes it)",
                i.account, i.region
            )?;
        }
        for (key, sha) in &self.code {
            writeln!(f, "  {key}: code {sha}")?;
        }
        let what = if self.changed {
            "changed"
        } else {
            "no changes"
        };
        writeln!(f, "{what} ({} ms)", self.elapsed_ms)
    }
}

/// The key of a bundle in every code bucket: by content, so an unchanged bundle is never
/// uploaded again and a key never changes meaning.
fn code_key(artifact: &Artifact) -> String {
    format!(
        "scorekeep-deploy/{}/{}.zip",
        artifact.function, artifact.manifest.sha256_hex
    )
}

/// What a run wants the StackSet to be: built, rendered, its code parameters known.
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) template: String,
    pub(crate) parameters: BTreeMap<String, String>,
    /// Function key → code sha256 (base64).
    pub(crate) code: BTreeMap<String, String>,
    pub(crate) artifacts: Vec<Artifact>,
}

/// Render, build and turn both into the StackSet's template and parameters. Changes nothing.
pub(crate) fn prepare(
    project: &Project,
    reporter: &Reporter,
    build_options: &BuildOptions,
) -> anyhow::Result<Prepared> {
    let targets = targets_of(project);
    let rendered = template::render_project(project)?;
    let stack = &rendered[0];
    let keys = project.function_keys();
    let artifacts = super::bundles(project, &keys, build_options, reporter)?;
    bundle::limits::check_project(project, &artifacts)?;
    let template = stack_set_template(
        project,
        targets,
        (&stack.stack, &stack.body),
        &stack.functions,
    )?;
    let mut parameters = BTreeMap::new();
    let mut code = BTreeMap::new();
    for artifact in &artifacts {
        if let Some((key_param, sha_param)) = template.code_parameters.get(&artifact.function) {
            parameters.insert(key_param.clone(), code_key(artifact));
            parameters.insert(sha_param.clone(), artifact.manifest.sha256_base64.clone());
            code.insert(
                artifact.function.clone(),
                artifact.manifest.sha256_base64.clone(),
            );
        }
    }
    Ok(Prepared {
        name: stack.stack.clone(),
        template: template.body,
        parameters,
        code,
        artifacts,
    })
}

/// The selected stage's targets (callers checked `Project::has_targets`).
pub(crate) fn targets_of(project: &Project) -> &Targets {
    let stage = project.stage.as_ref().and_then(|s| s.targets.as_ref());
    stage.expect("a stage with targets")
}

pub(crate) async fn deploy(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    build_options: &BuildOptions,
    (scope, prune): (Scope, Prune),
) -> anyhow::Result<StackSetReport> {
    let started = Instant::now();
    let targets = targets_of(project);
    let prepared = prepare(project, reporter, build_options)?;
    upload_code(clients, targets, &prepared.artifacts, reporter).await?;
    let name = prepared.name.as_str();
    let desired = Desired {
        name,
        template: &prepared.template,
        parameters: &prepared.parameters,
        tags: &project.config.tags,
        targets,
    };
    let task = reporter.task(format!("StackSet {name}: checking"));
    let (operations, not_in_targets) = converge(clients, &desired, (scope, prune), &task).await?;
    let instances = stackset::instances(&clients.cloudformation, name, targets).await?;
    let changed = !operations.is_empty();
    task.finish(format!(
        "StackSet {name}: {} ({} instance(s))",
        if changed { "deployed" } else { "unchanged" },
        instances.len()
    ));
    Ok(StackSetReport {
        command: if scope == Scope::CodeOnly {
            "update-functions"
        } else {
            "up"
        },
        stage: project
            .stage
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        stack_set: name.to_string(),
        code: prepared.code,
        operations,
        instances: instances
            .into_iter()
            .filter(|i| !not_in_targets.contains(i))
            .collect(),
        not_in_targets,
        changed,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// Each bundle into each target region's code bucket, unless that key is there already.
async fn upload_code(
    clients: &Clients,
    targets: &Targets,
    artifacts: &[Artifact],
    reporter: &Reporter,
) -> anyhow::Result<()> {
    for region in &targets.regions {
        let s3 = clients.s3_in(region);
        let bucket = targets.code_bucket_in(region);
        if !crate::aws::s3::bucket_exists(&s3, &bucket).await {
            return Err(Problem::failure(format!(
                "the code bucket {bucket} does not exist in {region} (targets.code_bucket)"
            ))
            .resource(format!("s3://{bucket}"))
            .hint("create it in that region, with a policy that lets the target accounts read its objects (docs/stages.md)")
            .into());
        }
        for artifact in artifacts {
            let key = code_key(artifact);
            if crate::aws::s3::object_exists(&s3, &bucket, &key).await {
                continue;
            }
            reporter.line(format!(
                "uploading {} to s3://{bucket}/{key}",
                artifact.function
            ));
            let what = format!("{} bundle", artifact.function);
            crate::aws::s3::upload_file(&s3, &bucket, &key, &artifact.zip_path, &what).await?;
        }
    }
    Ok(())
}

/// The operations that bring the StackSet and its instances to `desired`, each waited for.
async fn converge(
    clients: &Clients,
    desired: &Desired<'_>,
    (scope, prune): (Scope, Prune),
    task: &Task,
) -> anyhow::Result<(Vec<Operation>, Vec<Instance>)> {
    let cfn = &clients.cloudformation;
    let name = desired.name;
    let live = stackset::describe(cfn, name, desired.targets).await?;
    if live.is_none() && scope == Scope::CodeOnly {
        return Err(Problem::failure(format!("StackSet {name} does not exist"))
            .hint("deploy the stage first with `scorekeep-deploy up --stage …`")
            .into());
    }
    let existing = match &live {
        Some(_) => stackset::instances(cfn, name, desired.targets).await?,
        None => Vec::new(),
    };
    let (steps, kept) = decide(live.as_ref(), &existing, desired, (scope, prune));
    let template = (scope == Scope::Everything).then_some(desired.template);
    let mut operations = Vec::new();
    for step in steps {
        let (action, id) = match step {
            Step::CreateStackSet => {
                stackset::create(cfn, desired).await?;
                let done = "SUCCEEDED".to_string();
                operations.push(Operation {
                    action: "create-stack-set",
                    id: String::new(),
                    status: done,
                });
                continue;
            }
            Step::Update(group) => {
                let group = group.unwrap_or_default();
                (
                    "update",
                    stackset::update(cfn, desired, template, group).await?,
                )
            }
            Step::CreateInstances(group) => (
                "create-instances",
                stackset::create_instances(cfn, desired, group).await?,
            ),
            Step::DeleteInstances(group) => {
                let id = stackset::delete_instances(cfn, name, desired.targets, group).await?;
                ("delete-instances", id)
            }
        };
        operations.push(finish(cfn, (name, desired.targets), action, id, task).await?);
    }
    Ok((operations, kept))
}

/// Wait for an operation; a failure names every account and region that failed and why.
pub(super) async fn finish(
    cfn: &aws_sdk_cloudformation::Client,
    (name, targets): (&str, &Targets),
    action: &'static str,
    id: String,
    task: &Task,
) -> anyhow::Result<Operation> {
    task.set_message(format!("StackSet {name}: {action} operation {id}"));
    let status = stackset::wait(cfn, (name, targets), &id, task).await?;
    let failed = if status == "SUCCEEDED" {
        Vec::new()
    } else {
        stackset::results(cfn, (name, targets), &id, stackset::Which::Failed).await?
    };
    if status != "SUCCEEDED" || !failed.is_empty() {
        let lines: Vec<String> = failed
            .iter()
            .map(|r| {
                let reason = r.reason.as_deref().unwrap_or("no reason given");
                format!(
                    "account {} in {}: {} ({reason})",
                    r.account, r.region, r.status
                )
            })
            .collect();
        let message = if lines.is_empty() {
            format!("StackSet {name}: {action} operation {id} ended {status}")
        } else {
            format!(
                "StackSet {name}: {action} operation {id} ended {status}; {}",
                lines.join("; ")
            )
        };
        return Err(Problem::failure(message)
            .resource(format!("StackSet {name}"))
            .hint("fix the cause in the named account and region, then rerun: instances the operation did not reach stay OUTDATED and the next run updates them")
            .into());
    }
    Ok(Operation { action, id, status })
}
