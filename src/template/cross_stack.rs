//! Checks that need every rendered stack: each function is created by exactly one stack, a
//! configured schedule is declared, and every `${output:Name}` in the config is an output.

use super::parameters::parameter_prefix;
use super::RenderedStack;
use crate::config::Project;
use crate::diagnostic::SourceError;
use crate::yaml::PathSegment;

/// Checks that need every stack: each function is created by exactly one stack, and every
/// `${output:Name}` in the config is an output of some stack.
pub(super) fn check(project: &Project, rendered: &[RenderedStack]) -> Result<(), SourceError> {
    for key in project.config.functions.keys() {
        check_function_creator(project, rendered, key)?;
        check_function_schedule(project, rendered, key)?;
    }
    check_output_references(project, rendered)?;
    super::output_parameters::check_order(project, rendered)
}

/// A function no stack creates cannot be deployed, and two creating stacks would fight over it.
fn check_function_creator(
    project: &Project,
    rendered: &[RenderedStack],
    key: &str,
) -> Result<(), SourceError> {
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
            )),
        _ => Err(project
            .error_at(
                &["functions".into(), key.into()],
                format!("function `{key}` is created by more than one stack ({})", creators.join(", ")),
                Some(format!("declare `{parameter}` in one template only")),
            )),
    }
}

/// A configured schedule that no template declares would be silently dropped; refuse it.
fn check_function_schedule(
    project: &Project,
    rendered: &[RenderedStack],
    key: &str,
) -> Result<(), SourceError> {
    if project.config.functions[key].schedule.is_none() {
        return Ok(());
    }
    let wanted = format!("{}Schedule", parameter_prefix(key));
    if rendered.iter().any(|r| r.parameters.contains_key(&wanted)) {
        return Ok(());
    }
    Err(project.error_at(
        &["functions".into(), key.into(), "schedule".into()],
        format!("function `{key}` has a schedule but no template declares `{wanted}`"),
        Some("add the parameter and a schedule rule to the template, or remove `schedule`".into()),
    ))
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
) -> Result<(), SourceError> {
    let outputs: Vec<&str> = rendered
        .iter()
        .flat_map(|r| r.outputs.iter().map(String::as_str))
        .collect();
    for (path, value) in config_references(project) {
        for name in crate::config::referenced_outputs(&value) {
            if !outputs.contains(&name.as_str()) {
                return Err(project.error_at(
                    &path,
                    format!("`${{output:{name}}}` is not an output of any stack"),
                    Some(format!("outputs: {}", outputs.join(", "))),
                ));
            }
        }
    }
    Ok(())
}
