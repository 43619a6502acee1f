//! CloudFormation stacks: create, update through change sets, wait with live events, delete.
//!
//! Updates go through a change set whose rows are shown before it is executed. A new stack is
//! created with CreateStack and its rows are every resource in the template: `up` executes at
//! once, so a CREATE change set would add no review, and the moto emulator loses the outputs of
//! stacks created from change sets (measured with moto 5.2.5).

use std::collections::{BTreeMap, HashSet};

use aws_sdk_cloudformation::types::Tag;
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use super::change_row::ChangeRow;
use super::change_set::{self, ChangeSetMode, ReadyChangeSet};
use super::drift::StackDrift;
use super::stack_diff::{stack_changes, StackChange};
use crate::aws::cfn::{
    self, classify, delete_and_wait, delete_change_set, deployed_template, describe, desired_tags,
    events, first_failure, wait_for_stack, Event, LiveStack, StackState, TemplateSource,
};
use crate::aws::{error_code, explain};
use crate::error::Problem;
use crate::report::Task;
use crate::template::{RenderedStack, INLINE_BODY_LIMIT};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackAction {
    Created,
    Updated,
    #[default]
    Unchanged,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StackResult {
    pub(crate) stack: String,
    pub action: StackAction,
    pub(crate) status: String,
    pub(crate) changes: Vec<ChangeRow>,
    /// Outputs, parameter values and tags the update changes (CloudFormation's change set has
    /// no rows for them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack_changes: Vec<StackChange>,
    pub(crate) outputs: BTreeMap<String, String>,
    /// `plan --drift`: what CloudFormation's drift detection found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<StackDrift>,
}

/// Rows for a stack that does not exist yet: every resource is added.
pub(crate) fn rows_for_new_stack(rendered: &RenderedStack) -> Vec<ChangeRow> {
    rendered
        .resources
        .iter()
        .map(|(id, ty)| ChangeRow {
            action: "Add".into(),
            logical_id: id.clone(),
            resource_type: ty.clone(),
            replacement: None,
        })
        .collect()
}

/// Options that change how `up` treats a stack in a stuck state, and drifted resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackOptions {
    pub replace_failed: bool,
    pub continue_rollback: bool,
    /// `--revert-drift`: change sets with `DeploymentMode: REVERT_DRIFT`.
    pub change_sets: ChangeSetMode,
}

/// Deploy one rendered stack as it is: settle it, then [`apply`] the template.
pub async fn deploy(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: &BTreeMap<String, String>,
    options: StackOptions,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let live = settle(cfn, &rendered.stack, options, task).await?;
    let desired = Desired {
        rendered,
        template_url,
        tags,
    };
    apply(cfn, desired, live, options, task).await
}

/// Deploy one rendered stack over `live`, the stack as [`settle`] left it (`None`: it does not
/// exist): create it, or update it through a change set, or nothing. `template_url` is where
/// the body was uploaded when it is over the inline limit.
pub(crate) async fn apply(
    cfn: &Client,
    desired: Desired<'_>,
    live: Option<LiveStack>,
    options: StackOptions,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let rendered = desired.rendered;
    let name = rendered.stack.as_str();
    if rendered.needs_s3_upload && desired.template_url.is_none() {
        return Err(Problem::failure(format!("stack {name}: the rendered template is {} bytes, over CloudFormation's {INLINE_BODY_LIMIT}-byte inline limit, and no S3 location was given for it", rendered.size_bytes)).hint("set `artifact_bucket:` in the config to a bucket the deploy may write to").into());
    }
    match live {
        None => {
            let tags = desired_tags(desired.tags);
            create(cfn, rendered, desired.template_url, tags, task).await
        }
        Some(current) => update(cfn, desired, current, options.change_sets, task).await,
    }
}

/// Bring a stuck stack to a state we can deploy over, or explain why we won't; the stack's
/// state afterwards (`None`: it does not exist).
pub(crate) async fn settle(
    cfn: &Client,
    name: &str,
    options: StackOptions,
    task: &Task,
) -> anyhow::Result<Option<LiveStack>> {
    let mut live = describe(cfn, name).await?;
    for _ in 0..3 {
        let Some(current) = &live else { break };
        if classify(&current.status) == StackState::Ready {
            break;
        }
        settle_once(cfn, name, current, options, task).await?;
        live = describe(cfn, name).await?;
    }
    Ok(live)
}

