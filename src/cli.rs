//! Command-line interface: what users type, and nothing else.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `plan --detailed-exitcode`: nothing would change)
  1  a deploy, build or AWS failure; the message names the resource and AWS's reason
  2  bad usage, configuration or template (nothing was changed)
     (for `plan --detailed-exitcode`: changes are pending; errors are then 1)
  130  interrupted (Ctrl-C); AWS keeps going, rerun the command to attach
  143  stopped by SIGTERM (a cancelled CI job), as Ctrl-C: summary, children killed
  129  stopped by SIGHUP (the terminal went away), as Ctrl-C

Coming from another tool: deploy/apply -> up, destroy/delete/remove -> down, diff -> plan,
package -> build, synth -> render.";

/// Verbs users of terraform, SAM, the CDK or serverless type, and the command that does it
/// here: an unknown subcommand among them gets clap's "a similar subcommand exists" tip.
const OTHER_TOOLS_VERBS: &[(&str, &str)] = &[
    ("deploy", "up"),
    ("apply", "up"),
    ("destroy", "down"),
    ("delete", "down"),
    ("remove", "down"),
    ("diff", "plan"),
    ("package", "build"),
    ("synth", "render"),
];

/// Parse the command line, exiting 2 with a message (and a tip for other tools' verbs) on
/// bad usage, as clap does.
pub fn parse() -> Cli {
    Cli::try_parse().unwrap_or_else(|err| with_verb_tip(err).exit())
}

fn with_verb_tip(mut err: clap::Error) -> clap::Error {
    if err.kind() != ErrorKind::InvalidSubcommand {
        return err;
    }
    let ours = match err.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(typed)) => OTHER_TOOLS_VERBS
            .iter()
            .find(|(verb, _)| verb == typed)
            .map(|(_, ours)| ours.to_string()),
        _ => None,
    };
    if let Some(ours) = ours {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(vec![ours]),
        );
    }
    err
}

#[derive(Debug, Parser)]
#[command(
    name = "scorekeep-deploy",
    version,
    about = "Deploy the Scorekeep sample's X-Ray-instrumented Lambda functions and their queue, topic and bucket",
    long_about = "Deploy the Scorekeep sample's X-Ray-instrumented Lambda functions (random-name,
scorekeep-worker) and their SNS topic, SQS queue and S3 bucket with CloudFormation, bundle the
functions with their tracing SDK, and wire the Elastic Beanstalk environment.

Credentials and endpoint come from the standard AWS chain (AWS_PROFILE, AWS_ENDPOINT_URL, SSO,
instance roles); the flags below override it. Region: --region, then AWS_REGION or
AWS_DEFAULT_REGION, then the profile's region, then the config's `region:`.",
    after_help = EXIT_CODES,
    propagate_version = true,
    // No re-wrapping (for every subcommand too): clap would break the example lines in the
    // help at the terminal's width, and a wrapped command line cannot be pasted. The help
    // text is written in short lines instead.
    term_width = 0
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Project configuration file.
    #[arg(
        long,
        global = true,
        default_value = "scorekeep-deploy.yaml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// AWS region (default: AWS_REGION/AWS_DEFAULT_REGION, the profile's, the config's `region`).
    #[arg(long, global = true, value_parser = crate::checks::region)]
    pub region: Option<String>,
    /// Named AWS profile (default: AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Deploy (or show) this stage of the config's `stages:`: its overrides, with `-<stage>`
    /// in stack and function names.
    #[arg(long, global = true, value_name = "NAME", env = "SCOREKEEP_STAGE")]
    pub stage: Option<String>,
    /// Send every AWS call to this endpoint, e.g. a local emulator (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format of the final report on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr: -v each AWS call, -vv also waits and retries, -vvv the SDK.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Plain progress lines even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the templates with the project config, validate them, and write what `up` deploys.
    #[command(after_help = "Examples:
  scorekeep-deploy render                      # writes target/scorekeep-deploy/templates/<stack>.yaml
  scorekeep-deploy render --out /tmp/rendered
  scorekeep-deploy render --stdout > stack.yaml")]
    Render(RenderArgs),

    /// Bundle functions with their dependencies into deterministic zips with manifests.
    #[command(after_help = "Examples:
  scorekeep-deploy build                       # every function; unchanged ones come from the cache
  scorekeep-deploy build random-name --force   # rebuild one function
  scorekeep-deploy build --output json         # print the manifests")]
    Build(BuildArgs),

    /// Show what `up` would change, without changing anything.
    #[command(after_help = "Examples:
  scorekeep-deploy plan
  scorekeep-deploy plan --detailed-exitcode    # exit 0: no changes, 2: changes, 1: error
  scorekeep-deploy plan --drift                # also list resources changed outside CloudFormation")]
    Plan(PlanArgs),

    /// Deploy everything: stacks, function code and configuration, Beanstalk wiring.
    #[command(after_help = "Examples:
  scorekeep-deploy up
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 scorekeep-deploy up --output json
  scorekeep-deploy up --replace-failed         # recreate a stack left in ROLLBACK_COMPLETE
  scorekeep-deploy up --revert-drift           # also put drifted resources back to the template
  scorekeep-deploy up --strategy canary:10:5m  # 10 % to the new versions for 5 min, gates checked, then 100 %
  scorekeep-deploy up --stage prod             # the `prod` stage of `stages:`: its overrides, `-prod` names")]
    Up(UpArgs),

    /// Release fast path: build and update function code and configuration only.
    #[command(after_help = "Examples:
  scorekeep-deploy update-functions            # all functions, only the changed ones are uploaded
  scorekeep-deploy update-functions scorekeep-worker
  scorekeep-deploy update-functions random-name --unpin   # release again after a rollback pinned it
  scorekeep-deploy update-functions --strategy linear:25:1m   # 25 % more each minute; a failed gate reverts

