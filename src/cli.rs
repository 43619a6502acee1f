//! Command-line interface: what users type, and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `plan --detailed-exitcode`: nothing would change)
  1  a deploy, build or AWS failure; the message names the resource and AWS's reason
  2  bad usage, configuration or template (nothing was changed)
     (for `plan --detailed-exitcode`: changes are pending; errors are then 1)
  130  interrupted (Ctrl-C); AWS keeps going, rerun the command to attach";

#[derive(Debug, Parser)]
#[command(
    name = "scorekeep-deploy",
    version,
    about = "Deploy the Scorekeep sample's X-Ray-instrumented Lambda functions and their queue, topic and bucket",
    long_about = "Deploy the Scorekeep sample's X-Ray-instrumented Lambda functions (random-name, \
scorekeep-worker) and their SNS topic, SQS queue and S3 bucket with CloudFormation, bundle the \
functions with their tracing SDK, and wire the Elastic Beanstalk environment.\n\n\
Region, credentials and endpoint come from the standard AWS chain (AWS_PROFILE, AWS_REGION, \
AWS_ENDPOINT_URL, SSO, instance roles); the flags below override it.",
    after_help = EXIT_CODES,
    propagate_version = true
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
    /// AWS region (default: AWS_REGION, then the config's `region`, then the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named AWS profile (default: AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint, e.g. a local emulator (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format of the final report on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
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
  scorekeep-deploy plan --detailed-exitcode    # exit 0: no changes, 2: changes, 1: error")]
    Plan(PlanArgs),

    /// Deploy everything: stacks, function code and configuration, Beanstalk wiring.
    #[command(after_help = "Examples:
  scorekeep-deploy up
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 scorekeep-deploy up --output json
  scorekeep-deploy up --replace-failed         # recreate a stack left in ROLLBACK_COMPLETE")]
    Up(UpArgs),

    /// Release fast path: build and update function code and configuration only.
    #[command(after_help = "Examples:
  scorekeep-deploy update-functions            # all functions, only the changed ones are uploaded
  scorekeep-deploy update-functions scorekeep-worker")]
    UpdateFunctions(UpdateFunctionsArgs),

    /// Show stacks, outputs, functions and the Beanstalk environment.
    #[command(after_help = "Examples:
  scorekeep-deploy status
  scorekeep-deploy status --output json")]
    Status,

    /// Run a built function on this machine and show the X-Ray trace it emits (no Docker).
    #[command(after_help = "Examples:
  scorekeep-deploy invoke --local random-name --event '{\"userid\": \"u-1\"}'
  scorekeep-deploy invoke --local scorekeep-worker --event-file event.json --trace-out trace.jsonl
  echo '{}' | scorekeep-deploy invoke --local scorekeep-worker --event-file -
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 scorekeep-deploy invoke --local random-name --env TOPIC_ARN=arn:...")]
    Invoke(InvokeArgs),

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
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Delete and recreate a stack left in ROLLBACK_COMPLETE by a failed creation.
    #[arg(long)]
    pub replace_failed: bool,
    /// Run ContinueUpdateRollback on a stack in UPDATE_ROLLBACK_FAILED, then deploy.
    #[arg(long)]
    pub continue_rollback: bool,
    /// Rebuild function bundles even when their inputs have not changed.
    #[arg(long)]
    pub force_build: bool,
}

#[derive(Debug, Args)]
pub struct UpdateFunctionsArgs {
    /// Functions to update (default: all).
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
    /// Rebuild function bundles even when their inputs have not changed.
    #[arg(long)]
    pub force_build: bool,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Run the function locally with the machine's node/python3 (the only mode today).
    #[arg(long)]
    pub local: bool,
    /// The function to run (a key under `functions:` in the config).
    #[arg(value_name = "FUNCTION")]
    pub function: String,
    /// The event as inline JSON (default: `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "event_file")]
    pub event: Option<String>,
    /// Read the event from a file, or `-` for standard input.
    #[arg(long, value_name = "PATH")]
    pub event_file: Option<PathBuf>,
    /// Set or override an environment variable (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Write the raw X-Ray documents, one JSON per line.
    #[arg(long, value_name = "PATH")]
    pub trace_out: Option<PathBuf>,
    /// Kill the handler after this many seconds (default: the function's configured timeout).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Interpreter to run the handler with instead of `node`/`python3` from PATH.
    #[arg(long, value_name = "PATH")]
    pub runtime_path: Option<PathBuf>,
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
