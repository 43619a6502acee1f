//! `down --stage` for a stage with targets: every instance, then the StackSet.

use std::fmt;

use serde::Serialize;

use super::{by_accounts, finish, targets_of, Operation};
use crate::aws::stackset::{self, Instance};
use crate::aws::Clients;
use crate::config::Project;
use crate::report::Reporter;

/// The report of `down --stage` for a stage with targets.
#[derive(Debug, Serialize)]
pub(crate) struct TeardownReport {
    pub(crate) command: &'static str,
    pub(crate) stack_set: String,
    /// The instances deleted (each instance's stack, in its account and region).
    pub(crate) deleted_instances: Vec<Instance>,
    pub(crate) operations: Vec<Operation>,
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.deleted_instances {
            writeln!(
                f,
                "deleted {} in {} (its records bucket is retained)",
                i.account, i.region
            )?;
        }
        writeln!(f, "deleted StackSet {}", self.stack_set)
    }
}

/// The instances of the stage's StackSet, for `down`'s confirmation; empty when it does not
/// exist.
pub(crate) async fn live_instances(
    clients: &Clients,
    project: &Project,
) -> anyhow::Result<Vec<Instance>> {
    let name = &project.config.stacks[0].name;
    match stackset::describe(&clients.cloudformation, name, targets_of(project)).await? {
        Some(_) => stackset::instances(&clients.cloudformation, name, targets_of(project)).await,
        None => Ok(Vec::new()),
    }
}

/// `down --stage`: every instance (its stack in each account and region), then the StackSet.
/// Each instance's records bucket stays, as the template's retention policy says.
pub(crate) async fn teardown(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
) -> anyhow::Result<TeardownReport> {
    let cfn = &clients.cloudformation;
    let name = project.config.stacks[0].name.as_str();
    let targets = project.stage.as_ref().and_then(|s| s.targets.as_ref());
    let targets = targets.expect("a stage with targets");
    let instances = live_instances(clients, project).await?;
    let task = reporter.task(format!(
        "StackSet {name}: deleting {} instance(s)",
        instances.len()
    ));
    let pairs: Vec<(String, String)> = instances
        .iter()
        .map(|i| (i.account.clone(), i.region.clone()))
        .collect();
    let mut operations = Vec::new();
    for group in by_accounts(&pairs) {
        let id = stackset::delete_instances(cfn, name, targets, group).await?;
        operations.push(finish(cfn, (name, targets), "delete-instances", id, &task).await?);
    }
    stackset::delete(cfn, name, targets).await?;
    task.finish(format!("StackSet {name}: deleted"));
    Ok(TeardownReport {
        command: "down",
        stack_set: name.to_string(),
        deleted_instances: instances,
        operations,
    })
}
