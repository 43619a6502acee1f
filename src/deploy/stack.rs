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
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Tag, TemplateStage,
};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::aws::{error_code, error_message, explain};
use crate::exit::Interrupted;
use crate::report::Task;
use crate::template::{RenderedStack, INLINE_BODY_LIMIT};

/// One row of a change set: what CloudFormation will do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For modifications: `True`, `False` or `Conditional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
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
    pub stack: String,
    pub action: StackAction,
    pub status: String,
    pub changes: Vec<ChangeRow>,
    pub outputs: BTreeMap<String, String>,
}

/// What DescribeStacks says about a stack.
#[derive(Debug, Clone)]
pub struct LiveStack {
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// The states that decide what `up` must do before it can deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackState {
    /// Created or updated successfully (including a completed update rollback).
    Ready,
    /// An operation is running; wait for it.
    InProgress,
    /// Failed creation: can only be deleted.
    RollbackComplete,
    /// A change set was created for a new stack but never executed: an empty shell.
    ReviewInProgress,
    /// An update failed and so did its rollback.
    UpdateRollbackFailed,
    /// Any other failed state (DELETE_FAILED, ROLLBACK_FAILED, ...).
    Failed,
}

pub fn classify(status: &str) -> StackState {
    match status {
        "REVIEW_IN_PROGRESS" => StackState::ReviewInProgress,
        "ROLLBACK_COMPLETE" => StackState::RollbackComplete,
        "UPDATE_ROLLBACK_FAILED" => StackState::UpdateRollbackFailed,
        s if s.ends_with("_IN_PROGRESS") => StackState::InProgress,
        "CREATE_COMPLETE"
        | "UPDATE_COMPLETE"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "IMPORT_COMPLETE"
        | "IMPORT_ROLLBACK_COMPLETE" => StackState::Ready,
        _ => StackState::Failed,
    }
}

/// A stack event, reduced to what we show and reason about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<32} {:<28} {}",
            self.logical_id, self.status, self.resource_type
        )?;
        if let Some(r) = &self.reason {
            write!(f, " - {r}")?;
        }
        Ok(())
    }
}

/// The first resource that failed, in chronological `events`, skipping the knock-on
/// "cancelled" failures CloudFormation reports for resources it stopped.
pub fn first_failure(events: &[Event]) -> Option<&Event> {
    events
        .iter()
        .find(|e| {
            e.status.ends_with("_FAILED")
                && !e.reason.as_deref().unwrap_or("").contains("cancelled")
                && e.resource_type != "AWS::CloudFormation::Stack"
        })
        .or_else(|| events.iter().find(|e| e.status.ends_with("_FAILED")))
}

/// Both ways an endpoint says a change set has nothing to do: real CloudFormation's FAILED
/// status reason, and moto's ValidationError.
pub fn is_no_change_message(message: &str) -> bool {
    message.contains("didn't contain changes")
        || message.contains("No updates are to be performed")
        || message.contains("does not contain changes")
}

/// Rows for a stack that does not exist yet: every resource is added.
pub fn rows_for_new_stack(rendered: &RenderedStack) -> Vec<ChangeRow> {
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

pub fn desired_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub async fn describe(cfn: &Client, name: &str) -> anyhow::Result<Option<LiveStack>> {
    let out = match cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(err) if error_message(&err).is_some_and(|m| m.contains("does not exist")) => {
            return Ok(None)
        }
        Err(err) => return Err(explain(format!("describing stack {name}"), &err).into()),
    };
    let Some(stack) = out.stacks().first() else {
        return Ok(None);
    };
    Ok(Some(LiveStack {
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        reason: stack.stack_status_reason().map(String::from),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }))
}

/// The template body the stack was last deployed with, as submitted.
pub async fn deployed_template(cfn: &Client, name: &str) -> anyhow::Result<String> {
    let out = cfn
        .get_template()
        .stack_name(name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|e| explain(format!("reading the deployed template of stack {name}"), &e))?;
    Ok(out.template_body().unwrap_or_default().to_string())
}

