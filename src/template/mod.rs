//! Templates: load `templates/*.yaml`, apply the project config, validate, and produce the
//! exact documents `up` deploys.
//!
//! Config values reach a template through its parameters: the rendered template is the
//! source template with each supplied parameter's `Default` set to the configured value, so
//! the rendered file is self-contained and is byte for byte what CloudFormation receives.

pub(crate) mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bounded::{self, Input};
use crate::config::{ConfigError, FunctionConfig, Project, ScalarValue};
use crate::diagnostic::Diagnostic;
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

#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Diagnostic),
}

impl crate::error::Explain for TemplateError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Usage
    }
    fn hint(&self) -> Option<String> {
        match self {
            TemplateError::Read { source, .. } if bounded::is_too_large(source) => Some(
                "CloudFormation takes templates of at most 1 MB: check what `stacks[].template` points to"
                    .into(),
            ),
            TemplateError::Read { .. } => Some(
                "check `stacks[].template` in the config; paths are relative to the config file"
                    .into(),
            ),
            TemplateError::Invalid(d) => crate::error::Explain::hint(d),
        }
    }
    fn resource(&self) -> Option<String> {
        match self {
            TemplateError::Read { path, .. } => Some(path.display().to_string()),
            TemplateError::Invalid(d) => crate::error::Explain::resource(d),
        }
    }
}

impl From<ConfigError> for TemplateError {
    fn from(err: ConfigError) -> Self {
        match err {
            ConfigError::Invalid(d) => TemplateError::Invalid(d),
            ConfigError::Read { path, source } => TemplateError::Read { path, source },
        }
    }
}

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
}

