//! Templates: load `templates/*.yaml`, apply the project config, validate, and produce the
//! exact documents `up` deploys.
//!
//! Config values reach a template through its parameters: the rendered template is the
//! source template with each supplied parameter's `Default` set to the configured value, so
//! the rendered file is self-contained and is byte for byte what CloudFormation receives.

mod cross_stack;
mod output_parameters;
mod parameters;
pub(crate) mod stackset;
pub(crate) mod validate;

pub(crate) use parameters::parameter_prefix;
use parameters::{check_constraints, supplied_values, Supplied};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bounded::{self, Input};
use crate::config::{Project, ScalarValue};
use crate::diagnostic::{Diagnostic, SourceError};
use crate::yaml::{self, Mapping, PathSegment, Value};

/// CloudFormation's limit for a template passed inline as `TemplateBody`.
pub(crate) const INLINE_BODY_LIMIT: usize = 51_200;

const TOP_LEVEL_KEYS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
];

/// One stack's rendered template and what the tool needs to know about it.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedStack {
    pub stack: String,
    /// The source template, as configured.
    pub source: PathBuf,
    /// The document CloudFormation receives.
    #[serde(skip)]
    pub body: String,
    pub size_bytes: usize,
    /// Larger than CloudFormation's inline limit: must be uploaded to S3 first.
    pub needs_s3_upload: bool,
    /// Parameter values the config supplied (as the parameters' defaults).
    pub parameters: BTreeMap<String, String>,
    /// Logical id → resource type.
    pub resources: BTreeMap<String, String>,
    pub outputs: Vec<String>,
    /// Function keys whose Lambda function this stack creates.
    pub functions: Vec<String>,
    /// The service role CloudFormation acts with (`stacks[].role_arn`), if any.
    pub role_arn: Option<String>,
    /// Parameters the config fills from stack outputs (name → configured value, e.g.
    /// `${output:ScorekeepWorkerQueueArn}`): the body keeps their template `Default` until
    /// [`RenderedStack::with_outputs`] sets the value at deploy.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters_from_outputs: BTreeMap<String, String>,
}

/// Render every stack in the project. Validates everything before returning anything, so a
/// caller that writes files writes all of them or none.
pub(crate) fn render_project(project: &Project) -> Result<Vec<RenderedStack>, SourceError> {
    let mut rendered = Vec::new();
    for (index, stack) in project.config.stacks.iter().enumerate() {
        let path = project.resolve(&stack.template);
        let read = bounded::read(&path, Input::Template).and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        });
        let source = read.map_err(SourceError::read(Input::Template, &path))?;
        rendered.push(render_stack(project, index, &path, &source)?);
    }
    cross_stack::check(project, &rendered)?;
    Ok(rendered)
}

/// Render one stack from its template source.
pub(crate) fn render_stack(
    project: &Project,
    index: usize,
    path: &Path,
    source: &str,
) -> Result<RenderedStack, SourceError> {
    let stack = &project.config.stacks[index];
    let mut doc = parse_template(path, source)?;

    let declared: Vec<String> = mapping_keys(doc.get("Parameters"));
    let Supplied {
        values: supplied,
        origins,
        functions,
        from_outputs,
    } = supplied_values(project, index, path, &declared)?;
    check_constraints(project, path, &doc, &supplied, &origins)?;
    let given = Given {
        values: &supplied,
        from_outputs: &from_outputs,
    };
    apply_defaults(project, &stack.name, &mut doc, given, path, source)?;

    if let Some(problem) = validate::check_references(&doc).into_iter().next() {
        return Err(locate(path, source, &problem.path, problem.message)
            .with_hint(problem.hint)
            .into());
    }

    let body = yaml::to_string(&doc).map_err(|e| Diagnostic::new(path, None, e.message))?;
    Ok(RenderedStack {
        stack: stack.name.clone(),
        source: path.to_path_buf(),
        size_bytes: body.len(),
        needs_s3_upload: body.len() > INLINE_BODY_LIMIT,
        body,
        parameters: supplied
            .into_iter()
            .map(|(k, v)| (k, scalar_text(&v)))
            .collect(),
        resources: resource_types(&doc),
        outputs: mapping_keys(doc.get("Outputs")),
        functions,
        role_arn: stack.role_arn.clone(),
        parameters_from_outputs: from_outputs,
    })
}

