//! The project configuration, `scorekeep-deploy.yaml`.
//!
//! Loading is strict: unknown keys and wrong types are errors that name the file, the
//! line and column, and the keys that would have been valid.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bounded::{self, Input};
use crate::diagnostic::Diagnostic;
use crate::error::Problem;
use crate::yaml::{self, PathSegment};

/// Lambda runtimes the tool builds for. Deprecated runtimes are refused with a hint.
pub(crate) const NODE_RUNTIMES: &[&str] = &["nodejs22.x", "nodejs24.x"];
pub(crate) const PYTHON_RUNTIMES: &[&str] =
    &["python3.11", "python3.12", "python3.13", "python3.14"];
const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
];

/// What the Lambda Python runtime already provides; left out of bundles unless configured.
pub(crate) const PYTHON_RUNTIME_PROVIDED: &[&str] = &[
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct Config {
    /// A short project name, used in output and as the default tag value.
    pub(crate) project: String,
    /// Region to deploy to when neither `--region`, `AWS_REGION` nor the AWS profile names one.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// The CloudFormation stacks, deployed in this order.
    pub(crate) stacks: Vec<StackConfig>,
    /// Tags applied to every stack (and so to every resource that supports tags).
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    /// The Lambda functions, by key. The key is also the default Lambda function name.
    pub(crate) functions: BTreeMap<String, FunctionConfig>,
    /// Optional Elastic Beanstalk environment wiring.
    #[serde(default)]
    pub(crate) beanstalk: Option<BeanstalkConfig>,
    /// Where build artifacts go, relative to the project directory.
    #[serde(default = "default_artifact_dir")]
    pub(crate) artifact_dir: PathBuf,
    /// S3 bucket for bundles over Lambda's 50 MB direct-upload limit.
    #[serde(default)]
    pub(crate) artifact_bucket: Option<String>,
    /// Published versions and the alias consumers invoke (issue 13).
    #[serde(default)]
    pub(crate) releases: ReleasesConfig,
}

/// How releases are kept: the alias that names the running version, and how many old
/// versions stay available to `rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ReleasesConfig {
    /// The alias `up`/`update-functions` move and `rollback` moves back.
    #[serde(default = "default_alias")]
    pub(crate) alias: String,
    /// Versions kept per function (older ones without an alias are deleted).
    #[serde(default = "default_keep_versions")]
    pub(crate) keep_versions: u32,
}

impl Default for ReleasesConfig {
    fn default() -> Self {
        ReleasesConfig {
            alias: default_alias(),
            keep_versions: default_keep_versions(),
        }
    }
}

fn default_alias() -> String {
    "live".into()
}

fn default_keep_versions() -> u32 {
    5
}

fn default_artifact_dir() -> PathBuf {
    PathBuf::from("target/scorekeep-deploy")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct StackConfig {
    pub(crate) name: String,
    /// Template path, relative to the project directory.
    pub(crate) template: PathBuf,
    /// Values for template parameters that no function setting provides.
    #[serde(default)]
    pub(crate) parameters: BTreeMap<String, ScalarValue>,
}

/// A parameter value: YAML strings, numbers and booleans are all accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ScalarValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarValue::String(s) => f.write_str(s),
            ScalarValue::Integer(n) => write!(f, "{n}"),
            ScalarValue::Float(n) => write!(f, "{n}"),
            ScalarValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FunctionConfig {
    /// Lambda function name; defaults to the key in `functions:`.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Source directory, relative to the project directory.
    pub(crate) source: PathBuf,
    /// Build from a `source` outside the project directory (after resolving `..` and
    /// symlinks). Off by default so a config cannot silently bundle files from elsewhere.
    #[serde(default)]
    pub(crate) allow_outside_project: bool,
    pub(crate) runtime: String,
    #[serde(default)]
    pub(crate) architecture: Architecture,
    pub(crate) handler: String,
    /// Memory in MB.
    #[serde(default = "default_memory")]
    pub(crate) memory: u32,
    /// Timeout in seconds.
    #[serde(default = "default_timeout")]
    pub(crate) timeout: u32,
    /// Lambda tracing mode.
    #[serde(default)]
    pub(crate) tracing: TracingMode,
    /// How the function is traced: the X-Ray SDK or OpenTelemetry in the bundle, or
    /// OpenTelemetry from AWS's Lambda layer (see `bundle::tracing_sdk`).
    #[serde(default)]
    pub(crate) tracing_sdk: TracingSdk,
    /// Environment variables. Values may reference stack outputs as `${output:Name}` and the
    /// deploy region as `${region}`.
    #[serde(default)]
    pub(crate) environment: BTreeMap<String, String>,
    /// Schedule expression for a function triggered on a timer (e.g. `rate(5 minutes)`).
    #[serde(default)]
    pub(crate) schedule: Option<String>,
    /// Python only: packages left out of the bundle because the runtime provides them.
    #[serde(default)]
    pub(crate) runtime_provided: Option<Vec<String>>,
    /// Python only: ship `__pycache__` bytecode compiled by the runtime's Python (default true).
    #[serde(default)]
    pub(crate) bytecode: Option<bool>,
    /// Node only: `esbuild` (default) bundles the handler into one file; `none` ships
    /// `node_modules` as installed.
    #[serde(default)]
    pub(crate) bundler: Option<Bundler>,
    /// Node with esbuild: where the source map goes (default `external`: beside the zip).
    #[serde(default)]
    pub(crate) sourcemap: Option<SourceMap>,
    /// Node with esbuild: packages left out of the bundle because the runtime provides them.
    #[serde(default)]
    pub(crate) externals: Option<Vec<String>>,
}

/// How a Node function's code is packaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Bundler {
    #[default]
    Esbuild,
    None,
}

