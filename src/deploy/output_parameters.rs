//! The stack step for a stack whose parameters the config fills from stack outputs
//! (`template::output_parameters`).
//!
//! The values come from what CloudFormation reports: the outputs of the stacks before it and
//! the stack's own outputs as they are now. When a create or an update changes those outputs
//! (the first create makes them), the stack is updated once more with the new values. A run
//! stopped between the two passes is finished by the next run, whose first pass reads the
//! outputs the stopped run left; no local record is involved.

use std::collections::BTreeMap;

use super::stack::{self, StackAction, StackOptions, StackResult};
use super::stack_diff::{parameter_defaults, PartAction, StackChange, StackPart};
use super::template_url;
use crate::aws::cfn::{classify, LiveStack, StackState};
use crate::aws::Clients;
use crate::config::Project;
use crate::error::Problem;
use crate::report::Task;
use crate::template::RenderedStack;

/// The stack as it should be now: each output-filled parameter set from `earlier` (outputs of
/// the stacks deployed before it) and `live`'s own outputs. A stack that is not in a stable
/// state gives none of its own: they may be a failed attempt's.
pub(crate) fn filled(
    rendered: &RenderedStack,
    earlier: &BTreeMap<String, String>,
    live: Option<&LiveStack>,
    region: &str,
) -> Result<RenderedStack, Problem> {
    if rendered.parameters_from_outputs.is_empty() {
        return Ok(rendered.clone());
    }
    let mut known = earlier.clone();
    if let Some(live) = live.filter(|l| classify(&l.status) == StackState::Ready) {
        known.extend(live.outputs.clone());
    }
    rendered.with_outputs(&known, region)
}

/// For `plan` of a stack that does not exist yet: each output-filled parameter the create
/// leaves at its template `Default`, which `up`'s second pass then sets, as terraform shows a
/// value known only after apply.
pub(crate) fn after_create(filled: &RenderedStack) -> Vec<StackChange> {
    let defaults = parameter_defaults(&filled.body);
    filled
        .parameters_from_outputs
        .iter()
        .filter(|(name, _)| !filled.parameters.contains_key(*name))
        .map(|(name, value)| StackChange {
            part: StackPart::Parameter,
            name: name.clone(),
            action: PartAction::Modify,
            from: defaults.get(name).cloned(),
            to: Some(format!("(known after create: {value})")),
        })
        .collect()
}

/// What one stack needs besides its template: the project (tags, artifact bucket), `up`'s
/// options and the task that shows progress.
#[derive(Clone, Copy)]
pub(super) struct StackStep<'a> {
    pub(super) clients: &'a Clients,
    pub(super) project: &'a Project,
    pub(super) options: StackOptions,
    pub(super) task: &'a Task,
}

/// Deploy one stack, then, when its outputs changed what an output-filled parameter should be,
/// once more with the new values.
pub(super) async fn deploy(
    step: StackStep<'_>,
    rendered: &RenderedStack,
    earlier: &BTreeMap<String, String>,
) -> anyhow::Result<StackResult> {
    let (first, result) = deploy_once(step, rendered, earlier).await?;
    if rendered.parameters_from_outputs.is_empty() {
        return Ok(result);
    }
    let mut known = earlier.clone();
    known.extend(result.outputs.clone());
    let second = rendered.with_outputs(&known, &step.clients.region)?;
    if second.body == first.body {
        return Ok(result);
    }
    let names: Vec<&str> = changed_parameters(&first, &second);
    step.task.println(format!(
        "stack {}: {} now known from its outputs; updating the stack with {}",
        rendered.stack,
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    ));
    let (_, again) = deploy_once(step, rendered, earlier).await?;
    Ok(merged(result, again))
}

