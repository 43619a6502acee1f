//! Checks serde cannot express (names, ranges, references, paths), each an error at its
//! config line. Run once by [`Project::from_source`](super::Project::from_source).

use std::path::{Path, PathBuf};

use super::references::parse_references;
use super::schema::{
    Bundler, FunctionConfig, Language, DEPRECATED_RUNTIMES, NODE_RUNTIMES, PYTHON_RUNTIMES,
};
use super::Project;
use crate::diagnostic::SourceError;
use crate::yaml::PathSegment;

impl Project {
    /// Checks serde cannot express (names, ranges, references), each at its config line.
    pub(super) fn validate(&self) -> Result<(), SourceError> {
        self.validate_base()?;
        self.validate_stages()
    }

    /// The checks of one config, staged or not.
    pub(super) fn validate_base(&self) -> Result<(), SourceError> {
        if let Some(region) = &self.config.region {
            // As `--region`: it becomes part of the endpoint's host name.
            crate::checks::region(region)
                .map_err(|message| self.error_at(&["region".into()], message, None))?;
        }
        self.validate_stacks()?;
        for (key, f) in &self.config.functions {
            self.validate_function(key, f)?;
        }
        self.validate_releases()?;
        self.validate_beanstalk()
    }

    /// Lambda's alias rules (1–128 letters, digits, `-`, `_`, not all digits, which would
    /// read as a version), and at least one version kept.
    fn validate_releases(&self) -> Result<(), SourceError> {
        let r = &self.config.releases;
        let valid = (1..=128).contains(&r.alias.len())
            && r.alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !r.alias.chars().all(|c| c.is_ascii_digit());
        if !valid {
            return Err(self.error_at(
                &["releases".into(), "alias".into()],
                format!("invalid alias name `{}`", r.alias),
                Some(
                    "1-128 letters, digits, hyphens or underscores, not only digits (e.g. `live`)"
                        .into(),
                ),
            ));
        }
        // 1 would delete the previous release, the one a failed smoke test rolls back to.
        if r.keep_versions < 2 {
            return Err(self.error_at(
                &["releases".into(), "keep_versions".into()],
                "`keep_versions` must be at least 2".into(),
                Some("the release the alias points at and the one before it (the rollback target) are kept; 5 is the default".into()),
            ));
        }
        if !(0.0..=1.0).contains(&r.max_error_rate) {
            return Err(self.error_at(
                &["releases".into(), "max_error_rate".into()],
                format!(
                    "`max_error_rate` is {}, not a share from 0 to 1",
                    r.max_error_rate
                ),
                Some("0.01 lets 1 % of the new version's invocations fail while it bakes".into()),
            ));
        }
        Ok(())
    }
}