/// Where esbuild's source map goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SourceMap {
    /// Beside the zip, `<function>.js.map`: not shipped, so not loaded at cold start.
    #[default]
    External,
    /// Inside the bundle file.
    Inline,
}

fn default_memory() -> u32 {
    128
}

fn default_timeout() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Architecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TracingMode {
    #[default]
    Active,
    PassThrough,
}

impl TracingMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TracingMode::Active => "Active",
            TracingMode::PassThrough => "PassThrough",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TracingSdk {
    /// The AWS X-Ray SDK in the bundle.
    #[default]
    #[serde(rename = "xray")]
    Xray,
    /// The OpenTelemetry SDK in the bundle, exporting OTLP to the X-Ray daemon over UDP.
    #[serde(rename = "otel")]
    Otel,
    /// No SDK in the bundle: AWS's OpenTelemetry Lambda layer and its exec wrapper.
    #[serde(rename = "otel-layer")]
    OtelLayer,
}

impl TracingSdk {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TracingSdk::Xray => "xray",
            TracingSdk::Otel => "otel",
            TracingSdk::OtelLayer => "otel-layer",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BeanstalkConfig {
    pub application: String,
    pub environment: String,
    /// When true, a missing environment is skipped with a note instead of failing.
    #[serde(default)]
    pub optional: bool,
    /// Turn X-Ray on for the environment (`aws:elasticbeanstalk:xray` / `XRayEnabled`).
    #[serde(default = "default_true")]
    pub xray: bool,
    /// Environment properties; values may use `${output:Name}` and `${region}`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// The language a runtime belongs to, which decides how a function is bundled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Language {
    Node,
    Python,
}

impl FunctionConfig {
    pub(crate) fn language(&self) -> Language {
        if self.runtime.starts_with("python") {
            Language::Python
        } else {
            Language::Node
        }
    }

    /// `python3.13` → `3.13`.
    pub(crate) fn python_version(&self) -> Option<&str> {
        self.runtime.strip_prefix("python")
    }

    /// Whether the bundle ships bytecode (Python functions, unless `bytecode: false`).
    pub(crate) fn bytecode(&self) -> bool {
        self.language() == Language::Python && self.bytecode.unwrap_or(true)
    }

    /// The Node bundler (`none` for Python functions).
    pub(crate) fn bundler(&self) -> Bundler {
        match self.language() {
            Language::Node => self.bundler.unwrap_or_default(),
            Language::Python => Bundler::None,
        }
    }

    pub(crate) fn runtime_provided(&self) -> Vec<String> {
        self.runtime_provided.clone().unwrap_or_else(|| {
            PYTHON_RUNTIME_PROVIDED
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    }
}

/// A configuration problem: the file cannot be read, or it is invalid at a located spot.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Diagnostic),
}

impl crate::error::Explain for ConfigError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Usage
    }
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { source, .. } if bounded::is_too_large(source) => Some(
                "check that --config names the project's YAML file (the limits are in the README)"
                    .into(),
            ),
            ConfigError::Read { .. } => {
                Some("run from the project directory or pass --config PATH".into())
            }
            ConfigError::Invalid(d) => crate::error::Explain::hint(d),
        }
    }
    fn resource(&self) -> Option<String> {
        match self {
            ConfigError::Read { path, .. } => Some(path.display().to_string()),
            ConfigError::Invalid(d) => crate::error::Explain::resource(d),
        }
    }
}

/// A loaded configuration with what is needed to resolve paths and locate later errors.
#[derive(Debug, Clone)]
pub struct Project {
    pub(crate) config: Config,
    /// The config file as given.
    pub(crate) config_path: PathBuf,
    /// The directory relative paths in the config resolve against.
    pub(crate) root: PathBuf,
    source: String,
}

