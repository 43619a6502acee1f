//! `build`: bundle functions into deterministic zips with manifests.

use crate::cli::BuildArgs;
use crate::context::Context;

pub fn run(ctx: &Context, args: &BuildArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let _selected = project.select_functions(&args.functions)?;
    anyhow::bail!(crate::exit::UsageError(
        "`build` is not available yet in this version of scorekeep-deploy".into()
    ))
}
