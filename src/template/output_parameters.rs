//! Stack parameters filled from stack outputs (`parameters: {WorkerQueueArn:
//! ${output:ScorekeepWorkerQueueArn}}`).
//!
//! Such a value does not exist when the project renders, and an output of the parameter's own
//! stack not until the stack is created. So the rendered template keeps the parameter's
//! template `Default`, and `up` sets the value from the outputs CloudFormation reports
//! ([`RenderedStack::with_outputs`]), updating a stack once more after it is created. That is
//! how the dead-letter queue gets a RedriveAllowPolicy naming the queue whose RedrivePolicy
//! names it, which one template cannot say without a circular reference.

use std::collections::BTreeMap;

use super::{validate, RenderedStack, INLINE_BODY_LIMIT};
use crate::config::{referenced_outputs, resolve_references, Project};
use crate::diagnostic::SourceError;
use crate::error::Problem;
use crate::yaml::{self, PathSegment, Value};

impl RenderedStack {
    /// This stack with each parameter the config fills from an output set to its value in
    /// `outputs` (the template's `Default` otherwise: the output does not exist yet). A value
    /// outside the parameter's constraints is refused, naming the output it came from.
    pub(crate) fn with_outputs(
        &self,
        outputs: &BTreeMap<String, String>,
        region: &str,
    ) -> Result<RenderedStack, Problem> {
        let values: BTreeMap<&String, String> = self
            .parameters_from_outputs
            .iter()
            .filter_map(|(name, text)| {
                Some((name, resolve_references(text, outputs, region).ok()?))
            })
            .collect();
        if values.is_empty() {
            return Ok(self.clone());
        }
        let unreadable = |e: yaml::YamlError| {
            Problem::failure(format!(
                "stack {}: the rendered template could not be read back: {}",
                self.stack, e.message
            ))
        };
        let mut doc: Value = yaml::from_str(&self.body).map_err(unreadable)?;
        let params = doc
            .get_mut("Parameters")
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                Problem::failure(format!(
                    "stack {}: the rendered template has no Parameters",
                    self.stack
                ))
            })?;
        for (name, value) in &values {
            let Some(Value::Mapping(declaration)) = params.get_mut(name.as_str()) else {
                continue;
            };
            let as_value = Value::Mapping(declaration.clone());
            if let Err(violation) = validate::check_parameter_value(&as_value, value) {
                return Err(Problem::failure(format!(
                    "stack {}: parameter `{name}` = {value} (from `{}`) {}",
                    self.stack, self.parameters_from_outputs[*name], violation.message
                ))
                .hint(violation.hint));
            }
            declaration.insert(Value::from("Default"), Value::from(value.as_str()));
        }
        let body = yaml::to_string(&doc).map_err(unreadable)?;
        let mut resolved = self.clone();
        resolved.size_bytes = body.len();
        resolved.needs_s3_upload = body.len() > INLINE_BODY_LIMIT;
        resolved.body = body;
        resolved
            .parameters
            .extend(values.into_iter().map(|(k, v)| (k.clone(), v)));
        Ok(resolved)
    }
}