/// `random-name` → `RandomName`: the prefix of a function's template parameters.
pub(crate) fn parameter_prefix(function_key: &str) -> String {
    function_key
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The template parameter that receives `releases.alias` from the config.
pub(crate) const RELEASE_ALIAS_PARAMETER: &str = "ReleaseAlias";

/// The template parameters a function's settings supply, by parameter name.
pub(crate) fn function_parameters(
    project: &Project,
    key: &str,
    f: &FunctionConfig,
) -> Vec<(String, Value)> {
    let prefix = parameter_prefix(key);
    let mut params = vec![
        ("FunctionName", Value::from(project.lambda_name(key))),
        ("Runtime", Value::from(f.runtime.as_str())),
        ("Architecture", Value::from(f.architecture.as_str())),
        ("Handler", Value::from(f.handler.as_str())),
        ("MemorySize", Value::from(f.memory)),
        ("Timeout", Value::from(f.timeout)),
        ("TracingMode", Value::from(f.tracing.as_str())),
        ("TracingSdk", Value::from(f.tracing_sdk.as_str())),
    ];
    if let Some(schedule) = &f.schedule {
        params.push(("Schedule", Value::from(schedule.as_str())));
    }
    params
        .into_iter()
        .map(|(setting, value)| (format!("{prefix}{setting}"), value))
        .collect()
}

/// Parameter values the config supplies to one stack's template.
struct Supplied {
    values: BTreeMap<String, Value>,
    /// Where in the config each value was written, for constraint errors.
    origins: BTreeMap<String, Vec<PathSegment>>,
    /// Function keys whose `<Prefix>FunctionName` the template declares.
    functions: Vec<String>,
}

/// Function settings where the template declares the parameter, then the stack's explicit
/// `parameters`, which must all be declared.
fn supplied_values(
    project: &Project,
    index: usize,
    path: &Path,
    declared: &[String],
) -> Result<Supplied, TemplateError> {
    let stack = &project.config.stacks[index];
    let mut supplied: BTreeMap<String, Value> = BTreeMap::new();
    let mut origins: BTreeMap<String, Vec<PathSegment>> = BTreeMap::new();
    let mut functions = Vec::new();
    for (key, f) in &project.config.functions {
        let params = function_parameters(project, key, f);
        if declared.contains(&params[0].0) {
            functions.push(key.clone());
        }
        for (name, value) in params {
            if declared.contains(&name) {
                origins.insert(name.clone(), function_setting_path(key, f, &name));
                supplied.insert(name, value);
            }
        }
    }
    // The release alias's name, for templates that target the alias (issue 13).
    if declared.iter().any(|d| d == RELEASE_ALIAS_PARAMETER) {
        let alias = project.config.releases.alias.as_str();
        supplied.insert(RELEASE_ALIAS_PARAMETER.into(), Value::from(alias));
        origins.insert(RELEASE_ALIAS_PARAMETER.into(), vec!["releases".into()]);
    }
    for (name, value) in &stack.parameters {
        let at: Vec<PathSegment> = vec![
            "stacks".into(),
            index.into(),
            "parameters".into(),
            name.as_str().into(),
        ];
        if !declared.contains(name) {
            return Err(project
                .error_at(
                    &at,
                    format!(
                        "stack `{}`: parameter `{name}` is not declared by {}",
                        stack.name,
                        path.display()
                    ),
                    Some(
                        crate::suggest::did_you_mean(name, declared.iter().map(String::as_str))
                            + &format!("declared parameters: {}", declared.join(", ")),
                    ),
                )
                .into());
        }
        origins.insert(name.clone(), at);
        supplied.insert(name.clone(), scalar_to_value(value));
    }
    Ok(Supplied {
        values: supplied,
        origins,
        functions,
    })
}

/// The config path of the function setting that supplies template parameter `parameter`
/// (`RandomNameMemorySize` → `functions.random-name.memory`); the function itself for a value
/// the config leaves at its default.
fn function_setting_path(key: &str, f: &FunctionConfig, parameter: &str) -> Vec<PathSegment> {
    let setting = parameter
        .strip_prefix(&parameter_prefix(key))
        .unwrap_or_default();
    let field = match setting {
        "FunctionName" if f.name.is_some() => Some("name"),
        "Runtime" => Some("runtime"),
        "Architecture" => Some("architecture"),
        "Handler" => Some("handler"),
        "MemorySize" => Some("memory"),
        "Timeout" => Some("timeout"),
        "TracingMode" => Some("tracing"),
        "TracingSdk" => Some("tracing_sdk"),
        "Schedule" => Some("schedule"),
        _ => None,
    };
    let mut path = vec!["functions".into(), key.into()];
    path.extend(field.map(PathSegment::from));
    path
}

/// CloudFormation rejects a parameter value outside the parameter's constraints only when the
/// stack is created or updated; check them here, at the config line that set the value.
fn check_constraints(
    project: &Project,
    template: &Path,
    doc: &Value,
    supplied: &BTreeMap<String, Value>,
    origins: &BTreeMap<String, Vec<PathSegment>>,
) -> Result<(), TemplateError> {
    for (name, value) in supplied {
        let Some(declaration) = doc.get("Parameters").and_then(|p| p.get(name.as_str())) else {
            continue;
        };
        let text = scalar_text(value);
        if let Err(violation) = validate::check_parameter_value(declaration, &text) {
            let path = origins.get(name).cloned().unwrap_or_default();
            return Err(project
                .error_at(
                    &path,
                    format!(
                        "`{name}` = {text} {} (declared in {})",
                        violation.message,
                        template.display()
                    ),
                    Some(violation.hint),
                )
                .into());
        }
    }
    Ok(())
}

/// Render every stack in the project. Validates everything before returning anything, so a
/// caller that writes files writes all of them or none.
pub(crate) fn render_project(project: &Project) -> Result<Vec<RenderedStack>, TemplateError> {
    let mut rendered = Vec::new();
    for (index, stack) in project.config.stacks.iter().enumerate() {
        let path = project.resolve(&stack.template);
        let read = bounded::read(&path, Input::Template).and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        });
        let source = read.map_err(|source| TemplateError::Read {
            path: path.clone(),
            source,
        })?;
        rendered.push(render_stack(project, index, &path, &source)?);
    }
    check_cross_stack(project, &rendered)?;
    Ok(rendered)
}

/// Render one stack from its template source.
pub(crate) fn render_stack(
    project: &Project,
    index: usize,
    path: &Path,
    source: &str,
) -> Result<RenderedStack, TemplateError> {
    let stack = &project.config.stacks[index];
    let mut doc = parse_template(path, source)?;

    let declared: Vec<String> = mapping_keys(doc.get("Parameters"));
    let Supplied {
        values: supplied,
        origins,
        functions,
    } = supplied_values(project, index, path, &declared)?;
    check_constraints(project, path, &doc, &supplied, &origins)?;
    apply_defaults(project, &stack.name, &mut doc, &supplied, path, source)?;

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
    })
}

/// A diagnostic at a path into the template, so every template error names its line.
fn locate(path: &Path, source: &str, at: &[PathSegment], message: String) -> Diagnostic {
    Diagnostic::new(path, yaml::locate(source, at), message)
}

/// The template as YAML with only CloudFormation's top-level sections, before any config applies.
fn parse_template(path: &Path, source: &str) -> Result<Value, TemplateError> {
    let doc: Value = yaml::from_str(source).map_err(|e| {
        Diagnostic::new(path, e.position, format!("invalid YAML: {}", e.message))
            .with_hint(e.hint.unwrap_or(
            "fix the syntax at that position; CloudFormation short-form tags like !Ref are fine",
        ))
    })?;
    check_shape(&doc, path, source)?;
    Ok(doc)
}

