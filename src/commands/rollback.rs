//! `rollback [FUNCTION…] [--to VERSION]`: the [`crate::deploy::rollback`] flow, then its report.

use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::deploy::rollback::Rollback;

pub fn run(ctx: &Context, args: &RollbackArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    if project.has_targets() {
        // The alias is a template resource there: moving it by API in one account would be
        // drift that the next StackSet operation undoes.
        anyhow::bail!(crate::error::Problem::usage(
            "`rollback` does not apply to a stage with `targets`: its aliases follow the StackSet's code"
        )
        .hint("deploy the previous bundles: `scorekeep-deploy update-functions --stage … --artifacts DIR`"));
    }
    // Unknown names fail before any AWS call.
    let rollback = Rollback::new(project, &args.functions, args.to.clone())?;
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        rollback.run(&clients, &ctx.reporter).await
    })?;
    ctx.reporter.emit(&report)
}
