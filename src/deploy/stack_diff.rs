//! What differs between a stack as CloudFormation has it and as rendered, besides the resource
//! rows CloudFormation computes: outputs, parameter values and tags. A change set can change
//! only these and have no resource rows, so `plan` lists them and `up` still executes it.
//!
//! Desired: the rendered template (its Outputs, its parameters' Defaults, which carry the
//! config's values) and the config's tags. Actual: DescribeStacks' parameters and tags, and
//! the template GetTemplate returns (an output's definition cannot be compared by its value).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::cfn::LiveStack;
use crate::yaml::{self, Value};

/// The part of a stack a [`StackChange`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackPart {
    Output,
    Parameter,
    Tag,
    /// The template differs in nothing else (a Description, Metadata, formatting).
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartAction {
    Add,
    Modify,
    Remove,
}

/// One output, parameter value or tag the update would add, change or remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackChange {
    pub part: StackPart,
    pub name: String,
    pub action: PartAction,
    /// The value CloudFormation has now (outputs: their current value, when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The value the update sets (not for outputs: CloudFormation resolves them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl StackChange {
    /// The change of a template that differs from the deployed one in nothing listed above.
    pub(crate) fn template_only() -> StackChange {
        StackChange {
            part: StackPart::Template,
            name: "body".into(),
            action: PartAction::Modify,
            from: None,
            to: None,
        }
    }
}

impl fmt::Display for StackChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = match self.part {
            StackPart::Output => "output",
            StackPart::Parameter => "parameter",
            StackPart::Tag => "tag",
            StackPart::Template => "template",
        };
        write!(
            f,
            "{:<8} {part} {}",
            format!("{:?}", self.action),
            self.name
        )?;
        // An empty value would print as nothing at all.
        let shown = |v: &String| {
            if v.is_empty() {
                "(empty)".to_string()
            } else {
                v.clone()
            }
        };
        match (self.from.as_ref().map(shown), self.to.as_ref().map(shown)) {
            (Some(from), Some(to)) => write!(f, ": {from} -> {to}"),
            (None, Some(to)) => write!(f, ": {to}"),
            (Some(from), None) => write!(f, " (now {from})"),
            (None, None) => Ok(()),
        }
    }
}

