//! `traces`: the deployed functions' recent X-Ray traces, printed as the tree `invoke --local`
//! prints. The arguments are checked here; the flow is `crate::trace::flow`.

use crate::browser::Opened;
use crate::cli::{OutputFormat, TracesArgs};
use crate::config::TracingMode;
use crate::context::Context;
use crate::error::Problem;
use crate::exit;
use crate::text::{self, Lines};
use crate::trace::flow::{self, Finished, Mode, Query};
use crate::trace::query;
use crate::trace::report::TraceReport;

/// Exit 0 when the search ran, even when the window was empty (an empty window is an answer,
/// not a failure: the message says so on stderr, JSON has `"traces": []`); 1 when an AWS call
/// failed or a `--trace-id` was not found; 130 when `--follow` is stopped with Ctrl-C.
pub fn run(ctx: &Context, args: &TracesArgs) -> anyhow::Result<i32> {
    let query = query_from_args(ctx, args)?;
    let report = match flow::run(ctx, &query, &|t| print_one(ctx, t))? {
        Finished::Report(report) => report,
        Finished::Stopped(code) => return Ok(code),
    };
    if let (Some(message), OutputFormat::Text) = (&report.message, ctx.reporter.format()) {
        ctx.reporter.line(message);
    }
    if let Some(path) = page_target(args.html.as_deref(), args.open, "traces")? {
        let page = crate::trace::html::page("scorekeep-deploy traces", &report.traces);
        write_page(ctx, &path, &page, args.open)?;
    }
    ctx.reporter.emit(&report)?;
    Ok(exit::OK)
}

/// What to look for, checked before any AWS call.
fn query_from_args(ctx: &Context, args: &TracesArgs) -> anyhow::Result<Query> {
    let since =
        query::parse_since(&args.since).map_err(|e| Problem::usage(format!("--since {e}")))?;
    if let Some(bad) = args.trace_ids.iter().find(|id| !query::is_trace_id(id)) {
        return Err(Problem::usage(format!("--trace-id `{bad}` is not an X-Ray trace id"))
            .hint("trace ids look like 1-6b064288-6c127964d33ffb9e8a013704 (`invoke --local` and the X-Ray console show them)")
            .into());
    }
    let project = ctx.project()?;
    let selected = project.select_functions(&args.functions)?;
    Ok(Query {
        keys: selected.iter().map(|(k, _)| k.to_string()).collect(),
        lambda_names: selected
            .iter()
            .map(|(k, _)| project.lambda_name(k).to_string())
            .collect(),
        since_text: args.since.clone(),
        since,
        trace_ids: args.trace_ids.clone(),
        user_filter: args.filter.clone(),
        limit: usize::from(args.limit),
        mode: if args.follow {
            Mode::Follow
        } else {
            Mode::Once
        },
        configured_active: selected
            .iter()
            .filter(|(_, f)| f.tracing == TracingMode::Active)
            .map(|(k, _)| k.to_string())
            .collect(),
    })
}

/// One trace as soon as `--follow` finds it: its tree, or one JSON line.
fn print_one(ctx: &Context, t: &TraceReport) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match ctx.reporter.format() {
        OutputFormat::Text => writeln!(out, "{}", text::visible(&t.to_string(), Lines::Keep))?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(t)?)?,
    }
    out.flush()?;
    Ok(())
}

/// Where `--html`/`--open` put the page: the file given, or with `--open` alone a new file in
/// the OS temp dir (`what` names it); `None` when neither was given.
pub(crate) fn page_target(
    html: Option<&std::path::Path>,
    open: bool,
    what: &str,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    match (html, open) {
        (Some(path), _) => Ok(Some(path.to_path_buf())),
        (None, true) => crate::browser::temp_page(what).map(Some).map_err(|e| {
            Problem::failure(format!("creating a page for --open in the temp dir: {e}"))
                .hint("set TMPDIR to a directory you may write to, or give --html FILE")
                .into()
        }),
        (None, false) => Ok(None),
    }
}

/// Write a trace page (`--html`, `--open`), saying where, and with `--open` show it in a
/// browser; a page without a browser to show it is written all the same (not a failure).
pub(crate) fn write_page(
    ctx: &Context,
    path: &std::path::Path,
    page: &str,
    open: bool,
) -> anyhow::Result<()> {
    crate::atomic_write::write_atomically(path, page.as_bytes()).map_err(|e| {
        anyhow::Error::from(
            Problem::failure(format!("writing --html {}: {e}", path.display()))
                .hint("give a path in a directory that exists and that you may write to"),
        )
    })?;
    let shown = path.display();
    if !open {
        ctx.reporter
            .line(format!("wrote {shown} (open it in a browser)"));
        return Ok(());
    }
    let hint =
        "  hint: set BROWSER to a browser command (e.g. BROWSER=firefox), or open the file yourself";
    match crate::browser::open(path) {
        Opened::With(program) => ctx
            .reporter
            .line(format!("wrote {shown} and opened it with {program}")),
        Opened::NoBrowser => {
            ctx.reporter.line(format!(
                "wrote {shown}; no browser to open it here (no BROWSER, no xdg-open or open on PATH)"
            ));
            ctx.reporter.line(hint);
        }
        Opened::Failed(why) => {
            ctx.reporter
                .line(format!("wrote {shown}; opening it failed: {why}"));
            ctx.reporter.line(hint);
        }
    }
    Ok(())
}
