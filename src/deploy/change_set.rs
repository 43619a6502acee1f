//! Change sets: create one for an existing stack (idempotently), wait until CloudFormation
//! has computed it, and decide from its status whether there is anything to execute.
//!
//! A computed change set (CREATE_COMPLETE) is executed even with no resource rows: outputs,
//! parameter values and tags change that way. Only a FAILED one whose reason says it contains
//! no changes is a no-op; deleting the others would leave the stack's template behind the
//! rendered one, and every later run would create and delete a change set again.

use std::time::Duration;

use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::types::{ChangeSetStatus, DeploymentMode, Tag};
use aws_sdk_cloudformation::Client;

use super::change_row::ChangeRow;
use crate::aws::cfn::{delete_change_set, is_no_change_message, TemplateSource};
use crate::aws::change_set::{self as aws_change_set, NewChangeSet};
use crate::aws::{error_code, error_message, explain};
use crate::error::Problem;
use crate::report::Task;
use crate::template::RenderedStack;

/// How the change set treats resources changed outside CloudFormation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChangeSetMode {
    /// Compare the template with the previous template (CloudFormation's default).
    #[default]
    Standard,
    /// `DeploymentMode: REVERT_DRIFT`: also bring drifted resources back to the template
    /// (`up --revert-drift`). CloudFormation allows it only for UPDATE change sets.
    RevertDrift,
}

/// A computed change set that has something to do.
#[derive(Debug, Clone)]
pub(crate) struct ReadyChangeSet {
    pub(crate) id: String,
    /// Resource rows; may be empty (outputs, parameters or tags only).
    pub(crate) rows: Vec<ChangeRow>,
}

/// What a DescribeChangeSet status means for the deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Computed {
    /// CloudFormation is still computing it.
    Pending,
    /// Computed: execute it, whatever its rows.
    Ready,
    /// FAILED because it contains no changes.
    NothingToDo,
    /// FAILED for another reason (CloudFormation's).
    Rejected(String),
}

pub(crate) fn computed(status: Option<&ChangeSetStatus>, reason: Option<&str>) -> Computed {
    match status {
        Some(ChangeSetStatus::CreateComplete) => Computed::Ready,
        Some(ChangeSetStatus::Failed) => {
            let reason = reason.unwrap_or("no reason given");
            if is_no_change_message(reason) {
                Computed::NothingToDo
            } else {
                Computed::Rejected(reason.to_string())
            }
        }
        _ => Computed::Pending,
    }
}

/// Create an UPDATE change set and wait until it is computed. `None` when CloudFormation
/// says there is nothing to change (the change set is deleted again).
pub(crate) async fn create(
    cfn: &Client,
    rendered: &RenderedStack,
    template_url: Option<&str>,
    tags: Vec<Tag>,
    mode: ChangeSetMode,
    task: &Task,
) -> anyhow::Result<Option<ReadyChangeSet>> {
    let request = Request {
        rendered,
        template_url,
        tags,
        mode,
    };
    let Some(id) = request.send(cfn, task).await? else {
        return Ok(None);
    };
    await_ready(cfn, rendered.stack.as_str(), &id).await
}

struct Request<'a> {
    rendered: &'a RenderedStack,
    template_url: Option<&'a str>,
    tags: Vec<Tag>,
    mode: ChangeSetMode,
}

