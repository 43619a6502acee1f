//! `invoke --local`: run a built function on this machine, without Docker, and show the
//! X-Ray trace its tracing SDK emits.
//!
//! The steps, cheapest checks first: parse the event and `--env`; find an interpreter and
//! check it against the function's runtime (`runtime`); assemble the environment, calling
//! AWS (DescribeStacks) only when a configured variable needs a stack output that `--env`
//! does not give (`env`); build (or reuse) the bundle like `build`; unpack it into a
//! temporary task root and check its compiled code; then run the handler through an embedded
//! runner under the environment Lambda provides, with `AWS_XRAY_DAEMON_ADDRESS` pointing at a
//! UDP socket we read (`process`); finally nest the documents received into a tree
//! ([`trace`]).
//!
//! `run_local` calls one function per step, in that order: `check_inputs`,
//! `choose_interpreter`, `resolve_environment`, `prepare_workspace`, `run_handler`,
//! `collect_trace`, `report`.

pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod otlp;
pub(crate) mod process;
pub(crate) mod provided;
pub(crate) mod runtime;
pub(crate) mod trace;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::aws::cfn::Stacks;
use crate::aws::{self, Clients};
use crate::bounded::{self, Input};
use crate::bundle::{self, BuildOptions};
use crate::cli::InvokeArgs;
use crate::config::{FunctionConfig, Language, Project};
use crate::context::Context;
use crate::report::Reporter;
use crate::runtime_python::{self, PyMinor};

pub(crate) use error::InvokeError;
use process::{Collector, Outcome, RunResult, RunSpec, Workspace};
use trace::{TraceHeader, TraceNode};

/// Where the event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventSource {
    Inline(String),
    File(PathBuf),
    Stdin,
}

impl EventSource {
    /// `--event JSON`, `--event-file PATH`, `--event-file -`; `{}` when neither is given.
    pub(crate) fn from_args(event: Option<&str>, event_file: Option<&Path>) -> EventSource {
        match (event, event_file) {
            (Some(json), _) => EventSource::Inline(json.to_string()),
            (None, Some(p)) if p == Path::new("-") => EventSource::Stdin,
            (None, Some(p)) => EventSource::File(p.to_path_buf()),
            (None, None) => EventSource::Inline("{}".into()),
        }
    }

    /// How error messages name the source.
    pub(crate) fn describe(&self) -> String {
        match self {
            EventSource::Inline(_) => "--event (inline)".into(),
            EventSource::File(p) => format!("--event-file {}", p.display()),
            EventSource::Stdin => "standard input (--event-file -)".into(),
        }
    }

    /// Capped bytes as text, or the error naming this source.
    fn text(&self, read: std::io::Result<Vec<u8>>) -> Result<String, InvokeError> {
        let bytes = read.map_err(|cause| InvokeError::EventRead {
            from: self.describe(),
            cause,
        })?;
        String::from_utf8(bytes).map_err(|e| InvokeError::EventRead {
            from: self.describe(),
            cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    pub(crate) fn read(&self) -> Result<Value, InvokeError> {
        let text = match self {
            EventSource::Inline(text) => text.clone(),
            EventSource::File(path) => self.text(bounded::read(path, Input::Event))?,
            EventSource::Stdin => self.text(bounded::read_from(std::io::stdin(), Input::Event))?,
        };
        parse_event(&text, &self.describe())
    }
}

/// Parse an event; a syntax error names the source and serde_json's line and column.
pub(crate) fn parse_event(text: &str, from: &str) -> Result<Value, InvokeError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let message = full
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(full);
        InvokeError::BadEvent {
            from: from.to_string(),
            message,
            line: e.line(),
            column: e.column(),
        }
    })
}

/// The error of a failed invocation, in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReportError {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) stack: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
}