/// One step out of a state that is not Ready: wait, delete, continue the rollback, or fail
/// with the cause and the flag that would handle it.
async fn settle_once(
    cfn: &Client,
    name: &str,
    current: &LiveStack,
    options: StackOptions,
    task: &Task,
) -> anyhow::Result<()> {
    match classify(&current.status) {
        StackState::Ready => {}
        StackState::InProgress => {
            task.println(format!(
                "stack {name} is {}; waiting for it to finish first",
                current.status
            ));
            let seen = HashSet::new();
            wait_for_stack(cfn, name, &seen, task).await?;
        }
        StackState::ReviewInProgress => {
            task.println(format!("stack {name} is an empty REVIEW_IN_PROGRESS shell; deleting it to create it properly"));
            delete_and_wait(cfn, name, task).await?;
        }
        StackState::RollbackComplete if options.replace_failed => {
            task.println(format!(
                "stack {name} is ROLLBACK_COMPLETE; deleting it (--replace-failed)"
            ));
            delete_and_wait(cfn, name, task).await?;
        }
        StackState::RollbackComplete => return Err(rollback_complete_error(cfn, name).await),
        StackState::UpdateRollbackFailed if options.continue_rollback => {
            continue_rollback(cfn, name, task).await?;
        }
        StackState::UpdateRollbackFailed => {
            return Err(update_rollback_failed_error(cfn, name).await)
        }
        StackState::Failed => {
            return Err(Problem::failure(format!("stack {name} is in {}{}", current.status, current.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())).hint("look at the stack's events in the CloudFormation console; a stack that failed to delete needs `scorekeep-deploy down` again once the blocking resource is fixed").into());
        }
    }
    Ok(())
}

/// Why a ROLLBACK_COMPLETE stack is not replaced without --replace-failed, with its first
/// failure so the cause can be fixed first.
async fn rollback_complete_error(cfn: &Client, name: &str) -> anyhow::Error {
    let history = events(cfn, name).await.unwrap_or_default();
    let cause = first_failure(&history)
        .map(|e| format!("\n  first failure: {e}"))
        .unwrap_or_default();
    anyhow::Error::from(Problem::failure(format!("stack {name} is in ROLLBACK_COMPLETE: its creation failed and CloudFormation can only delete it{cause}")).hint("fix the cause, then rerun with --replace-failed to delete and recreate it"))
}

/// --continue-rollback: ContinueUpdateRollback, then wait showing only the new events.
async fn continue_rollback(cfn: &Client, name: &str, task: &Task) -> anyhow::Result<()> {
    task.println(format!(
        "stack {name} is UPDATE_ROLLBACK_FAILED; continuing the rollback (--continue-rollback)"
    ));
    let seen: HashSet<String> = events(cfn, name).await?.into_iter().map(|e| e.id).collect();
    cfn::continue_update_rollback(cfn, name).await?;
    wait_for_stack(cfn, name, &seen, task).await?;
    Ok(())
}

/// Why an UPDATE_ROLLBACK_FAILED stack is not touched without --continue-rollback, naming the
/// resources that blocked the rollback.
async fn update_rollback_failed_error(cfn: &Client, name: &str) -> anyhow::Error {
    let history = events(cfn, name).await.unwrap_or_default();
    let blockers: Vec<String> = history
        .iter()
        .filter(|e| e.status == "UPDATE_FAILED" && e.resource_type != "AWS::CloudFormation::Stack")
        .map(|e| format!("    {e}"))
        .collect();
    anyhow::Error::from(Problem::failure(format!("stack {name} is in UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback\n  resources that blocked the rollback:\n{}", if blockers.is_empty() { "    (none reported)".to_string() } else { blockers.join("\n") })).hint("fix those resources, then rerun with --continue-rollback"))
}

/// What one stack should be: the rendered template (uploaded to `template_url` when over the
/// inline limit) and the config's tags.
#[derive(Clone, Copy)]
pub(crate) struct Desired<'a> {
    pub(crate) rendered: &'a RenderedStack,
    pub(crate) template_url: Option<&'a str>,
    pub(crate) tags: &'a BTreeMap<String, String>,
}

