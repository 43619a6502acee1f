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
//! ([`collect`], with `crate::trace`) and report ([`report`]), a bundled Node handler's
//! error stack mapped back to its sources ([`sourcemap`]).
//!
//! `run_local` calls one function per step, in that order: `check_inputs`,
//! `choose_interpreter` ([`interpreter`]), `resolve_environment`, `prepare_workspace`,
//! `run_handler`, `collect_trace`, `report`. The event is read in [`event`].

pub(crate) mod collect;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod handler_run;
pub(crate) mod interpreter;
pub(crate) mod provided;
pub(crate) mod remote;
pub(crate) mod report;
pub(crate) mod runtime;
pub(crate) mod sourcemap;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::aws::cfn::Stacks;
use crate::aws::{self, Clients};
use crate::bundle::{self, BuildOptions};
use crate::cli::InvokeArgs;
use crate::config::{Bundler, FunctionConfig, Language, Project};
use crate::context::Context;
use crate::report::Reporter;
use crate::trace::daemon::TraceHeader;
use collect::collect_trace;
pub(crate) use error::InvokeError;
use event::{over_payload_limit, EventSource, Payload};
use handler_run::{Collector, RunResult, RunSpec, Workspace};
use interpreter::{choose_interpreter, Interpreter};
use report::report;
pub(crate) use report::InvokeReport;
use sourcemap::StackMap;

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
    // A minified bundle's positions mean nothing to the reader: the sources' are shown.
    if let (Some(map), Some(error)) = (&prepared.stack_map, report.error.as_mut()) {
        error.stack = map.apply(&error.stack);
    }
    if let Some(w) = over_payload_limit(Payload::Result, &report.result) {
        ctx.reporter.line(format!("warning: {w}"));
        report.warnings.push(w);
    }
    show_failed_records(ctx, &inputs.event, &report.result);
    Ok(report)
}

/// An SQS event's handler reports the records it failed on: say which, and that Lambda would
/// deliver only those again.
fn show_failed_records(ctx: &Context, event: &serde_json::Value, result: &serde_json::Value) {
    let Some(failed) = event::failed_records(result) else {
        return;
    };
    let total = event["Records"].as_array().map_or(0, Vec::len);
    if failed.is_empty() {
        ctx.reporter.line(format!("records: all {total} processed"));
        return;
    }
    let ids: Vec<String> = failed
        .iter()
        .map(|id| crate::text::field(id).into_owned())
        .collect();
    ctx.reporter.line(format!(
        "records: {} of {total} failed ({}); Lambda would deliver only those again",
        failed.len(),
        ids.join(", ")
    ));
}

/// Warnings go to the report and are also shown as they happen, so a slow run is explained
/// while it runs.
pub(crate) struct Warnings<'a> {
    pub(crate) reporter: &'a Reporter,
    pub(crate) messages: Vec<String>,
}

impl<'a> Warnings<'a> {
    fn new(reporter: &'a Reporter) -> Warnings<'a> {
        Warnings {
            reporter,
            messages: Vec::new(),
        }
    }

    pub(crate) fn warn(&mut self, message: String) {
        self.reporter.line(format!("warning: {message}"));
        self.messages.push(message);
    }
}

/// What the user asked for, checked.
pub(crate) struct Inputs<'a> {
    pub(crate) project: &'a Project,
    /// The function's key in the config.
    pub(crate) key: &'a str,
    pub(crate) config: &'a FunctionConfig,
    /// Its Lambda function name.
    pub(crate) name: String,
    pub(crate) event: Value,
    pub(crate) overrides: BTreeMap<String, String>,
    pub(crate) timeout_secs: u64,
}

/// Everything given on the command line, checked before an interpreter is looked for or
/// anything is built: a typo costs nothing.
fn check_inputs<'a>(ctx: &'a Context, args: &InvokeArgs) -> anyhow::Result<Inputs<'a>> {
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
    let event = EventSource::from_args(args.into()).read()?;
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
    /// A Node bundle made by esbuild: its source map, for the stack of an error.
    stack_map: Option<StackMap>,
}

/// The bundle exactly as `build` makes it, unpacked into a temporary task root, so the local
/// run tests what would be deployed. Compiled code for another architecture is refused here:
/// loading it would fail inside the handler with a far less clear message.
fn prepare_workspace(inputs: &Inputs<'_>, reporter: &Reporter) -> anyhow::Result<Prepared> {
    let (key, config) = (inputs.key, inputs.config);
    let artifact =
        bundle::build_functions(inputs.project, &[key], &BuildOptions::default(), reporter)?
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
    let stack_map = (config.language() == Language::Node && config.bundler() == Bundler::Esbuild)
        .then(|| {
            StackMap::for_bundle(
                &workspace.task_root,
                &config.handler,
                &artifact.zip_path,
                &config.source,
            )
        })
        .flatten();
    Ok(Prepared {
        workspace,
        runtime_provided,
        stack_map,
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
    let run = handler_run::run(RunSpec {
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
    let mut variables = env::process_environment(
        &env::base_variables(interpreter_dir.as_deref()),
        &passed,
        &environment.aws,
        lambda,
        &environment.function,
    );
    // The run has said once that this Node.js is not the runtime's; the AWS SDK in the handler
    // would say it again, at length, on every invocation (Lambda's own Node.js never makes it).
    if interpreter.other_node_major {
        variables.insert(
            env::SDK_NODE_WARNING_OFF.0.into(),
            env::SDK_NODE_WARNING_OFF.1.into(),
        );
    }
    variables
}