/// What `invoke --local` reports: text mode prints the result on stdout (the trace and any
/// error go to stderr); `--output json` prints all of it as one document.
#[derive(Debug, Serialize)]
pub(crate) struct InvokeReport {
    /// The function's key in the config.
    pub(crate) function: String,
    /// Its Lambda function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub(crate) name: String,
    pub(crate) runtime: String,
    /// The interpreter that ran it and its version, e.g. `/usr/bin/python3.13 3.13.0`.
    pub(crate) interpreter: String,
    /// Where it was found: `--runtime-path`, `PATH`, `pyenv` or `uv`.
    pub(crate) interpreter_found_in: String,
    pub(crate) trace_id: String,
    /// The handler's result (`null` when it failed).
    pub(crate) result: Value,
    pub(crate) error: Option<ReportError>,
    pub(crate) timed_out: bool,
    pub(crate) duration_ms: f64,
    /// One tree: the function (standing in for Lambda's facade segment) and its subsegments.
    pub(crate) trace: Vec<TraceNode>,
    /// X-Ray documents of this trace received from the function.
    pub(crate) documents_received: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

impl InvokeReport {
    pub(crate) fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The trace tree as text.
    pub(crate) fn trace_text(&self) -> String {
        match self.trace.first() {
            Some(root) => trace::render_tree(root, self.documents_received),
            None => String::new(),
        }
    }

    /// The error with its stack and hint, as text (without a leading `error: `).
    pub(crate) fn error_text(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut s = format!(
            "function `{}` failed: {}: {}",
            self.function, e.kind, e.message
        );
        for line in &e.stack {
            // The first line of a JavaScript stack repeats the type and message.
            if line.trim().is_empty() || *line == format!("{}: {}", e.kind, e.message) {
                continue;
            }
            s.push_str("\n  ");
            s.push_str(line);
        }
        Some(crate::error::with_hints(&s, e.hint.as_slice()))
    }
}

impl fmt::Display for InvokeReport {
    /// The text view on stdout: the handler's result as JSON, nothing when it failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.error.is_none() {
            let json = serde_json::to_string_pretty(&self.result).map_err(|_| fmt::Error)?;
            writeln!(f, "{json}")?;
        }
        Ok(())
    }
}

/// The interpreter chosen for a function.
struct Interpreter {
    /// The real executable, run with the handler's environment only.
    program: PathBuf,
    version: runtime::Version,
    /// Where it was found: `--runtime-path`, `PATH`, `pyenv` or `uv`.
    found_in: &'static str,
    /// Places looked at first that gave none, and why.
    skipped: Vec<String>,
}

