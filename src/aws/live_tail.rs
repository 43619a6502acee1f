//! CloudWatch Logs live tail (StartLiveTail) for `logs --follow`: new events pushed over one
//! event-stream answer, and the decision whether a failure means "live tail is unavailable
//! here" (the caller then polls FilterLogEvents) or is a failure polling would hit too.
//!
//! Two things an endpoint override changes: StartLiveTail's host prefix (`stream-`) would turn
//! `http://127.0.0.1:5000` into a host that does not resolve, so it is dropped there; and an
//! emulator may answer with one snapshot and close the session (moto 5.2.5 does), which the
//! caller judges by how soon the session ended.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::start_live_tail::StartLiveTailOutput;
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;
use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::logs::LogEvent;
use crate::aws::explain;

/// An open live tail session; events ingested before `oldest_ms` are not live ones.
pub(crate) struct LiveTail {
    out: StartLiveTailOutput,
    oldest_ms: i64,
}

/// Live tail sends only what is ingested after the session started; an emulator's snapshot
/// replays every stored event, which the caller's reads before and after the start cover.
const REPLAY_SLACK_MS: i64 = 10_000;

/// How starting a session went.
pub(crate) enum Started {
    Live(Box<LiveTail>),
    /// The endpoint or the caller cannot live tail: why, in a few words.
    Unavailable(String),
}

/// One batch a session pushed (empty for a heartbeat), each event with its group's name.
pub(crate) type Batch = Vec<(String, LogEvent)>;

/// Error codes that say the operation itself is missing or not allowed for this caller, not
/// that the groups or the request are wrong.
const UNAVAILABLE_CODES: [&str; 7] = [
    "UnknownOperationException",
    "InvalidAction",
    "NotImplemented",
    "UnsupportedOperation",
    "UnsupportedOperationException",
    "AccessDeniedException",
    "AccessDenied",
];

/// Whether a failed StartLiveTail (or its first message) means live tail is unavailable:
/// an unknown or forbidden operation, an HTTP status of a missing operation or protocol, or an
/// answer that is no event stream at all (`unparsable`).
pub(crate) fn means_unavailable(code: Option<&str>, status: Option<u16>, unparsable: bool) -> bool {
    unparsable
        || code.is_some_and(|c| UNAVAILABLE_CODES.contains(&c))
        || matches!(status, Some(404 | 405 | 501 | 505))
}

/// Start a session on `group_arns` (at most 10, live tail's limit), events matching
/// `pattern`; `Started::Live` once the session's start message arrived.
pub(crate) async fn start(
    client: &Client,
    group_arns: &[String],
    pattern: Option<&str>,
    endpoint_override: bool,
) -> anyhow::Result<Started> {
    // The session idles between events; AWS sends a heartbeat update every second or so.
    let timeouts = aws_sdk_cloudwatchlogs::config::Builder::default().timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(30))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(20))
            .build(),
    );
    let mut call = client
        .start_live_tail()
        .set_log_group_identifiers(Some(group_arns.to_vec()))
        .set_log_event_filter_pattern(pattern.map(String::from))
        .customize()
        .config_override(timeouts);
    if endpoint_override {
        call = call.interceptor(NoHostPrefix);
    }
    let mut out = match call.send().await {
        Ok(out) => out,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let unparsable = matches!(
                err,
                aws_sdk_cloudwatchlogs::error::SdkError::ResponseError(_)
            );
            if means_unavailable(super::error_code(&err), status, unparsable) {
                return Ok(Started::Unavailable(
                    explain("StartLiveTail", &err).to_string(),
                ));
            }
            return Err(explain("starting a live tail", &err).into());
        }
    };
    match out.response_stream.recv().await {
        Ok(Some(StartLiveTailResponseStream::SessionStart(_))) => {
            Ok(Started::Live(Box::new(LiveTail {
                out,
                oldest_ms: super::logs::now_ms() - REPLAY_SLACK_MS,
            })))
        }
        Ok(Some(_)) => Ok(Started::Unavailable(
            "StartLiveTail: the first message was not the session's start".into(),
        )),
        Ok(None) => Ok(Started::Unavailable(
            "StartLiveTail: the session ended before it started".into(),
        )),
        Err(err) => {
            let code = err.as_service_error().and_then(|e| e.code());
            let unparsable = matches!(
                err,
                aws_sdk_cloudwatchlogs::error::SdkError::ResponseError(_)
            );
            if means_unavailable(code, None, unparsable) {
                return Ok(Started::Unavailable(format!(
                    "StartLiveTail: {}",
                    chain(&err)
                )));
            }
            Err(crate::error::Problem::failure(format!("live tail failed: {}", chain(&err))).into())
        }
    }
}