/// Each output a stack parameter refers to must be declared by that stack or one deployed
/// before it (`up` deploys `stacks:` in order), or the value could never be known.
pub(super) fn check_order(
    project: &Project,
    rendered: &[RenderedStack],
) -> Result<(), SourceError> {
    for (index, stack) in rendered.iter().enumerate() {
        for (parameter, value) in &stack.parameters_from_outputs {
            for output in referenced_outputs(value) {
                let declared_by = rendered.iter().position(|r| r.outputs.contains(&output));
                let at: [PathSegment; 4] = [
                    "stacks".into(),
                    index.into(),
                    "parameters".into(),
                    parameter.as_str().into(),
                ];
                match declared_by {
                    Some(by) if by <= index => {}
                    Some(by) => {
                        return Err(project.error_at(
                            &at,
                            format!("stack `{}`: parameter {parameter} uses `${{output:{output}}}` of stack `{}`, which is deployed after it", stack.stack, rendered[by].stack),
                            Some(format!("list stack `{}` before `{}` under `stacks:`", rendered[by].stack, stack.stack)),
                        ))
                    }
                    None => {
                        let outputs: Vec<&str> = rendered[..=index]
                            .iter()
                            .flat_map(|r| r.outputs.iter().map(String::as_str))
                            .collect();
                        return Err(project.error_at(
                            &at,
                            format!("stack `{}`: parameter {parameter} uses `${{output:{output}}}`, which is not an output of this stack or one before it", stack.stack),
                            Some(crate::suggest::did_you_mean(&output, outputs.iter().copied()) + &format!("outputs: {}", outputs.join(", "))),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::template::{cross_stack, render_stack};

    const CONFIG: &str = include_str!("../../scorekeep-deploy.yaml");
    const TEMPLATE: &str = include_str!("../../templates/scorekeep.yaml");
    const FROM_OUTPUT: &str = "WorkerQueueArn: ${output:ScorekeepWorkerQueueArn}";
    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:scorekeep-lambda-WorkerQueue-X1";

    fn project(config: &str) -> Result<Project, SourceError> {
        Project::from_source(
            Path::new("scorekeep-deploy.yaml"),
            PathBuf::from("."),
            config.to_string(),
        )
    }

    fn render(config: &str, template: &str) -> Result<RenderedStack, SourceError> {
        let p = project(config)?;
        let stack = render_stack(&p, 0, Path::new("templates/scorekeep.yaml"), template)?;
        cross_stack::check(&p, std::slice::from_ref(&stack))?;
        Ok(stack)
    }

    fn error(config: &str, template: &str) -> String {
        crate::error::render(render(config, template).unwrap_err())
    }

    fn outputs(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("ScorekeepWorkerQueueArn".to_string(), value.to_string())])
    }

    #[test]
    fn the_rendered_template_keeps_the_default_until_the_output_is_known() {
        assert!(CONFIG.contains(FROM_OUTPUT), "the project config uses it");
        let r = render(CONFIG, TEMPLATE).unwrap();
        assert_eq!(
            r.parameters_from_outputs["WorkerQueueArn"],
            "${output:ScorekeepWorkerQueueArn}"
        );
        assert!(
            !r.parameters.contains_key("WorkerQueueArn"),
            "{:?}",
            r.parameters
        );
        let doc: Value = yaml::from_str(&r.body).unwrap();
        let default = &doc["Parameters"]["WorkerQueueArn"]["Default"];
        assert_eq!(default.as_str(), Some(""), "the template's own Default");
        // No output yet (the stack is being created): the same stack, byte for byte.
        let unknown = r.with_outputs(&BTreeMap::new(), "us-east-1").unwrap();
        assert_eq!(unknown.body, r.body);
    }

    #[test]
    fn a_filled_parameter_is_what_the_same_value_written_in_the_config_renders() {
        let filled = render(CONFIG, TEMPLATE)
            .unwrap()
            .with_outputs(&outputs(ARN), "us-east-1")
            .unwrap();
        let written = render(
            &CONFIG.replace(FROM_OUTPUT, &format!("WorkerQueueArn: {ARN}")),
            TEMPLATE,
        )
        .unwrap();
        assert_eq!(filled.body, written.body);
        assert_eq!(filled.parameters, written.parameters);
        assert_eq!(filled.size_bytes, filled.body.len());
    }

    #[test]
    fn a_value_outside_the_parameter_constraints_names_the_output() {
        let r = render(CONFIG, TEMPLATE).unwrap();
        let err = r
            .with_outputs(&outputs("not an arn"), "us-east-1")
            .unwrap_err();
        let text = format!("{err}");
        assert!(
            text.contains("parameter `WorkerQueueArn` = not an arn"),
            "{text}"
        );
        assert!(text.contains("${output:ScorekeepWorkerQueueArn}"), "{text}");
    }

    #[test]
    fn a_filled_parameter_needs_a_default_for_the_first_create() {
        let template = TEMPLATE.replacen(
            "  WorkerQueueArn:\n    Type: String\n    Default: \"\"\n",
            "  WorkerQueueArn:\n    Type: String\n",
            1,
        );
        assert_ne!(template, TEMPLATE);
        let msg = error(CONFIG, &template);
        assert!(
            msg.contains("`WorkerQueueArn` is filled from a stack output"),
            "{msg}"
        );
        assert!(msg.contains("give `WorkerQueueArn` a Default"), "{msg}");
    }

    #[test]
    fn an_output_no_stack_up_to_this_one_declares_is_refused_at_its_line() {
        let config = CONFIG.replace(
            FROM_OUTPUT,
            "WorkerQueueArn: ${output:ScorekeepWorkerQueueAr}",
        );
        let msg = error(&config, TEMPLATE);
        let line = config
            .lines()
            .position(|l| l.contains("ScorekeepWorkerQueueAr}"))
            .unwrap()
            + 1;
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:")),
            "{msg}"
        );
        assert!(
            msg.contains("not an output of this stack or one before it"),
            "{msg}"
        );
        assert!(
            msg.contains("did you mean `ScorekeepWorkerQueueArn`"),
            "{msg}"
        );
    }

    #[test]
    fn an_output_of_a_later_stack_is_refused_with_the_order_to_fix() {
        let config = CONFIG.replace(FROM_OUTPUT, "WorkerQueueArn: ${output:LaterOutput}");
        let p = project(&config).unwrap();
        let first = render_stack(&p, 0, Path::new("templates/scorekeep.yaml"), TEMPLATE).unwrap();
        let mut later = first.clone();
        later.stack = "later-stack".into();
        later.parameters_from_outputs.clear();
        later.outputs = vec!["LaterOutput".into()];
        let err = check_order(&p, &[first, later]).unwrap_err();
        let msg = crate::error::render(err);
        assert!(
            msg.contains("of stack `later-stack`, which is deployed after it"),
            "{msg}"
        );
        assert!(
            msg.contains("list stack `later-stack` before `scorekeep-lambda`"),
            "{msg}"
        );
    }

    #[test]
    fn a_malformed_reference_in_a_parameter_is_refused_when_the_config_loads() {
        let config = CONFIG.replace(
            FROM_OUTPUT,
            "WorkerQueueArn: ${outptu:ScorekeepWorkerQueueArn}",
        );
        let Err(err) = project(&config) else {
            panic!("a malformed reference was accepted")
        };
        let msg = crate::error::render(err);
        assert!(
            msg.contains("parameter WorkerQueueArn: unknown reference"),
            "{msg}"
        );
        assert!(msg.contains("did you mean `${output:Name}`"), "{msg}");
    }
}
