//! Progress on stderr and the final report on stdout.
//!
//! Commands build a report value that is both `Serialize` and `Display`; text and JSON output
//! are two views of that one value. Progress goes to stderr: an indicatif spinner on a
//! terminal, plain lines otherwise (not a TTY, `CI` set, `--no-progress`, `--output json`).
//! Text on the terminal has its control characters made visible ([`crate::text`]): much of it
//! quotes AWS or a handler; JSON is written exactly.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::aws::progress::{Progress, Stopped};
use crate::cli::OutputFormat;
use crate::text::{self, Lines};

#[derive(Debug, Clone)]
pub struct Reporter {
    format: OutputFormat,
    fancy: bool,
    /// Spinners of parallel tasks (e.g. two functions building) share the terminal through this.
    multi: MultiProgress,
    /// The run's warnings ([`Reporter::warn`]), shared by every clone: each is said once and
    /// ends up in the JSON report's `warnings`.
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Reporter {
    pub fn new(format: OutputFormat, no_progress: bool) -> Self {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let fancy =
            !no_progress && !ci && format == OutputFormat::Text && std::io::stderr().is_terminal();
        Reporter {
            format,
            fancy,
            multi: MultiProgress::new(),
            warnings: Arc::default(),
        }
    }

    /// A warning for the whole run: a `warning:` line on stderr the first time (a later call
    /// with the same message says nothing), and an entry in the JSON report's `warnings`.
    pub(crate) fn warn(&self, message: impl Display) {
        let message = message.to_string();
        {
            let mut seen = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(&message) {
                return;
            }
            seen.push(message.clone());
        }
        self.line(format!("warning: {message}"));
    }

    pub(crate) fn format(&self) -> OutputFormat {
        self.format
    }

    /// Progress lines and the text report end up on the same terminal, so whatever progress
    /// listed (e.g. change rows) need not be repeated in the report.
    pub(crate) fn progress_shares_terminal(&self) -> bool {
        self.format == OutputFormat::Text
            && std::io::stderr().is_terminal()
            && std::io::stdout().is_terminal()
    }

    /// A plain progress line on stderr.
    pub(crate) fn line(&self, message: impl Display) {
        let message = message.to_string();
        let message = text::redact_credentials(&message);
        let message = text::visible(&message, Lines::Keep);
        if self.fancy {
            let _ = self.multi.println(message);
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{message}");
        }
    }

    /// Start a long-running step. On a terminal this is a spinner with elapsed time; otherwise
    /// the start is one line and each `set_message` another.
    pub fn task(&self, message: impl Into<String>) -> Task {
        let message = message.into();
        let bar = if self.fancy {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("static template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(message.clone());
            Some(bar)
        } else {
            self.line(&message);
            None
        };
        Task {
            bar,
            started: Instant::now(),
            reporter: self.clone(),
        }
    }

    /// Print the command's report on stdout, as text or JSON (with `"ok": true`).
    pub(crate) fn emit<T: Serialize + Display>(&self, report: &T) -> anyhow::Result<()> {
        self.emit_outcome(report, Outcome::Succeeded)
    }

    /// [`Reporter::emit`] for a report that describes a failure (e.g. a handler that threw).
    pub(crate) fn emit_outcome<T: Serialize + Display>(
        &self,
        report: &T,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.format {
            OutputFormat::Text => {
                let text = report.to_string();
                write!(out, "{}", text::visible(&text, Lines::Keep))?;
            }
            OutputFormat::Json => {
                let ok = outcome == Outcome::Succeeded;
                let report = self.with_warnings(serde_json::to_value(report)?);
                serde_json::to_writer_pretty(
                    &mut out,
                    &Envelope {
                        ok,
                        report: &report,
                    },
                )?;
                writeln!(out)?;
            }
        }
        Ok(())
    }
}

impl Reporter {
    /// The run's warnings appended to the report's own `warnings` (e.g. `invoke`'s), or as
    /// `warnings` when it has none: one list, so the JSON never has the key twice.
    fn with_warnings(&self, mut report: serde_json::Value) -> serde_json::Value {
        let run = self
            .warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if run.is_empty() {
            return report;
        }
        if let Some(object) = report.as_object_mut() {
            let list = object
                .entry("warnings")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                for w in run {
                    if !list.iter().any(|v| v.as_str() == Some(w.as_str())) {
                        list.push(serde_json::Value::String(w));
                    }
                }
            }
        }
        report
    }
}

/// Whether the command did what it was asked: `ok` in JSON reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    Failed,
}

