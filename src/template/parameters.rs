//! Config values as template parameters: which parameters a function's settings supply, the
//! values the config gives one stack, and CloudFormation's constraints checked at the config
//! line that set each value.

use std::collections::BTreeMap;
use std::path::Path;

use super::{scalar_text, scalar_to_value, validate};
use crate::config::{parse_references, FunctionConfig, Piece, Project, ScalarValue};
use crate::diagnostic::SourceError;
use crate::yaml::{PathSegment, Value};

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
const RELEASE_ALIAS_PARAMETER: &str = "ReleaseAlias";

/// The template parameter that receives the `--stage` name (a template's export names use it).
const STAGE_PARAMETER: &str = "Stage";

/// The template parameters a function's settings supply, by parameter name.
fn function_parameters(project: &Project, key: &str, f: &FunctionConfig) -> Vec<(String, Value)> {
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
    // A schedule implies the timer trigger; without either the template's default (queue).
    let trigger = f.trigger.or(f
        .schedule
        .as_ref()
        .map(|_| crate::config::Trigger::Schedule));
    if let Some(trigger) = trigger {
        params.push(("Trigger", Value::from(trigger.as_str())));
    }
    params
        .into_iter()
        .map(|(setting, value)| (format!("{prefix}{setting}"), value))
        .collect()
}

/// Parameter values the config supplies to one stack's template.
pub(super) struct Supplied {
    pub(super) values: BTreeMap<String, Value>,
    /// Where in the config each value was written, for constraint errors.
    pub(super) origins: BTreeMap<String, Vec<PathSegment>>,
    /// Function keys whose `<Prefix>FunctionName` the template declares.
    pub(super) functions: Vec<String>,
    /// Parameters whose configured value refers to a stack output (`${output:Name}`): known
    /// only at deploy, so the rendered template keeps their `Default`.
    pub(super) from_outputs: BTreeMap<String, String>,
}

/// Function settings where the template declares the parameter, then the stack's explicit
/// `parameters`, which must all be declared.
pub(super) fn supplied_values(
    project: &Project,
    index: usize,
    path: &Path,
    declared: &[String],
) -> Result<Supplied, SourceError> {
    let stack = &project.config.stacks[index];
    let mut supplied: BTreeMap<String, Value> = BTreeMap::new();
    let mut origins: BTreeMap<String, Vec<PathSegment>> = BTreeMap::new();
    let mut functions = Vec::new();
    let mut from_outputs = BTreeMap::new();
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
    if let Some(stage) = project.stage.as_ref() {
        if declared.iter().any(|d| d == STAGE_PARAMETER) {
            supplied.insert(STAGE_PARAMETER.into(), Value::from(stage.name.as_str()));
            origins.insert(
                STAGE_PARAMETER.into(),
                vec!["stages".into(), stage.name.as_str().into()],
            );
        }
    }
    for (name, value) in &stack.parameters {
        let at: Vec<PathSegment> = vec![
            "stacks".into(),
            index.into(),
            "parameters".into(),
            name.as_str().into(),
        ];
        if !declared.contains(name) {
            return Err(project.error_at(
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
            ));
        }
        origins.insert(name.clone(), at);
        match references_in(value) {
            Some(text) => {
                from_outputs.insert(name.clone(), text);
            }
            None => {
                supplied.insert(name.clone(), scalar_to_value(value));
            }
        }
    }
    Ok(Supplied {
        values: supplied,
        origins,
        functions,
        from_outputs,
    })
}

/// A parameter value that refers to a stack output or the region: its text, resolved at
/// deploy. (The config's validation already refused a malformed reference.)
fn references_in(value: &ScalarValue) -> Option<String> {
    let ScalarValue::String(text) = value else {
        return None;
    };
    let pieces = parse_references(text).ok()?;
    pieces
        .iter()
        .any(|p| !matches!(p, Piece::Text(_)))
        .then(|| text.clone())
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
        "Trigger" if f.trigger.is_some() => Some("trigger"),
        "Trigger" => Some("schedule"),
        _ => None,
    };
    let mut path = vec!["functions".into(), key.into()];
    path.extend(field.map(PathSegment::from));
    path
}

/// CloudFormation rejects a parameter value outside the parameter's constraints only when the
/// stack is created or updated; check them here, at the config line that set the value.
pub(super) fn check_constraints(
    project: &Project,
    template: &Path,
    doc: &Value,
    supplied: &BTreeMap<String, Value>,
    origins: &BTreeMap<String, Vec<PathSegment>>,
) -> Result<(), SourceError> {
    for (name, value) in supplied {
        let Some(declaration) = doc.get("Parameters").and_then(|p| p.get(name.as_str())) else {
            continue;
        };
        let text = scalar_text(value);
        if let Err(violation) = validate::check_parameter_value(declaration, &text) {
            let path = origins.get(name).cloned().unwrap_or_default();
            return Err(project.error_at(
                &path,
                format!(
                    "`{name}` = {text} {} (declared in {})",
                    violation.message,
                    template.display()
                ),
                Some(violation.hint),
            ));
        }
    }
    Ok(())
}
