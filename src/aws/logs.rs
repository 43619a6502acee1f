//! CloudWatch Logs reads for `logs`: a log group's events from a time on (FilterLogEvents,
//! paginated), optionally matching a filter pattern.

use aws_sdk_cloudwatchlogs::Client;

use crate::aws::{error_code, explain};

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEvent {
    /// CloudWatch's id of the event (unique in the group), to skip events already shown.
    pub(crate) id: String,
    /// Milliseconds since the epoch.
    pub(crate) timestamp_ms: i64,
    pub(crate) message: String,
}

/// At most this many pages a call: a wider window is cut, newest lost, and said so by the caller.
const MAX_PAGES: usize = 50;

/// The events of `group` from `start_ms` on (matching `pattern`, CloudWatch's filter pattern
/// syntax); `None` when the group does not exist (the function never logged).
pub(crate) async fn events_since(
    client: &Client,
    group: &str,
    start_ms: i64,
    pattern: Option<&str>,
) -> anyhow::Result<Option<Vec<LogEvent>>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let answer = client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_filter_pattern(pattern.map(String::from))
            .set_next_token(token.take())
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(err) if error_code(&err) == Some("ResourceNotFoundException") => return Ok(None),
            Err(err) => return Err(explain(format!("reading log group {group}"), &err).into()),
        };
        events.extend(out.events().iter().map(|e| LogEvent {
            id: e.event_id().unwrap_or_default().to_string(),
            timestamp_ms: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().to_string(),
        }));
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(Some(events))
}
