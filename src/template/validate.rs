//! Reference checks on a parsed CloudFormation template, before anything is sent anywhere:
//! every `Ref`, `GetAtt`, `Sub` variable, `DependsOn` and `Condition` must name something
//! the template declares.

use std::collections::BTreeSet;

use crate::yaml::{self, PathSegment, Value};

/// CloudFormation's pseudo parameters, always valid targets of `Ref` and `Sub`.
pub(crate) const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// The names a template declares.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    pub(crate) parameters: BTreeSet<String>,
    pub(crate) resources: BTreeSet<String>,
    pub(crate) conditions: BTreeSet<String>,
}

impl Declared {
    pub(crate) fn from_template(doc: &Value) -> Declared {
        let keys = |section: &str| -> BTreeSet<String> {
            doc.get(section)
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Declared {
            parameters: keys("Parameters"),
            resources: keys("Resources"),
            conditions: keys("Conditions"),
        }
    }

    fn is_ref_target(&self, name: &str) -> bool {
        self.parameters.contains(name)
            || self.resources.contains(name)
            || PSEUDO_PARAMETERS.contains(&name)
    }
}

/// A dangling reference, at a path into the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: Vec<PathSegment>,
    pub(crate) message: String,
    pub(crate) hint: String,
}

/// Every dangling reference in the template, in document order.
pub(crate) fn check_references(doc: &Value) -> Vec<Problem> {
    let declared = Declared::from_template(doc);
    let mut checker = Checker {
        declared: &declared,
        problems: Vec::new(),
        path: Vec::new(),
    };
    if let Some(resources) = doc.get("Resources").and_then(Value::as_mapping) {
        for (id, resource) in resources {
            let Some(id) = id.as_str() else { continue };
            checker.path = vec!["Resources".into(), id.into()];
            checker.resource_attributes(id, resource);
        }
    }
    checker.path.clear();
    checker.walk(doc);
    checker.problems
}

struct Checker<'a> {
    declared: &'a Declared,
    problems: Vec<Problem>,
    path: Vec<PathSegment>,
}

