//! A rendered template turned into one a StackSet deploys by itself in every account and
//! region, with no call of this tool's in the target accounts:
//!
//! - each function's `Code` comes from the target region's code bucket (`targets.code_bucket`)
//!   at the key in the `<Prefix>CodeKey` parameter;
//! - its environment is in the template, `${output:Name}` replaced by that output's own value
//!   expression and `${region}` by `${AWS::Region}`;
//! - a `<Prefix>Version` resource carries `CodeSha256` from `<Prefix>CodeSha256`, so a new
//!   code sha publishes a new version, and the release alias points at it.

use std::collections::BTreeMap;

use super::parameter_prefix;
use crate::config::{parse_references, Piece, Project, Targets};
use crate::error::Problem;
use crate::yaml::{self, Mapping, TaggedValue, Value};

/// The StackSet's template and the parameters this tool sets on every run (code only).
#[derive(Debug, Clone)]
pub(crate) struct StackSetTemplate {
    pub(crate) body: String,
    /// Function key → (`<Prefix>CodeKey`, `<Prefix>CodeSha256`).
    pub(crate) code_parameters: BTreeMap<String, (String, String)>,
}

fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: serde_yaml::value::Tag::new(tag),
        value,
    }))
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// The StackSet template for the rendered stack `body` that creates `functions`.
pub(crate) fn stack_set_template(
    project: &Project,
    targets: &Targets,
    (stack_set, body): (&str, &str),
    functions: &[String],
) -> anyhow::Result<StackSetTemplate> {
    let mut doc: Mapping = yaml::from_str(body).map_err(|e| Problem::failure(e.message))?;
    let outputs = output_values(&doc);
    let bucket = targets.code_bucket.replace("{region}", "${AWS::Region}");
    let mut code_parameters = BTreeMap::new();
    for key in functions {
        let prefix = parameter_prefix(key);
        let (code_key, code_sha) = (format!("{prefix}CodeKey"), format!("{prefix}CodeSha256"));
        add_parameter(
            &mut doc,
            &code_key,
            "The bundle's key in the region's code bucket.",
        );
        add_parameter(
            &mut doc,
            &code_sha,
            "The bundle's SHA-256 (base64), as Lambda reports it.",
        );
        let environment = environment(project, key, &outputs)?;
        let resources = doc
            .get_mut("Resources")
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| Problem::failure("the rendered template has no Resources"))?;
        let function = format!("{prefix}Function");
        let properties = resources
            .get_mut(function.as_str())
            .and_then(|r| r.get_mut("Properties"))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| {
                Problem::failure(format!("the template has no `{function}` resource"))
                    .hint("a StackSet template names each function's resource `<Prefix>Function`")
            })?;
        let code = map(vec![
            ("S3Bucket", tagged("Sub", Value::from(bucket.as_str()))),
            ("S3Key", tagged("Ref", Value::from(code_key.as_str()))),
        ]);
        properties.insert("Code".into(), code);
        properties.insert("Environment".into(), map(vec![("Variables", environment)]));
        let version = map(vec![
            ("Type", Value::from("AWS::Lambda::Version")),
            (
                "Properties",
                map(vec![
                    (
                        "FunctionName",
                        tagged("Ref", Value::from(function.as_str())),
                    ),
                    ("CodeSha256", tagged("Ref", Value::from(code_sha.as_str()))),
                ]),
            ),
        ]);
        let version_id = format!("{prefix}Version");
        resources.insert(version_id.as_str().into(), version);
        if let Some(alias) = resources
            .get_mut(format!("{prefix}Alias").as_str())
            .and_then(|r| r.get_mut("Properties"))
            .and_then(Value::as_mapping_mut)
        {
            let target = Value::Sequence(vec![version_id.into(), "Version".into()]);
            alias.insert("FunctionVersion".into(), tagged("GetAtt", target));
        }
        code_parameters.insert(key.clone(), (code_key, code_sha));
    }
    name_queues_and_topics(&mut doc, stack_set);
    allow_redrive_only_from_sources(&mut doc);
    let body = yaml::to_string(&doc).map_err(|e| Problem::failure(e.message))?;
    Ok(StackSetTemplate {
        body,
        code_parameters,
    })
}

/// Queues and topics named `<StackSet>-<LogicalId>`: an instance is the only one of its stage
/// in its account and region, so the name is unique, and it does not depend on the instance
/// stack's name, which CloudFormation makes up (`StackSet-<name>-<uuid>`; moto uses
/// `StackSet:<name>`, whose colon no queue or topic name may contain).
fn name_queues_and_topics(doc: &mut Mapping, stack_set: &str) {
    let Some(resources) = doc.get_mut("Resources").and_then(Value::as_mapping_mut) else {
        return;
    };
    for (id, resource) in resources.iter_mut() {
        let field = match resource.get("Type").and_then(Value::as_str) {
            Some("AWS::SQS::Queue") => "QueueName",
            Some("AWS::SNS::Topic") => "TopicName",
            _ => continue,
        };
        let name: String = format!("{stack_set}-{}", id.as_str().unwrap_or_default())
            .chars()
            .take(80)
            .collect();
        if let Some(properties) = resource
            .get_mut("Properties")
            .and_then(Value::as_mapping_mut)
        {
            if !properties.contains_key(field) {
                properties.insert(field.into(), name.into());
            }
        }
    }
}

