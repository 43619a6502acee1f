//! What `invoke --local` reports: the handler's result or error, how it ended, and the trace.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::collect::Trace;
use super::handler_run::{Outcome, RunResult};
use super::interpreter::Interpreter;
use super::{Inputs, Warnings};
use crate::trace::daemon::TraceHeader;
use crate::trace::render;
use crate::trace::tree::TraceNode;

/// The error of a failed invocation, in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReportError {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) stack: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
}

/// What `invoke --local` reports: text mode prints the result on stdout (the trace and any
/// error go to stderr); `--output json` prints all of it as one document.
#[derive(Debug, Serialize)]
pub(crate) struct InvokeReport {
    /// The function's key in the config.
    pub(crate) function: String,
    /// Its Lambda function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub(crate) name: String,
    pub(crate) runtime: String,
    /// The interpreter that ran it and its version, e.g. `/usr/bin/python3.13 3.13.0`.
    pub(crate) interpreter: String,
    /// Where it was found: `--runtime-path`, `PATH`, `pyenv` or `uv`.
    pub(crate) interpreter_found_in: String,
    pub(crate) trace_id: String,
    /// The handler's result (`null` when it failed).
    pub(crate) result: Value,
    pub(crate) error: Option<ReportError>,
    pub(crate) timed_out: bool,
    pub(crate) duration_ms: f64,
    /// One tree: the function (standing in for Lambda's facade segment) and its subsegments.
    pub(crate) trace: Vec<TraceNode>,
    /// X-Ray documents of this trace received from the function.
    pub(crate) documents_received: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
}

impl InvokeReport {
    pub(crate) fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The trace tree as text.
    pub(crate) fn trace_text(&self) -> String {
        match self.trace.first() {
            Some(root) => render::render_tree(root, self.documents_received),
            None => String::new(),
        }
    }

    /// The error with its stack and hint, as text (without a leading `error: `).
    pub(crate) fn error_text(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut s = format!(
            "function `{}` failed: {}: {}",
            self.function, e.kind, e.message
        );
        for line in &e.stack {
            // The first line of a JavaScript stack repeats the type and message.
            if line.trim().is_empty() || *line == format!("{}: {}", e.kind, e.message) {
                continue;
            }
            s.push_str("\n  ");
            s.push_str(line);
        }
        Some(crate::error::with_hints(&s, e.hint.as_slice()))
    }
}

impl fmt::Display for InvokeReport {
    /// The text view on stdout: the handler's result as JSON, nothing when it failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.error.is_none() {
            let json = serde_json::to_string_pretty(&self.result).map_err(|_| fmt::Error)?;
            writeln!(f, "{json}")?;
        }
        Ok(())
    }
}

/// The report of a run that happened, whatever its outcome.
pub(crate) fn report(
    inputs: &Inputs<'_>,
    interpreter: &Interpreter,
    header: &TraceHeader,
    run: RunResult,
    trace: Trace,
    warnings: Warnings<'_>,
) -> InvokeReport {
    let program = interpreter.display();
    let ended = Ended::from_outcome(run.outcome, inputs.timeout_secs, &program, run.pid);
    InvokeReport {
        function: inputs.key.to_string(),
        name: inputs.name.clone(),
        runtime: inputs.config.runtime.clone(),
        interpreter: format!("{program} {}", interpreter.version),
        interpreter_found_in: interpreter.found_in.to_string(),
        trace_id: header.root.clone(),
        result: ended.result,
        error: ended.error,
        timed_out: ended.timed_out,
        duration_ms: (run.duration_ms * 1000.0).round() / 1000.0,
        trace: vec![trace.tree],
        documents_received: trace.documents_received,
        warnings: warnings.messages,
    }
}

/// How the handler ended, as the report's `result`, `error` and `timed_out`.
pub(crate) struct Ended {
    result: Value,
    error: Option<ReportError>,
    timed_out: bool,
}

impl Ended {
    /// A failure that is not the handler's own error gets a hint: what to look at next.
    fn from_outcome(outcome: Outcome, timeout_secs: u64, program: &str, pid: u32) -> Ended {
        let failed = |error: ReportError, timed_out| Ended {
            result: Value::Null,
            error: Some(error),
            timed_out,
        };
        match outcome {
            Outcome::Returned(value) => Ended {
                result: value,
                error: None,
                timed_out: false,
            },
            Outcome::Threw(e) => failed(
                ReportError {
                    kind: e.kind,
                    message: e.message,
                    stack: e.stack,
                    hint: None,
                },
                false,
            ),
            Outcome::TimedOut => failed(
                ReportError {
                    kind: "Timeout".into(),
                    message: format!(
                        "did not finish within {timeout_secs} s; killed its process and all it started ({program}, pid {pid})"
                    ),
                    stack: Vec::new(),
                    hint: Some(
                        "if it needs longer, raise --timeout (or `timeout` in the config); otherwise look for a call \
that never returns, e.g. a network call without a timeout"
                            .into(),
                    ),
                },
                true,
            ),
            Outcome::NoResult { status } => failed(
                ReportError {
                    kind: "Runtime.ExitError".into(),
                    message: format!("its process ended ({status}) without returning a result"),
                    stack: Vec::new(),
                    hint: Some(
                        "see its output above; a Node.js handler whose promise never settles, or that calls \
process.exit, ends like this"
                            .into(),
                    ),
                },
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(error: Option<ReportError>) -> InvokeReport {
        InvokeReport {
            function: "random-name".into(),
            name: "random-name".into(),
            runtime: "nodejs22.x".into(),
            interpreter: "/usr/bin/node 20.20.2".into(),
            interpreter_found_in: "PATH".into(),
            trace_id: "1-00000000-000000000000000000000000".into(),
            result: if error.is_some() {
                Value::Null
            } else {
                serde_json::json!({"name": "Ann"})
            },
            error,
            timed_out: false,
            duration_ms: 1.0,
            trace: Vec::new(),
            documents_received: 0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn text_view_is_the_result_and_errors_carry_their_stack() {
        let ok = report(None);
        assert_eq!(ok.to_string(), "{\n  \"name\": \"Ann\"\n}\n");
        assert_eq!(ok.error_text(), None);
        let failed = report(Some(ReportError {
            kind: "Error".into(),
            message: "random-name: event.userid is missing".into(),
            stack: vec![
                "Error: random-name: event.userid is missing".into(),
                "    at handler (/tmp/task/index.js:64:13)".into(),
            ],
            hint: None,
        }));
        assert_eq!(failed.to_string(), "");
        assert_eq!(
            failed.error_text().unwrap(),
            "function `random-name` failed: Error: random-name: event.userid is missing\n      at handler (/tmp/task/index.js:64:13)"
        );
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["error"]["type"], "Error");
        assert_eq!(json["result"], Value::Null);
    }
}
