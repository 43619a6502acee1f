//! `logs`: the deployed functions' CloudWatch Logs (`/aws/lambda/<name>`, the groups the
//! template creates), from `--since` ago or, with `--follow`, as they arrive. Each line names
//! its function, time and request; a line of a traced request also its X-Ray trace id, which
//! Lambda writes on the request's REPORT line (`XRAY TraceId: …`), so `--trace ID` keeps one
//! trace's lines. The parsing here is pure; the reads are `aws::logs`.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::aws::logs::{events_since, LogEvent};
use crate::aws::Clients;

/// One log line as `logs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Line {
    pub(crate) function: String,
    pub(crate) timestamp_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace_id: Option<String>,
    pub(crate) message: String,
}

impl Line {
    /// `random-name 12:00:01.123 8f2c1d0e INFO hello trace=1-…`, outside text made visible.
    pub(crate) fn text(&self) -> String {
        let request = self
            .request_id
            .as_deref()
            .map(|r| r.chars().take(8).collect::<String>())
            .unwrap_or_else(|| "-".repeat(8));
        let trace = self
            .trace_id
            .as_deref()
            .map(|t| format!("  trace={t}"))
            .unwrap_or_default();
        format!(
            "{} {} {request} {}{trace}",
            self.function,
            clock(self.timestamp_ms),
            crate::text::field(&shown(&self.message))
        )
    }
}

/// `HH:MM:SS.mmm` (UTC) of a timestamp in milliseconds.
fn clock(ms: i64) -> String {
    let day_ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// The request a Lambda log line belongs to: `START|END|REPORT RequestId: ID` lines, the
/// runtimes' `TIME\tID\tLEVEL\ttext` lines, and JSON lines with `requestId`.
pub(crate) fn request_id_of(message: &str) -> Option<String> {
    for prefix in ["START RequestId: ", "END RequestId: ", "REPORT RequestId: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split_whitespace().next().map(String::from);
        }
    }
    let mut fields = message.split('\t');
    if let (Some(time), Some(id)) = (fields.next(), fields.next()) {
        if time.contains('T') && is_uuid_like(id) {
            return Some(id.to_string());
        }
    }
    let json: serde_json::Value = serde_json::from_str(message.trim()).ok()?;
    json["requestId"].as_str().map(String::from)
}

fn is_uuid_like(id: &str) -> bool {
    id.len() >= 8 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The X-Ray trace id a REPORT line carries (`XRAY TraceId: 1-…`).
pub(crate) fn trace_id_of(message: &str) -> Option<String> {
    let rest = message.split("XRAY TraceId: ").nth(1)?;
    rest.split_whitespace().next().map(String::from)
}

/// The message without what the line already shows: the runtime's time and request id.
fn shown(message: &str) -> String {
    let trimmed = message.trim_end();
    let mut fields = trimmed.splitn(3, '\t');
    match (fields.next(), fields.next(), fields.next()) {
        (Some(time), Some(id), Some(rest)) if time.contains('T') && is_uuid_like(id) => {
            rest.replacen('\t', " ", 1)
        }
        _ => trimmed.to_string(),
    }
}

/// One function's events as lines, each of a traced request with its trace id.
pub(crate) fn lines_of(function: &str, events: &[LogEvent]) -> Vec<Line> {
    let traces: BTreeMap<String, String> = events
        .iter()
        .filter_map(|e| Some((request_id_of(&e.message)?, trace_id_of(&e.message)?)))
        .collect();
    events
        .iter()
        .map(|e| {
            let request_id = request_id_of(&e.message);
            Line {
                function: function.to_string(),
                timestamp_ms: e.timestamp_ms,
                trace_id: request_id.as_ref().and_then(|r| traces.get(r).cloned()),
                request_id,
                message: e.message.trim_end().to_string(),
            }
        })
        .collect()
}

/// What to read: Lambda names by config key, the window, the pattern, one trace.
pub(crate) struct LogsQuery {
    pub(crate) functions: Vec<(String, String)>,
    pub(crate) since: Duration,
    pub(crate) pattern: Option<String>,
    pub(crate) trace: Option<String>,
}

/// The group Lambda writes a function's logs to (the template creates it with retention).
pub(crate) fn group_of(name: &str) -> String {
    format!("/aws/lambda/{name}")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Every selected function's lines from `since_ms` on, oldest first, `seen` events skipped
/// (and added); the notes say which functions have no log group yet.
pub(crate) async fn read(
    clients: &Clients,
    query: &LogsQuery,
    since_ms: i64,
    seen: &mut HashSet<String>,
) -> anyhow::Result<(Vec<Line>, Vec<String>)> {
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for (key, name) in &query.functions {
        let group = group_of(name);
        let pattern = query.pattern.as_deref();
        let Some(events) = events_since(&clients.logs, &group, since_ms, pattern).await? else {
            notes.push(format!(
                "function {key}: no log group {group} yet (it has not run, or its stack is not deployed)"
            ));
            continue;
        };
        let fresh: Vec<LogEvent> = events
            .into_iter()
            .filter(|e| seen.insert(format!("{group}/{}", e.id)))
            .collect();
        lines.extend(lines_of(key, &fresh));
    }
    if let Some(trace) = &query.trace {
        lines.retain(|l| l.trace_id.as_deref() == Some(trace.as_str()));
    }
    lines.sort_by_key(|l| l.timestamp_ms);
    Ok((lines, notes))
}

/// Where a `logs` run starts reading.
pub(crate) fn start_ms(since: Duration) -> i64 {
    now_ms() - since.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: i64, message: &str) -> LogEvent {
        LogEvent {
            id: ms.to_string(),
            timestamp_ms: ms,
            message: message.to_string(),
        }
    }

    #[test]
    fn lines_know_their_request_and_the_trace_of_the_report_line() {
        let id = "8f2c1d0e-1111-2222-3333-444455556666";
        let events = [
            event(1_000, &format!("START RequestId: {id} Version: 3")),
            event(1_001, &format!("2026-12-04T12:00:01.001Z\t{id}\tINFO\thello\n")),
            event(1_002, &format!("END RequestId: {id}")),
            event(1_003, &format!("REPORT RequestId: {id}\tDuration: 2.00 ms\tXRAY TraceId: 1-6b12-abc\tSegmentId: 1f\tSampled: true")),
            event(1_004, "an init line of no request"),
        ];
        let lines = lines_of("random-name", &events);
        assert!(lines[..4]
            .iter()
            .all(|l| l.request_id.as_deref() == Some(id)));
        assert!(lines[..4]
            .iter()
            .all(|l| l.trace_id.as_deref() == Some("1-6b12-abc")));
        assert_eq!(lines[4].request_id, None);
        assert_eq!(
            lines[1].text(),
            "random-name 00:00:01.001 8f2c1d0e INFO hello  trace=1-6b12-abc"
        );
        assert_eq!(
            lines[4].text(),
            "random-name 00:00:01.004 -------- an init line of no request"
        );
    }

    #[test]
    fn json_lines_and_control_characters() {
        let json = r#"{"requestId": "abcdef12-0000", "level": "INFO", "message": "x"}"#;
        assert_eq!(request_id_of(json).as_deref(), Some("abcdef12-0000"));
        let lines = lines_of("w", &[event(0, "boom\u{1b}[2J")]);
        assert!(
            lines[0].text().ends_with("boom\\e[2J"),
            "{}",
            lines[0].text()
        );
        assert_eq!(clock(86_400_000 + 3_723_004), "01:02:03.004");
    }
}