impl Interpreter {
    fn display(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// `--runtime-path` when given; else for Python the runtime's exact version wherever it is
/// installed ([`crate::runtime_python`]), for Node.js `node` on PATH.
fn find_interpreter(
    key: &str,
    config: &FunctionConfig,
    explicit: Option<&Path>,
) -> Result<Interpreter, InvokeError> {
    let language = config.language();
    let wanted = PyMinor::parse(&config.runtime).filter(|_| language == Language::Python);
    if let (Some(wanted), None) = (wanted, explicit) {
        let found = runtime_python::find_python(wanted).map_err(|not_found| {
            InvokeError::PythonNotFound {
                function: key.to_string(),
                runtime: config.runtime.clone(),
                not_found,
            }
        })?;
        return Ok(Interpreter {
            version: runtime::Version::parse(&found.version).unwrap_or(runtime::Version {
                major: wanted.major,
                minor: wanted.minor,
                patch: 0,
            }),
            program: found.program,
            found_in: found.found_in.as_str(),
            skipped: found.tried.iter().map(ToString::to_string).collect(),
        });
    }
    let program = runtime::explicit_or_node(explicit);
    match runtime::probe(&program, language) {
        Ok(probe) => Ok(Interpreter {
            program: probe.executable,
            version: probe.version,
            found_in: if explicit.is_some() {
                "--runtime-path"
            } else {
                "PATH"
            },
            skipped: Vec::new(),
        }),
        Err(e) => Err(InvokeError::InterpreterNotFound {
            function: key.to_string(),
            runtime: config.runtime.clone(),
            tried: format!("`{}`: {e}", program.to_string_lossy()),
            hint: match (explicit, wanted) {
                (Some(_), Some(w)) => {
                    format!("point --runtime-path at a working Python {w} interpreter")
                }
                (Some(_), None) => "point --runtime-path at a working Node.js interpreter".into(),
                (None, _) => {
                    "install Node.js (https://nodejs.org), or pass --runtime-path /path/to/node"
                        .into()
                }
            },
        }),
    }
}

/// Outputs of the configured stacks that exist, and the names of those that do not.
async fn stack_outputs(
    clients: &Clients,
    project: &Project,
) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let stacks = Stacks::describe(&clients.cloudformation, project.stack_names()).await?;
    Ok((stacks.outputs(), stacks.absent()))
}

/// The SDK configuration, region, and the function's environment: region and endpoint as the
/// other commands resolve them; stack outputs read only when a variable needs one.
fn resolve_function_environment(
    ctx: &Context,
    project: &Project,
    key: &str,
    config: &FunctionConfig,
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<(aws_config::SdkConfig, String, BTreeMap<String, String>)> {
    let sdk = ctx.block_on(aws::load_config(
        &ctx.aws_target(),
        project.config.region.as_deref(),
    ))?;
    let clients = Clients::from_config(&sdk);
    let region = clients.region.clone();
    let needed = env::outputs_needed(&config.environment, overrides);
    let (outputs, absent_stacks) = if needed.is_empty() {
        (BTreeMap::new(), Vec::new())
    } else {
        ctx.block_on(stack_outputs(&clients, project))
            .map_err(|e| InvokeError::Outputs {
                function: key.to_string(),
                vars: config
                    .environment
                    .iter()
                    .filter(|(k, v)| {
                        !overrides.contains_key(*k)
                            && !crate::config::referenced_outputs(v).is_empty()
                    })
                    .map(|(k, _)| k.clone())
                    .collect(),
                cause: e,
            })?
    };
    let function_env = env::function_environment(&config.environment, overrides, &outputs, &region)
        .map_err(|missing| InvokeError::MissingEnvironment {
            function: key.to_string(),
            region: region.clone(),
            missing,
            absent_stacks,
        })?;
    Ok((sdk, region, function_env))
}

/// The AWS variables the handler gets: credentials resolved through the AWS chain as the SDK
/// resolves them (environment, profile, SSO, role), the endpoint, and this machine's endpoint
/// settings. Without credentials the handler runs without any, with a warning.
fn aws_environment(
    ctx: &Context,
    sdk: &aws_config::SdkConfig,
    warnings: &mut Warnings<'_>,
) -> BTreeMap<String, String> {
    use aws_sdk_cloudformation::config::ProvideCredentials;
    let resolved = match sdk.credentials_provider() {
        None => Err("no credentials provider is configured".to_string()),
        Some(provider) => ctx
            .block_on(async { Ok(provider.provide_credentials().await?) })
            .map_err(|e| format!("{e:#}")),
    };
    let credentials = match resolved {
        Ok(c) => Some(env::Credentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().map(String::from),
        }),
        Err(why) => {
            warnings.warn(format!(
                "no AWS credentials found ({why}): the handler runs without any"
            ));
            None
        }
    };
    env::aws_variables(
        credentials.as_ref(),
        sdk.endpoint_url(),
        std::env::vars_os(),
    )
}

/// For a Python function: the cached runtime-provided packages (installed now if needed).
fn runtime_provided_dir(
    project: &Project,
    key: &str,
    config: &FunctionConfig,
    reporter: &Reporter,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(python_version) = config.python_version() else {
        return Ok(None);
    };
    let provided = config.runtime_provided();
    let cache = project.cache_dir();
    let source_dir = project.resolve(&config.source);
    let got = provided::ensure(
        &provided::Request {
            function: key,
            source_dir: &source_dir,
            provided: &provided,
            python_version,
            architecture: config.architecture,
            cache: &cache,
        },
        |m| reporter.line(m),
    )?;
    if !got.pins.unpinned.is_empty() {
        reporter.line(format!(
            "note: {} (provided by Lambda) not pinned in {}: not available to this local run; \
pin them there with hashes to import them",
            got.pins.unpinned.join(", "),
            source_dir.join("requirements.txt").display()
        ));
    }
    // The handler runs in its task root: the path must not be relative to ours.
    let dir = got
        .dir
        .map(|d| std::path::absolute(&d))
        .transpose()
        .map_err(InvokeError::io(
            "resolving the cache directory",
            "check the current directory",
        ))?;
    Ok(dir)
}

/// Run `args.function` locally and report its result and trace. A handler that fails is a
/// report with `error` set, not an `Err`.
///
/// The steps run cheapest first, so a mistake costs as little as possible: nothing is built
/// before the inputs, the interpreter and the environment are known to be usable.
pub(crate) fn run_local(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<InvokeReport> {
    let inputs = check_inputs(ctx, args)?;
    let mut warnings = Warnings::new(&ctx.reporter);
    if let Some(w) = over_payload_limit(Payload::Event, &inputs.event) {
        warnings.warn(w);
    }
    let interpreter = choose_interpreter(&inputs, args.runtime_path.as_deref(), &mut warnings)?;
    let environment = resolve_environment(ctx, &inputs, &mut warnings)?;
    let prepared = prepare_workspace(&inputs, &ctx.reporter)?;
    let (run, header) = run_handler(
        &inputs,
        &args.pass_env,
        &interpreter,
        &environment,
        &prepared,
        &mut warnings,
    )?;
    let trace = collect_trace(
        &inputs.name,
        &header,
        &run,
        args.trace_out.as_deref(),
        &mut warnings,
    )?;
    let mut report = report(&inputs, &interpreter, &header, run, trace, warnings);
    if let Some(w) = over_payload_limit(Payload::Result, &report.result) {
        ctx.reporter.line(format!("warning: {w}"));
        report.warnings.push(w);
    }
    Ok(report)
}

/// Lambda's limit for a synchronous invocation's request and response, each.
const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// Which side of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Event,
    Result,
}

/// A warning when `value` as JSON is over Lambda's payload limit: a local run takes it, the
/// deployed function would not.
fn over_payload_limit(side: Payload, value: &Value) -> Option<String> {
    let bytes = serde_json::to_vec(value).map_or(0, |v| v.len());
    if bytes <= PAYLOAD_LIMIT {
        return None;
    }
    let (what, lambda) = match side {
        Payload::Event => (
            "the event",
            "refuses the invocation (RequestEntityTooLargeException)",
        ),
        Payload::Result => (
            "the handler's result",
            "fails the invocation (the response is too large)",
        ),
    };
    Some(format!(
        "{what} is {} as JSON, over Lambda's 6 MB payload limit: deployed, Lambda {lambda}",
        crate::report::human_bytes(bytes as u64)
    ))
}

/// Warnings go to the report and are also shown as they happen, so a slow run is explained
/// while it runs.
struct Warnings<'a> {
    reporter: &'a Reporter,
    messages: Vec<String>,
}