impl Request<'_> {
    /// Send CreateChangeSet under a fresh name with a ClientToken; its id, or `None` when the
    /// endpoint already says there is nothing to change. The SDK resends the same token on
    /// a retry; an endpoint that ignores it answers AlreadyExists, and then the change set
    /// under our name is the one the lost answer was about.
    async fn send(self, cfn: &Client, task: &Task) -> anyhow::Result<Option<String>> {
        let stack = self.rendered.stack.as_str();
        let change_set_name = format!(
            "scorekeep-deploy-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        );
        task.set_message(format!("stack {stack}: creating change set"));
        let template = match self.template_url {
            Some(url) => TemplateSource::Url(url),
            None => TemplateSource::Body(&self.rendered.body),
        };
        let deployment_mode = match self.mode {
            ChangeSetMode::Standard => None,
            ChangeSetMode::RevertDrift => Some(DeploymentMode::RevertDrift),
        };
        let new = NewChangeSet {
            stack,
            name: &change_set_name,
            template,
            tags: self.tags,
            deployment_mode,
            role_arn: self.rendered.role_arn.as_deref(),
        };
        let created = aws_change_set::create(cfn, new).await;
        match created {
            Ok(id) => Ok(Some(id)),
            Err(err) if error_message(&err).is_some_and(is_no_change_message) => Ok(None),
            Err(err) if error_code(&err) == Some("AlreadyExistsException") => {
                Ok(Some(existing_id(cfn, stack, &change_set_name).await?))
            }
            Err(err) => {
                Err(explain(format!("creating a change set for stack {stack}"), &err).into())
            }
        }
    }
}

/// The id of the change set `name` of `stack` (found after a retried create).
async fn existing_id(cfn: &Client, stack: &str, name: &str) -> anyhow::Result<String> {
    let out = aws_change_set::describe(cfn, Some(stack), name)
        .await
        .map_err(|e| explain(format!("reading change set {name} of stack {stack}"), &e))?;
    Ok(out.change_set_id().unwrap_or(name).to_string())
}

/// Poll the change set until CloudFormation has computed it: ready (with its rows, possibly
/// none), or `None` (deleted again) when it changes nothing; a rejected change set fails with
/// CloudFormation's reason.
async fn await_ready(cfn: &Client, name: &str, id: &str) -> anyhow::Result<Option<ReadyChangeSet>> {
    let mut delay = Duration::from_millis(100);
    loop {
        let out = aws_change_set::describe(cfn, None, id)
            .await
            .map_err(|e| explain(format!("reading the change set of stack {name}"), &e))?;
        match computed(out.status(), out.status_reason()) {
            Computed::Ready => {
                return Ok(Some(ReadyChangeSet {
                    id: id.to_string(),
                    rows: change_rows(&out),
                }))
            }
            Computed::NothingToDo => {
                delete_change_set(cfn, id).await;
                return Ok(None);
            }
            Computed::Rejected(reason) => {
                delete_change_set(cfn, id).await;
                return Err(Problem::failure(format!(
                    "stack {name}: CloudFormation rejected the change set: {reason}"
                ))
                .hint(
                    "fix the template (run `scorekeep-deploy render` and cfn-lint on it) and rerun",
                )
                .into());
            }
            Computed::Pending => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computed_change_set_is_ready_whatever_its_rows() {
        // Outputs-, parameter- or tag-only updates: CREATE_COMPLETE with no resource rows.
        assert_eq!(
            computed(Some(&ChangeSetStatus::CreateComplete), None),
            Computed::Ready
        );
        assert_eq!(
            change_rows(
                &DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .build()
            ),
            Vec::new()
        );
    }

    #[test]
    fn only_a_failed_change_set_without_changes_is_a_no_op() {
        for reason in [
            "The submitted information didn't contain changes. Submit different information to create a change set.",
            "No updates are to be performed.",
        ] {
            assert_eq!(
                computed(Some(&ChangeSetStatus::Failed), Some(reason)),
                Computed::NothingToDo
            );
        }
        assert_eq!(
            computed(
                Some(&ChangeSetStatus::Failed),
                Some("Template format error: bad")
            ),
            Computed::Rejected("Template format error: bad".into())
        );
        assert_eq!(
            computed(Some(&ChangeSetStatus::Failed), None),
            Computed::Rejected("no reason given".into())
        );
        assert_eq!(
            computed(Some(&ChangeSetStatus::CreateInProgress), None),
            Computed::Pending
        );
        assert_eq!(computed(None, None), Computed::Pending);
    }
}
