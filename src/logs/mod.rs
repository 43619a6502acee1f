//! `logs`: the deployed functions' CloudWatch Logs (`/aws/lambda/<name>`, the groups the
//! template creates), from `--since` ago or, with `--follow`, as they arrive. Each line names
//! its function, time and request; a line of a traced request also its X-Ray trace id, which
//! Lambda writes on the request's REPORT line (`XRAY TraceId: …`), so `--trace ID` keeps one
//! trace's lines. The parsing here is pure; the reads are `aws::logs`; `follow.rs` is
//! `--follow` (live tail, or polling where live tail is unavailable).

pub(crate) mod follow;

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use serde::Serialize;

use crate::aws::logs::{events_since, now_ms, LogEvent};
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
#[derive(Debug, Clone)]
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

/// At most this many events are remembered as printed (about 5 MB); then the older half goes.
const MAX_SEEN: usize = 100_000;

/// The events already printed. A poll re-reads its last seconds and a live tail session may
/// repeat what a poll read, and neither gives an id the other knows, so an event is known by
/// its group, stream, time and text; two identical events stay two: each source's count of a
/// key is compared with the most any source has counted before.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Per key: the event's time and how many of it were printed.
    printed: HashMap<u64, (i64, u32)>,
    /// Per key: how many of it live tail delivered (its sessions never repeat an event).
    live: HashMap<u64, u32>,
}

impl Seen {
    fn key(group: &str, event: &LogEvent) -> u64 {
        let mut hasher = DefaultHasher::new();
        (group, &event.stream, event.timestamp_ms, &event.message).hash(&mut hasher);
        hasher.finish()
    }

    /// Whether the `count`th event of this key a source saw is new; if so it is printed.
    fn fresh(&mut self, key: u64, timestamp_ms: i64, count: u32) -> bool {
        let printed = self.printed.entry(key).or_insert((timestamp_ms, 0));
        let fresh = count > printed.1;
        printed.1 = printed.1.max(count);
        fresh
    }

    /// The events of one read of a window (every event from its start on) not printed yet.
    pub(crate) fn fresh_of_read(&mut self, group: &str, events: Vec<LogEvent>) -> Vec<LogEvent> {
        let mut counts: HashMap<u64, u32> = HashMap::new();
        events
            .into_iter()
            .filter(|e| {
                let key = Seen::key(group, e);
                let count = counts.entry(key).or_default();
                *count += 1;
                self.fresh(key, e.timestamp_ms, *count)
            })
            .collect()
    }

    /// Whether an event live tail delivered is new.
    pub(crate) fn fresh_live(&mut self, group: &str, event: &LogEvent) -> bool {
        let key = Seen::key(group, event);
        let count = self.live.entry(key).or_default();
        *count += 1;
        let count = *count;
        self.fresh(key, event.timestamp_ms, count)
    }

    /// Keep at most [`MAX_SEEN`] events, the newest: a replay of an older one (an emulator's
    /// live tail snapshot) could print it again, but memory stays bounded on a long follow.
    /// Not by the polls' start: a live session may repeat what a read already showed.
    pub(crate) fn bound(&mut self) {
        if self.printed.len() <= MAX_SEEN {
            return;
        }
        let mut times: Vec<i64> = self.printed.values().map(|(at, _)| *at).collect();
        let (_, cutoff, _) = times.select_nth_unstable(self.printed.len() - MAX_SEEN / 2);
        let cutoff = *cutoff;
        self.printed.retain(|_, (at, _)| *at >= cutoff);
        let printed = &self.printed;
        self.live.retain(|key, _| printed.contains_key(key));
    }
}

/// Every selected function's lines from `since_ms` on, oldest first, `seen` events skipped
/// (and added); the notes say which functions have no log group yet.
pub(crate) async fn read(
    clients: &Clients,
    query: &LogsQuery,
    since_ms: i64,
    seen: &mut Seen,
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
        let fresh = seen.fresh_of_read(&group, events);
        lines.extend(lines_of(key, &fresh));
    }
    Ok((kept(query, lines), notes))
}

/// The lines `--trace` keeps (all without it), oldest first.
pub(crate) fn kept(query: &LogsQuery, mut lines: Vec<Line>) -> Vec<Line> {
    if let Some(trace) = &query.trace {
        lines.retain(|l| l.trace_id.as_deref() == Some(trace.as_str()));
    }
    lines.sort_by_key(|l| l.timestamp_ms);
    lines
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
            stream: "s".into(),
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

    #[test]
    fn seen_prints_each_event_once_and_identical_events_each() {
        let mut seen = Seen::default();
        let same = || vec![event(5, "again"), event(5, "again")];
        // A read shows both identical events; a re-read of the window shows neither.
        assert_eq!(seen.fresh_of_read("g", same()).len(), 2);
        assert_eq!(seen.fresh_of_read("g", same()).len(), 0);
        // Live tail repeating what a read showed: nothing; a third one: new.
        assert!(!seen.fresh_live("g", &event(5, "again")));
        assert!(!seen.fresh_live("g", &event(5, "again")));
        assert!(seen.fresh_live("g", &event(5, "again")));
        // Another group's event of the same stream, time and text is another event.
        assert!(seen.fresh_live("h", &event(5, "again")));
        // A live session replaying an old event after newer ones were read (moto's snapshot
        // after the read that follows a session's start): still known.
        assert_eq!(seen.fresh_of_read("g", vec![event(1, "old")]).len(), 1);
        assert_eq!(seen.fresh_of_read("g", vec![event(90_000, "new")]).len(), 1);
        assert!(!seen.fresh_live("g", &event(1, "old")));
        // Bounded: the older half goes once there are too many.
        let many: Vec<LogEvent> = (0..MAX_SEEN as i64 + 1)
            .map(|i| event(10 + i, "x"))
            .collect();
        assert_eq!(seen.fresh_of_read("g", many).len(), MAX_SEEN + 1);
        seen.bound();
        assert!(
            seen.printed.len() <= MAX_SEEN / 2 + 1,
            "{}",
            seen.printed.len()
        );
        assert!(!seen.fresh_live("g", &event(10 + MAX_SEEN as i64, "x")));
        assert!(seen.fresh_live("g", &event(5, "again")), "forgotten");
    }
}