/// A diagnostic at a path into the template, so every template error names its line.
fn locate(path: &Path, source: &str, at: &[PathSegment], message: String) -> Diagnostic {
    Diagnostic::new(path, yaml::locate(source, at), message)
}

/// The template as YAML with only CloudFormation's top-level sections, before any config applies.
fn parse_template(path: &Path, source: &str) -> Result<Value, SourceError> {
    let doc: Value = yaml::from_str(source).map_err(|e| {
        Diagnostic::new(path, e.position, format!("invalid YAML: {}", e.message))
            .with_hint(e.hint.unwrap_or(
            "fix the syntax at that position; CloudFormation short-form tags like !Ref are fine",
        ))
    })?;
    check_shape(&doc, path, source)?;
    Ok(doc)
}

/// What the config gives a stack's parameters: values now, and values from stack outputs later.
#[derive(Clone, Copy)]
struct Given<'a> {
    values: &'a BTreeMap<String, Value>,
    from_outputs: &'a BTreeMap<String, String>,
}

/// Config values become parameter `Default`s, so the rendered template is self-contained; a
/// parameter left without any value would only fail at deploy time, so it is refused here.
fn apply_defaults(
    project: &Project,
    stack_name: &str,
    doc: &mut Value,
    given: Given<'_>,
    path: &Path,
    source: &str,
) -> Result<(), SourceError> {
    let Some(Value::Mapping(params)) = doc.get_mut("Parameters") else {
        return Ok(());
    };
    for (name, value) in given.values {
        if let Some(Value::Mapping(param)) = params.get_mut(name.as_str()) {
            param.insert(Value::from("Default"), value.clone());
        }
    }
    for (name, param) in params.iter() {
        let name = name.as_str().unwrap_or_default();
        if param.get("Default").is_none() && given.from_outputs.contains_key(name) {
            // The stack is created before its own outputs exist (and `render` runs before any).
            return Err(locate(
                path,
                source,
                &["Parameters".into(), name.into()],
                format!("parameter `{name}` is filled from a stack output, which does not exist until the stack that declares it is deployed, and it has no Default"),
            )
            .with_hint(format!("give `{name}` a Default in the template (e.g. `Default: \"\"`) for the stack to use until the output exists"))
            .into());
        }
        if param.get("Default").is_none() {
            return Err(locate(
                path,
                source,
                &["Parameters".into(), name.into()],
                format!("parameter `{name}` has no Default and the config gives it no value"),
            )
            .with_hint(format!(
                "add `{name}: VALUE` under `parameters:` of stack `{stack_name}` in {}",
                project.config_path.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Logical id → resource type: the plan rows for a stack that does not exist yet.
fn resource_types(doc: &Value) -> BTreeMap<String, String> {
    doc.get("Resources")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str()?.to_string(),
                        v.get("Type")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_shape(doc: &Value, path: &Path, source: &str) -> Result<(), Diagnostic> {
    let at = |p: &[PathSegment], message: String| {
        Diagnostic::new(path, yaml::locate(source, p), message)
    };
    let Some(map) = doc.as_mapping() else {
        return Err(
            Diagnostic::new(path, None, "a template must be a YAML mapping").with_hint(
                "start with `AWSTemplateFormatVersion: \"2010-09-09\"` and `Resources:`",
            ),
        );
    };
    for key in map.keys() {
        let key = key.as_str().unwrap_or_default();
        if !TOP_LEVEL_KEYS.contains(&key) {
            return Err(
                at(&[key.into()], format!("unknown top-level section `{key}`"))
                    .with_hint(format!("sections: {}", TOP_LEVEL_KEYS.join(", "))),
            );
        }
    }
    let resources = match doc.get("Resources") {
        Some(Value::Mapping(r)) if !r.is_empty() => r,
        _ => {
            return Err(
                Diagnostic::new(path, None, "the template has no `Resources`")
                    .with_hint("a CloudFormation template needs at least one resource"),
            )
        }
    };
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or_default();
        match resource.get("Type") {
            Some(Value::String(t)) if t.contains("::") => {}
            _ => {
                return Err(at(
                    &["Resources".into(), id.into()],
                    format!("resource `{id}` has no valid `Type`"),
                )
                .with_hint("e.g. `Type: AWS::SQS::Queue`"))
            }
        }
    }
    if let Some(params) = doc.get("Parameters") {
        let Some(params) = params.as_mapping() else {
            return Err(at(
                &["Parameters".into()],
                "`Parameters` must be a mapping".into(),
            ));
        };
        for (name, param) in params {
            if !matches!(param, Value::Mapping(m) if m.contains_key("Type")) {
                let name = name.as_str().unwrap_or_default();
                return Err(at(
                    &["Parameters".into(), name.into()],
                    format!("parameter `{name}` has no `Type`"),
                )
                .with_hint("e.g. `Type: String`"));
            }
        }
    }
    Ok(())
}

fn mapping_keys(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_mapping)
        .map(|m: &Mapping| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn scalar_to_value(value: &ScalarValue) -> Value {
    match value {
        ScalarValue::String(s) => Value::from(s.as_str()),
        ScalarValue::Integer(n) => Value::from(*n),
        ScalarValue::Float(n) => Value::from(*n),
        ScalarValue::Bool(b) => Value::from(b.to_string()),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parameters::parameter_prefix;
    use super::*;

    const CONFIG: &str = include_str!("../../scorekeep-deploy.yaml");
    const TEMPLATE: &str = include_str!("../../templates/scorekeep.yaml");

    fn project(config: &str) -> Project {
        Project::from_source(
            Path::new("scorekeep-deploy.yaml"),
            PathBuf::from("."),
            config.to_string(),
        )
        .unwrap()
    }

    fn render(config: &str, template: &str) -> Result<RenderedStack, SourceError> {
        let p = project(config);
        let stack = render_stack(&p, 0, Path::new("templates/scorekeep.yaml"), template)?;
        cross_stack::check(&p, std::slice::from_ref(&stack))?;
        Ok(stack)
    }

    fn error(config: &str, template: &str) -> String {
        crate::error::render(render(config, template).unwrap_err())
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).expect(needle) + 1
    }

    #[test]
    fn prefixes_are_pascal_case() {
        assert_eq!(parameter_prefix("random-name"), "RandomName");
        assert_eq!(parameter_prefix("scorekeep_worker"), "ScorekeepWorker");
    }

    #[test]
    fn committed_project_renders_with_config_values_as_defaults() {
        let config = CONFIG.replace("memory: 256", "memory: 512");
        let r = render(&config, TEMPLATE).unwrap();
        assert_eq!(r.stack, "scorekeep-lambda");
        assert_eq!(r.parameters["ScorekeepWorkerMemorySize"], "512");
        assert_eq!(r.parameters["RandomNameRuntime"], "nodejs22.x");
        assert_eq!(r.parameters["ScorekeepWorkerTrigger"], "queue");
        // The seed's timer: a schedule implies `trigger: schedule`.
        let timer = CONFIG.replace("trigger: queue", "schedule: rate(5 minutes)");
        let on_timer = render(&timer, TEMPLATE).unwrap();
        assert_eq!(
            on_timer.parameters["ScorekeepWorkerSchedule"],
            "rate(5 minutes)"
        );
        assert_eq!(on_timer.parameters["ScorekeepWorkerTrigger"], "schedule");
        let both = CONFIG.replace(
            "trigger: queue",
            "trigger: queue\n    schedule: rate(5 minutes)",
        );
        let refused =
            Project::from_source(Path::new("scorekeep-deploy.yaml"), PathBuf::from("."), both);
        let Err(refused) = refused else {
            panic!("a schedule with trigger: queue was accepted");
        };
        let refused = format!("{refused:?}");
        assert!(
            refused.contains("which only `trigger: schedule` uses"),
            "{refused}"
        );
        assert_eq!(r.functions, vec!["random-name", "scorekeep-worker"]);
        assert!(!r.needs_s3_upload && r.size_bytes < INLINE_BODY_LIMIT);
        // The rendered document carries the value, and short-form tags survive.
        let doc: Value = yaml::from_str(&r.body).unwrap();
        assert_eq!(
            doc["Parameters"]["ScorekeepWorkerMemorySize"]["Default"],
            Value::from(512)
        );
        assert!(r.body.contains("!Ref ") && r.body.contains("!GetAtt "));
        for output in [
            "ScorekeepWorkerQueueUrl",
            "ScorekeepRecordsBucketName",
            "ScorekeepNotificationTopicArn",
            "RandomNameFunctionArn",
            "ScorekeepWorkerFunctionArn",
        ] {
            assert!(
                r.outputs.iter().any(|o| o == output),
                "missing output {output}"
            );
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            render(CONFIG, TEMPLATE).unwrap().body,
            render(CONFIG, TEMPLATE).unwrap().body
        );
    }

    #[test]
    fn template_syntax_error_is_located() {
        let broken = TEMPLATE.replacen("Resources:", "Resources: [", 1);
        let msg = error(CONFIG, &broken);
        assert!(msg.starts_with("templates/scorekeep.yaml:"), "{msg}");
        assert!(msg.contains("invalid YAML"), "{msg}");
    }

    #[test]
    fn dangling_ref_is_located_in_the_template() {
        let broken = TEMPLATE.replacen("!Ref NotificationTopic", "!Ref NotificationTopik", 1);
        let line = line_of(&broken, "NotificationTopik");
        let msg = error(CONFIG, &broken);
        assert!(
            msg.starts_with(&format!("templates/scorekeep.yaml:{line}:")),
            "{msg}"
        );
        assert!(msg.contains("`!Ref NotificationTopik`"), "{msg}");
        assert!(msg.contains("did you mean `NotificationTopic`?"), "{msg}");
    }

    #[test]
    fn parameter_without_value_is_located_and_names_the_fix() {
        let broken = TEMPLATE.replacen(
            "\nParameters:\n",
            "\nParameters:\n  AlarmEmail:\n    Type: String\n    Description: where alarms go\n",
            1,
        );
        let line = line_of(&broken, "AlarmEmail:");
        let msg = error(CONFIG, &broken);
        assert!(
            msg.starts_with(&format!("templates/scorekeep.yaml:{line}:3:")),
            "{msg}"
        );
        assert!(msg.contains("`AlarmEmail` has no Default"), "{msg}");
        assert!(msg.contains("AlarmEmail: VALUE"), "{msg}");
    }

    #[test]
    fn undeclared_stack_parameter_is_located_in_the_config() {
        let config = CONFIG.replacen("LogRetentionDays: 30", "LogRetentionDay: 30", 1);
        let line = line_of(&config, "LogRetentionDay:");
        let msg = error(&config, TEMPLATE);
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:")),
            "{msg}"
        );
        assert!(msg.contains("`LogRetentionDay` is not declared"), "{msg}");
        assert!(
            msg.contains("hint: did you mean `LogRetentionDays`?"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_output_reference_is_located_in_the_config() {
        let config = CONFIG.replacen(
            "WORKER_QUEUE: ${output:ScorekeepWorkerQueueUrl}",
            "WORKER_QUEUE: ${output:WorkerQueue}",
            1,
        );
        let line = line_of(&config, "${output:WorkerQueue}");
        let msg = error(&config, TEMPLATE);
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:")),
            "{msg}"
        );
        assert!(
            msg.contains("`${output:WorkerQueue}` is not an output"),
            "{msg}"
        );
    }

    #[test]
    fn function_no_stack_creates_is_an_error() {
        let config = CONFIG.replacen(
            "functions:\n",
            "functions:\n  extra:\n    source: functions/extra\n    runtime: python3.13\n    handler: app.handler\n",
            1,
        );
        let msg = error(&config, TEMPLATE);
        assert!(
            msg.contains("function `extra` is not created by any stack"),
            "{msg}"
        );
        assert!(msg.contains("ExtraFunctionName"), "{msg}");
    }

    #[test]
    fn resource_without_type_is_located() {
        let broken = TEMPLATE.replacen("    Type: AWS::SNS::Topic", "    Typ: AWS::SNS::Topic", 1);
        let msg = error(CONFIG, &broken);
        assert!(msg.contains("has no valid `Type`"), "{msg}");
        assert!(msg.starts_with("templates/scorekeep.yaml:"), "{msg}");
    }
}