impl Project {
    pub fn load(path: &Path) -> Result<Project, ConfigError> {
        let bytes = bounded::read(path, Input::Config).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
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
    ) -> Result<Project, ConfigError> {
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
    ) -> ConfigError {
        ConfigError::Invalid(self.diagnostic_at(path, message, hint))
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

    /// The configured stack names, in declared (deploy) order.
    pub(crate) fn stack_names(&self) -> impl Iterator<Item = &str> {
        self.config.stacks.iter().map(|s| s.name.as_str())
    }

    /// Lambda function name for a function key.
    pub(crate) fn lambda_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.config.functions[key].name.as_deref().unwrap_or(key)
    }

    /// Checks serde cannot express (names, ranges, references), each at its config line.
    fn validate(&self) -> Result<(), ConfigError> {
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
    fn validate_releases(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }
}

impl Project {
    /// CloudFormation refuses a bad or repeated stack name only at deploy time; catch it here.
    fn validate_stacks(&self) -> Result<(), ConfigError> {
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
        }
        Ok(())
    }

    /// One function's checks, in the order a user fixing them top-down would meet them.
    fn validate_function(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_schedule(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
        let Some(schedule) = &f.schedule else {
            return Ok(());
        };
        crate::checks::schedule(schedule).map_err(|message| {
            self.error_at(
                &function_field(key, "schedule"),
                format!("function `{key}`: schedule {message}"),
                Some("see EventBridge's schedule expressions: rate(5 minutes), rate(1 hour), cron(0 12 * * ? *)".into()),
            )
        })
    }

    /// Packaging keys of the other language are mistakes, not silently ignored settings.
    fn validate_packaging(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_runtime(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_limits(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_handler(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_environment(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_beanstalk(&self) -> Result<(), ConfigError> {
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
    fn validate_function_names(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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
    fn validate_source(&self, key: &str, f: &FunctionConfig) -> Result<(), ConfigError> {
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

/// The cache directory that goes with an artifact directory: `<name>-cache` beside it.
pub(crate) fn cache_dir_for(artifact_dir: &Path) -> PathBuf {
    let name = artifact_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scorekeep-deploy".into());
    artifact_dir.with_file_name(format!("{name}-cache"))
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

/// A piece of a value with references: literal text, a stack output, or the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Output(String),
    Region,
}

/// Split `a${output:X}b${region}` into pieces. `$${` is a literal `${`.
///
/// Values may be secrets, so an error says where in the value the problem is (a character
/// offset, 1-based) and never quotes the value.
pub(crate) fn parse_references(value: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(idx) = rest.find('$') {
        text.push_str(&rest[..idx]);
        let after = &rest[idx..];
        let at = value[..value.len() - after.len()].chars().count() + 1;
        if let Some(stripped) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = stripped;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| {
                format!("unclosed `${{` at character {at} of the value (no `}}` follows)")
            })?;
            let piece = reference_piece(&body[..end], at)?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
            rest = &body[end + 1..];
        } else {
            text.push('$');
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The piece for the text between `${` and `}` found at character `at` of a value.
fn reference_piece(reference: &str, at: usize) -> Result<Piece, String> {
    if reference == "region" {
        return Ok(Piece::Region);
    }
    if let Some(name) = reference.strip_prefix("output:") {
        if name.is_empty() {
            return Err(format!(
                "empty output name in the `${{output:}}` at character {at} of the value"
            ));
        }
        return Ok(Piece::Output(name.to_string()));
    }
    // Name the keyword the user probably meant, without quoting what they wrote.
    let kind = reference.split(':').next().unwrap_or_default();
    let guess = crate::suggest::closest(kind, ["output", "region"])
        .map(|k| {
            format!(
                ": did you mean `${{{k}{}}}`?",
                if k == "output" { ":Name" } else { "" }
            )
        })
        .unwrap_or_default();
    Err(format!(
        "unknown reference at character {at} of the value{guess}"
    ))
}

/// The output names a value refers to.
pub(crate) fn referenced_outputs(value: &str) -> Vec<String> {
    parse_references(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Output(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// Resolve references against stack outputs and the region. A missing output is an error
/// naming it.
pub(crate) fn resolve_references(
    value: &str,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse_references(value)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Region => out.push_str(region),
            Piece::Output(name) => match outputs.get(&name) {
                Some(v) => out.push_str(v),
                None => return Err(format!("stack output `{name}` does not exist")),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const VALID: &str = include_str!("../scorekeep-deploy.yaml");

    fn load(text: &str) -> Result<Project, ConfigError> {
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
        assert_eq!(worker.schedule.as_deref(), Some("rate(5 minutes)"));
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
            "    tracing_sdk: xray\n    schedule",
            "    tracing_sdk: xray\n    bytecode: false\n    schedule",
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