/// With every queue named, a dead-letter queue can name the queues that may use it: a
/// `byQueue` RedriveAllowPolicy of their ARNs, built from their names (a `!GetAtt` of the
/// source queue would be a circular reference, as the source's RedrivePolicy names the DLQ).
fn allow_redrive_only_from_sources(doc: &mut Mapping) {
    let Some(resources) = doc.get_mut("Resources").and_then(Value::as_mapping_mut) else {
        return;
    };
    let mut sources: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for resource in resources.values() {
        let properties = resource.get("Properties");
        let name = properties
            .and_then(|p| p.get("QueueName"))
            .and_then(Value::as_str);
        let target = properties
            .and_then(|p| p.get("RedrivePolicy"))
            .and_then(|r| r.get("deadLetterTargetArn"))
            .and_then(dead_letter_queue);
        if let (Some(name), Some(dlq)) = (name, target) {
            let arn =
                format!("arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}");
            sources
                .entry(dlq)
                .or_default()
                .push(tagged("Sub", Value::from(arn)));
        }
    }
    let mut replaced_conditions = Vec::new();
    for (dlq, arns) in sources {
        let properties = resources
            .get_mut(dlq.as_str())
            .and_then(|r| r.get_mut("Properties"))
            .and_then(Value::as_mapping_mut);
        if let Some(properties) = properties {
            let policy = map(vec![
                ("redrivePermission", Value::from("byQueue")),
                ("sourceQueueArns", Value::Sequence(arns)),
            ]);
            let replaced = properties.insert("RedriveAllowPolicy".into(), policy);
            replaced_conditions.extend(replaced.as_ref().and_then(if_condition));
        }
    }
    // The template's own policy may hang on a condition (the default template's is filled in
    // by a second stack pass, which a StackSet does not make): drop what only it used.
    for condition in replaced_conditions {
        drop_unused_condition(doc, &condition);
    }
}

/// The condition an `!If [Condition, then, else]` value tests.
fn if_condition(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if crate::yaml::tag_name(t) == "If" => {
            t.value.as_sequence()?.first()?.as_str().map(String::from)
        }
        _ => None,
    }
}

/// Remove `condition` when nothing else names it any more, then each parameter only it used
/// (cfn-lint warns of an unused condition or parameter).
fn drop_unused_condition(doc: &mut Mapping, condition: &str) {
    let Some(conditions) = doc.get_mut("Conditions").and_then(Value::as_mapping_mut) else {
        return;
    };
    let Some(expression) = conditions.remove(condition) else {
        return;
    };
    if mentions(&Value::Mapping(doc.clone()), condition) {
        if let Some(conditions) = doc.get_mut("Conditions").and_then(Value::as_mapping_mut) {
            conditions.insert(condition.into(), expression);
        }
        return;
    }
    let parameters: Vec<String> = doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .map(|p| {
            p.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for parameter in parameters.iter().filter(|p| mentions(&expression, p)) {
        let mut without_metadata = doc.clone();
        without_metadata.remove("Metadata");
        if !mentions(&Value::Mapping(without_metadata), parameter) {
            drop_parameter(doc, parameter);
        }
    }
}

/// Remove a parameter and its place in the console's parameter groups.
fn drop_parameter(doc: &mut Mapping, parameter: &str) {
    if let Some(parameters) = doc.get_mut("Parameters").and_then(Value::as_mapping_mut) {
        parameters.remove(parameter);
    }
    let groups = doc
        .get_mut("Metadata")
        .and_then(|m| m.get_mut("AWS::CloudFormation::Interface"))
        .and_then(|i| i.get_mut("ParameterGroups"))
        .and_then(Value::as_sequence_mut);
    if let Some(groups) = groups {
        for group in groups.iter_mut() {
            if let Some(names) = group.get_mut("Parameters").and_then(Value::as_sequence_mut) {
                names.retain(|n| n.as_str() != Some(parameter));
            }
        }
        groups.retain(|g| {
            g.get("Parameters")
                .and_then(Value::as_sequence)
                .is_none_or(|names| !names.is_empty())
        });
    }
}

/// Whether a value names `name` anywhere: as a whole string (`!Ref`, `Condition:`, an `!If`'s
/// condition) or as `${name}` in a `!Sub`. Mapping keys are not names in use.
fn mentions(value: &Value, name: &str) -> bool {
    match value {
        Value::String(s) => s == name || s.contains(&format!("${{{name}}}")),
        Value::Sequence(items) => items.iter().any(|v| mentions(v, name)),
        Value::Mapping(m) => m.values().any(|v| mentions(v, name)),
        Value::Tagged(t) => mentions(&t.value, name),
        _ => false,
    }
}

/// The logical id in `!GetAtt Id.Arn` (either form).
fn dead_letter_queue(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    if crate::yaml::tag_name(tagged) != "GetAtt" {
        return None;
    }
    match &tagged.value {
        Value::String(dotted) => dotted.strip_suffix(".Arn").map(String::from),
        Value::Sequence(parts) if parts.get(1).and_then(Value::as_str) == Some("Arn") => {
            parts.first().and_then(Value::as_str).map(String::from)
        }
        _ => None,
    }
}

fn add_parameter(doc: &mut Mapping, name: &str, description: &str) {
    if let Some(parameters) = doc.get_mut("Parameters").and_then(Value::as_mapping_mut) {
        let parameter = map(vec![
            ("Type", Value::from("String")),
            ("Description", Value::from(description)),
        ]);
        parameters.insert(name.into(), parameter);
    }
}

/// Output name → its `Value` expression.
fn output_values(doc: &Mapping) -> BTreeMap<String, Value> {
    let Some(outputs) = doc.get("Outputs").and_then(Value::as_mapping) else {
        return BTreeMap::new();
    };
    outputs
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.get("Value")?.clone())))
        .collect()
}