/// A report with `ok` in front, as one JSON object (terraform's `-json` style).
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    report: &'a T,
}

/// The one JSON document a failed command prints on stdout with `--output json`.
#[derive(Debug, Serialize)]
pub struct FailureReport<'a> {
    pub command: &'a str,
    pub ok: bool,
    pub error: &'a crate::exit::Failure,
    /// `up`/`update-functions`: each function's result as far as it got (what was released).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<&'a serde_json::Value>,
}

/// Carried by a failed `up`/`update-functions` error (as context that prints nothing): the
/// functions' results so far, for [`FailureReport::functions`].
#[derive(Debug)]
pub struct PartialResults {
    pub functions: serde_json::Value,
}

impl std::fmt::Display for PartialResults {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl FailureReport<'_> {
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        if serde_json::to_writer_pretty(&mut out, self).is_ok() {
            let _ = writeln!(out);
        }
    }
}

/// The service layer's progress ([`crate::aws::progress`]): a task's lines and status, and
/// the process-wide signal handling as what stops its waits.
impl Progress for Task {
    fn note(&self, line: String) {
        self.println(line);
    }
    fn status(&self, message: String) {
        self.set_message(message);
    }
    fn stopped(&self) -> Stopped<'_> {
        stopped_by_signal()
    }
}

/// Without a task (e.g. retry lines of any call), every line is a plain progress line.
impl Progress for Reporter {
    fn note(&self, line: String) {
        self.line(line);
    }
    fn status(&self, message: String) {
        self.line(message);
    }
    fn stopped(&self) -> Stopped<'_> {
        stopped_by_signal()
    }
}

fn stopped_by_signal() -> Stopped<'static> {
    Box::pin(async {
        crate::interrupt::cancelled().await;
        crate::interrupt::interrupted()
    })
}

/// One step in progress; see [`Reporter::task`].
pub struct Task {
    bar: Option<ProgressBar>,
    started: Instant,
    reporter: Reporter,
}

impl Task {
    pub(crate) fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(text::visible(&message, Lines::Keep).into_owned()),
            None => self.reporter.line(format!("  {message}")),
        }
    }

    /// Print a line that stays, above the spinner on a terminal.
    pub(crate) fn println(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.println(text::visible(&message, Lines::Keep)),
            None => self.reporter.line(format!("  {message}")),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn finish(self, message: impl Into<String>) {
        let message = message.into();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.reporter.line(message);
    }
}

/// `1.2 s`, `340 ms`: short human durations for summaries.
pub(crate) fn human_duration(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `4.3 MB`, `812 KB`, `90 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const KB: f64 = 1000.0;
    let f = n as f64;
    if f >= KB * KB {
        format!("{:.2} MB", f / KB / KB)
    } else if f >= KB {
        format!("{:.1} KB", f / KB)
    } else {
        format!("{n} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_warnings_are_said_once_and_join_the_reports_own() {
        let r = Reporter::new(OutputFormat::Json, true);
        r.warn("sunset");
        r.warn("sunset");
        let own = r.with_warnings(serde_json::json!({"warnings": ["payload"], "x": 1}));
        assert_eq!(own["warnings"], serde_json::json!(["payload", "sunset"]));
        let none = r.with_warnings(serde_json::json!({"x": 1}));
        assert_eq!(none["warnings"], serde_json::json!(["sunset"]));
        let quiet = Reporter::new(OutputFormat::Json, true);
        assert!(quiet
            .with_warnings(serde_json::json!({"x": 1}))
            .get("warnings")
            .is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(4_330_000), "4.33 MB");
        assert_eq!(human_bytes(812_400), "812.4 KB");
        assert_eq!(human_bytes(90), "90 B");
        assert_eq!(human_duration(Duration::from_millis(340)), "340 ms");
        assert_eq!(human_duration(Duration::from_millis(1250)), "1.2 s");
    }
}
