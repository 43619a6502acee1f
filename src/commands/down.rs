//! `down`: confirm, run the [`crate::deploy::down`] flow, print its report.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::DownArgs;
use crate::context::Context;
use crate::deploy::down::{self, DownOptions, Teardown};
use crate::error::Problem;
use crate::text::{self, Lines};

pub fn run(ctx: &Context, args: &DownArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
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

/// Show what goes and what stays, then ask (on a terminal: `--yes` skips this).
fn confirm(teardown: &Teardown) -> anyhow::Result<()> {
    // Resource names come from AWS: made visible before they reach the terminal.
    eprint!("{}", text::visible(&teardown.to_string(), Lines::Keep));
    if !teardown.deletes_anything() {
        return Ok(());
    }
    eprint!("Delete these? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!(Problem::usage("not confirmed; nothing was deleted"));
    }
    Ok(())
}
