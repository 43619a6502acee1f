//! `up`: deploy everything.

use crate::bundle::BuildOptions;
use crate::cli::UpArgs;
use crate::context::Context;
use crate::deploy::release::Unpin;
use crate::deploy::stackset::{self, Prune, Scope};
use crate::deploy::{self, change_set::ChangeSetMode, stack::StackOptions};

pub fn run(ctx: &Context, args: &UpArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    // It builds and records what it applied in the cache dir: one run per project at a time.
    let _lock = crate::lock::acquire(&project.cache_dir(), &ctx.reporter)?;
    let options = StackOptions {
        replace_failed: args.replace_failed,
        continue_rollback: args.continue_rollback,
        change_sets: if args.revert_drift {
            ChangeSetMode::RevertDrift
        } else {
            ChangeSetMode::Standard
        },
    };
    let build_options = BuildOptions {
        force: args.force_build,
        prebuilt: args.artifacts.clone(),
    };
    if project.has_targets() {
        let prune = if args.prune { Prune::Yes } else { Prune::No };
        let report = ctx.block_on(async {
            let clients = ctx.clients().await?;
            let how = (Scope::Everything, prune);
            stackset::deploy(&clients, project, &ctx.reporter, &build_options, how).await
        })?;
        return ctx.reporter.emit(&report);
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        let release = deploy::ReleaseOptions {
            unpin: Unpin::No,
            strategy: args.strategy,
        };
        deploy::up(
            &clients,
            project,
            &ctx.reporter,
            options,
            build_options,
            release,
        )
        .await
    })?;
    ctx.reporter
        .emit(&report.with_rows_shown_above(ctx.reporter.progress_shares_terminal()))
}