impl<'a> Warnings<'a> {
    fn new(reporter: &'a Reporter) -> Warnings<'a> {
        Warnings {
            reporter,
            messages: Vec::new(),
        }
    }

    fn warn(&mut self, message: String) {
        self.reporter.line(format!("warning: {message}"));
        self.messages.push(message);
    }
}

/// What the user asked for, checked.
struct Inputs<'a> {
    project: &'a Project,
    /// The function's key in the config.
    key: &'a str,
    config: &'a FunctionConfig,
    /// Its Lambda function name.
    name: String,
    event: Value,
    overrides: BTreeMap<String, String>,
    timeout_secs: u64,
}

/// Everything given on the command line, checked before an interpreter is looked for or
/// anything is built: a typo costs nothing.
fn check_inputs<'a>(ctx: &'a Context, args: &InvokeArgs) -> anyhow::Result<Inputs<'a>> {
    if !args.local {
        return Err(InvokeError::NotLocal {
            function: args.function.clone(),
        }
        .into());
    }
    let project = ctx.project()?;
    let (key, config) = project
        .select_functions(std::slice::from_ref(&args.function))?
        .remove(0);
    if config.tracing_sdk == crate::config::TracingSdk::OtelLayer {
        return Err(InvokeError::OtelLayer {
            function: key.to_string(),
        }
        .into());
    }
    let event = EventSource::from_args(args.event.as_deref(), args.event_file.as_deref()).read()?;
    let overrides =
        env::parse_overrides(&args.env).map_err(|arg| InvokeError::BadEnvArg { arg })?;
    let timeout_secs = match args.timeout {
        Some(0) => return Err(InvokeError::BadTimeout.into()),
        Some(s) => s,
        None => u64::from(config.timeout),
    };
    check_trace_out(args.trace_out.as_deref())?;
    env::check_pass_env(&args.pass_env).map_err(|name| InvokeError::BadPassEnv { name })?;
    Ok(Inputs {
        project,
        key,
        config,
        name: project.lambda_name(key).to_string(),
        event,
        overrides,
        timeout_secs,
    })
}