impl Checker<'_> {
    fn problem(&mut self, message: String, hint: String) {
        self.problems.push(Problem {
            path: self.path.clone(),
            message,
            hint,
        });
    }

    fn resource_attributes(&mut self, id: &str, resource: &Value) {
        if let Some(depends) = resource.get("DependsOn") {
            self.path.push("DependsOn".into());
            let targets: Vec<&str> = match depends {
                Value::String(s) => vec![s.as_str()],
                Value::Sequence(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            for target in targets {
                if !self.declared.resources.contains(target) {
                    self.problem(
                        format!("resource `{id}` DependsOn `{target}`, which is not a resource in this template"),
                        self.suggest(target, &self.declared.resources),
                    );
                }
            }
            self.path.pop();
        }
        if let Some(Value::String(condition)) = resource.get("Condition") {
            if !self.declared.conditions.contains(condition) {
                self.path.push("Condition".into());
                self.problem(
                    format!("resource `{id}` uses condition `{condition}`, which is not declared under Conditions"),
                    self.suggest(condition, &self.declared.conditions),
                );
                self.path.pop();
            }
        }
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::Tagged(tagged) => {
                let name = yaml::tag_name(tagged);
                self.intrinsic(&name, &tagged.value);
                self.walk(&tagged.value);
            }
            Value::Mapping(map) => {
                if map.len() == 1 {
                    if let Some((Value::String(key), inner)) = map.iter().next() {
                        let name = key.strip_prefix("Fn::").unwrap_or(key);
                        if key == "Ref" || key.starts_with("Fn::") {
                            self.path.push(key.as_str().into());
                            self.intrinsic(name, inner);
                            self.path.pop();
                        }
                    }
                }
                for (k, v) in map {
                    let segment = match k {
                        Value::String(s) => PathSegment::Key(s.clone()),
                        other => PathSegment::Key(format!("{other:?}")),
                    };
                    self.path.push(segment);
                    self.walk(v);
                    self.path.pop();
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push(i.into());
                    self.walk(item);
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    /// Dispatch an intrinsic function to the check for the names it refers to.
    fn intrinsic(&mut self, name: &str, arg: &Value) {
        match name {
            "Ref" => self.check_ref(arg),
            "GetAtt" => self.check_getatt(arg),
            "Sub" => self.check_sub(arg),
            "If" => self.check_if(arg),
            _ => {}
        }
    }

    /// `Ref` must name a parameter, resource or pseudo parameter.
    fn check_ref(&mut self, arg: &Value) {
        if let Some(target) = arg.as_str() {
            if !self.declared.is_ref_target(target) {
                self.problem(
                    format!(
                        "`!Ref {target}` does not name a parameter, resource or pseudo parameter"
                    ),
                    self.suggest_ref(target),
                );
            }
        }
    }

    /// `GetAtt`, in either `Res.Attr` or `[Res, Attr]` form, must name a resource.
    fn check_getatt(&mut self, arg: &Value) {
        let resource = match arg {
            Value::String(s) => s.split('.').next().map(String::from),
            Value::Sequence(items) => items.first().and_then(Value::as_str).map(String::from),
            _ => None,
        };
        if let Some(resource) = resource {
            if !self.declared.resources.contains(&resource) {
                self.problem(
                    format!("`!GetAtt {resource}...` does not name a resource in this template"),
                    self.suggest(&resource, &self.declared.resources),
                );
            }
        }
    }

    /// Each `${Var}` of a `Sub` must be a local variable, a `Ref` target or `Resource.Attr`.
    fn check_sub(&mut self, arg: &Value) {
        let (text, locals) = sub_parts(arg);
        for variable in text.map(sub_variables).unwrap_or_default() {
            let head = variable.split('.').next().unwrap_or(&variable).to_string();
            let ok = locals.contains(&variable)
                || if variable.contains('.') && !variable.starts_with("AWS::") {
                    self.declared.resources.contains(&head)
                } else {
                    self.declared.is_ref_target(&variable)
                };
            if !ok {
                self.problem(
                    format!("`!Sub` variable `${{{variable}}}` does not name a parameter, resource or pseudo parameter"),
                    self.suggest_ref(&head),
                );
            }
        }
    }

    /// `If`'s first argument must be a declared condition.
    fn check_if(&mut self, arg: &Value) {
        if let Some(condition) = arg
            .as_sequence()
            .and_then(|s| s.first())
            .and_then(Value::as_str)
        {
            if !self.declared.conditions.contains(condition) {
                self.problem(
                    format!("`!If` uses condition `{condition}`, which is not declared under Conditions"),
                    self.suggest(condition, &self.declared.conditions),
                );
            }
        }
    }

    fn suggest_ref(&self, target: &str) -> String {
        let all: BTreeSet<String> = self
            .declared
            .parameters
            .iter()
            .chain(&self.declared.resources)
            .cloned()
            .collect();
        self.suggest(target, &all)
    }

    fn suggest(&self, target: &str, candidates: &BTreeSet<String>) -> String {
        match crate::suggest::closest(target, candidates.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`?"),
            None if candidates.is_empty() => "declare it, or remove the reference".to_string(),
            None => format!(
                "declared names: {}",
                candidates.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A `Sub`'s string and its local variable names, for both the string and `[string, map]` forms.
fn sub_parts(arg: &Value) -> (Option<&str>, BTreeSet<String>) {
    match arg {
        Value::String(s) => (Some(s), BTreeSet::new()),
        Value::Sequence(items) => (
            items.first().and_then(Value::as_str),
            items
                .get(1)
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => (None, BTreeSet::new()),
    }
}

/// The `${Name}` variables of a `Sub` string; `${!Literal}` is an escape, not a variable.
pub(crate) fn sub_variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let body = &rest[start + 2..];
        let Some(end) = body.find('}') else { break };
        let name = body[..end].trim();
        if !name.starts_with('!') && !name.is_empty() {
            out.push(name.to_string());
        }
        rest = &body[end + 1..];
    }
    out
}

/// A parameter value outside its declared constraints: what is wrong and what would fit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) message: String,
    pub(crate) hint: String,
}

/// Check `value` against a parameter declaration's `Type: Number`, `AllowedValues`,
/// `AllowedPattern` (a full match, as CloudFormation applies it), `MinLength`/`MaxLength` and
/// `MinValue`/`MaxValue`.
pub(crate) fn check_parameter_value(declaration: &Value, value: &str) -> Result<(), Violation> {
    let text_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let number_of = |key: &str| {
        declaration
            .get(key)
            .map(text_of)
            .and_then(|t| t.parse::<f64>().ok())
    };
    let described = |fallback: String| {
        declaration
            .get("ConstraintDescription")
            .and_then(Value::as_str)
            .map_or(fallback, String::from)
    };
    let violation = |message: String, hint: String| Err(Violation { message, hint });
    if let Some(Value::Sequence(allowed)) = declaration.get("AllowedValues") {
        let allowed: Vec<String> = allowed.iter().map(text_of).collect();
        if !allowed.iter().any(|a| a == value) {
            return violation(
                "is not one of its AllowedValues".into(),
                described(format!("use one of: {}", allowed.join(", "))),
            );
        }
    }
    if let Some(pattern) = declaration.get("AllowedPattern").and_then(Value::as_str) {
        // A Java-only construct that regex-lite cannot compile is left to CloudFormation.
        let full = regex_lite::Regex::new(&format!("^(?:{pattern})$"));
        if matches!(&full, Ok(re) if !re.is_match(value)) {
            return violation(
                format!("does not match its AllowedPattern `{pattern}`"),
                described("change the value to match the pattern".into()),
            );
        }
    }
    let length = value.chars().count() as f64;
    if number_of("MinLength").is_some_and(|min| length < min)
        || number_of("MaxLength").is_some_and(|max| length > max)
    {
        return violation(
            "has a length outside its MinLength/MaxLength".into(),
            described("shorten or lengthen the value".into()),
        );
    }
    let is_number = declaration.get("Type").and_then(Value::as_str) == Some("Number");
    if is_number || number_of("MinValue").is_some() || number_of("MaxValue").is_some() {
        let Ok(n) = value.parse::<f64>() else {
            return violation("is not a number".into(), described("give a number".into()));
        };
        let (min, max) = (number_of("MinValue"), number_of("MaxValue"));
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            let bound = |b: Option<f64>| b.map_or("-".into(), |b| b.to_string());
            return violation(
                "is outside its MinValue/MaxValue".into(),
                described(format!("use a value from {} to {}", bound(min), bound(max))),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        check_references(&yaml::from_str(text).unwrap())
    }

    const BASE: &str = "
Parameters:
  Name: {Type: String, Default: x}
Conditions:
  IsProd: !Equals [!Ref Name, prod]
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Queue:
    Type: AWS::SQS::Queue
    DependsOn: Topic
    Properties:
      QueueName: !Sub '${Name}-${AWS::Region}-${Topic.TopicName}-${!Literal}'
      Tags:
        - Key: t
          Value: !GetAtt Topic.TopicArn
        - Key: u
          Value: {Ref: Name}
Outputs:
  Q: {Value: !If [IsProd, !Ref Queue, !Ref 'AWS::NoValue']}
";

    #[test]
    fn a_consistent_template_has_no_problems() {
        assert_eq!(problems(BASE), vec![]);
    }

    #[test]
    fn dangling_ref_is_reported_at_its_path_with_a_suggestion() {
        let p = problems(&BASE.replace("{Ref: Name}", "{Ref: Nme}"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("`!Ref Nme`"));
        assert_eq!(p[0].hint, "did you mean `Name`?");
        assert_eq!(
            p[0].path,
            vec![
                PathSegment::from("Resources"),
                "Queue".into(),
                "Properties".into(),
                "Tags".into(),
                1usize.into(),
                "Value".into(),
                "Ref".into()
            ]
        );
    }

    #[test]
    fn dangling_getatt_sub_dependson_and_condition() {
        let text = BASE
            .replace("!GetAtt Topic.TopicArn", "!GetAtt Topik.TopicArn")
            .replace("${Topic.TopicName}", "${Nope.TopicName}")
            .replace("${Name}", "${Missing}")
            .replace("DependsOn: Topic", "DependsOn: [Topic, Ghost]")
            .replace("!If [IsProd", "!If [IsDev");
        let messages: Vec<String> = problems(&text).into_iter().map(|p| p.message).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert!(messages.iter().any(|m| m.contains("DependsOn `Ghost`")));
        assert!(messages.iter().any(|m| m.contains("`!GetAtt Topik...`")));
        assert!(messages.iter().any(|m| m.contains("`${Missing}`")));
        assert!(messages.iter().any(|m| m.contains("`${Nope.TopicName}`")));
        assert!(messages.iter().any(|m| m.contains("condition `IsDev`")));
    }

    fn param(text: &str) -> Value {
        yaml::from_str(text).unwrap()
    }

    #[test]
    fn parameter_values_are_checked_against_their_constraints() {
        let days = param("Type: Number\nAllowedValues: [1, 3, 30]\n");
        assert!(check_parameter_value(&days, "30").is_ok());
        let v = check_parameter_value(&days, "31").unwrap_err();
        assert_eq!(v.message, "is not one of its AllowedValues");
        assert_eq!(v.hint, "use one of: 1, 3, 30");
        let name =
            param("Type: String\nAllowedPattern: '[a-z]+'\nConstraintDescription: lower case\n");
        assert!(check_parameter_value(&name, "abc").is_ok());
        // A full match, as CloudFormation applies it.
        let v = check_parameter_value(&name, "abc1").unwrap_err();
        assert!(
            v.message.contains("AllowedPattern") && v.hint == "lower case",
            "{v:?}"
        );
        let mem = param("Type: Number\nMinValue: 128\nMaxValue: 10240\n");
        assert!(check_parameter_value(&mem, "128").is_ok());
        assert!(check_parameter_value(&mem, "127").is_err());
        assert!(check_parameter_value(&mem, "lots").is_err());
        let len = param("Type: String\nMinLength: 2\nMaxLength: 3\n");
        assert!(check_parameter_value(&len, "ab").is_ok());
        assert!(check_parameter_value(&len, "a").is_err());
        assert!(check_parameter_value(&len, "abcd").is_err());
    }

    #[test]
    fn sub_variables_skip_escapes() {
        assert_eq!(sub_variables("a${B}c${!D}${E.F}"), vec!["B", "E.F"]);
    }
}
