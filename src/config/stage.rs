//! Stages: one config, several deployments side by side (`--stage dev`, `--stage prod`).
//!
//! A stage overrides settings (region, profile, CloudFormation service role, parameters,
//! tags, function settings, releases, Beanstalk) and renames what must be unique in an
//! account and region: each stack and each function name gets `-<stage>`, and the template's
//! `Stage` parameter switches its export names to `${AWS::StackName}-…`. With no stage the
//! names stay as they were, so a deployment made before stages existed is not replaced.
//!
//! Overrides are merged as YAML before serde reads them, so a stage may set any function or
//! release setting without the schema repeating every field as an `Option`.

use serde::Serialize;

use super::schema::{Config, StageConfig};
use super::targets::Targets;
use super::Project;
use crate::diagnostic::SourceError;
use crate::yaml::{self, Mapping, PathSegment, Value};

/// The selected stage as commands see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    pub(crate) name: String,
    pub(crate) region: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) targets: Option<Targets>,
}

/// The suffix a stage adds to stack and function names.
fn staged_name(name: &str, stage: &str) -> String {
    format!("{name}-{stage}")
}

/// Lowercase letters, digits and inner hyphens, at most 16: the stage ends up in stack,
/// function and export names, and `random-name-<stage>` must stay a valid function name.
fn is_valid_stage_name(name: &str) -> bool {
    (1..=16).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Project {
    /// Every stage applies cleanly, so a mistake in `prod` shows while working on `dev`.
    pub(super) fn validate_stages(&self) -> Result<(), SourceError> {
        for name in self.config.stages.keys() {
            self.with_stage(name)?;
        }
        Ok(())
    }

    /// This project as deployed in stage `name` (the `--stage` argument).
    pub(crate) fn select_stage(self, name: &str) -> Result<Project, SourceError> {
        if !self.config.stages.contains_key(name) {
            let known: Vec<&str> = self.config.stages.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                "add a `stages:` section to the config (see docs/stages.md)".to_string()
            } else {
                crate::suggest::did_you_mean(name, known.iter().copied())
                    + &format!("the stages are {}", known.join(", "))
            };
            return Err(self.error_at(
                &["stages".into()],
                format!("--stage {name}: the config has no such stage"),
                Some(hint),
            ));
        }
        self.with_stage(name)
    }

    fn with_stage(&self, name: &str) -> Result<Project, SourceError> {
        let at = |rest: &[&str]| -> Vec<PathSegment> {
            let mut path: Vec<PathSegment> = vec!["stages".into(), name.into()];
            path.extend(rest.iter().map(|s| PathSegment::from(*s)));
            path
        };
        if !is_valid_stage_name(name) {
            return Err(self.error_at(
                &at(&[]),
                format!("invalid stage name `{}`", name.escape_debug()),
                Some("1-16 lowercase letters, digits and hyphens, starting with a letter (it becomes part of stack and function names)".into()),
            ));
        }
        let stage = &self.config.stages[name];
        let mut config = self.config.clone();
        self.merge_functions(&mut config, stage, &at)?;
        if let Some(releases) = &stage.releases {
            config.releases = merged(&config.releases, releases)
                .map_err(|m| self.merge_error(&at(&["releases"]), m))?;
        }
        config.beanstalk = self.stage_beanstalk(stage, &at)?;
        self.check_targets(&config, stage, &at)?;
        apply_names_and_stack_settings(&mut config, name, stage);
        let staged = Project {
            config,
            stage: Some(Stage {
                name: name.to_string(),
                region: stage.region.clone(),
                profile: stage.profile.clone(),
                targets: stage.targets.clone(),
            }),
            ..self.clone()
        };
        staged.validate_merged()?;
        Ok(staged)
    }

    fn merge_functions(
        &self,
        config: &mut Config,
        stage: &StageConfig,
        at: &dyn Fn(&[&str]) -> Vec<PathSegment>,
    ) -> Result<(), SourceError> {
        for (key, overrides) in &stage.functions {
            let Some(base) = config.functions.get_mut(key) else {
                return Err(self.error_at(
                    &at(&["functions", key]),
                    format!("stage function `{key}` is not a key under `functions:`"),
                    Some(
                        crate::suggest::did_you_mean(key, self.function_keys())
                            + &format!("the functions are {}", self.function_keys().join(", ")),
                    ),
                ));
            };
            if overrides.contains_key("name") {
                return Err(self.error_at(
                    &at(&["functions", key, "name"]),
                    "a stage cannot rename a function".into(),
                    Some("the stage already names it `<name>-<stage>`; set `name` under `functions:`".into()),
                ));
            }
            *base = merged(base, overrides)
                .map_err(|m| self.merge_error(&at(&["functions", key]), m))?;
        }
        Ok(())
    }

    /// Targets go through one StackSet per stack, whose template can read no other stack's
    /// outputs, and the Beanstalk step works in one account and region.
    fn check_targets(
        &self,
        config: &Config,
        stage: &StageConfig,
        at: &dyn Fn(&[&str]) -> Vec<PathSegment>,
    ) -> Result<(), SourceError> {
        let Some(targets) = &stage.targets else {
            return Ok(());
        };
        if let Some((key, message)) = targets.problem() {
            return Err(self.error_at(&at(&["targets", key]), message, None));
        }
        if config.stacks.len() != 1 {
            return Err(self.error_at(
                &at(&["targets"]),
                "a stage with `targets` deploys exactly one stack (as one StackSet)".into(),
                Some("its functions' `${output:…}` must come from that stack".into()),
            ));
        }
        if config.beanstalk.is_some() {
            return Err(self.error_at(
                &at(&["targets"]),
                "a stage with `targets` has no Beanstalk step".into(),
                Some("add `beanstalk: null` to the stage".into()),
            ));
        }
        Ok(())
    }

    /// Two stages wiring one Beanstalk environment would point it at whichever deployed
    /// last, so a stage names its own environment or leaves Beanstalk out.
    fn stage_beanstalk(
        &self,
        stage: &StageConfig,
        at: &dyn Fn(&[&str]) -> Vec<PathSegment>,
    ) -> Result<Option<super::BeanstalkConfig>, SourceError> {
        let base = &self.config.beanstalk;
        match (&stage.beanstalk, base) {
            (None, None) | (Some(Value::Null), _) => Ok(None),
            (None, Some(_)) => Err(self.error_at(
                &at(&[]),
                "the stage does not say which Beanstalk environment it wires".into(),
                Some("add `beanstalk: {environment: <its environment>}` to the stage, or `beanstalk: null` to leave Beanstalk out of it".into()),
            )),
            (Some(Value::Mapping(overrides)), Some(base)) => {
                if !overrides.contains_key("environment") {
                    return Err(self.error_at(
                        &at(&["beanstalk"]),
                        "the stage's `beanstalk` must name its own `environment`".into(),
                        Some("otherwise this stage and the unstaged deployment would both rewire one environment".into()),
                    ));
                }
                merged(base, overrides)
                    .map(Some)
                    .map_err(|m| self.merge_error(&at(&["beanstalk"]), m))
            }
            (Some(value), _) => yaml::from_value(value.clone())
                .map(Some)
                .map_err(|m| self.merge_error(&at(&["beanstalk"]), m)),
        }
    }

    fn merge_error(&self, at: &[PathSegment], message: String) -> SourceError {
        let hint = super::hint_for_serde_message(&message);
        self.error_at(at, message, hint)
    }

    /// The merged config's own checks; an error names the stage since the lines it points at
    /// may be the base settings the stage changed.
    fn validate_merged(&self) -> Result<(), SourceError> {
        self.validate_base().map_err(|e| match e {
            SourceError::Invalid(mut d) => {
                let stage = self.stage.as_ref().map_or("", |s| s.name.as_str());
                d.message = format!("stage `{stage}`: {}", d.message);
                SourceError::Invalid(d)
            }
            other => other,
        })
    }
}

