//! `plan`: what `up` would change; changes nothing.

use crate::cli::PlanArgs;
use crate::context::Context;
use crate::deploy;
use crate::exit;

/// Returns the exit code: with `--detailed-exitcode`, 2 when something would change.
pub fn run(ctx: &Context, args: &PlanArgs) -> anyhow::Result<i32> {
    let project = ctx.project()?;
    if project.has_targets() {
        let report = ctx.block_on(async {
            let clients = ctx.clients().await?;
            let build = crate::bundle::BuildOptions::default();
            deploy::stackset::plan(&clients, project, &ctx.reporter, &build).await
        })?;
        ctx.reporter.emit(&report)?;
        return Ok(if args.detailed_exitcode && report.changed {
            exit::CHANGES_PENDING
        } else {
            exit::OK
        });
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        let drift = if args.drift {
            deploy::drift::DriftCheck::Detect
        } else {
            deploy::drift::DriftCheck::Skip
        };
        deploy::plan_with(&clients, project, &ctx.reporter, drift).await
    })?;
    let changed = report.changed;
    ctx.reporter
        .emit(&report.with_rows_shown_above(ctx.reporter.progress_shares_terminal()))?;
    Ok(if args.detailed_exitcode && changed {
        exit::CHANGES_PENDING
    } else {
        exit::OK
    })
}
