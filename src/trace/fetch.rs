//! X-Ray and Lambda for `traces`: the ids of a window's traces (the functions selected by the
//! endpoint's filter expression, or here when it cannot evaluate one), their documents in
//! batches of the API's limit, and what Lambda says about functions with no traces. The calls
//! themselves are in `crate::aws`.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use super::query::Query;
use super::query::{self as logic, XrayOperation};
use super::report::{trace_report, TraceReport};
use crate::aws::lambda::{self, FunctionTracing};
use crate::aws::xray;
use crate::aws::AwsError;
use crate::context::Context;

/// The newest `limit` traces of the window that are not in `skip`, oldest first.
pub(crate) async fn search(
    xray: &mut Xray,
    query: &Query,
    skip: &HashSet<String>,
) -> anyhow::Result<Vec<TraceReport>> {
    let mut ids = xray.summaries(query).await?;
    ids.retain(|id| !skip.contains(id) && !xray.rejected.contains(id));
    let mut traces = Vec::new();
    // Newest first; when the endpoint selects by function, no more than needed is fetched.
    for chunk in logic::batches(&ids) {
        let (fetched, _) = xray.batch_get(chunk).await?;
        for t in fetched {
            if xray.keeps(query, &t) {
                traces.push(t);
            }
        }
        if traces.len() >= query.limit {
            break;
        }
    }
    // BatchGetTraces answers in no particular order.
    traces.sort_by_key(|t| std::cmp::Reverse(logic::trace_epoch(&t.id)));
    traces.truncate(query.limit);
    traces.reverse();
    Ok(traces)
}

/// `--trace-id`: exactly these traces; one X-Ray does not have is an error.
pub(crate) async fn by_id(xray: &mut Xray, ids: &[String]) -> anyhow::Result<Vec<TraceReport>> {
    let mut traces = Vec::new();
    let mut missing = Vec::new();
    for chunk in logic::batches(ids) {
        let (fetched, unprocessed) = xray.batch_get(chunk).await?;
        traces.extend(fetched);
        missing.extend(unprocessed);
    }
    if !missing.is_empty() {
        crate::fail!(
            "X-Ray has no trace {}", missing.join(", ");
            hint = "X-Ray keeps traces for 30 days and shows them about 30 s after they end; check the id and the region (--region)"
        );
    }
    Ok(traces)
}

/// One trace by id, `None` while X-Ray does not have it (yet).
pub(crate) async fn one(xray: &Xray, id: &str) -> anyhow::Result<Option<TraceReport>> {
    let (mut fetched, _) = xray.batch_get(&[id.to_string()]).await?;
    Ok(fetched.pop().filter(|t| !t.documents.is_empty()))
}

/// Where the traces of the selected functions are picked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    /// By X-Ray, with a `service("…")` filter expression.
    ByEndpoint,
    /// Here, from the documents: the endpoint could not evaluate filter expressions.
    Here,
}

pub(crate) struct Xray {
    client: aws_sdk_xray::Client,
    selection: Selection,
    /// Said once on the progress stream (e.g. that the endpoint cannot filter).
    notes: Vec<String>,
    /// Traces fetched and found to be of other functions (when selecting here), so that
    /// `--follow` does not fetch them again on every poll.
    rejected: HashSet<String>,
}

impl Xray {
    pub(crate) fn with_client(client: aws_sdk_xray::Client) -> Xray {
        Xray {
            client,
            selection: Selection::ByEndpoint,
            notes: Vec::new(),
            rejected: HashSet::new(),
        }
    }

    pub(crate) fn print_notes(&mut self, ctx: &Context) {
        for note in self.notes.drain(..) {
            ctx.reporter.line(format!("note: {note}"));
        }
    }

    /// The filter expression sent to GetTraceSummaries.
    pub(crate) fn filter_for(&self, query: &Query) -> Option<String> {
        let service = match self.selection {
            Selection::ByEndpoint => logic::service_filter(&query.names()),
            Selection::Here => None,
        };
        logic::combine_filters(service, query.user_filter.as_deref())
    }

    /// Whether a fetched trace belongs to the selected functions (always, when X-Ray selected).
    fn keeps(&mut self, query: &Query, t: &TraceReport) -> bool {
        let keep = self.selection == Selection::ByEndpoint
            || logic::trace_has_function(&t.documents, &query.names());
        if !keep {
            self.rejected.insert(t.id.clone());
        }
        keep
    }