/// Update an existing Ready stack through a change set, or report it unchanged when its
/// template, parameter values and tags already match (or CloudFormation says the change set
/// has nothing to do). `RevertDrift` always asks CloudFormation: drift is not in the template.
async fn update(
    cfn: &Client,
    desired: Desired<'_>,
    current: LiveStack,
    mode: ChangeSetMode,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let name = desired.rendered.stack.as_str();
    let unchanged = |current: LiveStack| StackResult {
        stack: name.to_string(),
        status: current.status,
        outputs: current.outputs,
        ..StackResult::default()
    };
    let deployed = deployed_template(cfn, name).await?;
    let pending = stack_changes(&current, &deployed, &desired.rendered.body, desired.tags);
    if mode == ChangeSetMode::Standard && pending.is_empty() && deployed == desired.rendered.body {
        return Ok(unchanged(current));
    }
    let tag_list = desired_tags(desired.tags);
    let created = change_set::create(
        cfn,
        desired.rendered,
        desired.template_url,
        tag_list,
        mode,
        task,
    )
    .await?;
    let Some(ready) = created else {
        return Ok(unchanged(current));
    };
    for row in &ready.rows {
        task.println(format!("change  {row}"));
    }
    let mut pending = pending;
    if ready.rows.is_empty() && pending.is_empty() && deployed != desired.rendered.body {
        pending.push(StackChange::template_only());
    }
    for change in &pending {
        task.println(format!("change  {change}"));
    }
    let done = execute_change_set(cfn, name, &ready, task).await?;
    Ok(StackResult {
        stack: name.to_string(),
        action: StackAction::Updated,
        status: done.status,
        changes: ready.rows,
        stack_changes: pending,
        outputs: done.outputs,
        drift: None,
    })
}

/// Execute a computed change set (with or without resource rows) and wait for the stack,
/// failing with the first failed resource; a synchronous rejection names the rows being
/// applied.
async fn execute_change_set(
    cfn: &Client,
    name: &str,
    ready: &ReadyChangeSet,
    task: &Task,
) -> anyhow::Result<LiveStack> {
    let seen: HashSet<String> = events(cfn, name).await?.into_iter().map(|e| e.id).collect();
    if let Err(err) = crate::aws::change_set::execute(cfn, &ready.id).await {
        // Some endpoints (moto) reject a bad change synchronously instead of failing a resource
        // event; name the resources being changed so the failure is still traceable.
        let applying: Vec<String> = ready.rows.iter().map(|r| format!("    {r}")).collect();
        delete_change_set(cfn, &ready.id).await;
        return Err(anyhow::Error::from(explain(format!("executing the change set for stack {name}"), &err)).context(format!(
            "stack {name}: the update was rejected; the stack keeps its previous template\n  changes being applied:\n{}",
            applying.join("\n")
        )));
    }
    let done = wait_for_stack(cfn, name, &seen, task).await?;
    check_success(cfn, name, &done, &seen).await?;
    Ok(done)
}

async fn create(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: Vec<Tag>,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let name = rendered.stack.as_str();
    let rows = rows_for_new_stack(rendered);
    for row in &rows {
        task.println(format!("change  {row}"));
    }
    let template = match template_url {
        Some(url) => TemplateSource::Url(url),
        None => TemplateSource::Body(&rendered.body),
    };
    let role = rendered.role_arn.as_deref();
    let attached = match cfn::create_stack(cfn, name, template, tags, role).await {
        Ok(_) => false,
        // A retry of a CreateStack that was processed but whose answer was lost, on an
        // endpoint that ignores the token: the stack is ours; wait for it like any other.
        Err(err) if error_code(&err) == Some("AlreadyExistsException") => {
            task.println(format!(
                "stack {name} already exists (a retried CreateStack whose first answer was lost, or another run); waiting for it"
            ));
            true
        }
        Err(err) => return Err(explain(format!("creating stack {name}"), &err).into()),
    };
    let seen = HashSet::new();
    let done = wait_for_stack(cfn, name, &seen, task).await?;
    check_success(cfn, name, &done, &seen).await?;
    if attached && deployed_template(cfn, name).await? != rendered.body {
        return Err(Problem::failure(format!("stack {name} was created by someone else while this run was creating it, with another template")).hint("rerun `scorekeep-deploy up` to update it to this project's template").into());
    }
    Ok(StackResult {
        stack: name.to_string(),
        action: StackAction::Created,
        status: done.status,
        changes: rows,
        outputs: done.outputs,
        ..StackResult::default()
    })
}

