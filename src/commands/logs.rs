//! `logs`: the deployed functions' log lines (`crate::logs`), once or `--follow`.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::{LogsArgs, OutputFormat};
use crate::context::Context;
use crate::error::Problem;
use crate::exit;
use crate::logs::follow::Out;
use crate::logs::{self, Line, LogsQuery, Seen};
use crate::trace::query;

/// What `logs` (without `--follow`) reports: the lines, and notes on functions without logs.
#[derive(Debug, Serialize)]
struct LogsReport {
    command: &'static str,
    lines: Vec<Line>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

impl std::fmt::Display for LogsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{}", line.text())?;
        }
        Ok(())
    }
}

/// Exit 0 when the logs were read (an empty window included), 130 when `--follow` is
/// stopped with Ctrl-C.
pub fn run(ctx: &Context, args: &LogsArgs) -> anyhow::Result<i32> {
    let query = query_from_args(ctx, args)?;
    if args.follow {
        return follow(ctx, &query);
    }
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        let mut seen = Seen::default();
        let start = logs::start_ms(query.since);
        let (lines, notes) = logs::read(&clients, &query, start, &mut seen).await?;
        anyhow::Ok(LogsReport {
            command: "logs",
            lines,
            notes,
        })
    })?;
    for note in &report.notes {
        ctx.reporter.line(format!("note: {note}"));
    }
    if report.lines.is_empty() && ctx.reporter.format() == OutputFormat::Text {
        ctx.reporter
            .line(format!("no log lines in the last {}", args.since));
    }
    ctx.reporter.emit(&report)?;
    Ok(exit::OK)
}

/// Checked before any AWS call: the window, the trace id, the function names.
fn query_from_args(ctx: &Context, args: &LogsArgs) -> anyhow::Result<LogsQuery> {
    let since =
        query::parse_since(&args.since).map_err(|e| Problem::usage(format!("--since {e}")))?;
    if let Some(bad) = args.trace.as_deref().filter(|t| !query::is_trace_id(t)) {
        return Err(
            Problem::usage(format!("--trace `{bad}` is not an X-Ray trace id"))
                .hint("trace ids look like 1-6b064288-6c127964d33ffb9e8a013704")
                .into(),
        );
    }
    let project = ctx.project()?;
    let functions = project
        .select_functions(&args.functions)?
        .into_iter()
        .map(|(k, _)| (k.to_string(), project.lambda_name(k).to_string()))
        .collect();
    Ok(LogsQuery {
        functions,
        since,
        pattern: args.filter.clone(),
        trace: args.trace.clone(),
    })
}

/// New lines as they arrive (`logs::follow`), each printed at once (a JSON object per line
/// with `--output json`), until Ctrl-C.
fn follow(ctx: &Context, query: &LogsQuery) -> anyhow::Result<i32> {
    let colours = Colours::for_terminal(ctx);
    ctx.block_on(async {
        let clients = ctx.clients().await?;
        let mut print = |out: Out<'_>| match out {
            Out::Line(line) => print_line(ctx, &colours, line),
            Out::Note(note) => {
                ctx.reporter.line(format!("note: {note}"));
                Ok(())
            }
        };
        tokio::select! {
            ended = logs::follow::follow(&clients, query, &mut print) => ended.map(|()| exit::OK),
            _ = crate::interrupt::cancelled() => Ok(exit::code_for(
                &Problem::interrupted(crate::interrupt::interrupted()).into(),
            )),
        }
    })
}

fn print_line(ctx: &Context, colours: &Colours, line: &Line) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match ctx.reporter.format() {
        OutputFormat::Text => writeln!(out, "{}", colours.paint(line))?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(line)?)?,
    }
    out.flush()?;
    Ok(())
}

/// One colour per function name on a terminal (none with `NO_COLOR`, or into a pipe).
struct Colours(bool);

impl Colours {
    fn for_terminal(ctx: &Context) -> Colours {
        let on = ctx.reporter.format() == OutputFormat::Text
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        Colours(on)
    }

    fn paint(&self, line: &Line) -> String {
        let text = line.text();
        if !self.0 {
            return text;
        }
        // The function's name leads the line; colour just it, by a hash of the name.
        let code =
            [36, 33, 35, 32, 34, 31][line.function.bytes().map(usize::from).sum::<usize>() % 6];
        match text.split_once(' ') {
            Some((name, rest)) => format!("\u{1b}[{code}m{name}\u{1b}[0m {rest}"),
            None => text,
        }
    }
}