    /// The ids of the window's traces, newest first, deduplicated.
    async fn summaries(&mut self, query: &Query) -> anyhow::Result<Vec<String>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut ids: Vec<String> = Vec::new();
        for (start, end) in logic::time_windows(now + 1, query.since) {
            let mut found = match self.window(start, end, query).await {
                Err(err) if self.can_select_here(query, &err) => {
                    self.notes.push(format!(
                        "the X-Ray endpoint could not evaluate the filter expression `{}` ({}); selecting the functions' traces here instead",
                        logic::service_filter(&query.names()).unwrap_or_default(),
                        err.reason
                    ));
                    self.selection = Selection::Here;
                    self.window(start, end, query).await?
                }
                other => other?,
            };
            found.retain(|id| !ids.contains(id));
            found.sort_by_key(|id| std::cmp::Reverse(logic::trace_epoch(id)));
            ids.extend(found);
            if self.selection == Selection::ByEndpoint && ids.len() >= query.limit {
                break;
            }
        }
        Ok(ids)
    }

    /// moto 5.2.5 answers any FilterExpression with `InternalFailure: Not implemented yet`;
    /// when the expression is only ours (no --filter), the functions can be picked out here.
    fn can_select_here(&self, query: &Query, err: &AwsError) -> bool {
        self.may_select_here(query) && xray::is_not_implemented(&err.reason)
    }

    /// The filter sent is only the functions' `service(...)` one, so it can be done here.
    fn may_select_here(&self, query: &Query) -> bool {
        self.selection == Selection::ByEndpoint
            && query.user_filter.is_none()
            && !query.lambda_names.is_empty()
    }

    /// All pages of GetTraceSummaries for one window.
    async fn window(&self, start: u64, end: u64, query: &Query) -> Result<Vec<String>, AwsError> {
        let filter = self.filter_for(query);
        xray::trace_ids(&self.client, (start, end), filter.as_deref())
            .await
            .map_err(|e| hinted(XrayOperation::GetTraceSummaries, e))
    }

    /// BatchGetTraces for at most the API's limit of ids (all pages): the traces, and the ids
    /// X-Ray did not return.
    async fn batch_get(&self, ids: &[String]) -> anyhow::Result<(Vec<TraceReport>, Vec<String>)> {
        let (fetched, unprocessed) = xray::batch_get_traces(&self.client, ids)
            .await
            .map_err(|e| hinted(XrayOperation::BatchGetTraces, e))?;
        Ok((fetched.into_iter().map(trace_report).collect(), unprocessed))
    }
}

/// An X-Ray error with the missing permission named when access was denied.
fn hinted(operation: XrayOperation, mut err: AwsError) -> AwsError {
    if let Some(hint) = logic::hint_for(operation, err.code.as_deref(), &err.reason) {
        err.hint = Some(hint);
    }
    err
}

/// What Lambda says about the selected functions, to explain an empty window: not deployed,
/// or tracing not Active. Best effort: a failed lookup adds nothing.
pub(crate) async fn function_notes(lambda: &aws_sdk_lambda::Client, query: &Query) -> Vec<String> {
    if !query.trace_ids.is_empty() {
        return Vec::new();
    }
    let mut notes = Vec::new();
    for (key, name) in query.keys.iter().zip(&query.lambda_names) {
        match lambda::tracing_mode(lambda, name).await {
            Ok(FunctionTracing::Mode(mode)) if mode != "Active" => {
                notes.push(tracing_note(
                    key,
                    name,
                    &mode,
                    query.configured_active.contains(key),
                ));
            }
            Ok(FunctionTracing::Mode(_) | FunctionTracing::Unreported) => {}
            Ok(FunctionTracing::NoFunction) => {
                notes.push(format!(
                    "{key}: Lambda function `{name}` does not exist in this region; deploy it with `scorekeep-deploy up`"
                ));
            }
            Err(err) => tracing::debug!("GetFunctionConfiguration {name}: {err}"),
        }
    }
    notes
}

/// Why a function whose tracing Lambda reports as `mode` (not Active) may have no traces, and
/// the step that is left: the config change only when the config does not already ask for it.
fn tracing_note(key: &str, name: &str, mode: &str, configured_active: bool) -> String {
    let reported = format!("{key}: Lambda reports tracing {mode} for function `{name}`");
    if configured_active {
        format!(
            "{reported}, though the config already asks for Active: `scorekeep-deploy plan` shows whether the change is still to be applied, `scorekeep-deploy up` applies it (an endpoint that does not store tracing modes, such as moto, keeps reporting {mode})"
        )
    } else {
        format!(
            "{reported}; only Active traces every invocation by itself: set `tracing: Active` in the config and run `scorekeep-deploy up`"
        )
    }
}

