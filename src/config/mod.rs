//! The project configuration, `scorekeep-deploy.yaml`.
//!
//! Loading is strict: unknown keys and wrong types are errors that name the file, the
//! line and column, and the keys that would have been valid. The steps, one file each:
//! [`schema`] (the types serde reads), `Project::load` here (read, parse, locate errors),
//! [`validate`] (what serde cannot check) and [`references`] (`${output:…}` in values).
//! Every loading error is a [`SourceError`] (exit 2, at `file:line:column`).

mod references;
mod schema;
mod stage;
pub mod strategy;
mod targets;
mod validate;

use std::path::{Path, PathBuf};

use crate::bounded::{self, Input};
use crate::diagnostic::{Diagnostic, SourceError};
use crate::error::Problem;
use crate::yaml::{self, PathSegment};

pub(crate) use references::{parse_references, referenced_outputs, resolve_references, Piece};
#[cfg(test)]
pub(crate) use schema::PYTHON_RUNTIME_PROVIDED;
pub(crate) use schema::{
    Architecture, Bundler, Config, FunctionConfig, Language, ScalarValue, SourceMap, TracingMode,
    TracingSdk, Trigger,
};
pub use schema::{BeanstalkConfig, ReleasesConfig};
pub(crate) use stage::Stage;
pub(crate) use targets::{CallAs, RegionConcurrency, Share, Targets};

/// A loaded configuration with what is needed to resolve paths and locate later errors.
#[derive(Debug, Clone)]
pub struct Project {
    pub(crate) config: Config,
    /// The config file as given.
    pub(crate) config_path: PathBuf,
    /// The directory relative paths in the config resolve against.
    pub(crate) root: PathBuf,
    /// The `--stage` this project was selected for, if any (its names are already applied).
    pub(crate) stage: Option<Stage>,
    source: String,
}

impl Project {
    pub fn load(path: &Path) -> Result<Project, SourceError> {
        let bytes =
            bounded::read(path, Input::Config).map_err(SourceError::read(Input::Config, path))?;
        let source = bounded::utf8(bytes).map_err(|at| {
            Diagnostic::new(path, Some(at), "this byte is not UTF-8")
                .with_hint("save the config as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
        })?;
        // An empty root keeps paths relative to the working directory as the user wrote them.
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Project::from_source(path, root, source)
    }

    pub(crate) fn from_source(
        path: &Path,
        root: PathBuf,
        source: String,
    ) -> Result<Project, SourceError> {
        let config: Config = yaml::from_str(&source).map_err(|e| {
            let mut d = Diagnostic::new(path, e.position, e.message.as_str());
            d.hint = e
                .hint
                .map(String::from)
                .or_else(|| hint_for_serde_message(&e.message));
            d
        })?;
        let project = Project {
            config,
            config_path: path.to_path_buf(),
            root,
            stage: None,
            source,
        };
        project.validate()?;
        Ok(project)
    }

    /// An error located at `path` inside the config file.
    pub(crate) fn error_at(
        &self,
        path: &[PathSegment],
        message: String,
        hint: Option<String>,
    ) -> SourceError {
        SourceError::Invalid(self.diagnostic_at(path, message, hint))
    }

    /// A diagnostic located at `path` inside the config file.
    pub(crate) fn diagnostic_at(
        &self,
        path: &[PathSegment],
        message: String,
        hint: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.config_path.clone(),
            position: yaml::locate(&self.source, path),
            message,
            hint,
        }
    }