/// Fail with the first failed resource and CloudFormation's reason unless the stack ended in
/// a successful state.
async fn check_success(
    cfn: &Client,
    name: &str,
    done: &LiveStack,
    seen: &HashSet<String>,
) -> anyhow::Result<()> {
    if matches!(done.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Ok(());
    }
    let new_events: Vec<Event> = events(cfn, name)
        .await?
        .into_iter()
        .filter(|e| !seen.contains(&e.id))
        .collect();
    let cause = first_failure(&new_events)
        .map(|e| {
            format!(
                "\n  failed resource: {} ({}) {}: {}",
                e.logical_id,
                e.resource_type,
                e.status,
                e.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .unwrap_or_default();
    let hint = match done.status.as_str() {
        "ROLLBACK_COMPLETE" => "the creation was rolled back; fix the cause, then rerun with --replace-failed",
        "UPDATE_ROLLBACK_COMPLETE" => "the stack was rolled back to its previous good state; fix the cause and rerun",
        "UPDATE_ROLLBACK_FAILED" => "the rollback failed too; fix the resources named above, then rerun with --continue-rollback",
        _ => "look at the stack's events in the CloudFormation console",
    };
    Err(
        Problem::failure(format!("stack {name} ended in {}{cause}", done.status))
            .hint(hint)
            .into(),
    )
}

/// For `plan`: what an update would change, without executing anything.
pub(crate) struct Preview {
    /// The stack as it is (`None`: it does not exist).
    pub(crate) live: Option<LiveStack>,
    pub(crate) rows: Vec<ChangeRow>,
    pub(crate) stack_changes: Vec<StackChange>,
}

/// For `plan`: the rows an update of `live` (the stack as DescribeStacks gave it) would
/// produce and the outputs, parameter values and tags it would change, from a change set that
/// is deleted again. CloudFormation's verdict decides: a change set it computes is pending
/// even with no rows, one it fails as empty is not.
pub(crate) async fn preview(
    cfn: &Client,
    desired: Desired<'_>,
    live: Option<LiveStack>,
    task: &Task,
) -> anyhow::Result<Preview> {
    let Desired {
        rendered,
        template_url,
        tags,
    } = desired;
    let name = rendered.stack.as_str();
    let Some(current) = live else {
        let rows = rows_for_new_stack(rendered);
        return Ok(Preview {
            live: None,
            rows,
            stack_changes: Vec::new(),
        });
    };
    if classify(&current.status) != StackState::Ready {
        return Err(Problem::failure(format!(
            "stack {name} is in {}; `plan` can only compare against a stack in a stable state",
            current.status
        ))
        .hint("`scorekeep-deploy up` explains and handles this state")
        .into());
    }
    let deployed = deployed_template(cfn, name).await?;
    let pending = stack_changes(&current, &deployed, &rendered.body, tags);
    let mut preview = Preview {
        live: Some(current),
        rows: Vec::new(),
        stack_changes: Vec::new(),
    };
    if pending.is_empty() && deployed == rendered.body {
        return Ok(preview);
    }
    let created = change_set::create(
        cfn,
        rendered,
        template_url,
        desired_tags(tags),
        ChangeSetMode::Standard,
        task,
    )
    .await?;
    if let Some(ready) = created {
        delete_change_set(cfn, &ready.id).await;
        preview.rows = ready.rows;
        preview.stack_changes = pending;
        if preview.rows.is_empty() && preview.stack_changes.is_empty() {
            // The template changed in a way that moves no output, value or resource (a
            // Description, Metadata): still an update CloudFormation would apply.
            preview.stack_changes.push(StackChange::template_only());
        }
    }
    Ok(preview)
}
