//! The event an invocation gets (`--event`, `--event-file`, standard input) and Lambda's
//! payload limit, which a local run does not enforce but warns about.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::InvokeError;
use crate::bounded::{self, Input};

/// Where the event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventSource {
    Inline(String),
    File(PathBuf),
    Stdin,
    /// `--sqs-message BODY…`: an SQS event (as an event source mapping delivers it) with one
    /// record per body.
    SqsMessages(Vec<String>),
    /// `--sqs-messages-file PATH` (`-`: standard input): the same, a body per non-empty line.
    SqsMessagesFile(PathBuf),
}

/// Where an invocation's event comes from, as the command line gives it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EventArgs<'a> {
    pub(crate) event: Option<&'a str>,
    pub(crate) event_file: Option<&'a Path>,
    pub(crate) sqs_messages: &'a [String],
    pub(crate) sqs_messages_file: Option<&'a Path>,
}

impl<'a> From<&'a crate::cli::InvokeArgs> for EventArgs<'a> {
    fn from(args: &'a crate::cli::InvokeArgs) -> Self {
        EventArgs {
            event: args.event.as_deref(),
            event_file: args.event_file.as_deref(),
            sqs_messages: &args.sqs_messages,
            sqs_messages_file: args.sqs_messages_file.as_deref(),
        }
    }
}

impl EventSource {
    /// `--event JSON`, `--event-file PATH`, `--event-file -`, `--sqs-message BODY…`,
    /// `--sqs-messages-file PATH`; `{}` when none is given.
    pub(crate) fn from_args(args: EventArgs<'_>) -> EventSource {
        if !args.sqs_messages.is_empty() {
            return EventSource::SqsMessages(args.sqs_messages.to_vec());
        }
        if let Some(path) = args.sqs_messages_file {
            return EventSource::SqsMessagesFile(path.to_path_buf());
        }
        match (args.event, args.event_file) {
            (Some(json), _) => EventSource::Inline(json.to_string()),
            (None, Some(p)) if p == Path::new("-") => EventSource::Stdin,
            (None, Some(p)) => EventSource::File(p.to_path_buf()),
            (None, None) => EventSource::Inline("{}".into()),
        }
    }

    /// How error messages name the source.
    pub(crate) fn describe(&self) -> String {
        match self {
            EventSource::Inline(_) => "--event (inline)".into(),
            EventSource::File(p) => format!("--event-file {}", p.display()),
            EventSource::Stdin => "standard input (--event-file -)".into(),
            EventSource::SqsMessages(bodies) => {
                format!("--sqs-message ({} record(s))", bodies.len())
            }
            EventSource::SqsMessagesFile(p) => format!("--sqs-messages-file {}", p.display()),
        }
    }