A gradual release (canary or linear) keeps the alias on the old version and routes a share to
the new one; while it bakes, the alarms in `releases.alarms` and the new version's own Errors
and Throttles (over `releases.max_error_rate`) are checked. A closed gate or Ctrl-C returns the
alias to the old version with no weights; a rerun resumes a release that was stopped.")]
    UpdateFunctions(UpdateFunctionsArgs),

    /// Move the release alias back to the previous (or a given) version: no build, no upload,
    /// no CloudFormation.
    #[command(after_help = "Examples:
  scorekeep-deploy rollback                    # every function's alias to its previous version
  scorekeep-deploy rollback random-name --to 3")]
    Rollback(RollbackArgs),

    /// Show stacks, outputs, functions and the Beanstalk environment.
    #[command(after_help = "Examples:
  scorekeep-deploy status
  scorekeep-deploy status --output json")]
    Status,

    /// Invoke the deployed function (its release alias) and show the result, the log tail and the trace; or, with --local, run the built function on this machine and show the trace it emits, X-Ray or OpenTelemetry, as a tree (no Docker).
    #[command(after_help = "Examples:
  scorekeep-deploy invoke random-name --event '{\"userid\": \"u-1\"}'   # the deployed alias `live`
  scorekeep-deploy invoke random-name --qualifier 3 --wait 0 --output json
  scorekeep-deploy invoke --local random-name --event '{\"userid\": \"u-1\"}'
  scorekeep-deploy invoke --local scorekeep-worker --event-file event.json --trace-out trace.jsonl
  echo '{}' | scorekeep-deploy invoke --local scorekeep-worker --event-file -
  scorekeep-deploy invoke --local scorekeep-worker --sqs-message \"$(cat order.json)\" --sqs-message 'not json'
  scorekeep-deploy invoke --local scorekeep-worker --sqs-messages-file orders.jsonl   # a body per line
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 scorekeep-deploy invoke --local random-name --env TOPIC_ARN=arn:...
  scorekeep-deploy invoke --local scorekeep-worker --pass-env HTTPS_PROXY --pass-env NO_PROXY

