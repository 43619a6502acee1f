//! `invoke --local`: run a built function here and show its X-Ray trace.

use crate::cli::InvokeArgs;
use crate::context::Context;

/// Returns the exit code: non-zero when the handler failed.
pub fn run(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<i32> {
    let project = ctx.project()?;
    project.select_functions(std::slice::from_ref(&args.function))?;
    anyhow::bail!(crate::exit::UsageError(
        "`invoke --local` is not available yet in this version of scorekeep-deploy".into()
    ))
}