/// All events of a stack, oldest first (DescribeStackEvents pages newest first).
pub async fn events(cfn: &Client, name: &str) -> anyhow::Result<Vec<Event>> {
    let mut all = Vec::new();
    let mut pages = cfn
        .describe_stack_events()
        .stack_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| explain(format!("reading events of stack {name}"), &e))?;
        for e in page.stack_events() {
            all.push(Event {
                id: e.event_id().unwrap_or_default().to_string(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(String::from),
            });
        }
        // One page is enough to see what happened since we started watching.
        if all.len() >= 100 {
            break;
        }
    }
    all.reverse();
    Ok(all)
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
        anyhow::bail!(
            "stack {name}: the rendered template is {} bytes, over CloudFormation's {INLINE_BODY_LIMIT}-byte inline limit, and no S3 location was given for it\n  hint: set `artifact_bucket:` in the config to a bucket the deploy may write to",
            rendered.size_bytes
        );
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
            anyhow::bail!(
                "stack {name} is in {}{}\n  hint: look at the stack's events in the CloudFormation console; a stack that failed to delete needs `scorekeep-deploy down` again once the blocking resource is fixed",
                current.status,
                current.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            );
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
    anyhow::anyhow!(
        "stack {name} is in ROLLBACK_COMPLETE: its creation failed and CloudFormation can only delete it{cause}\n  hint: fix the cause, then rerun with --replace-failed to delete and recreate it"
    )
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
    anyhow::anyhow!(
        "stack {name} is in UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback\n  resources that blocked the rollback:\n{}\n  hint: fix those resources, then rerun with --continue-rollback",
        if blockers.is_empty() { "    (none reported)".to_string() } else { blockers.join("\n") }
    )
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
        anyhow::bail!(
            "stack {name} was created by someone else while this run was creating it, with another template\n  hint: rerun `scorekeep-deploy up` to update it to this project's template"
        );
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
pub async fn create_change_set(
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
                anyhow::bail!(
                    "stack {name}: CloudFormation rejected the change set: {reason}\n  hint: fix the template (run `scorekeep-deploy render` and cfn-lint on it) and rerun"
                );
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

pub async fn delete_change_set(cfn: &Client, id: &str) {
    // Best effort: a leftover change set is harmless and shows up in the console.
    if let Err(err) = cfn.delete_change_set().change_set_name(id).send().await {
        tracing::debug!("could not delete change set {id}: {err}");
    }
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
    anyhow::bail!(
        "stack {name} ended in {}{cause}\n  hint: {hint}",
        done.status
    )
}

/// Poll until the stack leaves `*_IN_PROGRESS`, printing events not in `seen` as they come.
/// Ctrl-C stops waiting (AWS carries on) and says how to resume.
pub async fn wait_for_stack(
    cfn: &Client,
    name: &str,
    seen: &HashSet<String>,
    task: &Task,
) -> anyhow::Result<LiveStack> {
    let mut shown: HashSet<String> = seen.clone();
    let mut delay = Duration::from_millis(100);
    let mut status = "in progress".to_string();
    loop {
        let live = while_waiting(name, &status, describe(cfn, name)).await?;
        let history = while_waiting(name, &status, async { Ok(events(cfn, name).await) }).await?;
        for event in history.unwrap_or_default() {
            if shown.insert(event.id.clone()) {
                task.println(format!("event   {event}"));
            }
        }
        let Some(live) = live else {
            // Gone: a delete finished.
            return Ok(LiveStack {
                status: "DELETE_COMPLETE".into(),
                reason: None,
                outputs: BTreeMap::new(),
                tags: BTreeMap::new(),
            });
        };
        if !live.status.ends_with("_IN_PROGRESS") {
            return Ok(live);
        }
        status = live.status.clone();
        task.set_message(format!("stack {name}: {status}"));
        tracing::debug!("stack {name} is {status}; checking again in {delay:?}");
        while_waiting(name, &status, async {
            tokio::time::sleep(delay).await;
            Ok(())
        })
        .await?;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

/// `step` unless Ctrl-C comes first: then stop waiting (CloudFormation carries on) and say how
/// to resume.
async fn while_waiting<T>(
    name: &str,
    status: &str,
    step: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        biased;
        result = step => result,
        _ = crate::interrupt::cancelled() => Err(Interrupted(format!(
            "interrupted while stack {name} is {status}: CloudFormation carries on\n  hint: rerun the same command to wait for it and continue"
        )).into()),
    }
}

/// A fresh idempotency token for one stack mutation. The SDK resends the same request (and so
/// the same token) on retries, which CloudFormation recognises as the same operation.
pub fn request_token(operation: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "scorekeep-deploy-{operation}-{nanos:x}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn delete_and_wait(cfn: &Client, name: &str, task: &Task) -> anyhow::Result<LiveStack> {
    let seen: HashSet<String> = events(cfn, name)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.id)
        .collect();
    cfn.delete_stack()
        .stack_name(name)
        .client_request_token(request_token("delete"))
        .send()
        .await
        .map_err(|e| explain(format!("deleting stack {name}"), &e))?;
    let done = wait_for_stack(cfn, name, &seen, task).await?;
    if done.status != "DELETE_COMPLETE" {
        anyhow::bail!(
            "stack {name} could not be deleted: {}{}\n  hint: a resource blocked the deletion (see the events above); fix it and rerun",
            done.status,
            done.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        );
    }
    Ok(done)
}

/// For `plan`: the rows an update would produce, without executing anything.
pub async fn preview(
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
        anyhow::bail!(
            "stack {name} is in {}; `plan` can only compare against a stack in a stable state\n  hint: `scorekeep-deploy up` explains and handles this state",
            current.status
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(logical: &str, status: &str, reason: Option<&str>) -> Event {
        Event {
            id: format!("{logical}-{status}"),
            logical_id: logical.into(),
            resource_type: if logical == "stack" {
                "AWS::CloudFormation::Stack".into()
            } else {
                "AWS::SQS::Queue".into()
            },
            status: status.into(),
            reason: reason.map(String::from),
        }
    }

    #[test]
    fn states_are_classified() {
        assert_eq!(classify("CREATE_COMPLETE"), StackState::Ready);
        assert_eq!(classify("UPDATE_ROLLBACK_COMPLETE"), StackState::Ready);
        assert_eq!(classify("UPDATE_IN_PROGRESS"), StackState::InProgress);
        assert_eq!(
            classify("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
            StackState::InProgress
        );
        assert_eq!(classify("ROLLBACK_COMPLETE"), StackState::RollbackComplete);
        assert_eq!(classify("REVIEW_IN_PROGRESS"), StackState::ReviewInProgress);
        assert_eq!(
            classify("UPDATE_ROLLBACK_FAILED"),
            StackState::UpdateRollbackFailed
        );
        assert_eq!(classify("DELETE_FAILED"), StackState::Failed);
    }

    #[test]
    fn first_failure_skips_cancellations_and_the_stack_itself() {
        let events = vec![
            event("stack", "UPDATE_IN_PROGRESS", None),
            event("Other", "UPDATE_FAILED", Some("Resource update cancelled")),
            event(
                "Queue",
                "UPDATE_FAILED",
                Some("Invalid value for VisibilityTimeout"),
            ),
            event(
                "stack",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed"),
            ),
        ];
        let first = first_failure(&events).unwrap();
        assert_eq!(first.logical_id, "Queue");
        assert_eq!(
            first.reason.as_deref(),
            Some("Invalid value for VisibilityTimeout")
        );
        assert!(first_failure(&events[..1]).is_none());
    }

    #[test]
    fn both_no_change_dialects_are_recognised() {
        assert!(is_no_change_message("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(is_no_change_message("No updates are to be performed."));
        assert!(!is_no_change_message("Template format error"));
    }
}