#[cfg(test)]
mod tests {
    //! X-Ray filter expressions, batching and access denied, with the SDK's own typed mocks
    //! (aws-smithy-mocks): moto 5.2.5 answers every FilterExpression with `InternalFailure`
    //! and cannot deny access. Each test asserts on the requests sent.
    use super::*;
    use crate::trace::flow::Mode;
    use aws_sdk_xray::operation::batch_get_traces::{BatchGetTracesError, BatchGetTracesOutput};
    use aws_sdk_xray::operation::get_trace_summaries::{
        GetTraceSummariesError, GetTraceSummariesOutput,
    };
    use aws_sdk_xray::types::{Segment, Trace, TraceSummary};
    use aws_sdk_xray::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::DateTime;
    use std::time::Duration;

    fn query(filter: Option<&str>, limit: usize) -> Query {
        Query {
            keys: vec!["random-name".into()],
            lambda_names: vec!["random-name".into()],
            since_text: "15m".into(),
            since: Duration::from_secs(900),
            trace_ids: Vec::new(),
            user_filter: filter.map(String::from),
            limit,
            mode: Mode::Once,
            configured_active: vec!["random-name".into()],
        }
    }

    /// A trace id of second `n` (so higher is newer).
    fn id(n: u32) -> String {
        format!("1-{:08x}-{:024x}", 0x6b00_0000 + n, n)
    }

    /// A stored trace: Lambda's function segment with one annotated subsegment.
    fn stored(trace_id: &str, user: &str) -> Trace {
        let doc = serde_json::json!({
            "id": "f0f0f0f0f0f0f0f0", "trace_id": trace_id, "name": "random-name",
            "origin": "AWS::Lambda::Function", "start_time": 1.0, "end_time": 2.0,
            "subsegments": [{"id": "a1", "name": "annotations", "start_time": 1.1,
                "end_time": 1.2, "annotations": {"UserID": user}}]
        });
        Trace::builder()
            .id(trace_id)
            .segments(
                Segment::builder()
                    .id("f0f0f0f0f0f0f0f0")
                    .document(doc.to_string())
                    .build(),
            )
            .build()
    }

    fn summaries(ids: &[String]) -> GetTraceSummariesOutput {
        let mut out = GetTraceSummariesOutput::builder();
        for i in ids {
            out = out.trace_summaries(TraceSummary::builder().id(i).build());
        }
        out.build()
    }

