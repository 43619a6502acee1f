//! `rollback [FUNCTION…] [--to VERSION]`: the [`crate::deploy::rollback`] flow, then its report.

use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::deploy::rollback::Rollback;

pub fn run(ctx: &Context, args: &RollbackArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    // Unknown names fail before any AWS call.
    let rollback = Rollback::new(project, &args.functions, args.to.clone())?;
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        rollback.run(&clients, &ctx.reporter).await
    })?;
    ctx.reporter.emit(&report)
}
