//! `down`: confirm, run the [`crate::deploy::down`] flow, print its report.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::DownArgs;
use crate::context::Context;
use crate::deploy::down::{self, DownOptions, Teardown};
use crate::deploy::stackset;
use crate::error::Problem;
use crate::text::{self, Lines};

pub fn run(ctx: &Context, args: &DownArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    if project.has_targets() {
        return run_stack_set(ctx, args);
    }
    let options = DownOptions {
        delete_data: args.delete_data,
        buckets: args.buckets.clone(),
    };
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        if !args.yes {
            let names = down::stacks_to_delete(project);
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(Problem::usage(format!(
                    "`down` deletes stacks {} in {}; without a terminal to confirm, pass --yes",
                    names.join(", "),
                    clients.region
                )));
            }
            confirm(&down::preview(&clients, project, &options).await?)?;
        }
        down::down(&clients, project, &ctx.reporter, &options).await
    })?;
    ctx.reporter.emit(&report)
}

/// `down --stage` for a stage with targets: its StackSet's instances, then the StackSet.
fn run_stack_set(ctx: &Context, args: &DownArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    if args.delete_data {
        anyhow::bail!(Problem::usage(
            "--delete-data is not supported for a stage with `targets`: its records buckets are in every target account"
        )
        .hint("delete them in each account, or run `down --stage …` without --delete-data to keep them"));
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        if !args.yes {
            let instances = stackset::live_instances(&clients, project).await?;
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(Problem::usage(format!(
                    "`down` deletes StackSet {} and its {} instance(s); without a terminal to confirm, pass --yes",
                    project.config.stacks[0].name,
                    instances.len()
                )));
            }
            let lines: Vec<String> = instances
                .iter()
                .map(|i| format!("  stack instance in account {} {}\n", i.account, i.region))
                .collect();
            eprint!("{}", text::visible(&lines.concat(), Lines::Keep));
            ask("Delete these instances and the StackSet? (records buckets are kept) [y/N] ")?;
        }
        stackset::teardown(&clients, project, &ctx.reporter).await
    })?;
    ctx.reporter.emit(&report)
}

fn ask(question: &str) -> anyhow::Result<()> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!(Problem::usage("not confirmed; nothing was deleted"));
    }
    Ok(())
}

/// Show what goes and what stays, then ask (on a terminal: `--yes` skips this).
fn confirm(teardown: &Teardown) -> anyhow::Result<()> {
    // Resource names come from AWS: made visible before they reach the terminal.
    eprint!("{}", text::visible(&teardown.to_string(), Lines::Keep));
    if !teardown.deletes_anything() {
        return Ok(());
    }
    ask("Delete these? [y/N] ")
}
