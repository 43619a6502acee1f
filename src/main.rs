use scorekeep_deploy::cli::{self, Command};
use scorekeep_deploy::commands;
use scorekeep_deploy::context::Context;
use scorekeep_deploy::exit;

fn main() {
    let cli = cli::parse();
    init_logging(cli.global.verbose);
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
        Command::Down(args) => commands::down::run(&ctx, args).map(|()| exit::OK),
        Command::Invoke(args) => commands::invoke::run(&ctx, args),
        Command::Traces(args) => commands::traces::run(&ctx, args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = exit::code_for(&err);
            // `plan --detailed-exitcode` reserves 2 for "changes pending": errors are 1 there.
            let detailed = matches!(&cli.command, Command::Plan(a) if a.detailed_exitcode);
            std::process::exit(if detailed { exit::FAILURE } else { code });
        }
    }
}

/// Logs go to stderr behind -v, so stdout stays the report.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "scorekeep_deploy=info",
        2 => "scorekeep_deploy=debug,aws_config=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCOREKEEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
