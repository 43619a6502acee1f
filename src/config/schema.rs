//! The shape of `scorekeep-deploy.yaml` as serde reads it: the config's types, their
//! defaults, and what a function's settings imply (language, bundler, bytecode).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::strategy::Strategy;

/// Lambda runtimes the tool builds for. Deprecated runtimes are refused with a hint.
pub(crate) const NODE_RUNTIMES: &[&str] = &["nodejs22.x", "nodejs24.x"];
pub(crate) const PYTHON_RUNTIMES: &[&str] =
    &["python3.11", "python3.12", "python3.13", "python3.14"];
pub(super) const DEPRECATED_RUNTIMES: &[&str] = &[
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
    /// Named deployments of this project side by side (`--stage NAME`), each with its
    /// overrides; see `config::stage`.
    #[serde(default)]
    pub(crate) stages: BTreeMap<String, StageConfig>,
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
    /// How the alias moves to a new version: `all-at-once` (the default), `canary:10:5m`,
    /// `linear:10:1m` or a SAM preset name; a function's own `strategy` and `--strategy` win.
    #[serde(default)]
    pub(crate) strategy: Strategy,
    /// CloudWatch alarms that must not be in ALARM while a gradual release bakes.
    #[serde(default)]
    pub(crate) alarms: Vec<String>,
    /// The highest share of the new version's invocations that may end in an error, or be
    /// throttled, while it bakes (default 0.01: 1 %).
    #[serde(default = "default_max_error_rate")]
    pub(crate) max_error_rate: f64,
}

impl Default for ReleasesConfig {
    fn default() -> Self {
        ReleasesConfig {
            alias: default_alias(),
            keep_versions: default_keep_versions(),
            strategy: Strategy::default(),
            alarms: Vec::new(),
            max_error_rate: default_max_error_rate(),
        }
    }
}

fn default_alias() -> String {
    "live".into()
}

fn default_keep_versions() -> u32 {
    5
}

fn default_max_error_rate() -> f64 {
    0.01
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
    /// A CloudFormation service role (its ARN): CloudFormation creates and updates the stack's
    /// resources with it, so whoever deploys needs only `iam:PassRole` on it.
    #[serde(default)]
    pub(crate) role_arn: Option<String>,
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
    /// What runs a queue-fed function: `queue` (an SQS event source mapping on the release
    /// alias, the template's default) or `schedule` (the timer below; implied by `schedule`).
    #[serde(default)]
    pub(crate) trigger: Option<Trigger>,
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
    /// How this function's alias moves to a new version (default: `releases.strategy`).
    #[serde(default)]
    pub(crate) strategy: Option<Strategy>,
    /// A JSON event sent to each new version, directly, before the alias moves any traffic
    /// to it; a handler error stops the release (relative to the config file).
    #[serde(default)]
    pub(crate) smoke_event: Option<PathBuf>,
}

/// What runs a function fed by a queue (the template's `<Prefix>Trigger` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Trigger {
    Queue,
    Schedule,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Queue => "queue",
            Trigger::Schedule => "schedule",
        }
    }
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
    /// The AWS X-Ray SDK in the bundle: in maintenance, end of support on
    /// [`XRAY_SDK_END_OF_SUPPORT`], so no longer the default.
    #[serde(rename = "xray")]
    Xray,
    /// The OpenTelemetry SDK in the bundle, exporting OTLP to the X-Ray daemon over UDP.
    #[default]
    #[serde(rename = "otel")]
    Otel,
    /// No SDK in the bundle: AWS's OpenTelemetry Lambda layer and its exec wrapper.
    #[serde(rename = "otel-layer")]
    OtelLayer,
}

/// AWS put the X-Ray SDKs (Node.js, Python) into maintenance on this date ...
pub(crate) const XRAY_SDK_MAINTENANCE: &str = "2026-02-25";
/// ... and ends their support on this one: `xray` is no longer the default and warns.
pub(crate) const XRAY_SDK_END_OF_SUPPORT: &str = "2027-02-25";

/// The one warning line for the functions (config keys) still on `tracing_sdk: xray`.
pub(crate) fn xray_sdk_warning(functions: &[&str]) -> Option<String> {
    if functions.is_empty() {
        return None;
    }
    let names: Vec<String> = functions.iter().map(|f| format!("`{f}`")).collect();
    let (noun, verb) = if names.len() == 1 {
        ("function", "uses")
    } else {
        ("functions", "use")
    };
    Some(format!(
        "{noun} {} {verb} `tracing_sdk: xray`: the AWS X-Ray SDKs are in maintenance since {XRAY_SDK_MAINTENANCE} and reach end of support on {XRAY_SDK_END_OF_SUPPORT}; set `tracing_sdk: otel` (the default; docs/tracing.md, \"Migrating a function from the X-Ray SDK to OpenTelemetry\")",
        names.join(", ")
    ))
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

/// One entry under `stages:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct StageConfig {
    /// The stage's region: wins over AWS_REGION and the profile's (only `--region` beats it).
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// The stage's AWS profile, unless `--profile` names another.
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// CloudFormation service role for every stack of the stage.
    #[serde(default)]
    pub(crate) role_arn: Option<String>,
    /// Template parameters for every stack of the stage, over `stacks[].parameters`.
    #[serde(default)]
    pub(crate) parameters: BTreeMap<String, ScalarValue>,
    /// Tags over the top-level `tags`.
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    /// Function settings by function key, merged over that function's.
    #[serde(default)]
    pub(crate) functions: BTreeMap<String, crate::yaml::Mapping>,
    /// Release settings merged over `releases`.
    #[serde(default)]
    pub(crate) releases: Option<crate::yaml::Mapping>,
    /// Beanstalk settings merged over `beanstalk`; `null` leaves Beanstalk out of the stage.
    #[serde(default, deserialize_with = "present")]
    pub(crate) beanstalk: Option<crate::yaml::Value>,
    /// Accounts and regions the stage deploys to through a StackSet (see `config::targets`).
    #[serde(default)]
    pub(crate) targets: Option<super::targets::Targets>,
}

/// `Some(Null)` for an explicit `null`, `None` only when the key is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::yaml::Value>, D::Error> {
    crate::yaml::Value::deserialize(d).map(Some)
}
