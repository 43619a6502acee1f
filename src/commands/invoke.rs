//! `invoke`: the deployed function (its result, log tail and trace), or with `--local` a built
//! function run here and its trace.

use crate::cli::{InvokeArgs, OutputFormat};
use crate::commands::traces::page_target;
use crate::context::Context;
use crate::exit;
use crate::invoke;
use crate::text::{self, Lines};

/// Returns the exit code: 1 when the handler threw, timed out or ended without a result.
///
/// Text output: the handler's result on stdout; the trace tree (and the error, with its stack)
/// on stderr. `--output json`: one report on stdout with the result, error, trace and timings.
pub fn run(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<i32> {
    if !args.local {
        return run_remote(ctx, args);
    }
    let report = invoke::run_local(ctx, args)?;
    if let Some(path) = page_target(args.html.as_deref(), args.open, "invoke")? {
        let trace = crate::trace::report::TraceReport {
            id: report.trace_id.clone(),
            duration_s: None,
            tree: report.trace.clone(),
            documents: Vec::new(),
        };
        let title = format!("invoke --local {}", args.function);
        let page = crate::trace::html::page(&title, &[trace]);
        crate::commands::traces::write_page(ctx, &path, &page, args.open)?;
    }
    if ctx.reporter.format() == OutputFormat::Text {
        eprint!("{}", report.trace_text());
        if let Some(error) = report.error_text() {
            // The handler's own words: shown, not obeyed.
            eprintln!("error: {}", text::visible(&error, Lines::Keep));
        }
    }
    emit(ctx, &report, report.failed())
}

/// `invoke FN`: exit 1 when the handler failed (Lambda's `FunctionError`).
fn run_remote(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<i32> {
    let report = invoke::remote::run_remote(ctx, args)?;
    if let Some(trace) = &report.trace {
        if let Some(path) = page_target(args.html.as_deref(), args.open, "invoke")? {
            let title = format!("invoke {}", args.function);
            let page = crate::trace::html::page(&title, std::slice::from_ref(trace));
            crate::commands::traces::write_page(ctx, &path, &page, args.open)?;
        }
    }
    if ctx.reporter.format() == OutputFormat::Text {
        eprint!("{}", report.details_text());
        if let Some(kind) = &report.function_error {
            eprintln!(
                "error: function `{}` failed ({kind}): its error is the result above",
                report.function
            );
        }
    }
    emit(ctx, &report, report.failed())
}

/// Print the report (JSON `ok` false when the handler failed); the exit code: 1 then.
fn emit<T: serde::Serialize + std::fmt::Display>(
    ctx: &Context,
    report: &T,
    failed: bool,
) -> anyhow::Result<i32> {
    let outcome = if failed {
        crate::report::Outcome::Failed
    } else {
        crate::report::Outcome::Succeeded
    };
    ctx.reporter.emit_outcome(report, outcome)?;
    Ok(if failed { exit::FAILURE } else { exit::OK })
}
