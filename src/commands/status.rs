//! `status`: stacks, outputs, functions and the Beanstalk environment, as they are now.

use crate::context::Context;

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let project = ctx.project()?;
    if project.has_targets() {
        let report = ctx.block_on(async {
            let clients = ctx.clients().await?;
            crate::deploy::stackset::status(&clients, project).await
        })?;
        return ctx.reporter.emit(&report);
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        crate::deploy::status::status(&clients, project).await
    })?;
    ctx.reporter.emit(&report)
}
