//! CloudWatch Logs reads for `logs`: a log group's events from a time on (FilterLogEvents,
//! paginated), optionally matching a filter pattern, and its ARN (DescribeLogGroups), which
//! live tail (`live_tail.rs`) needs.

use aws_sdk_cloudwatchlogs::Client;

use crate::aws::{error_code, explain};

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEvent {
    /// The stream it was written to: with its time and text, what tells events apart (live
    /// tail's events carry no event id).
    pub(crate) stream: String,
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
            stream: e.log_stream_name().unwrap_or_default().to_string(),
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

/// The ARN of the log group named `group`, `None` when there is no such group.
pub(crate) async fn group_arn(client: &Client, group: &str) -> anyhow::Result<Option<String>> {
    let out = client
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .map_err(|err| explain(format!("describing log group {group}"), &err))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group))
        .and_then(|g| {
            // `arn` ends in `:*`; live tail wants the ARN without it.
            g.log_group_arn()
                .map(String::from)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
        }))
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