/// `--trace-out` is written after the run: its directory is checked before, so a run is not
/// wasted on a path that cannot be written.
fn check_trace_out(path: Option<&Path>) -> Result<(), InvokeError> {
    let Some(path) = path else {
        return Ok(());
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    match dir.filter(|d| !d.is_dir()) {
        Some(dir) => Err(InvokeError::TraceOutDir {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// This machine's interpreter for the function's runtime. A version that cannot stand in for
/// the runtime stops here, with every place that was looked at, before anything is built.
fn choose_interpreter(
    inputs: &Inputs<'_>,
    explicit: Option<&Path>,
    warnings: &mut Warnings<'_>,
) -> Result<Interpreter, InvokeError> {
    let (key, config) = (inputs.key, inputs.config);
    let interpreter = find_interpreter(key, config, explicit)?;
    let checked = runtime::check_version(
        key,
        &config.runtime,
        config.language(),
        &interpreter.display(),
        interpreter.version,
    );
    match checked {
        Ok(Some(warning)) => warnings.warn(warning),
        Ok(None) => {}
        Err(m) => {
            let mut detail = m.detail;
            for skipped in &interpreter.skipped {
                detail.push_str(&format!("\n  (tried first: {skipped})"));
            }
            return Err(InvokeError::RuntimeMismatch {
                detail,
                hint: m.hint,
            });
        }
    }
    Ok(interpreter)
}

/// The variables the handler's environment is made of, besides Lambda's own.
struct Environment {
    region: String,
    /// The function's configured variables, with `--env` and stack outputs applied.
    function: BTreeMap<String, String>,
    /// Credentials and endpoint settings.
    aws: BTreeMap<String, String>,
}

/// The function's variables and the AWS settings it gets. Resolved before the build, so a
/// missing stack output fails fast; AWS is called only when a variable needs an output.
fn resolve_environment(
    ctx: &Context,
    inputs: &Inputs<'_>,
    warnings: &mut Warnings<'_>,
) -> anyhow::Result<Environment> {
    let (sdk, region, function) = resolve_function_environment(
        ctx,
        inputs.project,
        inputs.key,
        inputs.config,
        &inputs.overrides,
    )?;
    let aws = aws_environment(ctx, &sdk, warnings);
    Ok(Environment {
        region,
        function,
        aws,
    })
}

/// The task root and what the handler imports from outside it.
struct Prepared {
    workspace: Workspace,
    /// Python: the runtime-provided packages' directory.
    runtime_provided: Option<PathBuf>,
}

/// The bundle exactly as `build` makes it, unpacked into a temporary task root, so the local
/// run tests what would be deployed. Compiled code for another architecture is refused here:
/// loading it would fail inside the handler with a far less clear message.
fn prepare_workspace(inputs: &Inputs<'_>, reporter: &Reporter) -> anyhow::Result<Prepared> {
    let (key, config) = (inputs.key, inputs.config);
    let artifact = bundle::build_functions(
        inputs.project,
        &[key],
        &BuildOptions { force: false },
        reporter,
    )?
    .remove(0);
    let workspace = Workspace::create(&artifact.zip_path, config.language(), &inputs.event)?;
    let compiled = runtime::scan_compiled(&workspace.task_root).map_err(InvokeError::io(
        format!("reading {}", workspace.task_root.display()),
        "check the disk space of TMPDIR and rerun",
    ))?;
    runtime::check_architecture(
        key,
        &artifact.manifest.architecture,
        std::env::consts::ARCH,
        std::env::consts::OS,
        &compiled,
    )
    .map_err(|m| InvokeError::RuntimeMismatch {
        detail: m.detail,
        hint: m.hint,
    })?;
    let runtime_provided = runtime_provided_dir(inputs.project, key, config, reporter)?;
    Ok(Prepared {
        workspace,
        runtime_provided,
    })
}

/// Run the handler under a new trace, with a UDP socket standing in for the X-Ray daemon;
/// returns how it ended and the trace it ran under.
fn run_handler(
    inputs: &Inputs<'_>,
    pass_env: &[String],
    interpreter: &Interpreter,
    environment: &Environment,
    prepared: &Prepared,
    warnings: &mut Warnings<'_>,
) -> anyhow::Result<(RunResult, TraceHeader)> {
    let config = inputs.config;
    let collector = Collector::start().map_err(InvokeError::io(
        "opening a UDP socket on 127.0.0.1 for X-Ray documents",
        "check that local networking is available",
    ))?;
    let header = TraceHeader::new_random();
    let lambda = lambda_variables(
        inputs,
        &environment.region,
        &prepared.workspace,
        &header,
        &collector.address,
    );
    let env = handler_environment(pass_env, interpreter, environment, &lambda, warnings);
    // Progress goes where the warnings go.
    warnings.reporter.line(format!(
        "invoking {} locally: {} {} (found in {}), handler {}, timeout {} s, trace {}",
        inputs.key,
        interpreter.display(),
        interpreter.version,
        interpreter.found_in,
        config.handler,
        inputs.timeout_secs,
        header.root
    ));
    let run = process::run(RunSpec {
        program: &interpreter.program,
        workspace: &prepared.workspace,
        handler: &config.handler,
        runtime_provided: prepared.runtime_provided.as_deref(),
        env,
        timeout: Duration::from_secs(inputs.timeout_secs),
        collector,
    })?;
    Ok((run, header))
}

/// The variables Lambda sets for a function: its identity, the task root, and the trace.
fn lambda_variables(
    inputs: &Inputs<'_>,
    region: &str,
    workspace: &Workspace,
    header: &TraceHeader,
    daemon_address: &str,
) -> BTreeMap<String, String> {
    let config = inputs.config;
    env::LambdaVars {
        task_root: &workspace.task_root.to_string_lossy(),
        runtime_dir: &workspace.runtime_dir.to_string_lossy(),
        function_name: &inputs.name,
        runtime: &config.runtime,
        handler: &config.handler,
        memory_mb: config.memory,
        region,
        trace_header: &header.header(),
        daemon_address,
    }
    .to_map()
}

/// The handler's whole environment: nothing of ours is inherited but what `--pass-env` names,
/// so a handler that works here does not depend on this machine's variables.
fn handler_environment(
    pass_env: &[String],
    interpreter: &Interpreter,
    environment: &Environment,
    lambda: &BTreeMap<String, String>,
    warnings: &mut Warnings<'_>,
) -> BTreeMap<OsString, OsString> {
    let (passed, unset) = env::passed_variables(pass_env, |k| std::env::var_os(k));
    for name in unset {
        warnings.warn(format!("--pass-env {name}: not set here, so not passed"));
    }
    let interpreter_dir = interpreter
        .program
        .parent()
        .map(|d| d.to_string_lossy().into_owned());
    env::process_environment(
        &env::base_variables(interpreter_dir.as_deref()),
        &passed,
        &environment.aws,
        lambda,
        &environment.function,
    )
}

/// This run's trace, nested into one tree.
struct Trace {
    tree: TraceNode,
    /// X-Ray documents of this trace received from the function.
    documents_received: usize,
}

/// The X-Ray documents the function sent (OpenTelemetry spans converted to the documents X-Ray
/// makes of them, [`otlp`]), written to `--trace-out` as received and nested into one tree.
/// Unreadable datagrams and other traces' documents are a warning, not a failure: the
/// handler's result still stands.
fn collect_trace(
    name: &str,
    header: &TraceHeader,
    run: &RunResult,
    trace_out: Option<&Path>,
    warnings: &mut Warnings<'_>,
) -> Result<Trace, InvokeError> {
    let received = parse_documents(&run.datagrams, warnings);
    let documents = received.documents;
    let ours = documents
        .iter()
        .filter(|d| d.get("trace_id").and_then(Value::as_str) == Some(header.root.as_str()))
        .count();
    if ours < documents.len() {
        warnings.warn(format!(
            "{} X-Ray document(s) of other traces were ignored",
            documents.len() - ours
        ));
    }
    if let Some(path) = trace_out {
        write_trace_out(path, &received.raw)?;
    }
    Ok(Trace {
        tree: trace::build_tree(name, header, &documents, Some(run.duration_ms)),
        documents_received: ours,
    })
}

/// What came in on the daemon socket.
struct Received {
    /// X-Ray documents, one per X-Ray SDK datagram and one per OpenTelemetry span.
    documents: Vec<Value>,
    /// For `--trace-out`, as received: the X-Ray SDK's documents and the OTLP requests
    /// (OpenTelemetry's JSON form of `ExportTraceServiceRequest`, with the raw spans).
    raw: Vec<Value>,
}

/// The datagrams that are X-Ray documents or OTLP spans; the others are counted in one warning.
fn parse_documents(datagrams: &[Vec<u8>], warnings: &mut Warnings<'_>) -> Received {
    let mut received = Received {
        documents: Vec::new(),
        raw: Vec::new(),
    };
    let mut malformed = Vec::new();
    for datagram in datagrams {
        if otlp::is_otlp(datagram) {
            match otlp::decode(datagram) {
                Ok(request) => {
                    received.documents.extend(otlp::documents(&request));
                    received
                        .raw
                        .push(serde_json::to_value(&request).unwrap_or(Value::Null));
                }
                Err(why) => malformed.push(why),
            }
            continue;
        }
        match trace::parse_datagram(datagram) {
            Ok(doc) => {
                received.raw.push(doc.clone());
                received.documents.push(doc);
            }
            Err(why) => malformed.push(why),
        }
    }
    if !malformed.is_empty() {
        warnings.warn(format!(
            "{} datagram{} on the X-Ray socket could not be read (first: {})",
            malformed.len(),
            if malformed.len() == 1 { "" } else { "s" },
            malformed[0]
        ));
    }
    received
}

/// `--trace-out`: everything received (X-Ray documents, OTLP span requests), one JSON line
/// each, written atomically so a reader never sees half a file.
fn write_trace_out(path: &Path, documents: &[Value]) -> Result<(), InvokeError> {
    let mut lines = String::new();
    for doc in documents {
        lines.push_str(&doc.to_string());
        lines.push('\n');
    }
    crate::atomic_write::write_atomically(path, lines.as_bytes()).map_err(InvokeError::io(
        format!("writing the trace documents to {}", path.display()),
        "check that the path is writable",
    ))
}

/// The report of a run that happened, whatever its outcome.
fn report(
    inputs: &Inputs<'_>,
    interpreter: &Interpreter,
    header: &TraceHeader,
    run: RunResult,
    trace: Trace,
    warnings: Warnings<'_>,
) -> InvokeReport {
    let program = interpreter.display();
    let ended = Ended::from_outcome(run.outcome, inputs.timeout_secs, &program, run.pid);
    InvokeReport {
        function: inputs.key.to_string(),
        name: inputs.name.clone(),
        runtime: inputs.config.runtime.clone(),
        interpreter: format!("{program} {}", interpreter.version),
        interpreter_found_in: interpreter.found_in.to_string(),
        trace_id: header.root.clone(),
        result: ended.result,
        error: ended.error,
        timed_out: ended.timed_out,
        duration_ms: (run.duration_ms * 1000.0).round() / 1000.0,
        trace: vec![trace.tree],
        documents_received: trace.documents_received,
        warnings: warnings.messages,
    }
}

/// How the handler ended, as the report's `result`, `error` and `timed_out`.
struct Ended {
    result: Value,
    error: Option<ReportError>,
    timed_out: bool,
}

impl Ended {
    /// A failure that is not the handler's own error gets a hint: what to look at next.
    fn from_outcome(outcome: Outcome, timeout_secs: u64, program: &str, pid: u32) -> Ended {
        let failed = |error: ReportError, timed_out| Ended {
            result: Value::Null,
            error: Some(error),
            timed_out,
        };
        match outcome {
            Outcome::Returned(value) => Ended {
                result: value,
                error: None,
                timed_out: false,
            },
            Outcome::Threw(e) => failed(
                ReportError {
                    kind: e.kind,
                    message: e.message,
                    stack: e.stack,
                    hint: None,
                },
                false,
            ),
            Outcome::TimedOut => failed(
                ReportError {
                    kind: "Timeout".into(),
                    message: format!(
                        "did not finish within {timeout_secs} s; killed its process and all it started ({program}, pid {pid})"
                    ),
                    stack: Vec::new(),
                    hint: Some(
                        "if it needs longer, raise --timeout (or `timeout` in the config); otherwise look for a call \
that never returns, e.g. a network call without a timeout"
                            .into(),
                    ),
                },
                true,
            ),
            Outcome::NoResult { status } => failed(
                ReportError {
                    kind: "Runtime.ExitError".into(),
                    message: format!("its process ended ({status}) without returning a result"),
                    stack: Vec::new(),
                    hint: Some(
                        "see its output above; a Node.js handler whose promise never settles, or that calls \
process.exit, ends like this"
                            .into(),
                    ),
                },
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sources_come_from_the_flags() {
        assert_eq!(
            EventSource::from_args(None, None),
            EventSource::Inline("{}".into())
        );
        assert_eq!(
            EventSource::from_args(Some("{\"a\":1}"), None),
            EventSource::Inline("{\"a\":1}".into())
        );
        assert_eq!(
            EventSource::from_args(None, Some(Path::new("-"))),
            EventSource::Stdin
        );
        assert_eq!(
            EventSource::from_args(None, Some(Path::new("e.json"))).describe(),
            "--event-file e.json"
        );
    }

    #[test]
    fn malformed_events_name_the_source_line_and_column() {
        assert_eq!(
            parse_event("{\"userid\": \"u-1\"}", "x").unwrap(),
            serde_json::json!({"userid": "u-1"})
        );
        let e = parse_event("{\n  \"userid\": u-1\n}", "--event-file e.json").unwrap_err();
        assert!(e.is_usage());
        let text = crate::error::render(e);
        assert!(
            text.starts_with("the event from --event-file e.json is not valid JSON: expected value at line 2, column 13"),
            "{text}"
        );
        assert!(text.contains("hint: "), "{text}");
        let e = parse_event("", "--event (inline)").unwrap_err().to_string();
        assert!(
            e.contains("EOF while parsing a value at line 1, column 0"),
            "{e}"
        );
        let e = EventSource::File(PathBuf::from("/nonexistent/event.json"))
            .read()
            .unwrap_err();
        assert!(matches!(e, InvokeError::EventRead { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/event.json"), "{e}");
    }

    #[test]
    fn payloads_over_six_mb_are_warned_about() {
        let small = serde_json::json!({"userid": "u-1"});
        assert_eq!(over_payload_limit(Payload::Event, &small), None);
        let big = Value::String("x".repeat(PAYLOAD_LIMIT));
        let w = over_payload_limit(Payload::Result, &big).unwrap();
        assert!(
            w.starts_with("the handler's result is 6.29 MB as JSON, over Lambda's 6 MB"),
            "{w}"
        );
        assert!(over_payload_limit(Payload::Event, &big)
            .unwrap()
            .contains("RequestEntityTooLarge"));
    }

    fn report(error: Option<ReportError>) -> InvokeReport {
        InvokeReport {
            function: "random-name".into(),
            name: "random-name".into(),
            runtime: "nodejs22.x".into(),
            interpreter: "/usr/bin/node 20.20.2".into(),
            interpreter_found_in: "PATH".into(),
            trace_id: "1-00000000-000000000000000000000000".into(),
            result: if error.is_some() {
                Value::Null
            } else {
                serde_json::json!({"name": "Ann"})
            },
            error,
            timed_out: false,
            duration_ms: 1.0,
            trace: Vec::new(),
            documents_received: 0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn text_view_is_the_result_and_errors_carry_their_stack() {
        let ok = report(None);
        assert_eq!(ok.to_string(), "{\n  \"name\": \"Ann\"\n}\n");
        assert_eq!(ok.error_text(), None);
        let failed = report(Some(ReportError {
            kind: "Error".into(),
            message: "random-name: event.userid is missing".into(),
            stack: vec![
                "Error: random-name: event.userid is missing".into(),
                "    at handler (/tmp/task/index.js:64:13)".into(),
            ],
            hint: None,
        }));
        assert_eq!(failed.to_string(), "");
        assert_eq!(
            failed.error_text().unwrap(),
            "function `random-name` failed: Error: random-name: event.userid is missing\n      at handler (/tmp/task/index.js:64:13)"
        );
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["error"]["type"], "Error");
        assert_eq!(json["result"], Value::Null);
    }
}