impl LiveTail {
    /// The next batch; `None` when the session ended (AWS ends one after three hours, or
    /// with SessionTimeoutException): the caller may start another.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<Batch>> {
        match self.out.response_stream.recv().await {
            Ok(Some(StartLiveTailResponseStream::SessionUpdate(update))) => {
                let live = update
                    .session_results()
                    .iter()
                    .filter(|e| e.ingestion_time().unwrap_or(i64::MAX) >= self.oldest_ms);
                Ok(Some(
                    live.map(|e| {
                        let group = group_name(e.log_group_identifier().unwrap_or_default());
                        let event = LogEvent {
                            stream: e.log_stream_name().unwrap_or_default().to_string(),
                            timestamp_ms: e.timestamp().unwrap_or_default(),
                            message: e.message().unwrap_or_default().to_string(),
                        };
                        (group, event)
                    })
                    .collect(),
                ))
            }
            Ok(Some(_)) => Ok(Some(Vec::new())),
            Ok(None) => Ok(None),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_session_timeout_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(crate::error::Problem::failure(format!(
                "live tail failed: {}",
                chain(&err)
            ))
            .into()),
        }
    }
}

/// A log group's name from its identifier in a live tail event (an ARN, or the name itself).
pub(crate) fn group_name(identifier: &str) -> String {
    let name = identifier
        .split_once(":log-group:")
        .map_or(identifier, |(_, rest)| rest);
    name.trim_end_matches(":*").to_string()
}

