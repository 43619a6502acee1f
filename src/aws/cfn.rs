//! CloudFormation: the thin calls every command shares (describe, events, template, delete),
//! the wait that streams events, and the one place stack outputs are gathered.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::error::SdkError;
use aws_sdk_cloudformation::operation::create_stack::CreateStackError;
use aws_sdk_cloudformation::types::{Capability, Tag, TemplateStage};
use aws_sdk_cloudformation::Client;

use super::progress::Progress;
use crate::aws::{error_message, explain};
use crate::error::Problem;

/// What DescribeStacks says about a stack.
#[derive(Debug, Clone)]
pub(crate) struct LiveStack {
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    /// Parameter values in use (NoEcho ones masked as `****` by CloudFormation).
    pub(crate) parameters: BTreeMap<String, String>,
}

/// The states that decide what `up` must do before it can deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StackState {
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

pub(crate) fn classify(status: &str) -> StackState {
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
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
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
pub(crate) fn first_failure(events: &[Event]) -> Option<&Event> {
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
pub(crate) fn is_no_change_message(message: &str) -> bool {
    message.contains("didn't contain changes")
        || message.contains("No updates are to be performed")
        || message.contains("does not contain changes")
}

pub(crate) fn desired_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) async fn describe(cfn: &Client, name: &str) -> anyhow::Result<Option<LiveStack>> {
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
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect(),
    }))
}