    pub(crate) fn resolve(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    pub(crate) fn artifact_dir(&self) -> PathBuf {
        self.resolve(&self.config.artifact_dir)
    }

    /// Build and deploy state that is not an artifact (installed dependencies, staging, what
    /// was applied): `target/scorekeep-deploy-cache` beside `target/scorekeep-deploy`, so the
    /// artifact directory holds only zips and manifests.
    pub(crate) fn cache_dir(&self) -> PathBuf {
        cache_dir_for(&self.artifact_dir())
    }

    /// The function names in config order, for error messages that list the valid ones.
    pub(crate) fn function_keys(&self) -> Vec<&str> {
        self.config.functions.keys().map(String::as_str).collect()
    }

    /// The named functions, or all of them when `names` is empty. A name that is not a key
    /// under `functions:` is a usage error about the command-line argument, with a suggestion.
    pub(crate) fn select_functions(
        &self,
        names: &[String],
    ) -> Result<Vec<(&str, &FunctionConfig)>, Problem> {
        if names.is_empty() {
            return Ok(self
                .config
                .functions
                .iter()
                .map(|(k, f)| (k.as_str(), f))
                .collect());
        }
        names
            .iter()
            .map(|name| {
                self.config
                    .functions
                    .get_key_value(name.as_str())
                    .map(|(k, f)| (k.as_str(), f))
                    .ok_or_else(|| self.unknown_function(name))
            })
            .collect()
    }

    fn unknown_function(&self, name: &str) -> Problem {
        let keys = self.function_keys();
        // A typo, or a part of the name (`worker` for `scorekeep-worker`).
        let guess = crate::suggest::closest(name, keys.iter().copied()).or_else(|| {
            keys.iter()
                .copied()
                .find(|k| !name.is_empty() && (k.contains(name) || name.contains(k)))
        });
        let guess = guess.map(crate::suggest::hint).unwrap_or_default();
        Problem::usage(format!("unknown function `{name}` on the command line")).hint(format!(
            "{guess}the functions in {} are {}",
            self.config_path.display(),
            keys.join(", ")
        ))
    }

    /// The X-Ray SDK's end-of-support warning for those of `keys` on `tracing_sdk: xray`.
    pub(crate) fn xray_sdk_warning(&self, keys: &[&str]) -> Option<String> {
        let on_xray: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| {
                self.config
                    .functions
                    .get(*k)
                    .is_some_and(|f| f.tracing_sdk == TracingSdk::Xray)
            })
            .collect();
        schema::xray_sdk_warning(&on_xray)
    }

    /// The configured stack names, in declared (deploy) order.
    pub(crate) fn stack_names(&self) -> impl Iterator<Item = &str> {
        self.config.stacks.iter().map(|s| s.name.as_str())
    }

    /// Whether the selected stage deploys through a StackSet.
    pub(crate) fn has_targets(&self) -> bool {
        self.stage.as_ref().is_some_and(|s| s.targets.is_some())
    }

    /// Lambda function name for a function key.
    pub(crate) fn lambda_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.config.functions[key].name.as_deref().unwrap_or(key)
    }
}

/// The cache directory that goes with an artifact directory: `<name>-cache` beside it.
pub(crate) fn cache_dir_for(artifact_dir: &Path) -> PathBuf {
    let name = artifact_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scorekeep-deploy".into());
    artifact_dir.with_file_name(format!("{name}-cache"))
}

/// Hints for the common serde messages, so a typo gets a next step, not just a complaint.
fn hint_for_serde_message(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some(did_you_mean(message) + "remove or rename the key; the valid keys are listed above")
    } else if message.contains("unknown variant") {
        Some(did_you_mean(message) + "use one of the values listed above")
    } else if message.contains("invalid type") {
        Some("check the value's type (quote strings, leave numbers bare)".into())
    } else if message.contains("missing field") {
        Some("add the missing key".into())
    } else {
        None
    }
}