/// The error and its sources on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// Drops StartLiveTail's `stream-` host prefix: with an endpoint override (an emulator on
/// 127.0.0.1) the prefixed host would not resolve.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "scorekeep-deploy no host prefix"
    }

    // The operation stores its prefix before serialization; this runs after that.
    fn modify_before_serialization(
        &self,
        _context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<EndpointPrefix>();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_unavailable() {
        // Unknown or forbidden operation, missing operation or protocol, no event stream.
        assert!(means_unavailable(
            Some("UnknownOperationException"),
            Some(400),
            false
        ));
        assert!(means_unavailable(
            Some("AccessDeniedException"),
            Some(400),
            false
        ));
        assert!(means_unavailable(None, Some(501), false));
        assert!(means_unavailable(None, Some(404), false));
        assert!(means_unavailable(None, Some(200), true));
        // What polling would hit as well, or a wrong request: not a reason to fall back.
        assert!(!means_unavailable(
            Some("ResourceNotFoundException"),
            Some(400),
            false
        ));
        assert!(!means_unavailable(
            Some("ThrottlingException"),
            Some(400),
            false
        ));
        assert!(!means_unavailable(
            Some("InvalidParameterException"),
            Some(400),
            false
        ));
        assert!(!means_unavailable(None, None, false));
    }

    #[test]
    fn group_names_from_identifiers() {
        let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/random-name";
        assert_eq!(group_name(arn), "/aws/lambda/random-name");
        assert_eq!(group_name(&format!("{arn}:*")), "/aws/lambda/random-name");
        assert_eq!(group_name("/aws/lambda/w"), "/aws/lambda/w");
    }

    // The live path against the SDK's own mocks: moto cannot run it (its session is one
    // snapshot, closed at once). aws-smithy-mocks has no event-stream support of its own, but
    // its raw HTTP answers go through the operation's real deserializer, so each answer below
    // is StartLiveTail's event stream, frame by frame, as CloudWatch sends it.
    mod mocked {
        use std::sync::{Arc, Mutex};

        use aws_smithy_mocks::{mock, mock_client};
        use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

        use super::super::*;

        const GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/random-name";

        fn frame(kind: &'static str, name: &'static str, json: &str) -> Vec<u8> {
            let type_header = if kind == "exception" {
                ":exception-type"
            } else {
                ":event-type"
            };
            let message = Message::new(json.as_bytes().to_vec())
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String(kind.into()),
                ))
                .add_header(Header::new(type_header, HeaderValue::String(name.into())))
                .add_header(Header::new(
                    ":content-type",
                    HeaderValue::String("application/json".into()),
                ));
            let mut bytes = Vec::new();
            aws_smithy_eventstream::frame::write_message_to(&message, &mut bytes).unwrap();
            bytes
        }

        fn answer(status: u16, content_type: &str, body: Vec<u8>) -> HttpResponse {
            let mut response =
                HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
            response
                .headers_mut()
                .insert("content-type", content_type.to_string());
            response
        }

        fn stream(frames: Vec<Vec<u8>>) -> HttpResponse {
            answer(200, "application/vnd.amazon.eventstream", frames.concat())
        }

        fn client_answering(response: impl Fn() -> HttpResponse + Send + Sync + 'static) -> Client {
            let rule = mock!(Client::start_live_tail).then_http_response(response);
            mock_client!(aws_sdk_cloudwatchlogs, [&rule])
        }

        fn session_start() -> Vec<u8> {
            frame(
                "event",
                "sessionStart",
                &format!(r#"{{"sessionId":"s","logGroupIdentifiers":["{GROUP}"]}}"#),
            )
        }

        #[tokio::test]
        async fn a_session_yields_new_events_and_ends_on_its_timeout() {
            let now = crate::aws::logs::now_ms();
            let update = format!(
                r#"{{"sessionMetadata":{{"sampled":false}},"sessionResults":[
                    {{"logGroupIdentifier":"{GROUP}","logStreamName":"s1","message":"live","timestamp":{now},"ingestionTime":{now}}},
                    {{"logGroupIdentifier":"{GROUP}","logStreamName":"s1","message":"stored long ago","timestamp":1,"ingestionTime":1}}]}}"#
            );
            let client = client_answering(move || {
                stream(vec![
                    session_start(),
                    frame("event", "sessionUpdate", &update),
                    frame("event", "sessionUpdate", r#"{"sessionResults":[]}"#),
                    frame(
                        "exception",
                        "SessionTimeoutException",
                        r#"{"message":"3 hours"}"#,
                    ),
                ])
            });
            let Started::Live(mut tail) =
                start(&client, &[GROUP.into()], None, false).await.unwrap()
            else {
                panic!("not started");
            };
            let batch = tail.next().await.unwrap().unwrap();
            assert_eq!(batch.len(), 1, "the replayed event is dropped: {batch:?}");
            assert_eq!(batch[0].0, "/aws/lambda/random-name");
            assert_eq!(
                (batch[0].1.stream.as_str(), batch[0].1.message.as_str()),
                ("s1", "live")
            );
            assert_eq!(tail.next().await.unwrap().unwrap().len(), 0, "a heartbeat");
            assert!(tail.next().await.unwrap().is_none(), "the session's end");
        }

        async fn outcome(
            response: impl Fn() -> HttpResponse + Send + Sync + 'static,
        ) -> anyhow::Result<Started> {
            start(&client_answering(response), &[GROUP.into()], None, false).await
        }

        fn unavailable(started: anyhow::Result<Started>) -> String {
            match started {
                Ok(Started::Unavailable(why)) => why,
                Ok(Started::Live(_)) => panic!("live"),
                Err(err) => panic!("failed: {err:#}"),
            }
        }

        #[tokio::test]
        async fn unknown_or_forbidden_operations_and_other_answers_mean_unavailable() {
            fn error(code: &str) -> HttpResponse {
                let body = format!(r#"{{"__type":"{code}","message":"no"}}"#);
                answer(400, "application/x-amz-json-1.1", body.into_bytes())
            }
            let why = unavailable(outcome(|| error("UnknownOperationException")).await);
            assert!(why.contains("UnknownOperationException"), "{why}");
            let why = unavailable(outcome(|| error("AccessDeniedException")).await);
            assert!(why.contains("AccessDeniedException"), "{why}");
            // A plain 200 of JSON (a proxy or emulator without event streams).
            unavailable(outcome(|| answer(200, "application/json", b"{}".to_vec())).await);
            // A stream that ends before its start message.
            let why = unavailable(outcome(|| stream(Vec::new())).await);
            assert!(why.contains("ended before it started"), "{why}");
            // A missing group or a throttled call is a failure, as it would be for polling.
            let err = outcome(|| error("ResourceNotFoundException"))
                .await
                .err()
                .unwrap();
            assert!(
                format!("{err:#}").contains("ResourceNotFoundException"),
                "{err:#}"
            );
        }

        /// Records the host of every request sent.
        #[derive(Debug, Clone, Default)]
        struct Hosts(Arc<Mutex<Vec<String>>>);

        impl Intercept for Hosts {
            fn name(&self) -> &'static str {
                "hosts"
            }

            fn read_before_transmit(
                &self,
                context: &BeforeTransmitInterceptorContextRef<'_>,
                _runtime_components: &RuntimeComponents,
                _cfg: &mut ConfigBag,
            ) -> Result<(), BoxError> {
                let uri = context.request().uri().to_string();
                self.0.lock().unwrap().push(uri);
                Ok(())
            }
        }

        #[tokio::test]
        async fn an_endpoint_override_keeps_its_host() {
            for (override_, expected) in [
                (true, "http://127.0.0.1:5000/"),
                (false, "http://stream-127.0.0.1:5000/"),
            ] {
                let hosts = Hosts::default();
                let seen = hosts.clone();
                let rule = mock!(Client::start_live_tail)
                    .then_http_response(|| stream(vec![session_start()]));
                let client = mock_client!(
                    aws_sdk_cloudwatchlogs,
                    aws_smithy_mocks::RuleMode::Sequential,
                    [&rule],
                    |conf| conf
                        .endpoint_url("http://127.0.0.1:5000")
                        .interceptor(seen.clone())
                );
                let started = start(&client, &[GROUP.into()], None, override_)
                    .await
                    .unwrap();
                assert!(matches!(started, Started::Live(_)));
                assert_eq!(hosts.0.lock().unwrap().as_slice(), [expected.to_string()]);
            }
        }
    }
}
