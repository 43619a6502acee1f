use std::io::Write;

use scorekeep_deploy::cli::{self, Command, OutputFormat};
use scorekeep_deploy::commands;
use scorekeep_deploy::context::Context;
use scorekeep_deploy::report::{FailureReport, PartialResults};
use scorekeep_deploy::{exit, interrupt};

fn main() {
    let cli = cli::parse();
    init_logging(cli.global.verbose);
    // Ctrl-C, SIGTERM and SIGHUP stop every command at a safe point, with a summary (and
    // `invoke --local` kills the handler and all it started).
    interrupt::install();
    let ctx = Context::new(cli.global.clone());
    let result = match &cli.command {
        Command::Render(args) => commands::render::run(&ctx, args).map(|()| exit::OK),
        Command::Build(args) => commands::build::run(&ctx, args).map(|()| exit::OK),
        Command::Plan(args) => commands::plan::run(&ctx, args),
        Command::Up(args) => commands::up::run(&ctx, args).map(|()| exit::OK),
        Command::UpdateFunctions(args) => {
            commands::update_functions::run(&ctx, args).map(|()| exit::OK)
        }
        Command::Status => commands::status::run(&ctx).map(|()| exit::OK),
        Command::Rollback(args) => commands::rollback::run(&ctx, args).map(|()| exit::OK),
        Command::Down(args) => commands::down::run(&ctx, args).map(|()| exit::OK),
        Command::Invoke(args) => commands::invoke::run(&ctx, args),
        Command::Traces(args) => commands::traces::run(&ctx, args),
        Command::Logs(args) => commands::logs::run(&ctx, args),
    };
    interrupt::settle();
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            // `plan --detailed-exitcode` reserves 2 for "changes pending": errors are 1 there.
            let detailed = matches!(&cli.command, Command::Plan(a) if a.detailed_exitcode);
            let code = if detailed {
                exit::FAILURE
            } else {
                exit::code_for(&err)
            };
            let failure = exit::Failure::from_error(&err, code);
            // Not eprintln!: after SIGHUP the terminal may be gone, and a panic would lose the
            // exit code.
            let _ = writeln!(std::io::stderr(), "error: {failure}");
            if cli.global.output == OutputFormat::Json {
                FailureReport {
                    command: command_name(&cli.command),
                    ok: false,
                    error: &failure,
                    functions: err.downcast_ref::<PartialResults>().map(|p| &p.functions),
                }
                .print();
            }
            std::process::exit(code);
        }
    }
}

/// The subcommand as typed, for the `command` key of a JSON failure.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Render(_) => "render",
        Command::Build(_) => "build",
        Command::Plan(_) => "plan",
        Command::Up(_) => "up",
        Command::UpdateFunctions(_) => "update-functions",
        Command::Status => "status",
        Command::Rollback(_) => "rollback",
        Command::Down(_) => "down",
        Command::Invoke(_) => "invoke",
        Command::Traces(_) => "traces",
        Command::Logs(_) => "logs",
    }
}

/// Logs go to stderr behind -v, so stdout stays the report: `-v` each AWS call (service,
/// operation, resource, status, duration), `-vv` also waits and retry decisions, `-vvv` the
/// SDK's own logs. Colour only on a terminal and never with `NO_COLOR` set.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    let level = match verbose {
        // The credential chain warns with a Debug dump for each provider that failed (IMDS on
        // a laptop); the error that follows explains it, so those show from -vv on.
        0 => "warn,aws_config=error",
        1 => "warn,aws_config=error,scorekeep_deploy=info",
        2 => "warn,scorekeep_deploy=debug,aws_smithy_runtime::client::retries=debug",
        _ => "debug,scorekeep_deploy=trace,aws_smithy_runtime=trace,hyper=info,hyper_util=info,h2=info,rustls=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCOREKEEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| scorekeep_deploy::text::RedactingStderr)
        .with_ansi(!no_color && std::io::stderr().is_terminal())
        .with_target(verbose >= 3)
        .without_time()
        .init();
}