/// Stack and function names get the stage; stage parameters, tags and role go to every stack.
fn apply_names_and_stack_settings(config: &mut Config, name: &str, stage: &StageConfig) {
    for (key, f) in config.functions.iter_mut() {
        let base = f.name.clone().unwrap_or_else(|| key.clone());
        f.name = Some(staged_name(&base, name));
    }
    for stack in &mut config.stacks {
        stack.name = staged_name(&stack.name, name);
        stack
            .parameters
            .extend(stage.parameters.iter().map(|(k, v)| (k.clone(), v.clone())));
        if stage.role_arn.is_some() {
            stack.role_arn.clone_from(&stage.role_arn);
        }
    }
    config
        .tags
        .extend(stage.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    if stage.region.is_some() {
        config.region.clone_from(&stage.region);
    }
}

/// `base` with `overrides` merged in (mappings key by key, anything else replaced), read
/// back through serde so the result is checked like the base was.
fn merged<T: Serialize + serde::de::DeserializeOwned>(
    base: &T,
    overrides: &Mapping,
) -> Result<T, String> {
    let mut value = yaml::to_value(base).map_err(|e| e.message)?;
    merge_into(&mut value, &Value::Mapping(overrides.clone()));
    yaml::from_value(value)
}

fn merge_into(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Mapping(base), Value::Mapping(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(key) {
                    Some(existing) => merge_into(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overrides) => *base = overrides.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const BASE: &str = include_str!("../../scorekeep-deploy.yaml");

    fn with_stages(stages: &str) -> Result<Project, SourceError> {
        let text = format!("{BASE}\nstages:\n{stages}");
        Project::from_source(Path::new("scorekeep-deploy.yaml"), PathBuf::from("."), text)
    }

    fn error(stages: &str, stage: &str) -> String {
        let result = with_stages(stages).and_then(|p| p.select_stage(stage));
        crate::error::render(result.unwrap_err())
    }

    #[test]
    fn a_stage_renames_stacks_and_functions_and_applies_its_overrides() {
        let project = with_stages(
            "  prod:
    region: eu-west-1
    profile: prod-admin
    role_arn: arn:aws:iam::123456789012:role/cfn-prod
    parameters: {LogRetentionDays: 90}
    tags: {stage: prod}
    functions:
      random-name: {memory: 512, environment: {EXTRA: '1'}}
    releases: {strategy: 'canary:10:5m'}
    beanstalk: {environment: scorekeep-prod}
",
        )
        .unwrap();
        assert!(project.stage.is_none(), "loading alone selects no stage");
        let prod = project.select_stage("prod").unwrap();
        let c = &prod.config;
        assert_eq!(c.stacks[0].name, "scorekeep-lambda-prod");
        assert_eq!(prod.lambda_name("random-name"), "random-name-prod");
        assert_eq!(
            prod.lambda_name("scorekeep-worker"),
            "scorekeep-worker-prod"
        );
        let f = &c.functions["random-name"];
        assert_eq!(f.memory, 512);
        // Mappings merge key by key: the base environment stays beside the stage's.
        assert!(f.environment.contains_key("TOPIC_ARN") && f.environment["EXTRA"] == "1");
        assert_eq!(c.functions["scorekeep-worker"].memory, 256, "untouched");
        assert_eq!(c.stacks[0].parameters["LogRetentionDays"].to_string(), "90");
        assert_eq!(
            c.stacks[0].role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/cfn-prod")
        );
        assert_eq!(c.tags["stage"], "prod");
        assert_eq!(c.tags["application"], "scorekeep", "base tags stay");
        assert_eq!(c.releases.strategy.to_string(), "canary:10:5m");
        assert_eq!(c.releases.alias, "live", "base release settings stay");
        let beanstalk = c.beanstalk.as_ref().unwrap();
        assert_eq!(beanstalk.environment, "scorekeep-prod");
        assert_eq!(beanstalk.application, "scorekeep");
        let stage = prod.stage.as_ref().unwrap();
        assert_eq!(stage.region.as_deref(), Some("eu-west-1"));
        assert_eq!(stage.profile.as_deref(), Some("prod-admin"));
    }

    #[test]
    fn beanstalk_null_leaves_it_out_and_silence_is_an_error() {
        let project = with_stages("  dev:\n    beanstalk: null\n").unwrap();
        assert!(project
            .select_stage("dev")
            .unwrap()
            .config
            .beanstalk
            .is_none());
        let e = error("  dev:\n    tags: {a: b}\n", "dev");
        assert!(
            e.contains("does not say which Beanstalk environment"),
            "{e}"
        );
        let e = error("  dev:\n    beanstalk: {xray: false}\n", "dev");
        assert!(e.contains("must name its own `environment`"), "{e}");
    }

    #[test]
    fn every_stage_is_checked_when_the_config_loads() {
        let bad = "  dev:\n    beanstalk: null\n  prod:\n    beanstalk: null\n    functions:\n      random-name: {memroy: 1}\n";
        let e = crate::error::render(with_stages(bad).unwrap_err());
        assert!(
            e.contains(":") && e.contains("unknown field `memroy`"),
            "{e}"
        );
        assert!(e.contains("did you mean `memory`?"), "{e}");
    }

    #[test]
    fn stage_mistakes_name_the_stage_key() {
        let e = error("  Prod:\n    beanstalk: null\n", "Prod");
        assert!(e.contains("invalid stage name `Prod`"), "{e}");
        let e = error(
            "  dev:\n    beanstalk: null\n    functions:\n      random-nam: {memory: 256}\n",
            "dev",
        );
        assert!(
            e.contains("`random-nam` is not a key") && e.contains("did you mean `random-name`?"),
            "{e}"
        );
        let e = error(
            "  dev:\n    beanstalk: null\n    functions:\n      random-name: {name: x}\n",
            "dev",
        );
        assert!(e.contains("cannot rename a function"), "{e}");
        let e = error(
            "  dev:\n    beanstalk: null\n    functions:\n      random-name: {memory: 64}\n",
            "dev",
        );
        assert!(
            e.starts_with("scorekeep-deploy.yaml:") && e.contains("stage `dev`:"),
            "{e}"
        );
        let e = error("  dev:\n    beanstalk: null\n", "prod");
        assert!(
            e.contains("--stage prod: the config has no such stage")
                && e.contains("the stages are dev"),
            "{e}"
        );
    }

    #[test]
    fn stage_names_fit_in_function_names() {
        for ok in ["dev", "prod", "eu-1", "a"] {
            assert!(is_valid_stage_name(ok), "{ok}");
        }
        for bad in ["", "Dev", "1st", "dev-", "dev_1", "a-very-long-stage-name"] {
            assert!(!is_valid_stage_name(bad), "{bad}");
        }
    }
}