/// The function's configured environment as template values: a `!Sub` per variable whose
/// `${output:…}` become `${Output0}`… bound to the outputs' expressions.
fn environment(
    project: &Project,
    key: &str,
    outputs: &BTreeMap<String, Value>,
) -> anyhow::Result<Value> {
    let f = &project.config.functions[key];
    if f.tracing_sdk == crate::config::TracingSdk::OtelLayer {
        return Err(Problem::usage(format!(
            "function `{key}`: `tracing_sdk: otel-layer` is not supported in a stage with `targets` yet"
        ))
        .hint("use `tracing_sdk: otel` (the SDK in the bundle), which needs no per-region layer")
        .into());
    }
    let mut variables = Mapping::new();
    for (name, value) in &f.environment {
        let pieces = parse_references(value).map_err(Problem::usage)?;
        let mut text = String::new();
        let mut bound = Mapping::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => text.push_str(&t.replace("${", "${!")),
                Piece::Region => text.push_str("${AWS::Region}"),
                Piece::Output(output) => {
                    let expression = outputs.get(&output).ok_or_else(|| {
                        Problem::usage(format!(
                            "function `{key}`: environment {name} uses `${{output:{output}}}`, which the stack's template does not declare"
                        ))
                        .hint("in a stage with `targets`, a function's environment can use only its own stack's outputs")
                    })?;
                    let var = format!("Output{}", bound.len());
                    text.push_str(&format!("${{{var}}}"));
                    bound.insert(var.into(), expression.clone());
                }
            }
        }
        let value = if bound.is_empty() && !text.contains("${") {
            Value::from(text)
        } else if bound.is_empty() {
            tagged("Sub", Value::from(text))
        } else {
            tagged(
                "Sub",
                Value::Sequence(vec![text.into(), Value::Mapping(bound)]),
            )
        };
        variables.insert(name.as_str().into(), value);
    }
    Ok(Value::Mapping(variables))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Metadata:
  AWS::CloudFormation::Interface:
    ParameterGroups:
      - Label: {default: Messaging}
        Parameters: [SourceArn]
      - Label: {default: Other}
        Parameters: [Kept]
Parameters:
  SourceArn: {Type: String, Default: ""}
  Kept: {Type: String, Default: ""}
Conditions:
  KnowsSource: !Not [!Equals [!Ref SourceArn, ""]]
  HasKept: !Not [!Equals [!Ref Kept, ""]]
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      RedriveAllowPolicy: !If
        - KnowsSource
        - {redrivePermission: byQueue, sourceQueueArns: [!Ref SourceArn]}
        - !Ref AWS::NoValue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: set-Work
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 5}
  Other:
    Type: AWS::SNS::Topic
    Condition: HasKept
"#;

    #[test]
    fn a_replaced_conditional_policy_takes_its_condition_and_parameter_along() {
        let mut doc: Mapping = yaml::from_str(TEMPLATE).unwrap();
        allow_redrive_only_from_sources(&mut doc);
        let text = yaml::to_string(&doc).unwrap();
        assert!(text.contains("redrivePermission: byQueue"), "{text}");
        assert!(text.contains(":set-Work"), "{text}");
        for gone in ["KnowsSource", "SourceArn", "Messaging"] {
            assert!(!text.contains(gone), "{gone} is left:\n{text}");
        }
        // What something else still uses stays.
        for kept in ["HasKept", "Kept:", "Other"] {
            assert!(text.contains(kept), "{kept} was dropped:\n{text}");
        }
    }

    #[test]
    fn a_condition_something_else_uses_is_kept() {
        let shared = TEMPLATE.replace("Condition: HasKept", "Condition: KnowsSource");
        let mut doc: Mapping = yaml::from_str(&shared).unwrap();
        allow_redrive_only_from_sources(&mut doc);
        let text = yaml::to_string(&doc).unwrap();
        assert!(text.contains("KnowsSource: !Not"), "{text}");
        assert!(text.contains("SourceArn:"), "{text}");
    }
}