/// Parameter name → the value CloudFormation uses when an update passes none: the Default
/// as CloudFormation reports it back ("30", lists comma-joined). NoEcho parameters are left
/// out: DescribeStacks masks their values.
pub(crate) fn parameter_defaults(body: &str) -> BTreeMap<String, String> {
    let doc: Value = yaml::from_str(body).unwrap_or(Value::Null);
    let Some(params) = doc.get("Parameters").and_then(Value::as_mapping) else {
        return BTreeMap::new();
    };
    params
        .iter()
        .filter(|(_, p)| p.get("NoEcho").and_then(as_text).as_deref() != Some("true"))
        .filter_map(|(name, p)| Some((name.as_str()?.to_string(), as_text(p.get("Default")?)?)))
        .collect()
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Sequence(items) => {
            let parts: Option<Vec<String>> = items.iter().map(as_text).collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

/// Output name → its definition in a template body.
fn output_definitions(body: &str) -> BTreeMap<String, Value> {
    let doc: Value = yaml::from_str(body).unwrap_or(Value::Null);
    doc.get("Outputs")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every outputs, parameter value and tag difference between the deployed stack (`live`,
/// deployed with `deployed_body`) and the rendered body with the config's `tags`.
pub(crate) fn stack_changes(
    live: &LiveStack,
    deployed_body: &str,
    rendered_body: &str,
    tags: &BTreeMap<String, String>,
) -> Vec<StackChange> {
    let mut changes = Vec::new();
    let outputs_now = output_definitions(deployed_body);
    let outputs_then = output_definitions(rendered_body);
    let current_value = |name: &str| live.outputs.get(name).cloned();
    for (name, action) in diff_keys(&outputs_now, &outputs_then) {
        changes.push(StackChange {
            part: StackPart::Output,
            action,
            from: current_value(&name),
            to: None,
            name,
        });
    }
    // A NoEcho value comes back masked: it cannot be compared, so it is not reported.
    let params_now: BTreeMap<String, String> = live
        .parameters
        .iter()
        .filter(|(_, v)| v.as_str() != "****")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let params_then = parameter_defaults(rendered_body);
    changes.extend(value_changes(
        StackPart::Parameter,
        &params_now,
        &params_then,
    ));
    changes.extend(value_changes(StackPart::Tag, &live.tags, tags));
    changes
}

/// Keys added, changed or removed from `now` to `then`, in key order.
fn diff_keys<V: PartialEq>(
    now: &BTreeMap<String, V>,
    then: &BTreeMap<String, V>,
) -> Vec<(String, PartAction)> {
    let mut keys: Vec<&String> = now.keys().chain(then.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let action = match (now.get(k), then.get(k)) {
                (None, Some(_)) => PartAction::Add,
                (Some(_), None) => PartAction::Remove,
                (Some(a), Some(b)) if a != b => PartAction::Modify,
                _ => return None,
            };
            Some((k.clone(), action))
        })
        .collect()
}

fn value_changes(
    part: StackPart,
    now: &BTreeMap<String, String>,
    then: &BTreeMap<String, String>,
) -> Vec<StackChange> {
    diff_keys(now, then)
        .into_iter()
        .map(|(name, action)| StackChange {
            part,
            action,
            from: now.get(&name).cloned(),
            to: then.get(&name).cloned(),
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYED: &str = "Parameters:\n  Days:\n    Type: Number\n    Default: 30\n  Secret:\n    Type: String\n    NoEcho: true\n    Default: s3cr3t\nResources:\n  Log:\n    Type: AWS::Logs::LogGroup\nOutputs:\n  LogName:\n    Value: !Ref Log\n";

    fn live(params: &[(&str, &str)], tags: &[(&str, &str)]) -> LiveStack {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        LiveStack {
            status: "UPDATE_COMPLETE".into(),
            reason: None,
            outputs: map(&[("LogName", "scorekeep-log")]),
            tags: map(tags),
            parameters: map(params),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_read_as_cloudformation_reports_them_and_noecho_is_left_out() {
        let body = "Parameters:\n  A:\n    Type: Number\n    Default: 30\n  B:\n    Type: CommaDelimitedList\n    Default: [x, y]\n  C:\n    Type: String\n    Default: 'on'\n  D:\n    Type: String\n    NoEcho: true\n    Default: hidden\n  E:\n    Type: String\n";
        let d = parameter_defaults(body);
        assert_eq!(d.get("A").map(String::as_str), Some("30"));
        assert_eq!(d.get("B").map(String::as_str), Some("x,y"));
        assert_eq!(d.get("C").map(String::as_str), Some("on"));
        assert!(!d.contains_key("D") && !d.contains_key("E"), "{d:?}");
    }

    #[test]
    fn the_same_stack_has_no_changes() {
        let now = live(
            &[("Days", "30"), ("Secret", "****")],
            &[("app", "scorekeep")],
        );
        let changes = stack_changes(&now, DEPLOYED, DEPLOYED, &tags(&[("app", "scorekeep")]));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn an_added_output_a_changed_default_and_a_changed_tag_are_each_listed() {
        let now = live(
            &[("Days", "30"), ("Secret", "****")],
            &[("app", "scorekeep"), ("old", "x")],
        );
        let rendered = DEPLOYED
            .replace("Default: 30", "Default: 14")
            .replace("Outputs:\n", "Outputs:\n  Extra:\n    Value: hello\n");
        let changes = stack_changes(&now, DEPLOYED, &rendered, &tags(&[("app", "game")]));
        let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "Add      output Extra",
                "Modify   parameter Days: 30 -> 14",
                "Modify   tag app: scorekeep -> game",
                "Remove   tag old (now x)",
            ],
            "{changes:?}"
        );
    }

    #[test]
    fn a_modified_output_names_its_current_value() {
        let now = live(&[("Days", "30")], &[]);
        let rendered = DEPLOYED.replace("Value: !Ref Log", "Value: !GetAtt Log.Arn");
        let changes = stack_changes(&now, DEPLOYED, &rendered, &BTreeMap::new());
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            changes[0].to_string(),
            "Modify   output LogName (now scorekeep-log)"
        );
    }

    #[test]
    fn an_empty_value_is_shown_as_empty() {
        let change = StackChange {
            part: StackPart::Parameter,
            action: PartAction::Modify,
            name: "WorkerQueueArn".into(),
            from: Some(String::new()),
            to: Some("arn:aws:sqs:us-east-1:123456789012:q".into()),
        };
        assert_eq!(
            change.to_string(),
            "Modify   parameter WorkerQueueArn: (empty) -> arn:aws:sqs:us-east-1:123456789012:q"
        );
    }
}
