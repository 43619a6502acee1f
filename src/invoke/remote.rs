//! `invoke FN` without `--local`: the deployed function, through its release alias (or
//! `--qualifier`), with the event given as for a local run. It prints the result, the end of
//! the invocation's log (Lambda's `LogType: Tail`) and, for a traced function, the
//! invocation's trace: the request carries a trace header of ours, so the trace id is known
//! and X-Ray is asked for it until it has it or `--wait` runs out.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::event::{self, EventSource};
use crate::aws::lambda::{invoke_with_log, Answered};
use crate::cli::InvokeArgs;
use crate::context::Context;
use crate::trace::daemon::TraceHeader;
use crate::trace::fetch::{self, Xray};
use crate::trace::report::TraceReport;

/// What `invoke FN` reports.
#[derive(Debug, Serialize)]
pub(crate) struct RemoteReport {
    pub(crate) function: String,
    pub(crate) name: String,
    /// The alias or version invoked.
    pub(crate) qualifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) executed_version: Option<String>,
    /// The handler's result (its error object when it failed).
    pub(crate) result: Value,
    /// Lambda's `FunctionError` (`Unhandled`, `Handled`) when the handler failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) function_error: Option<String>,
    /// The end of the invocation's log, as Lambda returned it.
    pub(crate) log_tail: Vec<String>,
    pub(crate) trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace: Option<TraceReport>,
    /// Why there is no trace (not traced, or X-Ray did not have it in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace_note: Option<String>,
}

impl RemoteReport {
    pub(crate) fn failed(&self) -> bool {
        self.function_error.is_some()
    }

    /// What text mode shows on stderr: the log tail, the trace tree or why there is none.
    pub(crate) fn details_text(&self) -> String {
        let mut out = String::new();
        if !self.log_tail.is_empty() {
            out.push_str(&format!("log ({}:{}):\n", self.name, self.qualifier));
            for line in &self.log_tail {
                out.push_str(&format!("  {}\n", crate::text::field(line)));
            }
        }
        match (&self.trace, &self.trace_note) {
            (Some(trace), _) => out.push_str(&format!("{trace}\n")),
            (None, Some(note)) => out.push_str(&format!("note: {note}\n")),
            (None, None) => {}
        }
        out
    }
}

impl fmt::Display for RemoteReport {
    /// The text view on stdout: the handler's result as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string_pretty(&self.result).map_err(|_| fmt::Error)?;
        writeln!(f, "{json}")
    }
}

/// Invoke the deployed function and gather its log tail and trace.
pub(crate) fn run_remote(ctx: &Context, args: &InvokeArgs) -> anyhow::Result<RemoteReport> {
    let project = ctx.project()?;
    let (key, config) = project
        .select_functions(std::slice::from_ref(&args.function))?
        .remove(0);
    let name = project.lambda_name(key).to_string();
    let event = EventSource::from_args(args.into()).read()?;
    let payload = serde_json::to_vec(&event)?;
    let qualifier = args
        .qualifier
        .clone()
        .unwrap_or_else(|| project.config.releases.alias.clone());
    let traced = config.tracing == crate::config::TracingMode::Active;
    let header = TraceHeader::new_random();
    let wait = Duration::from_secs(args.wait);
    ctx.block_on(async {
        let clients = ctx.clients().await?;
        let task = ctx
            .reporter
            .task(format!("function {name}: invoking {name}:{qualifier}"));
        let answer = crate::interrupt::race_while(
            format!("invoking function {name}:{qualifier}"),
            invoke_with_log(&clients.lambda, &name, &qualifier, payload, header.header()),
        )
        .await?;
        task.finish(format!("function {name}: invoked {name}:{qualifier}"));
        let mut report = report_of(key, &name, &qualifier, &header.root, answer);
        if let Some(w) = event::over_payload_limit(event::Payload::Result, &report.result) {
            ctx.reporter.line(format!("warning: {w}"));
        }
        if traced {
            let xray = Xray::with_client(clients.xray.clone());
            match wait_for_trace(&xray, &header.root, wait).await? {
                Some(trace) => report.trace = Some(trace),
                None => report.trace_note = Some(not_there_yet(&header.root, wait)),
            }
        } else {
            report.trace_note = Some(format!(
                "function {name} is not traced (`tracing: PassThrough`): no trace to show"
            ));
        }
        Ok(report)
    })
}

fn report_of(key: &str, name: &str, qualifier: &str, trace_id: &str, a: Answered) -> RemoteReport {
    let result = serde_json::from_slice(&a.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.payload).into_owned()));
    RemoteReport {
        function: key.to_string(),
        name: name.to_string(),
        qualifier: qualifier.to_string(),
        executed_version: a.executed_version,
        result,
        function_error: a.function_error,
        log_tail: a
            .log_tail
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default(),
        trace_id: trace_id.to_string(),
        trace: None,
        trace_note: None,
    }
}

/// Ask X-Ray for the trace every 2 s until it has it or `wait` is over (0: ask once).
async fn wait_for_trace(
    xray: &Xray,
    id: &str,
    wait: Duration,
) -> anyhow::Result<Option<TraceReport>> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(trace) = fetch::one(xray, id).await? {
            return Ok(Some(trace));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        let pause = Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = crate::interrupt::cancelled() => {
                return Err(crate::error::Problem::interrupted(format!(
                    "{} while waiting for trace {id}",
                    crate::interrupt::interrupted()
                ))
                .into())
            }
        }
    }
}

fn not_there_yet(id: &str, wait: Duration) -> String {
    format!(
        "X-Ray did not have trace {id} within {} s (it shows traces about 30 s after they end): `scorekeep-deploy traces --trace-id {id}` shows it later",
        wait.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_becomes_the_report_with_its_log_lines() {
        let answer = Answered {
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorMessage": "boom"}"#.to_vec(),
            log_tail: Some("START RequestId: r\nboom\u{1b}[2J\nEND RequestId: r\n".into()),
            executed_version: Some("3".into()),
        };
        let report = report_of("random-name", "random-name", "live", "1-a-b", answer);
        assert!(report.failed());
        assert_eq!(report.result["errorMessage"], "boom");
        assert_eq!(report.log_tail.len(), 3);
        let text = report.details_text();
        assert!(text.contains("log (random-name:live):"), "{text}");
        // Log lines are the function's words: shown, not obeyed.
        assert!(text.contains("boom\\e[2J"), "{text}");
        let plain = report_of(
            "f",
            "f",
            "live",
            "1-a-b",
            Answered {
                payload: b"not json".to_vec(),
                ..Default::default()
            },
        );
        assert_eq!(plain.result, Value::String("not json".into()));
        assert!(!plain.failed());
    }

    #[test]
    fn a_missing_trace_says_where_to_find_it_later() {
        let note = not_there_yet("1-6b12-abc", Duration::from_secs(30));
        assert!(note.contains("within 30 s"), "{note}");
        assert!(note.contains("traces --trace-id 1-6b12-abc"), "{note}");
    }
}