/// Config values become parameter `Default`s, so the rendered template is self-contained; a
/// parameter left without any value would only fail at deploy time, so it is refused here.
fn apply_defaults(
    project: &Project,
    stack_name: &str,
    doc: &mut Value,
    supplied: &BTreeMap<String, Value>,
    path: &Path,
    source: &str,
) -> Result<(), TemplateError> {
    let Some(Value::Mapping(params)) = doc.get_mut("Parameters") else {
        return Ok(());
    };
    for (name, value) in supplied {
        if let Some(Value::Mapping(param)) = params.get_mut(name.as_str()) {
            param.insert(Value::from("Default"), value.clone());
        }
    }
    for (name, param) in params.iter() {
        let name = name.as_str().unwrap_or_default();
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

/// Checks that need every stack: each function is created by exactly one stack, and every
/// `${output:Name}` in the config is an output of some stack.
fn check_cross_stack(project: &Project, rendered: &[RenderedStack]) -> Result<(), TemplateError> {
    for key in project.config.functions.keys() {
        check_function_creator(project, rendered, key)?;
        check_function_schedule(project, rendered, key)?;
    }
    check_output_references(project, rendered)
}

/// A function no stack creates cannot be deployed, and two creating stacks would fight over it.
fn check_function_creator(
    project: &Project,
    rendered: &[RenderedStack],
    key: &str,
) -> Result<(), TemplateError> {
    let creators: Vec<&str> = rendered
        .iter()
        .filter(|r| r.functions.iter().any(|f| f == key))
        .map(|r| r.stack.as_str())
        .collect();
    let parameter = format!("{}FunctionName", parameter_prefix(key));
    match creators.len() {
        1 => Ok(()),
        0 => Err(project
            .error_at(
                &["functions".into(), key.into()],
                format!("function `{key}` is not created by any stack: no template declares the parameter `{parameter}`"),
                Some(format!("add a `{parameter}` parameter and the function resource to a template, or remove the function")),
            )
            .into()),
        _ => Err(project
            .error_at(
                &["functions".into(), key.into()],
                format!("function `{key}` is created by more than one stack ({})", creators.join(", ")),
                Some(format!("declare `{parameter}` in one template only")),
            )
            .into()),
    }
}

/// A configured schedule that no template declares would be silently dropped; refuse it.
fn check_function_schedule(
    project: &Project,
    rendered: &[RenderedStack],
    key: &str,
) -> Result<(), TemplateError> {
    if project.config.functions[key].schedule.is_none() {
        return Ok(());
    }
    let wanted = format!("{}Schedule", parameter_prefix(key));
    if rendered.iter().any(|r| r.parameters.contains_key(&wanted)) {
        return Ok(());
    }
    Err(project
        .error_at(
            &["functions".into(), key.into(), "schedule".into()],
            format!("function `{key}` has a schedule but no template declares `{wanted}`"),
            Some(
                "add the parameter and a schedule rule to the template, or remove `schedule`"
                    .into(),
            ),
        )
        .into())
}

/// Every config value that may hold `${output:…}` references, with its config path.
fn config_references(project: &Project) -> Vec<(Vec<PathSegment>, String)> {
    let mut references: Vec<(Vec<PathSegment>, String)> = Vec::new();
    for (key, f) in &project.config.functions {
        for (var, value) in &f.environment {
            references.push((
                vec![
                    "functions".into(),
                    key.as_str().into(),
                    "environment".into(),
                    var.as_str().into(),
                ],
                value.clone(),
            ));
        }
    }
    if let Some(eb) = &project.config.beanstalk {
        for (name, value) in &eb.properties {
            references.push((
                vec![
                    "beanstalk".into(),
                    "properties".into(),
                    name.as_str().into(),
                ],
                value.clone(),
            ));
        }
    }
    references
}

/// A reference to an output no stack declares would fail only after the stacks deploy.
fn check_output_references(
    project: &Project,
    rendered: &[RenderedStack],
) -> Result<(), TemplateError> {
    let outputs: Vec<&str> = rendered
        .iter()
        .flat_map(|r| r.outputs.iter().map(String::as_str))
        .collect();
    for (path, value) in config_references(project) {
        for name in crate::config::referenced_outputs(&value) {
            if !outputs.contains(&name.as_str()) {
                return Err(project
                    .error_at(
                        &path,
                        format!("`${{output:{name}}}` is not an output of any stack"),
                        Some(format!("outputs: {}", outputs.join(", "))),
                    )
                    .into());
            }
        }
    }
    Ok(())
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

    fn render(config: &str, template: &str) -> Result<RenderedStack, TemplateError> {
        let p = project(config);
        let stack = render_stack(&p, 0, Path::new("templates/scorekeep.yaml"), template)?;
        check_cross_stack(&p, std::slice::from_ref(&stack))?;
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
        assert_eq!(r.parameters["ScorekeepWorkerSchedule"], "rate(5 minutes)");
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