The handler's environment (nothing else of yours is passed, unless named with --pass-env):
  - Lambda's variables: AWS_LAMBDA_FUNCTION_NAME, _HANDLER, LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID,
    AWS_REGION, AWS_DEFAULT_REGION, AWS_XRAY_DAEMON_ADDRESS, TZ, ...
  - the function's configured environment (stack outputs resolved), then --env KEY=VALUE
  - AWS credentials resolved as the SDK does (environment, --profile/AWS_PROFILE, SSO, role):
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; the endpoint (AWS_ENDPOINT_URL,
    --endpoint-url) and your AWS_ENDPOINT_URL_<SERVICE>, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
    AWS_CA_BUNDLE
  - PATH (the interpreter's directory, /usr/local/bin:/usr/bin:/bin) and LANG=C.UTF-8

Python: an interpreter of the runtime's exact version is searched for in order: pythonX.Y on
PATH, python3 on PATH if it is X.Y, $PYENV_ROOT/versions/X.Y.* (default ~/.pyenv), `uv python
find X.Y`; each is run first (a pyenv shim of an unselected version fails and is skipped). The
packages Lambda provides (boto3, botocore, ...) are installed once, from the function's pinned
and hashed requirements.txt, into target/scorekeep-deploy-cache/runtime-provided/ and put on
sys.path after the bundle; the interpreter's own site-packages are not used.")]
    Invoke(InvokeArgs),

    /// Show the deployed functions' recent X-Ray traces as trees (the same as `invoke --local`).
    #[command(after_help = "Examples:
  scorekeep-deploy traces                      # every function's traces of the last 15 minutes
  scorekeep-deploy traces random-name --since 1h --limit 3
  scorekeep-deploy traces --filter 'annotation.UserID = \"u-42\"'
  scorekeep-deploy traces --trace-id 1-6b064288-6c127964d33ffb9e8a013704
  scorekeep-deploy traces scorekeep-worker --follow   # new traces as they arrive, until Ctrl-C
  scorekeep-deploy traces --output json > traces.json   # the raw segment documents too
  scorekeep-deploy traces --since 1h --html traces.html   # waterfalls and a service map, one file
  scorekeep-deploy traces --since 1h --open    # the same page, in a temp file, in a browser

Traces appear in X-Ray about 30 s after an invocation ends. Needs the IAM permissions
xray:GetTraceSummaries and xray:BatchGetTraces (e.g. the AWSXrayReadOnlyAccess policy).
With nothing in the window, it says so and exits 0; an unknown --trace-id exits 1.
--follow prints each new trace as it arrives (with --output json: one JSON object per line)
and exits 130 on Ctrl-C.")]
    Traces(TracesArgs),

    /// Show the deployed functions' CloudWatch Logs: each line with its function, time,
    /// request and, for a traced request, its X-Ray trace id.
    #[command(after_help = "Examples:
  scorekeep-deploy logs                        # every function's log lines of the last 10 minutes
  scorekeep-deploy logs random-name --since 1h --filter ERROR
  scorekeep-deploy logs --trace 1-6b064288-6c127964d33ffb9e8a013704   # one trace's lines
  scorekeep-deploy logs scorekeep-worker --follow   # new lines as they arrive, until Ctrl-C

Reads /aws/lambda/<function name> (FilterLogEvents; needs logs:FilterLogEvents). Lambda writes
a traced request's trace id on its REPORT line; every line of that request shows it.
--follow prints the window, then new lines from a live tail (StartLiveTail: needs
logs:StartLiveTail and logs:DescribeLogGroups); where live tail is unavailable (an unknown or
forbidden operation, an emulator) it says so once and polls every 0.5 s. Exits 130 on Ctrl-C.")]
    Logs(LogsArgs),

    /// Delete the stacks. The records bucket is kept unless --delete-data is given.
    #[command(after_help = "Examples:
  scorekeep-deploy down                        # asks for confirmation on a terminal
  scorekeep-deploy down --yes                  # required without a terminal (CI)
  scorekeep-deploy down --yes --delete-data    # also empty and delete the records bucket
  scorekeep-deploy down --yes --delete-data --bucket NAME   # a bucket retained earlier")]
    Down(DownArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory to write the rendered templates to (default: <artifact_dir>/templates).
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,
    /// Print one rendered template on stdout instead of writing files.
    #[arg(long)]
    pub stdout: bool,
    /// With --stdout: which stack (required when the project has more than one).
    #[arg(long, value_name = "NAME", requires = "stdout")]
    pub stack: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Functions to build (default: all).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// Rebuild even when the inputs have not changed.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 0 when nothing would change, 2 when something would, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also run CloudFormation drift detection on each stack and list drifted resources
    /// (drift counts as a pending change).
    #[arg(long)]
    pub drift: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Delete and recreate a stack left in ROLLBACK_COMPLETE by a failed creation.
    #[arg(long)]
    pub replace_failed: bool,
    /// Run ContinueUpdateRollback on a stack in UPDATE_ROLLBACK_FAILED, then deploy.
    #[arg(long)]
    pub continue_rollback: bool,
    /// Put resources changed outside CloudFormation back to the template (change sets with
    /// DeploymentMode REVERT_DRIFT; see `plan --drift`).
    #[arg(long)]
    pub revert_drift: bool,
    /// Rebuild function bundles even when their inputs have not changed.
    #[arg(long)]
    pub force_build: bool,
    /// Deploy the bundles in DIR instead of building: the directory `build` wrote (each
    /// function's <key>.zip and <key>.json); a zip whose SHA-256 is not its manifest's is refused.
    #[arg(long, value_name = "DIR", conflicts_with = "force_build")]
    pub artifacts: Option<PathBuf>,
    /// How the release alias moves to new versions this run: all-at-once, canary:PERCENT:BAKE
    /// (e.g. canary:10:5m), linear:STEP:INTERVAL (e.g. linear:10:1m) or a SAM preset name
    /// (default: the config's `releases.strategy`, or each function's `strategy`).
    #[arg(long, value_name = "STRATEGY", value_parser = crate::config::strategy::Strategy::parse)]
    pub strategy: Option<crate::config::strategy::Strategy>,
    /// For a stage with `targets`: delete the StackSet instances in accounts and regions no
    /// longer listed (without it they are kept and reported).
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct UpdateFunctionsArgs {
    /// Functions to update (default: all).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// Rebuild function bundles even when their inputs have not changed.
    #[arg(long)]
    pub force_build: bool,
    /// Release functions that `rollback` pinned (otherwise they are left alone), clearing the pin.
    #[arg(long)]
    pub unpin: bool,
    /// Deploy the bundles in DIR instead of building: the directory `build` wrote (each
    /// function's <key>.zip and <key>.json); a zip whose SHA-256 is not its manifest's is refused.
    #[arg(long, value_name = "DIR", conflicts_with = "force_build")]
    pub artifacts: Option<PathBuf>,
    /// How the release alias moves to new versions this run: all-at-once, canary:PERCENT:BAKE
    /// (e.g. canary:10:5m), linear:STEP:INTERVAL (e.g. linear:10:1m) or a SAM preset name
    /// (default: the config's `releases.strategy`, or each function's `strategy`).
    #[arg(long, value_name = "STRATEGY", value_parser = crate::config::strategy::Strategy::parse)]
    pub strategy: Option<crate::config::strategy::Strategy>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Functions to roll back (default: all).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// The version to point the alias at (default: the one before the alias's version).
    #[arg(long, value_name = "VERSION", value_parser = crate::checks::version_number)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Run the built function on this machine with node/python3, not the deployed one.
    #[arg(long)]
    pub local: bool,
    /// The deployed function: the alias or version to invoke (default: `releases.alias`).
    #[arg(long, value_name = "ALIAS|VERSION", conflicts_with = "local")]
    pub qualifier: Option<String>,
    /// The deployed function: how long to wait for X-Ray to have the invocation's trace.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        conflicts_with = "local"
    )]
    pub wait: u64,
    /// The function to run (a key under `functions:` in the config).
    #[arg(value_name = "FUNCTION")]
    pub function: String,
    /// The event as inline JSON (default: `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "event_file")]
    pub event: Option<String>,
    /// Read the event from a file, or `-` for standard input.
    #[arg(long, value_name = "PATH")]
    pub event_file: Option<PathBuf>,
    /// Send an SQS event, as the queue's event source mapping would: one record with this
    /// body per use (repeatable; ids local-1, local-2, ...). Records the handler reports in
    /// `batchItemFailures` are listed.
    #[arg(long = "sqs-message", value_name = "BODY", conflicts_with_all = ["event", "event_file"])]
    pub sqs_messages: Vec<String>,
    /// Send an SQS event as --sqs-message does, one record per line of this file (JSON Lines:
    /// a message body per line, empty lines skipped), or `-` for standard input.
    #[arg(long = "sqs-messages-file", value_name = "PATH", conflicts_with_all = ["event", "event_file", "sqs_messages"])]
    pub sqs_messages_file: Option<PathBuf>,
    /// Set or override an environment variable (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", requires = "local")]
    pub env: Vec<String>,
    /// Also write the invocation's trace as one self-contained HTML page (a waterfall and
    /// its details).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Open the trace page in a browser ($BROWSER, else xdg-open or open); without --html
    /// it is written to a new file in the temp dir.
    #[arg(long)]
    pub open: bool,
    /// Write what the function sent, one JSON per line: X-Ray documents, or the OTLP requests (OpenTelemetry JSON) with `tracing_sdk: otel`.
    #[arg(long, value_name = "PATH", requires = "local")]
    pub trace_out: Option<PathBuf>,
    /// Kill the handler, and every process it started, after this many seconds (default: the function's configured timeout).
    #[arg(long, value_name = "SECONDS", requires = "local")]
    pub timeout: Option<u64>,
    /// Interpreter to run the handler with (default: for pythonX.Y the first that runs of
    /// `pythonX.Y` on PATH, `python3` on PATH if it is X.Y, pyenv's versions, `uv python
    /// find X.Y`; for Node.js `node` on PATH).
    #[arg(long, value_name = "PATH", requires = "local")]
    pub runtime_path: Option<PathBuf>,
    /// Also hand this variable of your environment to the handler (repeatable). Otherwise it
    /// gets only Lambda's variables, the function's environment, --env, PATH/LANG, and AWS
    /// credentials, region and endpoint resolved as the SDK does.
    #[arg(long = "pass-env", value_name = "NAME", requires = "local")]
    pub pass_env: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Functions whose logs to show (default: all in the config).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// How far back to look: 90s, 15m, 2h, 1d (at most 24h).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub since: String,
    /// A CloudWatch Logs filter pattern the lines must match, e.g. ERROR or "\"game ended\"".
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Only the lines of the requests of this X-Ray trace.
    #[arg(long, value_name = "TRACE_ID", conflicts_with = "follow")]
    pub trace: Option<String>,
    /// Keep printing new lines until Ctrl-C: a live tail (StartLiveTail), or polling every
    /// 0.5 s where live tail is unavailable.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct TracesArgs {
    /// Functions whose traces to show (default: all in the config).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// How far back to look: 90s, 15m, 2h, 1d (at most 24h).
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub since: String,
    /// Show these traces (repeatable) instead of searching the window.
    #[arg(long = "trace-id", value_name = "ID", conflicts_with_all = ["functions", "filter", "follow"])]
    pub trace_ids: Vec<String>,
    /// An X-Ray filter expression the traces must also match, e.g. 'annotation.UserID = "u-42"'.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Show at most this many traces, the newest.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub limit: u16,
    /// Keep polling for new traces (backing off while none arrive) until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Also write the traces as one self-contained HTML page: a waterfall per trace, details,
    /// and for several traces a list and a service map.
    #[arg(long, value_name = "FILE", conflicts_with = "follow")]
    pub html: Option<PathBuf>,
    /// Open the page in a browser ($BROWSER, else xdg-open or open); without --html it is
    /// written to a new file in the temp dir.
    #[arg(long, conflicts_with = "follow")]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also empty and delete the records bucket, which is otherwise retained. After a plain
    /// `down`, this deletes the bucket that run retained (remembered in the cache dir).
    #[arg(long)]
    pub delete_data: bool,
    /// With --delete-data: also empty and delete this bucket (e.g. one retained by a `down`
    /// run from another checkout). Repeatable.
    #[arg(long = "bucket", value_name = "NAME", requires = "delete_data")]
    pub buckets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn other_tools_verbs_name_existing_commands() {
        let cmd = Cli::command();
        for (verb, ours) in OTHER_TOOLS_VERBS {
            assert!(cmd.find_subcommand(ours).is_some(), "{ours}");
            assert!(cmd.find_subcommand(verb).is_none(), "{verb} is a command");
            assert!(EXIT_CODES.contains(verb), "{verb} not in --help");
        }
    }

    #[test]
    fn every_subcommand_help_has_an_example() {
        for sub in Cli::command().get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("scorekeep-deploy "),
                "{} has no example",
                sub.get_name()
            );
        }
    }
}