    #[tokio::test]
    async fn a_user_filter_is_sent_with_the_functions_and_only_its_traces_are_fetched() {
        let expected = "(service(\"random-name\")) AND (annotation.UserID = \"u-42\")";
        let summaries_rule = mock!(Client::get_trace_summaries)
            .match_requests(move |r| {
                let whole = |t: Option<&DateTime>| t.is_some_and(|t| t.subsec_nanos() == 0);
                r.filter_expression() == Some(expected)
                    && whole(r.start_time())
                    && whole(r.end_time())
            })
            .then_output(|| summaries(&[id(1)]));
        let batch_rule = mock!(Client::batch_get_traces)
            .match_requests(|r| r.trace_ids() == [id(1)])
            .then_output(|| {
                BatchGetTracesOutput::builder()
                    .traces(stored(&id(1), "u-42"))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_xray,
            RuleMode::MatchAny,
            [&summaries_rule, &batch_rule]
        );
        let mut xray = Xray::with_client(client);
        let found = search(
            &mut xray,
            &query(Some("annotation.UserID = \"u-42\""), 10),
            &HashSet::new(),
        )
        .await
        .unwrap();
        assert_eq!(summaries_rule.num_calls(), 1);
        assert_eq!(batch_rule.num_calls(), 1);
        let ids: Vec<&str> = found.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [id(1)]);
        let text = found[0].to_string();
        assert!(text.contains("annotation UserID = \"u-42\""), "{text}");
        assert!(
            text.contains("random-name  AWS::Lambda::Function"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn ids_are_fetched_in_batches_of_five_newest_first_up_to_the_limit() {
        let listed: Vec<String> = (1..=12).map(id).collect();
        let summaries_rule = mock!(Client::get_trace_summaries)
            .match_requests(|r| r.filter_expression() == Some("service(\"random-name\")"))
            .then_output(move || summaries(&listed));
        let requested = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
        let seen = requested.clone();
        // X-Ray returns nothing for these ids, so every batch is asked for.
        let empty_rule = mock!(Client::batch_get_traces)
            .match_requests(move |r| {
                seen.lock().unwrap().push(r.trace_ids().to_vec());
                r.trace_ids().len() <= logic::BATCH_GET_TRACES_LIMIT
            })
            .then_output(|| BatchGetTracesOutput::builder().build());
        let client = mock_client!(
            aws_sdk_xray,
            RuleMode::MatchAny,
            [&summaries_rule, &empty_rule]
        );
        let found = search(
            &mut Xray::with_client(client),
            &query(None, 12),
            &HashSet::new(),
        )
        .await
        .unwrap();
        assert!(found.is_empty());
        let batches = requested.lock().unwrap().clone();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [5, 5, 2], "{batches:?}");
        assert_eq!(batches[0][0], id(12), "newest first: {batches:?}");
        assert_eq!(batches[2][1], id(1), "{batches:?}");

        // --limit 3: the first batch has enough; the newest three are shown, oldest first.
        let listed: Vec<String> = (1..=12).map(id).collect();
        let summaries_rule =
            mock!(Client::get_trace_summaries).then_output(move || summaries(&listed));
        let full_rule = mock!(Client::batch_get_traces)
            .match_requests(|r| r.trace_ids().first() == Some(&id(12)))
            .then_output(|| {
                let mut out = BatchGetTracesOutput::builder();
                for n in (8..=12).rev() {
                    out = out.traces(stored(&id(n), "u-1"));
                }
                out.build()
            });
        let client = mock_client!(
            aws_sdk_xray,
            RuleMode::MatchAny,
            [&summaries_rule, &full_rule]
        );
        let found = search(
            &mut Xray::with_client(client),
            &query(None, 3),
            &HashSet::new(),
        )
        .await
        .unwrap();
        assert_eq!(full_rule.num_calls(), 1);
        let ids: Vec<&str> = found.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [id(10), id(11), id(12)]);
    }

    #[tokio::test]
    async fn access_denied_names_the_permission_of_the_call_that_was_refused() {
        let denied = || {
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User: arn:aws:iam::123456789012:user/ci is not authorized to perform this action")
                .build()
        };
        let summaries_rule = mock!(Client::get_trace_summaries)
            .then_error(move || GetTraceSummariesError::generic(denied()));
        let client = mock_client!(aws_sdk_xray, [&summaries_rule]);
        let err = search(
            &mut Xray::with_client(client),
            &query(None, 5),
            &HashSet::new(),
        )
        .await
        .unwrap_err();
        let text = crate::error::render(err);
        assert!(
            text.contains("X-Ray GetTraceSummaries with filter `service(\"random-name\")`"),
            "{text}"
        );
        assert!(text.contains("AccessDeniedException"), "{text}");
        assert!(
            text.contains("lack the IAM permission `xray:GetTraceSummaries`"),
            "{text}"
        );

        let batch_rule = mock!(Client::batch_get_traces)
            .then_error(move || BatchGetTracesError::generic(denied()));
        let client = mock_client!(aws_sdk_xray, [&batch_rule]);
        let err = by_id(&mut Xray::with_client(client), &[id(1)])
            .await
            .unwrap_err();
        let text = crate::error::render(err);
        assert!(text.contains("X-Ray BatchGetTraces"), "{text}");
        assert!(
            text.contains("lack the IAM permission `xray:BatchGetTraces`"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_empty_window_notes_tracing_not_active_and_functions_not_deployed() {
        use aws_sdk_lambda::operation::get_function_configuration::{
            GetFunctionConfigurationError, GetFunctionConfigurationOutput,
        };
        use aws_sdk_lambda::types::error::ResourceNotFoundException;
        use aws_sdk_lambda::types::{TracingConfigResponse, TracingMode};
        let passthrough = mock!(aws_sdk_lambda::Client::get_function_configuration)
            .match_requests(|r| r.function_name() == Some("random-name"))
            .then_output(|| {
                GetFunctionConfigurationOutput::builder()
                    .tracing_config(
                        TracingConfigResponse::builder()
                            .mode(TracingMode::PassThrough)
                            .build(),
                    )
                    .build()
            });
        let missing = mock!(aws_sdk_lambda::Client::get_function_configuration)
            .match_requests(|r| r.function_name() == Some("scorekeep-worker"))
            .then_error(|| {
                GetFunctionConfigurationError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .meta(
                            ErrorMetadata::builder()
                                .code("ResourceNotFoundException")
                                .build(),
                        )
                        .build(),
                )
            });
        let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&passthrough, &missing]);
        let mut q = query(None, 10);
        q.keys.push("scorekeep-worker".into());
        q.lambda_names.push("scorekeep-worker".into());
        q.configured_active.clear();
        let notes = function_notes(&lambda, &q).await;
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("Lambda reports tracing PassThrough for function `random-name`"));
        assert!(notes[0].contains("set `tracing: Active`"), "{notes:?}");
        // The config already asks for Active: the note does not ask for it again.
        q.configured_active.push("random-name".into());
        let notes = function_notes(&lambda, &q).await;
        assert!(
            notes[0].contains("the config already asks for Active"),
            "{notes:?}"
        );
        assert!(!notes[0].contains("set `tracing: Active`"), "{notes:?}");
        assert!(
            notes[1].contains("`scorekeep-worker` does not exist"),
            "{notes:?}"
        );
    }
}
