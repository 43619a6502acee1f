//! `plan` and `status` for a stage with targets: StackSets have no change sets, so `plan`
//! compares the template and parameters with the StackSet's and lists the instances an `up`
//! would create, update or leave; `status` lists every instance and the code each function
//! has in the StackSet against the last local build.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{decide, prepare, targets_of, Prepared, Prune, Scope, Step};
use crate::aws::stackset::{self, Desired, Instance};
use crate::aws::Clients;
use crate::bundle::BuildOptions;
use crate::config::Project;
use crate::report::Reporter;
use crate::template::parameter_prefix;

/// One account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Target {
    pub(crate) account: String,
    pub(crate) region: String,
}

/// A parameter whose value would change.
#[derive(Debug, Serialize)]
pub(crate) struct ParameterChange {
    pub(crate) name: String,
    pub(crate) live: Option<String>,
    pub(crate) desired: String,
}

/// `plan --stage` for a stage with targets.
#[derive(Debug, Serialize)]
pub(crate) struct StackSetPlan {
    pub(crate) command: &'static str,
    pub(crate) stack_set: String,
    pub(crate) exists: bool,
    pub(crate) template_changes: bool,
    pub(crate) parameter_changes: Vec<ParameterChange>,
    pub(crate) create: Vec<Target>,
    pub(crate) update: Vec<Target>,
    /// Instances outside `targets`: `up --prune` deletes them, `up` keeps them.
    pub(crate) not_in_targets: Vec<Target>,
    pub(crate) changed: bool,
}

impl fmt::Display for StackSetPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.exists {
            writeln!(f, "StackSet {}: would be created", self.stack_set)?;
        } else if self.template_changes {
            writeln!(f, "StackSet {}: template changes", self.stack_set)?;
        }
        for c in &self.parameter_changes {
            let live = c.live.as_deref().unwrap_or("(unset)");
            writeln!(f, "  parameter {}: {live} -> {}", c.name, c.desired)?;
        }
        let lists = [
            ("create", &self.create),
            ("update", &self.update),
            (
                "not in targets (kept; --prune deletes)",
                &self.not_in_targets,
            ),
        ];
        for (what, targets) in lists {
            for t in targets {
                writeln!(f, "  {what}: {} {}", t.account, t.region)?;
            }
        }
        let what = if self.changed {
            "changes pending"
        } else {
            "no changes"
        };
        writeln!(f, "{what}")
    }
}

/// Every (account, region) of an accounts × regions group.
fn expand((accounts, regions): &(Vec<String>, Vec<String>)) -> Vec<Target> {
    let mut targets = Vec::new();
    for region in regions {
        for account in accounts {
            targets.push(Target {
                account: account.clone(),
                region: region.clone(),
            });
        }
    }
    targets
}

fn target(i: &Instance) -> Target {
    Target {
        account: i.account.clone(),
        region: i.region.clone(),
    }
}

pub(crate) async fn plan(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    build_options: &BuildOptions,
) -> anyhow::Result<StackSetPlan> {
    let Prepared {
        name,
        template,
        parameters,
        ..
    } = prepare(project, reporter, build_options)?;
    let cfn = &clients.cloudformation;
    let targets = targets_of(project);
    let live = stackset::describe(cfn, &name, targets).await?;
    let instances = match &live {
        Some(_) => stackset::instances(cfn, &name, targets).await?,
        None => Vec::new(),
    };
    let empty = BTreeMap::new();
    let live_parameters = live.as_ref().map_or(&empty, |l| &l.parameters);
    let parameter_changes: Vec<ParameterChange> = parameters
        .iter()
        .filter(|(k, v)| live_parameters.get(*k) != Some(*v))
        .map(|(k, v)| ParameterChange {
            name: k.clone(),
            live: live_parameters.get(k).cloned(),
            desired: v.clone(),
        })
        .collect();
    let template_changes = live.as_ref().is_some_and(|l| l.template != template);
    let desired = Desired {
        name: &name,
        template: &template,
        parameters: &parameters,
        tags: &project.config.tags,
        targets: targets_of(project),
    };
    let how = (Scope::Everything, Prune::No);
    let (steps, kept) = decide(live.as_ref(), &instances, &desired, how);
    let (mut create, mut update) = (Vec::new(), Vec::new());
    for step in &steps {
        match step {
            Step::CreateInstances(group) => create.extend(expand(group)),
            Step::Update(Some(group)) => update.extend(expand(group)),
            _ => {}
        }
    }
    let not_in_targets: Vec<Target> = kept.iter().map(target).collect();
    let changed = !steps.is_empty();
    Ok(StackSetPlan {
        command: "plan",
        stack_set: name,
        exists: live.is_some(),
        template_changes,
        parameter_changes,
        create,
        update,
        not_in_targets,
        changed,
    })
}

/// A function's code in the StackSet against the last local build.
#[derive(Debug, Serialize)]
pub(crate) struct CodeStatus {
    pub(crate) function: String,
    /// `<Prefix>CodeSha256` of the StackSet.
    pub(crate) deployed: Option<String>,
    /// The last local build's, if there is one.
    pub(crate) local: Option<String>,
}

/// `status --stage` for a stage with targets.
#[derive(Debug, Serialize)]
pub(crate) struct StackSetStatus {
    pub(crate) command: &'static str,
    pub(crate) stack_set: String,
    pub(crate) exists: bool,
    pub(crate) instances: Vec<Instance>,
    pub(crate) code: Vec<CodeStatus>,
}

impl fmt::Display for StackSetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.exists {
            return writeln!(f, "StackSet {}: not deployed", self.stack_set);
        }
        writeln!(f, "StackSet {}", self.stack_set)?;
        for i in &self.instances {
            let drift = i.drift.as_deref().unwrap_or("drift not checked");
            writeln!(
                f,
                "  {} {:<14} {:<10} {drift}",
                i.account, i.region, i.status
            )?;
        }
        for c in &self.code {
            let deployed = c.deployed.as_deref().unwrap_or("(none)");
            let matches = match &c.local {
                Some(local) if Some(local) == c.deployed.as_ref() => "= local build",
                Some(_) => "differs from the local build",
                None => "no local build",
            };
            writeln!(f, "  {}: code {deployed} ({matches})", c.function)?;
        }
        Ok(())
    }
}

pub(crate) async fn status(clients: &Clients, project: &Project) -> anyhow::Result<StackSetStatus> {
    let cfn = &clients.cloudformation;
    let name = project.config.stacks[0].name.clone();
    let targets = targets_of(project);
    let live = stackset::describe(cfn, &name, targets).await?;
    let instances = match &live {
        Some(_) => stackset::instances(cfn, &name, targets).await?,
        None => Vec::new(),
    };
    let code = project
        .function_keys()
        .into_iter()
        .map(|key| CodeStatus {
            function: key.to_string(),
            deployed: live.as_ref().and_then(|l| {
                let parameter = format!("{}CodeSha256", parameter_prefix(key));
                l.parameters.get(&parameter).cloned()
            }),
            local: crate::deploy::status::local_code_sha256(project, key),
        })
        .collect();
    Ok(StackSetStatus {
        command: "status",
        stack_set: name,
        exists: live.is_some(),
        instances,
        code,
    })
}
