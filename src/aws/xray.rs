//! X-Ray: the trace ids of a time window (GetTraceSummaries, every page) and the traces of
//! some ids (BatchGetTraces, every page). What to look for and what to show is the caller's.

use aws_sdk_xray::Client;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::DateTime;

use super::{explain, AwsError};

/// How many attempts a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retries {
    /// The configured retry policy.
    Configured,
    /// One retry: when a failure has a quick fallback, the full policy is only silence.
    One,
}

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
    retries: Retries,
) -> Result<Vec<String>, AwsError> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = client
            .get_trace_summaries()
            .start_time(DateTime::from_secs(start as i64))
            .end_time(DateTime::from_secs(end as i64))
            .set_filter_expression(filter.map(String::from))
            .set_next_token(token.take());
        let sent = match retries {
            Retries::One => {
                let one_retry = RetryConfig::standard().with_max_attempts(2);
                request
                    .customize()
                    .config_override(
                        aws_sdk_xray::config::Builder::default().retry_config(one_retry),
                    )
                    .send()
                    .await
            }
            Retries::Configured => request.send().await,
        };
        let action = match filter {
            Some(f) => format!("X-Ray GetTraceSummaries with filter `{f}`"),
            None => "X-Ray GetTraceSummaries".to_string(),
        };
        let out = sent.map_err(|e| explain(action, &e))?;
        ids.extend(
            out.trace_summaries()
                .iter()
                .filter_map(|s| s.id().map(String::from)),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(ids),
        }
    }
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
