//! X-Ray: the trace ids of a time window (GetTraceSummaries, every page) and the traces of
//! some ids (BatchGetTraces, every page). What to look for and what to show is the caller's.
//!
//! Two answers of emulators are handled here, where the answer is read: an endpoint that has
//! not implemented filter expressions (moto 5.2.5 answers any with `500 InternalFailure: Not
//! implemented yet`) is answered at once, without the retries a 500 gets, since no retry can
//! change it; and summaries whose `Users` is an object (`{}`, moto) where the API has a list,
//! which the SDK refuses as a whole, are read for their ids and paging token only.

use aws_sdk_xray::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_xray::operation::get_trace_summaries::GetTraceSummariesError;
use aws_sdk_xray::Client;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::DateTime;
use serde_json::Value;

use super::{explain, AwsError};

/// A fetched trace: its id, duration and segment documents as X-Ray returns them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchedTrace {
    pub(crate) id: String,
    pub(crate) duration_s: Option<f64>,
    pub(crate) documents: Vec<String>,
}

/// The ids of the traces between `start` and `end` (Unix seconds) that match `filter`, in
/// X-Ray's order, every page.
pub(crate) async fn trace_ids(
    client: &Client,
    (start, end): (u64, u64),
    filter: Option<&str>,
) -> Result<Vec<String>, AwsError> {
    let action = match filter {
        Some(f) => format!("X-Ray GetTraceSummaries with filter `{f}`"),
        None => "X-Ray GetTraceSummaries".to_string(),
    };
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let sent = client
            .get_trace_summaries()
            .start_time(DateTime::from_secs(start as i64))
            .end_time(DateTime::from_secs(end as i64))
            .set_filter_expression(filter.map(String::from))
            .set_next_token(token.take())
            .customize()
            .config_override(
                aws_sdk_xray::config::Builder::default().retry_classifier(NotImplementedIsFinal),
            )
            .send()
            .await;
        let page = match sent {
            Ok(out) => Page {
                ids: out
                    .trace_summaries()
                    .iter()
                    .filter_map(|s| s.id().map(String::from))
                    .collect(),
                next_token: out.next_token().map(String::from),
            },
            Err(err) => Page::from_refused_answer(&err).ok_or_else(|| explain(&action, &err))?,
        };
        ids.extend(page.ids);
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(ids),
        }
    }
}

/// One page of GetTraceSummaries: the ids and the token of the next page.
#[derive(Debug, PartialEq)]
struct Page {
    ids: Vec<String>,
    next_token: Option<String>,
}

impl Page {
    /// A successful answer the SDK could not read (moto writes each summary's `Users` as `{}`
    /// where the API has a list), read for the ids and the paging token, which is all `traces`
    /// uses of it. `None` for any other error.
    fn from_refused_answer(err: &SdkError<GetTraceSummariesError>) -> Option<Page> {
        let raw = err.raw_response()?;
        if !raw.status().is_success() {
            return None;
        }
        Page::from_json(raw.body().bytes()?)
    }

    fn from_json(body: &[u8]) -> Option<Page> {
        let answer: Value = serde_json::from_slice(body).ok()?;
        let summaries = answer.get("TraceSummaries")?.as_array()?;
        Some(Page {
            ids: summaries
                .iter()
                .filter_map(|s| s.get("Id").and_then(Value::as_str).map(String::from))
                .collect(),
            next_token: answer
                .get("NextToken")
                .and_then(Value::as_str)
                .map(String::from),
        })
    }
}

/// An answer that the endpoint has not implemented what was asked (moto: `Not implemented yet`
/// for any filter expression; HTTP 501) is final: the standard policy would retry its 500 up to
/// the configured attempts, seconds of silence before the same answer.
#[derive(Debug)]
struct NotImplementedIsFinal;

impl ClassifyRetry for NotImplementedIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let status = ctx.response().map(|r| r.status().as_u16());
        let message = match ctx.output_or_error() {
            Some(Err(err)) => err
                .as_operation_error()
                .and_then(|e| e.downcast_ref::<GetTraceSummariesError>())
                .and_then(ProvideErrorMetadata::message),
            _ => None,
        };
        if status == Some(501) || message.is_some_and(is_not_implemented) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "NotImplementedIsFinal"
    }
}