impl Project {
    /// CloudFormation refuses a bad or repeated stack name only at deploy time; catch it here.
    fn validate_stacks(&self) -> Result<(), SourceError> {
        let c = &self.config;
        if c.stacks.is_empty() {
            return Err(self.error_at(
                &["stacks".into()],
                "`stacks` is empty".into(),
                Some("list at least one stack with `name` and `template`".into()),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, stack) in c.stacks.iter().enumerate() {
            if !is_valid_stack_name(&stack.name) {
                return Err(self.error_at(
                    &["stacks".into(), i.into(), "name".into()],
                    format!("invalid stack name `{}`", stack.name),
                    Some("stack names start with a letter and contain only letters, digits and hyphens (at most 128 characters)".into()),
                ));
            }
            if !names.insert(&stack.name) {
                return Err(self.error_at(
                    &["stacks".into(), i.into(), "name".into()],
                    format!("stack `{}` is listed twice", stack.name),
                    None,
                ));
            }
            if let Some(role) = stack.role_arn.as_deref().filter(|r| !is_role_arn(r)) {
                return Err(self.error_at(
                    &["stacks".into(), i.into(), "role_arn".into()],
                    format!("`{role}` is not an IAM role ARN"),
                    Some("e.g. arn:aws:iam::123456789012:role/scorekeep-cloudformation".into()),
                ));
            }
            self.validate_stack_parameters(i, stack)?;
        }
        Ok(())
    }

    /// Reference syntax in stack parameter values (`${output:…}` fills one from a stack output
    /// at deploy) is checked before any stack is read.
    fn validate_stack_parameters(
        &self,
        index: usize,
        stack: &super::schema::StackConfig,
    ) -> Result<(), SourceError> {
        for (name, value) in &stack.parameters {
            let super::schema::ScalarValue::String(text) = value else {
                continue;
            };
            if let Err(message) = parse_references(text) {
                return Err(self.error_at(
                    &[
                        "stacks".into(),
                        index.into(),
                        "parameters".into(),
                        name.as_str().into(),
                    ],
                    format!("stack `{}`: parameter {name}: {message}", stack.name),
                    Some(REFERENCE_HINT.into()),
                ));
            }
        }
        Ok(())
    }

    /// One function's checks, in the order a user fixing them top-down would meet them.
    fn validate_function(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        self.validate_function_names(key, f)?;
        self.validate_source(key, f)?;
        self.validate_runtime(key, f)?;
        self.validate_limits(key, f)?;
        self.validate_handler(key, f)?;
        self.validate_packaging(key, f)?;
        self.validate_schedule(key, f)?;
        self.validate_environment(key, f)
    }

    /// A schedule EventBridge would refuse only when the stack is deployed.
    fn validate_schedule(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        let Some(schedule) = &f.schedule else {
            return Ok(());
        };
        if f.trigger == Some(super::schema::Trigger::Queue) {
            return Err(self.error_at(
                &function_field(key, "schedule"),
                format!("function `{key}` has `trigger: queue` and a `schedule`, which only `trigger: schedule` uses"),
                Some("remove `schedule`, or set `trigger: schedule` to run the function on a timer".into()),
            ));
        }
        crate::checks::schedule(schedule).map_err(|message| {
            self.error_at(
                &function_field(key, "schedule"),
                format!("function `{key}`: schedule {message}"),
                Some("see EventBridge's schedule expressions: rate(5 minutes), rate(1 hour), cron(0 12 * * ? *)".into()),
            )
        })
    }

    /// Packaging keys of the other language are mistakes, not silently ignored settings.
    fn validate_packaging(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        let (misplaced, hint) = match f.language() {
            Language::Python => (
                [
                    ("bundler", f.bundler.is_some()),
                    ("sourcemap", f.sourcemap.is_some()),
                    ("externals", f.externals.is_some()),
                ]
                .into_iter()
                .find(|(_, set)| *set),
                "Python functions take `bytecode: true|false`",
            ),
            Language::Node => (
                [("bytecode", f.bytecode.is_some())]
                    .into_iter()
                    .find(|(_, set)| *set),
                "Node.js functions take `bundler: esbuild|none`, `sourcemap` and `externals`",
            ),
        };
        if let Some((field, _)) = misplaced {
            return Err(self.error_at(
                &function_field(key, field),
                format!(
                    "function `{key}`: `{field}` does not apply to runtime `{}`",
                    f.runtime
                ),
                Some(format!("remove it; {hint}")),
            ));
        }
        if f.bundler() == Bundler::None && (f.sourcemap.is_some() || f.externals.is_some()) {
            let field = if f.sourcemap.is_some() {
                "sourcemap"
            } else {
                "externals"
            };
            return Err(self.error_at(
                &function_field(key, field),
                format!("function `{key}`: `{field}` needs `bundler: esbuild`"),
                Some("remove it, or set `bundler: esbuild`".into()),
            ));
        }
        Ok(())
    }

    /// Lambda refuses deprecated and unknown runtimes at deploy time; the bundler needs the language.
    fn validate_runtime(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        if DEPRECATED_RUNTIMES.contains(&f.runtime.as_str()) {
            return Err(self.error_at(
                &function_field(key, "runtime"),
                format!(
                    "function `{key}`: runtime `{}` is deprecated by AWS Lambda",
                    f.runtime
                ),
                Some(format!("use one of: {}", supported_runtimes().join(", "))),
            ));
        }
        if !NODE_RUNTIMES.contains(&f.runtime.as_str())
            && !PYTHON_RUNTIMES.contains(&f.runtime.as_str())
        {
            return Err(self.error_at(
                &function_field(key, "runtime"),
                format!("function `{key}`: unknown runtime `{}`", f.runtime),
                Some(format!("use one of: {}", supported_runtimes().join(", "))),
            ));
        }
        Ok(())
    }

    /// Memory and timeout must lie in Lambda's ranges, which CloudFormation checks only late.
    fn validate_limits(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        if !(128..=10240).contains(&f.memory) {
            return Err(self.error_at(
                &function_field(key, "memory"),
                format!(
                    "function `{key}`: memory {} MB is outside Lambda's range",
                    f.memory
                ),
                Some("use a value from 128 to 10240".into()),
            ));
        }
        if !(1..=900).contains(&f.timeout) {
            return Err(self.error_at(
                &function_field(key, "timeout"),
                format!(
                    "function `{key}`: timeout {} s is outside Lambda's range",
                    f.timeout
                ),
                Some("use a value from 1 to 900 seconds".into()),
            ));
        }
        Ok(())
    }

    /// A handler without `file.function` fails only at the first invocation; refuse it early.
    fn validate_handler(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        if f.handler.contains('.') {
            return Ok(());
        }
        Err(self.error_at(
            &function_field(key, "handler"),
            format!(
                "function `{key}`: handler `{}` is not of the form file.function",
                f.handler
            ),
            Some(match f.language() {
                Language::Node => "e.g. `index.handler`".into(),
                Language::Python => "e.g. `lambda_function.lambda_handler`".into(),
            }),
        ))
    }

    /// Reference syntax in environment values is checked before any stack output is read.
    fn validate_environment(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        for (var, value) in &f.environment {
            if let Err(message) = parse_references(value) {
                return Err(self.error_at(
                    &[
                        "functions".into(),
                        key.into(),
                        "environment".into(),
                        var.as_str().into(),
                    ],
                    format!("function `{key}`: environment variable {var}: {message}"),
                    Some(REFERENCE_HINT.into()),
                ));
            }
        }
        Ok(())
    }

    /// Reference syntax in Beanstalk properties is checked before any stack output is read.
    fn validate_beanstalk(&self) -> Result<(), SourceError> {
        let Some(eb) = &self.config.beanstalk else {
            return Ok(());
        };
        for (name, value) in &eb.properties {
            if let Err(message) = parse_references(value) {
                return Err(self.error_at(
                    &[
                        "beanstalk".into(),
                        "properties".into(),
                        name.as_str().into(),
                    ],
                    format!("beanstalk property {name}: {message}"),
                    Some(REFERENCE_HINT.into()),
                ));
            }
        }
        Ok(())
    }
}

/// The config path `functions.<key>.<field>`, where a function setting's error points.
fn function_field(key: &str, field: &str) -> Vec<PathSegment> {
    vec!["functions".into(), key.into(), field.into()]
}

impl Project {
    /// The key names artifact files and is the default Lambda name, so both follow Lambda's
    /// function-name rules; that also keeps `..` and `/` out of file names.
    fn validate_function_names(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        const RULE: &str = "use 1 to 64 letters, digits, hyphens and underscores";
        if !is_valid_function_name(key) {
            return Err(self.error_at(
                &["functions".into(), key.into()],
                format!("function key `{}` is not a valid Lambda function name", key.escape_debug()),
                Some(format!("{RULE} (the key is the default function name and the name of its build artifacts)")),
            ));
        }
        match &f.name {
            Some(name) if !is_valid_function_name(name) => Err(self.error_at(
                &["functions".into(), key.into(), "name".into()],
                format!(
                    "function `{key}`: name `{}` is not a valid Lambda function name",
                    name.escape_debug()
                ),
                Some(RULE.into()),
            )),
            _ => Ok(()),
        }
    }

    /// A source outside the project directory must be opted into with `allow_outside_project`.
    fn validate_source(&self, key: &str, f: &FunctionConfig) -> Result<(), SourceError> {
        if f.allow_outside_project {
            return Ok(());
        }
        let root_dir = if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            self.root.as_path()
        };
        let Ok(root) = root_dir.canonicalize() else {
            return Ok(()); // an unreadable project directory fails later, with its own error
        };
        let source = resolved_path(&root, &f.source);
        if source.starts_with(&root) {
            return Ok(());
        }
        Err(self.error_at(
            &["functions".into(), key.into(), "source".into()],
            format!(
                "function `{key}`: source {} is outside the project directory {}",
                source.display(),
                root.display()
            ),
            Some("move the source into the project, or add `allow_outside_project: true` to the function to build from there on purpose".into()),
        ))
    }
}

/// `relative` joined to `root` with `..` and symlinks resolved; lexically for the part of the
/// path that does not exist (yet).
fn resolved_path(root: &Path, relative: &Path) -> PathBuf {
    let joined = root.join(relative);
    if let Ok(real) = joined.canonicalize() {
        return real;
    }
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Lambda's function-name rule (for names, not ARNs).
fn is_valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
const REFERENCE_HINT: &str =
    "write `${output:OutputName}` for a stack output, `${region}` for the region, `$${` for a literal `${`";

fn supported_runtimes() -> Vec<&'static str> {
    NODE_RUNTIMES
        .iter()
        .chain(PYTHON_RUNTIMES)
        .copied()
        .collect()
}

fn is_valid_stack_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, as CloudFormation's RoleARN takes it.
fn is_role_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty()))
}

#[cfg(test)]
mod role_arn_tests {
    #[test]
    fn only_an_iam_role_arn_is_a_service_role() {
        assert!(super::is_role_arn("arn:aws:iam::123456789012:role/cfn"));
        assert!(super::is_role_arn(
            "arn:aws-cn:iam::123456789012:role/path/cfn"
        ));
        assert!(!super::is_role_arn("arn:aws:iam::123456789012:user/cfn"));
        assert!(!super::is_role_arn("arn:aws:iam::1234:role/cfn"));
        assert!(!super::is_role_arn("cfn-role"));
    }
}