/// The template body the stack was last deployed with, as submitted.
pub(crate) async fn deployed_template(cfn: &Client, name: &str) -> anyhow::Result<String> {
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
pub(crate) async fn events(cfn: &Client, name: &str) -> anyhow::Result<Vec<Event>> {
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

pub(crate) async fn delete_change_set(cfn: &Client, id: &str) {
    // Best effort: a leftover change set is harmless and shows up in the console.
    if let Err(err) = cfn.delete_change_set().change_set_name(id).send().await {
        tracing::debug!("could not delete change set {id}: {err}");
    }
}

/// Poll until the stack leaves `*_IN_PROGRESS`, printing events not in `seen` as they come.
/// Ctrl-C stops waiting (AWS carries on) and says how to resume.
pub(crate) async fn wait_for_stack(
    cfn: &Client,
    name: &str,
    seen: &HashSet<String>,
    task: &dyn Progress,
) -> anyhow::Result<LiveStack> {
    let mut shown: HashSet<String> = seen.clone();
    let mut delay = Duration::from_millis(100);
    let mut status = "in progress".to_string();
    loop {
        let live = while_waiting(name, &status, task, describe(cfn, name)).await?;
        let history =
            while_waiting(name, &status, task, async { Ok(events(cfn, name).await) }).await?;
        for event in history.unwrap_or_default() {
            if shown.insert(event.id.clone()) {
                task.note(format!("event   {event}"));
            }
        }
        let Some(live) = live else {
            // Gone: a delete finished.
            return Ok(LiveStack {
                status: "DELETE_COMPLETE".into(),
                reason: None,
                outputs: BTreeMap::new(),
                tags: BTreeMap::new(),
                parameters: BTreeMap::new(),
            });
        };
        if !live.status.ends_with("_IN_PROGRESS") {
            return Ok(live);
        }
        status = live.status.clone();
        task.status(format!("stack {name}: {status}"));
        tracing::debug!("stack {name} is {status}; checking again in {delay:?}");
        while_waiting(name, &status, task, async {
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
    progress: &dyn Progress,
    step: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        biased;
        result = step => result,
        why = progress.stopped() => Err(Problem::interrupted(format!(
            "{why} while stack {name} is {status}: CloudFormation carries on"
        ))
        .hint("rerun the same command to wait for it and continue")
        .into()),
    }
}

/// Where CloudFormation reads a template from: inline, or an S3 URL (over the inline limit).
#[derive(Debug, Clone, Copy)]
pub(crate) enum TemplateSource<'a> {
    Body(&'a str),
    Url(&'a str),
}

/// CreateStack with CAPABILITY_NAMED_IAM and a fresh ClientRequestToken. Errors are the
/// SDK's, for the caller to tell "already exists" apart.
pub(crate) async fn create_stack(
    cfn: &Client,
    name: &str,
    template: TemplateSource<'_>,
    tags: Vec<Tag>,
    role_arn: Option<&str>,
) -> Result<(), SdkError<CreateStackError>> {
    let request = cfn.create_stack();
    let request = match template {
        TemplateSource::Url(url) => request.template_url(url),
        TemplateSource::Body(body) => request.template_body(body),
    };
    request
        .stack_name(name)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(tags))
        .set_role_arn(role_arn.map(String::from))
        .client_request_token(request_token("create"))
        .send()
        .await?;
    Ok(())
}

/// ContinueUpdateRollback of a stack in UPDATE_ROLLBACK_FAILED (the caller waits).
pub(crate) async fn continue_update_rollback(cfn: &Client, name: &str) -> anyhow::Result<()> {
    cfn.continue_update_rollback()
        .stack_name(name)
        .client_request_token(request_token("continue-rollback"))
        .send()
        .await
        .map_err(|e| explain(format!("continuing the rollback of stack {name}"), &e))?;
    Ok(())
}

/// The physical ids of the stack's resources of `resource_type` (e.g. `AWS::S3::Bucket`).
pub(crate) async fn physical_ids(
    cfn: &Client,
    name: &str,
    resource_type: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(resources(cfn, name)
        .await?
        .into_iter()
        .filter(|(t, _)| t == resource_type)
        .map(|(_, id)| id)
        .collect())
}

/// Every resource of a stack that has a physical id: (resource type, physical id).
pub(crate) async fn resources(cfn: &Client, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = cfn
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| explain(format!("listing resources of stack {name}"), &e))?;
    Ok(out
        .stack_resources()
        .iter()
        .filter_map(|r| Some((r.resource_type()?.into(), r.physical_resource_id()?.into())))
        .collect())
}

/// A fresh idempotency token for one stack mutation. The SDK resends the same request (and so
/// the same token) on retries, which CloudFormation recognises as the same operation.
pub(crate) fn request_token(operation: &str) -> String {
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

pub(crate) async fn delete_and_wait(
    cfn: &Client,
    name: &str,
    task: &dyn Progress,
) -> anyhow::Result<LiveStack> {
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
        crate::fail!(
            "stack {name} could not be deleted: {}{}",
            done.status,
            done.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            hint = "a resource blocked the deletion (see the events above); fix it and rerun"
        );
    }
    Ok(done)
}

/// The configured stacks as DescribeStacks sees them, in declared order: the one place stack
/// outputs are gathered (`up`, `update-functions`, `status` and `invoke --local` all read them
/// through this).
#[derive(Debug, Clone, Default)]
pub(crate) struct Stacks {
    pub(crate) stacks: Vec<(String, Option<LiveStack>)>,
}

impl Stacks {
    /// Describe each named stack; one that does not exist is `None`, not an error.
    pub(crate) async fn describe(
        cfn: &Client,
        names: impl IntoIterator<Item = &str>,
    ) -> anyhow::Result<Stacks> {
        let mut stacks = Vec::new();
        for name in names {
            stacks.push((name.to_string(), describe(cfn, name).await?));
        }
        Ok(Stacks { stacks })
    }

    /// Every output of the stacks that exist, merged (stack names keep outputs apart by
    /// convention: later stacks win on a clash, as CloudFormation exports would refuse it).
    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        self.stacks
            .iter()
            .filter_map(|(_, live)| live.as_ref())
            .flat_map(|live| live.outputs.clone())
            .collect()
    }

    /// The names of the stacks that do not exist.
    pub(crate) fn absent(&self) -> Vec<String> {
        self.stacks
            .iter()
            .filter(|(_, live)| live.is_none())
            .map(|(name, _)| name.clone())
            .collect()
    }
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
