//! The `traces` flow: find the deployed functions' recent X-Ray traces (GetTraceSummaries),
//! fetch them (BatchGetTraces, [`super::fetch`]) and hand them over as a report, or, with
//! `--follow`, one by one as they arrive until Ctrl-C.

use std::collections::HashSet;
use std::time::Duration;

use super::fetch::{by_id, function_notes, search, Xray};
use super::query::{self, Backoff, PollResult};
pub(crate) use super::query::{Mode, Query};
use super::report::{TraceReport, TracesReport};
use crate::context::Context;
use crate::exit;

/// How a run of the flow ended.
pub(crate) enum Finished {
    /// The search ran (the window may have been empty: the report's message says so).
    Report(TracesReport),
    /// `--follow` was stopped by a signal: the exit code for it.
    Stopped(i32),
}

/// The flow of `traces`: `--follow` hands each new trace to `print` as it arrives.
pub(crate) fn run(
    ctx: &Context,
    query: &Query,
    print: &dyn Fn(&TraceReport) -> anyhow::Result<()>,
) -> anyhow::Result<Finished> {
    ctx.block_on(async {
        let clients = ctx.clients().await?;
        let mut xray = Xray::with_client(clients.xray.clone());
        match query.mode {
            Mode::Once => once(ctx, &mut xray, query, &clients.lambda)
                .await
                .map(Finished::Report),
            Mode::Follow => follow(ctx, &mut xray, query, print)
                .await
                .map(Finished::Stopped),
        }
    })
}

async fn once(
    ctx: &Context,
    xray: &mut Xray,
    query: &Query,
    lambda: &aws_sdk_lambda::Client,
) -> anyhow::Result<TracesReport> {
    let traces = if query.trace_ids.is_empty() {
        let found = search(xray, query, &HashSet::new()).await;
        xray.print_notes(ctx);
        found?
    } else {
        by_id(xray, &query.trace_ids).await?
    };
    let message = if traces.is_empty() {
        let notes = function_notes(lambda, query).await;
        Some(query::no_traces_message(
            &query.since_text,
            query.since,
            &query.selection(),
            &notes,
        ))
    } else {
        None
    };
    Ok(TracesReport {
        command: "traces",
        functions: query.keys.clone(),
        filter_expression: xray.filter_for(query),
        since: query.since_text.clone(),
        traces,
        message,
    })
}

/// `--follow`: print what the window holds, then poll, printing only traces not seen yet,
/// waiting longer while nothing arrives. Ctrl-C stops it at once, even mid-request.
async fn follow(
    ctx: &Context,
    xray: &mut Xray,
    query: &Query,
    print: &dyn Fn(&TraceReport) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));
    ctx.reporter.line(format!(
        "following traces {} (Ctrl-C to stop)",
        query.selection()
    ));
    let mut wait = Duration::ZERO;
    // The process-wide Ctrl-C listener: a press while a trace is being printed is seen too.
    let ctrl_c = crate::interrupt::cancelled();
    tokio::pin!(ctrl_c);
    loop {
        let poll = async {
            tokio::time::sleep(wait).await;
            let found = search(xray, query, &seen).await;
            xray.print_notes(ctx);
            found
        };
        let traces = tokio::select! {
            found = poll => match found {
                Ok(traces) => traces,
                // The first poll's error (permissions, region, endpoint) ends the command; a
                // later one is said, and the next poll may succeed.
                Err(err) if wait > Duration::ZERO => {
                    ctx.reporter.line(format!("warning: {err:#}\n  (still following; retrying with back-off)"));
                    Vec::new()
                }
                Err(err) => return Err(err),
            },
            _ = &mut ctrl_c => {
                let signal = crate::interrupt::signal();
                ctx.reporter.line(format!("stopped following traces ({})", signal.describe()));
                return Ok(exit::for_signal(signal));
            }
        };
        let found = if traces.is_empty() {
            PollResult::Nothing
        } else {
            PollResult::NewTraces
        };
        for t in traces {
            seen.insert(t.id.clone());
            print(&t)?;
        }
        wait = backoff.next(found);
    }
}