    /// Capped bytes as text, or the error naming this source.
    fn text(&self, read: std::io::Result<Vec<u8>>) -> Result<String, InvokeError> {
        let bytes = read.map_err(|cause| InvokeError::EventRead {
            from: self.describe(),
            cause,
        })?;
        String::from_utf8(bytes).map_err(|e| InvokeError::EventRead {
            from: self.describe(),
            cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    pub(crate) fn read(&self) -> Result<Value, InvokeError> {
        let text = match self {
            EventSource::Inline(text) => text.clone(),
            EventSource::File(path) => self.text(bounded::read(path, Input::Event))?,
            EventSource::Stdin => self.text(bounded::read_from(std::io::stdin(), Input::Event))?,
            EventSource::SqsMessages(bodies) => return Ok(sqs_event(bodies, now_millis())),
            EventSource::SqsMessagesFile(path) => {
                let read = if path == Path::new("-") {
                    bounded::read_from(std::io::stdin(), Input::Event)
                } else {
                    bounded::read(path, Input::Event)
                };
                let bodies = self.message_lines(&self.text(read)?)?;
                return Ok(sqs_event(&bodies, now_millis()));
            }
        };
        parse_event(&text, &self.describe())
    }

    /// A messages file's bodies: each non-empty line (a trailing `\r` dropped), at least one.
    fn message_lines(&self, text: &str) -> Result<Vec<String>, InvokeError> {
        let bodies: Vec<String> = text
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect();
        if bodies.is_empty() {
            return Err(InvokeError::NoMessages {
                from: self.describe(),
            });
        }
        Ok(bodies)
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The event an SQS event source mapping delivers, one record per body (ids `local-1`, ...),
/// each sent at `sent_ms`.
pub(crate) fn sqs_event(bodies: &[String], sent_ms: u128) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let n = i + 1;
            serde_json::json!({
                "messageId": format!("local-{n}"),
                "receiptHandle": format!("local-receipt-{n}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent_ms.to_string(),
                    "SenderId": "invoke-local",
                    "ApproximateFirstReceiveTimestamp": sent_ms.to_string(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:000000000000:invoke-local",
                "awsRegion": "local",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The records an SQS event's handler reported failed (`batchItemFailures`), if it did.
pub(crate) fn failed_records(result: &Value) -> Option<Vec<String>> {
    let failures = result.get("batchItemFailures")?.as_array()?;
    Some(
        failures
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap_or("?").to_string())
            .collect(),
    )
}

/// Parse an event; a syntax error names the source and serde_json's line and column.
pub(crate) fn parse_event(text: &str, from: &str) -> Result<Value, InvokeError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let message = full
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(full);
        InvokeError::BadEvent {
            from: from.to_string(),
            message,
            line: e.line(),
            column: e.column(),
        }
    })
}

/// Lambda's limit for a synchronous invocation's request and response, each.
pub(crate) const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// Which side of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    Event,
    Result,
}

/// A warning when `value` as JSON is over Lambda's payload limit: a local run takes it, the
/// deployed function would not.
pub(crate) fn over_payload_limit(side: Payload, value: &Value) -> Option<String> {
    let bytes = serde_json::to_vec(value).map_or(0, |v| v.len());
    if bytes <= PAYLOAD_LIMIT {
        return None;
    }
    let (what, lambda) = match side {
        Payload::Event => (
            "the event",
            "refuses the invocation (RequestEntityTooLargeException)",
        ),
        Payload::Result => (
            "the handler's result",
            "fails the invocation (the response is too large)",
        ),
    };
    Some(format!(
        "{what} is {} as JSON, over Lambda's 6 MB payload limit: deployed, Lambda {lambda}",
        crate::report::human_bytes(bytes as u64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_messages_make_the_event_a_mapping_delivers() {
        let event = sqs_event(&["{\"a\": 1}".to_string(), "b".to_string()], 1709251199999);
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["messageId"], "local-1");
        assert_eq!(records[1]["body"], "b");
        assert_eq!(records[0]["eventSource"], "aws:sqs");
        assert_eq!(records[0]["attributes"]["SentTimestamp"], "1709251199999");
        let result = serde_json::json!({"batchItemFailures": [{"itemIdentifier": "local-2"}]});
        assert_eq!(failed_records(&result), Some(vec!["local-2".to_string()]));
        assert_eq!(failed_records(&serde_json::json!({"processed": 1})), None);
    }

    #[test]
    fn event_sources_come_from_the_flags() {
        let from = |event, event_file| {
            EventSource::from_args(EventArgs {
                event,
                event_file,
                ..EventArgs::default()
            })
        };
        assert_eq!(from(None, None), EventSource::Inline("{}".into()));
        assert_eq!(
            from(Some("{\"a\":1}"), None),
            EventSource::Inline("{\"a\":1}".into())
        );
        assert_eq!(from(None, Some(Path::new("-"))), EventSource::Stdin);
        assert_eq!(
            from(None, Some(Path::new("e.json"))).describe(),
            "--event-file e.json"
        );
        let file = EventSource::from_args(EventArgs {
            sqs_messages_file: Some(Path::new("orders.jsonl")),
            ..EventArgs::default()
        });
        assert_eq!(file.describe(), "--sqs-messages-file orders.jsonl");
    }

    #[test]
    fn a_messages_file_is_a_record_per_non_empty_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.jsonl");
        std::fs::write(&path, "{\"gameid\": \"g1\"}\r\n\n  \nnot json\n").unwrap();
        let event = EventSource::SqsMessagesFile(path).read().unwrap();
        let bodies: Vec<&str> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["{\"gameid\": \"g1\"}", "not json"]);
        assert_eq!(event["Records"][1]["messageId"], "local-2");

        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "\n \n").unwrap();
        let err = EventSource::SqsMessagesFile(empty).read().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--sqs-messages-file"), "{text}");
        assert!(text.contains("holds no message"), "{text}");
        assert!(err.is_usage());
    }

    #[test]
    fn malformed_events_name_the_source_line_and_column() {
        assert_eq!(
            parse_event("{\"userid\": \"u-1\"}", "x").unwrap(),
            serde_json::json!({"userid": "u-1"})
        );
        let e = parse_event("{\n  \"userid\": u-1\n}", "--event-file e.json").unwrap_err();
        assert!(e.is_usage());
        let text = crate::error::render(e);
        assert!(
            text.starts_with("the event from --event-file e.json is not valid JSON: expected value at line 2, column 13"),
            "{text}"
        );
        assert!(text.contains("hint: "), "{text}");
        let e = parse_event("", "--event (inline)").unwrap_err().to_string();
        assert!(
            e.contains("EOF while parsing a value at line 1, column 0"),
            "{e}"
        );
        let e = EventSource::File(PathBuf::from("/nonexistent/event.json"))
            .read()
            .unwrap_err();
        assert!(matches!(e, InvokeError::EventRead { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/event.json"), "{e}");
    }

    #[test]
    fn payloads_over_six_mb_are_warned_about() {
        let small = serde_json::json!({"userid": "u-1"});
        assert_eq!(over_payload_limit(Payload::Event, &small), None);
        let big = Value::String("x".repeat(PAYLOAD_LIMIT));
        let w = over_payload_limit(Payload::Result, &big).unwrap();
        assert!(
            w.starts_with("the handler's result is 6.29 MB as JSON, over Lambda's 6 MB"),
            "{w}"
        );
        assert!(over_payload_limit(Payload::Event, &big)
            .unwrap()
            .contains("RequestEntityTooLarge"));
    }
}
