//! CloudFormation stacks: create, update through change sets, wait with live events, delete.
//!
//! Updates go through a change set whose rows are shown before it is executed. A new stack is
//! created with CreateStack and its rows are every resource in the template: `up` executes at
//! once, so a CREATE change set would add no review, and the moto emulator loses the outputs of
//! stacks created from change sets (measured with moto 5.2.5).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Tag};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::aws::cfn::{
    classify, delete_and_wait, delete_change_set, deployed_template, describe, desired_tags,
    events, first_failure, is_no_change_message, request_token, wait_for_stack, Event, LiveStack,
    StackState,
};
use crate::aws::{error_code, error_message, explain};
use crate::error::Problem;
use crate::report::Task;
use crate::template::{RenderedStack, INLINE_BODY_LIMIT};

/// One row of a change set: what CloudFormation will do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChangeRow {
    pub(crate) action: String,
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    /// For modifications: `True`, `False` or `Conditional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replacement: Option<String>,
}

impl fmt::Display for ChangeRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:<32} {}",
            self.action, self.logical_id, self.resource_type
        )?;
        if let Some(r) = &self.replacement {
            write!(f, " (replacement: {r})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackAction {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackResult {
    pub(crate) stack: String,
    pub action: StackAction,
    pub(crate) status: String,
    pub(crate) changes: Vec<ChangeRow>,
    pub(crate) outputs: BTreeMap<String, String>,
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

/// Options that change how `up` treats a stack in a stuck state.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackOptions {
    pub replace_failed: bool,
    pub continue_rollback: bool,
}

/// Deploy one rendered stack: create it, or update it through a change set, or nothing.
/// `template_url` is where the body was uploaded when it is over the inline limit.
pub async fn deploy(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: &BTreeMap<String, String>,
    options: StackOptions,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let name = rendered.stack.as_str();
    if rendered.needs_s3_upload && template_url.is_none() {
        return Err(Problem::failure(format!("stack {name}: the rendered template is {} bytes, over CloudFormation's {INLINE_BODY_LIMIT}-byte inline limit, and no S3 location was given for it", rendered.size_bytes)).hint("set `artifact_bucket:` in the config to a bucket the deploy may write to").into());
    }
    let live = settle(cfn, name, options, task).await?;
    match live {
        None => create(cfn, rendered, template_url, desired_tags(tags), task).await,
        Some(current) => update(cfn, rendered, template_url, tags, current, task).await,
    }
}

/// Bring a stuck stack to a state we can deploy over, or explain why we won't; the stack's
/// state afterwards (`None`: it does not exist).
async fn settle(
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
    cfn.continue_update_rollback()
        .stack_name(name)
        .client_request_token(request_token("continue-rollback"))
        .send()
        .await
        .map_err(|e| explain(format!("continuing the rollback of stack {name}"), &e))?;
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

/// Update an existing Ready stack through a change set, or report it unchanged when its
/// template and tags already match (or the change set has nothing to do).
async fn update(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: &BTreeMap<String, String>,
    current: LiveStack,
    task: &Task,
) -> anyhow::Result<StackResult> {
    let name = rendered.stack.as_str();
    let unchanged = |current: LiveStack| StackResult {
        stack: name.to_string(),
        action: StackAction::Unchanged,
        status: current.status,
        changes: Vec::new(),
        outputs: current.outputs,
    };
    if current.tags == *tags && deployed_template(cfn, name).await? == rendered.body {
        return Ok(unchanged(current));
    }
    let tag_list = desired_tags(tags);
    let Some((change_set, rows)) =
        create_change_set(cfn, rendered, template_url, tag_list, task).await?
    else {
        return Ok(unchanged(current));
    };
    for row in &rows {
        task.println(format!("change  {row}"));
    }
    let done = execute_change_set(cfn, name, &change_set, &rows, task).await?;
    Ok(StackResult {
        stack: name.to_string(),
        action: StackAction::Updated,
        status: done.status,
        changes: rows,
        outputs: done.outputs,
    })
}

/// Execute a ready change set and wait for the stack, failing with the first failed resource;
/// a synchronous rejection names the rows being applied.
async fn execute_change_set(
    cfn: &Client,
    name: &str,
    change_set: &str,
    rows: &[ChangeRow],
    task: &Task,
) -> anyhow::Result<LiveStack> {
    let seen: HashSet<String> = events(cfn, name).await?.into_iter().map(|e| e.id).collect();
    if let Err(err) = cfn
        .execute_change_set()
        .change_set_name(change_set)
        .client_request_token(request_token("execute"))
        .send()
        .await
    {
        // Some endpoints (moto) reject a bad change synchronously instead of failing a resource
        // event; name the resources being changed so the failure is still traceable.
        let applying: Vec<String> = rows.iter().map(|r| format!("    {r}")).collect();
        delete_change_set(cfn, change_set).await;
        return Err(anyhow::Error::new(explain(format!("executing the change set for stack {name}"), &err)).context(format!(
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
    let request = cfn.create_stack();
    let request = match template_url {
        Some(url) => request.template_url(url),
        None => request.template_body(&rendered.body),
    };
    let sent = request
        .stack_name(name)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(tags))
        .client_request_token(request_token("create"))
        .send()
        .await;
    let attached = match sent {
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
    })
}

/// Create an UPDATE change set and wait until it is ready. `None` when there is nothing to do
/// (the change set is deleted again).
pub(crate) async fn create_change_set(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: Vec<Tag>,
    task: &Task,
) -> anyhow::Result<Option<(String, Vec<ChangeRow>)>> {
    let Some(id) = request_change_set(cfn, rendered, template_url, tags, task).await? else {
        return Ok(None);
    };
    await_change_set(cfn, rendered.stack.as_str(), &id).await
}

/// Send CreateChangeSet under a fresh name; its id, or `None` when the endpoint already says
/// there is nothing to change.
async fn request_change_set(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: Vec<Tag>,
    task: &Task,
) -> anyhow::Result<Option<String>> {
    let name = rendered.stack.as_str();
    let change_set_name = format!(
        "scorekeep-deploy-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    task.set_message(format!("stack {name}: creating change set"));
    let request = cfn.create_change_set();
    let request = match template_url {
        Some(url) => request.template_url(url),
        None => request.template_body(&rendered.body),
    };
    let created = request
        .stack_name(name)
        .change_set_name(&change_set_name)
        .change_set_type(ChangeSetType::Update)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(out) => Ok(Some(out.id().unwrap_or(&change_set_name).to_string())),
        Err(err) if error_message(&err).is_some_and(is_no_change_message) => Ok(None),
        Err(err) => Err(explain(format!("creating a change set for stack {name}"), &err).into()),
    }
}

/// Poll the change set until CloudFormation has computed it: its rows, or `None` (deleted
/// again) when it changes nothing; a rejected change set fails with CloudFormation's reason.
async fn await_change_set(
    cfn: &Client,
    name: &str,
    id: &str,
) -> anyhow::Result<Option<(String, Vec<ChangeRow>)>> {
    let mut delay = Duration::from_millis(100);
    loop {
        let out = cfn
            .describe_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| explain(format!("reading the change set of stack {name}"), &e))?;
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let rows = change_rows(&out);
                if rows.is_empty() {
                    delete_change_set(cfn, id).await;
                    return Ok(None);
                }
                return Ok(Some((id.to_string(), rows)));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given").to_string();
                delete_change_set(cfn, id).await;
                if is_no_change_message(&reason) {
                    return Ok(None);
                }
                return Err(Problem::failure(format!(
                    "stack {name}: CloudFormation rejected the change set: {reason}"
                ))
                .hint(
                    "fix the template (run `scorekeep-deploy render` and cfn-lint on it) and rerun",
                )
                .into());
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
        }
    }
}

/// The resource rows of a computed change set, in CloudFormation's order.
fn change_rows(out: &DescribeChangeSetOutput) -> Vec<ChangeRow> {
    out.changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| ChangeRow {
            action: rc
                .action()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: rc.resource_type().unwrap_or_default().to_string(),
            replacement: rc.replacement().map(|r| r.as_str().to_string()),
        })
        .filter(|r| !r.logical_id.is_empty())
        .collect()
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

/// For `plan`: the rows an update would produce, without executing anything.
pub(crate) async fn preview(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: &BTreeMap<String, String>,
    task: &Task,
) -> anyhow::Result<(Option<LiveStack>, Vec<ChangeRow>)> {
    let name = rendered.stack.as_str();
    let live = describe(cfn, name).await?;
    let Some(current) = live else {
        return Ok((None, rows_for_new_stack(rendered)));
    };
    if classify(&current.status) != StackState::Ready {
        return Err(Problem::failure(format!(
            "stack {name} is in {}; `plan` can only compare against a stack in a stable state",
            current.status
        ))
        .hint("`scorekeep-deploy up` explains and handles this state")
        .into());
    }
    if current.tags == *tags && deployed_template(cfn, name).await? == rendered.body {
        return Ok((Some(current), Vec::new()));
    }
    let rows =
        match create_change_set(cfn, rendered, template_url, desired_tags(tags), task).await? {
            Some((id, rows)) => {
                delete_change_set(cfn, &id).await;
                rows
            }
            None => Vec::new(),
        };
    Ok((Some(current), rows))
}
