use clap::Parser;

use scorekeep_deploy::cli::{Cli, Command};
use scorekeep_deploy::commands;
use scorekeep_deploy::context::Context;
use scorekeep_deploy::exit;

fn main() {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let ctx = Context::new(cli.global.clone());
    let result = match &cli.command {
        Command::Render(args) => commands::render::run(&ctx, args),
        Command::Build(args) => commands::build::run(&ctx, args),
        other => Err(anyhow::Error::new(exit::UsageError(format!(
            "`{}` is not available yet in this version of scorekeep-deploy",
            command_name(other)
        )))),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(exit::code_for(&err));
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Render(_) => "render",
        Command::Build(_) => "build",
        Command::Plan(_) => "plan",
        Command::Up(_) => "up",
        Command::UpdateFunctions(_) => "update-functions",
        Command::Status => "status",
        Command::Down(_) => "down",
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
