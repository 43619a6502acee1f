//! `update-functions`: the release fast path.

use crate::bundle::BuildOptions;
use crate::cli::UpdateFunctionsArgs;
use crate::context::Context;
use crate::deploy;
use crate::deploy::release::Unpin;
use crate::deploy::stackset::{self, Prune, Scope};

pub fn run(ctx: &Context, args: &UpdateFunctionsArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    // Unknown names fail before any AWS call.
    project.select_functions(&args.functions)?;
    // It builds and records what it applied in the cache dir: one run per project at a time.
    let _lock = crate::lock::acquire(&project.cache_dir(), &ctx.reporter)?;
    let build_options = BuildOptions {
        force: args.force_build,
        prebuilt: args.artifacts.clone(),
    };
    if project.has_targets() {
        if !args.functions.is_empty() {
            anyhow::bail!(crate::error::Problem::usage(
                "a stage with `targets` updates every function's code in one StackSet operation"
            )
            .hint("run `update-functions --stage …` without function names"));
        }
        let report = ctx.block_on(async {
            let clients = ctx.clients().await?;
            let how = (Scope::CodeOnly, Prune::No);
            stackset::deploy(&clients, project, &ctx.reporter, &build_options, how).await
        })?;
        return ctx.reporter.emit(&report);
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        deploy::update_functions(
            &clients,
            project,
            &ctx.reporter,
            &args.functions,
            build_options,
            deploy::ReleaseOptions {
                unpin: if args.unpin { Unpin::Yes } else { Unpin::No },
                strategy: args.strategy,
            },
        )
        .await
    })?;
    ctx.reporter.emit(&report)
}