/// Whether an error message says the endpoint has not implemented the request.
pub(crate) fn is_not_implemented(message: &str) -> bool {
    message.to_ascii_lowercase().contains("not implemented")
}

/// BatchGetTraces of `ids` (at most the API's limit), every page: the traces, and the ids
/// X-Ray did not return.
pub(crate) async fn batch_get_traces(
    client: &Client,
    ids: &[String],
) -> Result<(Vec<FetchedTrace>, Vec<String>), AwsError> {
    let mut traces = Vec::new();
    let mut unprocessed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .batch_get_traces()
            .set_trace_ids(Some(ids.to_vec()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| explain("X-Ray BatchGetTraces", &e))?;
        traces.extend(out.traces().iter().map(|t| {
            FetchedTrace {
                id: t.id().unwrap_or_default().to_string(),
                duration_s: t.duration(),
                documents: t
                    .segments()
                    .iter()
                    .filter_map(|s| s.document().map(String::from))
                    .collect(),
            }
        }));
        unprocessed.extend(out.unprocessed_trace_ids().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok((traces, unprocessed)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! With aws-smithy-mocks answering as HTTP: moto can produce the `Not implemented` answer and
    //! the `Users: {}` summaries (tests/cli/traces.rs runs them against it), but not a 4xx
    //! of X-Ray nor a transient server fault to compare with.
    use super::*;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::RetryConfig;
    use std::time::Duration;

    /// A client that retries as the tool's does (8 attempts), with no wait between them, whose
    /// every GetTraceSummaries gets `status` and `body`; and the number of requests sent.
    async fn answered(status: u16, body: &'static str) -> (Result<Vec<String>, AwsError>, usize) {
        let rule = mock!(Client::get_trace_summaries)
            .sequence()
            .http_response(move || {
                HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
            })
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_xray, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(1))
            ));
        let found = trace_ids(&client, (0, 60), Some("annotation.UserID = \"u-1\"")).await;
        (found, rule.num_calls())
    }

    #[tokio::test]
    async fn not_implemented_and_client_errors_are_answered_at_once_server_faults_retried() {
        let moto = r#"{"__type": "InternalFailure", "message": "Not implemented yet - moto"}"#;
        let (found, calls) = answered(500, moto).await;
        let err = found.unwrap_err();
        assert_eq!(calls, 1, "{err:?}");
        assert!(
            err.action
                .contains("with filter `annotation.UserID = \"u-1\"`"),
            "{err:?}"
        );
        assert!(err.reason.contains("Not implemented yet"), "{err:?}");

        let bad =
            r#"{"__type": "InvalidRequestException", "message": "Invalid filter expression"}"#;
        let (found, calls) = answered(400, bad).await;
        assert_eq!(
            found.unwrap_err().code.as_deref(),
            Some("InvalidRequestException")
        );
        assert_eq!(calls, 1);

        // What the policy is for: a server fault is retried up to the attempts configured.
        let fault = r#"{"__type": "InternalFailure", "message": "try again"}"#;
        let (found, calls) = answered(500, fault).await;
        assert!(found.is_err());
        assert_eq!(calls, 8);
    }

    #[tokio::test]
    async fn summaries_whose_users_is_an_object_are_read_for_their_ids() {
        let moto = r#"{"TraceSummaries": [{"Id": "1-6b000001-000000000000000000000001",
            "Duration": 0.1, "Users": {}, "ServiceIds": [], "Annotations": {}}],
            "ApproximateTime": 1.0, "TracesProcessedCount": 1}"#;
        let (found, calls) = answered(200, moto).await;
        assert_eq!(found.unwrap(), ["1-6b000001-000000000000000000000001"]);
        assert_eq!(calls, 1);
        // An answer that is not JSON stays an error.
        let (found, _) = answered(200, "not json").await;
        assert!(found.is_err());
    }
}