/// One create or update: the stack settled and read once, its output-filled parameters set
/// from `earlier` and its own outputs, the template uploaded first when it is over the inline
/// limit. The stack as deployed, and the result.
async fn deploy_once(
    step: StackStep<'_>,
    rendered: &RenderedStack,
    earlier: &BTreeMap<String, String>,
) -> anyhow::Result<(RenderedStack, StackResult)> {
    let cfn = &step.clients.cloudformation;
    let live = stack::settle(cfn, &rendered.stack, step.options, step.task).await?;
    let filled = filled(rendered, earlier, live.as_ref(), &step.clients.region)?;
    let url = template_url(step.clients, step.project, &filled).await?;
    let desired = stack::Desired {
        rendered: &filled,
        template_url: url.as_deref(),
        tags: &step.project.config.tags,
    };
    let result = stack::apply(cfn, desired, live, step.options, step.task).await?;
    Ok((filled, result))
}

/// The output-filled parameters whose value differs between two fillings of one stack.
fn changed_parameters<'a>(first: &RenderedStack, second: &'a RenderedStack) -> Vec<&'a str> {
    second
        .parameters_from_outputs
        .keys()
        .filter(|name| first.parameters.get(*name) != second.parameters.get(*name))
        .map(String::as_str)
        .collect()
}

/// Both passes as one result: created (or updated) with every row either pass applied, and
/// the stack as the second pass left it.
fn merged(first: StackResult, second: StackResult) -> StackResult {
    let action = match (first.action, second.action) {
        (StackAction::Created, _) => StackAction::Created,
        (StackAction::Unchanged, StackAction::Unchanged) => StackAction::Unchanged,
        _ => StackAction::Updated,
    };
    let mut changes = first.changes;
    changes.extend(second.changes);
    let mut stack_changes = first.stack_changes;
    stack_changes.extend(second.stack_changes);
    StackResult {
        action,
        changes,
        stack_changes,
        ..second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(action: StackAction, row: &str, output: &str) -> StackResult {
        StackResult {
            stack: "s".into(),
            action,
            status: format!("{action:?}"),
            changes: vec![crate::deploy::change_row::ChangeRow {
                action: "Modify".into(),
                logical_id: row.into(),
                resource_type: "AWS::SQS::Queue".into(),
                replacement: None,
            }],
            outputs: BTreeMap::from([("Q".to_string(), output.to_string())]),
            ..StackResult::default()
        }
    }

    #[test]
    fn a_created_stack_updated_again_reports_created_with_both_passes_rows() {
        let both = merged(
            result(StackAction::Created, "WorkerQueue", "old"),
            result(StackAction::Updated, "WorkerDeadLetterQueue", "new"),
        );
        assert_eq!(both.action, StackAction::Created);
        let rows: Vec<&str> = both.changes.iter().map(|r| r.logical_id.as_str()).collect();
        assert_eq!(rows, ["WorkerQueue", "WorkerDeadLetterQueue"]);
        assert_eq!(
            both.outputs["Q"], "new",
            "the outputs are the second pass's"
        );
        assert_eq!(both.status, "Updated");
    }

    #[test]
    fn plan_shows_a_parameter_only_the_second_pass_can_fill_as_known_after_create() {
        let body = "Parameters:\n  QueueArn:\n    Type: String\n    Default: ''\n  Other:\n    Type: String\n    Default: x\n";
        let stack = RenderedStack {
            stack: "s".into(),
            source: "t.yaml".into(),
            body: body.into(),
            size_bytes: body.len(),
            needs_s3_upload: false,
            parameters: BTreeMap::from([("Other".to_string(), "x".to_string())]),
            resources: BTreeMap::new(),
            outputs: vec!["Q".into()],
            functions: Vec::new(),
            role_arn: None,
            parameters_from_outputs: BTreeMap::from([
                ("QueueArn".to_string(), "${output:Q}".to_string()),
                // Filled already, from an earlier stack's output: not shown.
                ("Other".to_string(), "${output:Earlier}".to_string()),
            ]),
        };
        let changes = after_create(&stack);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            changes[0].to_string(),
            "Modify   parameter QueueArn: (empty) -> (known after create: ${output:Q})"
        );
    }

    #[test]
    fn an_unchanged_stack_whose_second_pass_updates_it_is_updated() {
        let both = merged(
            result(StackAction::Unchanged, "A", "x"),
            result(StackAction::Updated, "B", "y"),
        );
        assert_eq!(both.action, StackAction::Updated);
    }
}
