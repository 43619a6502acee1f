//! `invoke --local`: run a built function here and show its X-Ray trace.

use crate::cli::{InvokeArgs, OutputFormat};
use crate::context::Context;
use crate::exit;
use crate::invoke;
use crate::text::{self, Lines};

/// Returns the exit code: 1 when the handler threw, timed out or ended without a result.
///
/// Text output: the handler's result on stdout; the trace tree (and the error, with its stack)
/// on stderr. `--output json`: one report on stdout with the result, error, trace and timings.
pub fn run(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<i32> {
    let report = invoke::run_local(ctx, args)?;
    if ctx.reporter.format() == OutputFormat::Text {
        eprint!("{}", report.trace_text());
        if let Some(error) = report.error_text() {
            // The handler's own words: shown, not obeyed.
            eprintln!("error: {}", text::visible(&error, Lines::Keep));
        }
    }
    let outcome = if report.failed() {
        crate::report::Outcome::Failed
    } else {
        crate::report::Outcome::Succeeded
    };
    ctx.reporter.emit_outcome(&report, outcome)?;
    Ok(if report.failed() {
        exit::FAILURE
    } else {
        exit::OK
    })
}