/// "did you mean `memory`? " for serde's "unknown field `memroy`, expected one of `name`,
/// `memory`, …" (the first backticked word is the unknown one, the rest are valid).
fn did_you_mean(message: &str) -> String {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let Some((unknown, valid)) = quoted.split_first() else {
        return String::new();
    };
    crate::suggest::did_you_mean(unknown, valid.iter().copied())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::references::parse_references;
    use super::*;

    pub(crate) const VALID: &str = include_str!("../../scorekeep-deploy.yaml");

    fn load(text: &str) -> Result<Project, SourceError> {
        Project::from_source(
            Path::new("scorekeep-deploy.yaml"),
            PathBuf::from("."),
            text.to_string(),
        )
    }

    fn error(text: &str) -> String {
        crate::error::render(load(text).unwrap_err())
    }

    #[test]
    fn committed_config_loads() {
        let p = load(VALID).unwrap();
        assert_eq!(p.config.functions.len(), 2);
        let rn = &p.config.functions["random-name"];
        assert_eq!(rn.runtime, "nodejs22.x");
        assert_eq!(rn.architecture, Architecture::X86_64);
        assert_eq!(rn.language(), Language::Node);
        let worker = &p.config.functions["scorekeep-worker"];
        assert_eq!(worker.python_version(), Some("3.13"));
        assert_eq!(worker.trigger, Some(super::Trigger::Queue));
        assert_eq!(worker.schedule, None);
        assert!(p.config.beanstalk.is_some());
    }

    #[test]
    fn unknown_key_names_position_and_valid_keys() {
        let text = VALID.replacen("    memory:", "    memroy:", 1);
        let line = text.lines().position(|l| l.contains("memroy")).unwrap() + 1;
        let msg = error(&text);
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:")),
            "{msg}"
        );
        assert!(msg.contains("unknown field `memroy`"), "{msg}");
        assert!(
            msg.contains("`memory`") && msg.contains("`timeout`"),
            "{msg}"
        );
        assert!(msg.contains("hint: did you mean `memory`?"), "{msg}");
    }

    #[test]
    fn wrong_type_names_position() {
        let text = VALID.replacen("    timeout: 10", "    timeout: ten", 1);
        let line = text
            .lines()
            .position(|l| l.contains("timeout: ten"))
            .unwrap()
            + 1;
        let msg = error(&text);
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:")),
            "{msg}"
        );
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn yaml_syntax_error_names_position() {
        let msg = error("project: x\nstacks: [\n");
        assert!(msg.starts_with("scorekeep-deploy.yaml:"), "{msg}");
        assert!(
            msg.split(':').nth(1).unwrap().parse::<usize>().is_ok(),
            "{msg}"
        );
    }

    #[test]
    fn bad_enum_lists_the_choices() {
        let text = VALID.replacen("architecture: x86_64", "architecture: arm", 1);
        let msg = error(&text);
        assert!(msg.contains("`x86_64`") && msg.contains("`arm64`"), "{msg}");
    }

    #[test]
    fn deprecated_runtime_is_refused_at_its_line() {
        let text = VALID.replacen("nodejs22.x", "nodejs18.x", 1);
        let line = text.lines().position(|l| l.contains("nodejs18.x")).unwrap() + 1;
        let msg = error(&text);
        assert!(
            msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:5:")),
            "{msg}"
        );
        assert!(
            msg.contains("deprecated") && msg.contains("nodejs22.x"),
            "{msg}"
        );
    }

    #[test]
    fn bad_reference_syntax_is_located() {
        let text = VALID.replacen("${output:ScorekeepNotificationTopicArn}", "${outptu:X}", 1);
        let msg = error(&text);
        assert!(
            msg.contains(
                "unknown reference at character 1 of the value: did you mean `${output:Name}`?"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("TOPIC_ARN") && !msg.contains("outptu"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_function_lists_valid_ones() {
        let p = load(VALID).unwrap();
        let msg = p.select_functions(&["nope".to_string()]).unwrap_err();
        let msg = crate::error::render(msg);
        assert!(
            msg.contains("unknown function `nope` on the command line"),
            "{msg}"
        );
        assert!(msg.contains("random-name, scorekeep-worker"), "{msg}");
        assert!(!msg.contains("did you mean"), "{msg}");
        let msg = p.select_functions(&["worker".to_string()]).unwrap_err();
        let msg = crate::error::render(msg);
        assert!(msg.contains("did you mean `scorekeep-worker`?"), "{msg}");
    }

    #[test]
    fn function_keys_and_names_follow_lambda_rules() {
        for key in ["\"../x\"", "\"a b\"", "\"\"", &"k".repeat(65)] {
            let text = VALID.replacen("  random-name:\n", &format!("  {key}:\n"), 1);
            let line = text.lines().position(|l| l == format!("  {key}:")).unwrap() + 1;
            let msg = error(&text);
            assert!(
                msg.starts_with(&format!("scorekeep-deploy.yaml:{line}:3: function key")),
                "{msg}"
            );
        }
        let text = VALID.replacen(
            "    source: functions/random-name\n",
            "    source: functions/random-name\n    name: a.b\n",
            1,
        );
        assert!(error(&text).contains("name `a.b` is not a valid"));
        assert!(load(&VALID.replacen("  random-name:\n", "  Random_Name-2:\n", 1)).is_ok());
    }

    #[test]
    fn source_outside_the_project_is_refused_unless_allowed() {
        let text = VALID.replacen("source: functions/random-name", "source: ../elsewhere/x", 1);
        let msg = error(&text);
        assert!(msg.contains("outside the project directory"), "{msg}");
        assert!(msg.contains("allow_outside_project: true"), "{msg}");
        let allowed = text.replacen(
            "source: ../elsewhere/x",
            "source: ../elsewhere/x\n    allow_outside_project: true",
            1,
        );
        assert!(load(&allowed).is_ok());
        // `..` that stays inside is fine.
        let inside = VALID.replacen(
            "source: functions/random-name",
            "source: functions/../functions/random-name",
            1,
        );
        assert!(load(&inside).is_ok());
    }

    #[test]
    fn references_parse_and_resolve() {
        let outputs = BTreeMap::from([("Q".to_string(), "url".to_string())]);
        assert_eq!(
            resolve_references("a-${output:Q}-${region}-$${x}", &outputs, "eu-west-1").unwrap(),
            "a-url-eu-west-1-${x}"
        );
        assert_eq!(
            resolve_references("${output:Nope}", &outputs, "r").unwrap_err(),
            "stack output `Nope` does not exist"
        );
        assert_eq!(
            parse_references("ab${output:X").unwrap_err(),
            "unclosed `${` at character 3 of the value (no `}` follows)"
        );
        assert!(!parse_references("p4ss${w0rd}")
            .unwrap_err()
            .contains("w0rd"));
        assert_eq!(referenced_outputs("${output:A}${output:B}"), vec!["A", "B"]);
    }

    #[test]
    fn packaging_keys_default_validate_and_suggest() {
        let p = load(VALID).unwrap();
        assert_eq!(
            p.config.functions["random-name"].bundler(),
            Bundler::Esbuild
        );
        assert!(!p.config.functions["random-name"].bytecode());
        assert!(p.config.functions["scorekeep-worker"].bytecode());
        let off = VALID.replacen(
            "    trigger: queue\n",
            "    trigger: queue\n    bytecode: false\n",
            1,
        );
        assert!(!load(&off).unwrap().config.functions["scorekeep-worker"].bytecode());
        let none = VALID.replacen(
            "    handler: index.handler",
            "    handler: index.handler\n    bundler: none",
            1,
        );
        assert_eq!(
            load(&none).unwrap().config.functions["random-name"].bundler(),
            Bundler::None
        );
        let typo = VALID.replacen(
            "    handler: index.handler",
            "    handler: index.handler\n    bundlr: none",
            1,
        );
        assert!(
            error(&typo).contains("did you mean `bundler`?"),
            "{}",
            error(&typo)
        );
        let bad = VALID.replacen(
            "    handler: index.handler",
            "    handler: index.handler\n    bundler: webpack",
            1,
        );
        assert!(error(&bad).contains("esbuild"), "{}", error(&bad));
        let misplaced = VALID.replacen(
            "    handler: index.handler",
            "    handler: index.handler\n    bytecode: true",
            1,
        );
        let msg = error(&misplaced);
        assert!(
            msg.contains("`bytecode` does not apply to runtime `nodejs22.x`"),
            "{msg}"
        );
        let wrong = VALID.replacen(
            "    handler: lambda_function.lambda_handler",
            "    handler: lambda_function.lambda_handler\n    bundler: esbuild",
            1,
        );
        assert!(error(&wrong).contains("`bundler` does not apply to runtime `python3.13`"));
        let needs = VALID.replacen(
            "    handler: index.handler",
            "    handler: index.handler\n    bundler: none\n    sourcemap: inline",
            1,
        );
        assert!(
            error(&needs).contains("`sourcemap` needs `bundler: esbuild`"),
            "{}",
            error(&needs)
        );
    }
}
