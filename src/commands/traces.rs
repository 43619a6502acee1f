//! `traces`: find the deployed functions' recent X-Ray traces (`GetTraceSummaries`), fetch
//! them (`BatchGetTraces`, in batches of the API's limit) and print each as the tree
//! `invoke --local` prints. The pure parts (window, filter, batching, back-off) are in
//! `crate::traces`.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::DateTime;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{self, AwsError};
use crate::cli::{OutputFormat, TracesArgs};
use crate::context::Context;
use crate::exit::{self, UsageError};
use crate::invoke::trace::{self, TraceNode};
use crate::traces::{self as logic, Backoff, PollResult, XrayOperation};

/// What to look for, checked before any AWS call.
struct Query {
    /// `random-name`, for messages.
    keys: Vec<String>,
    /// The functions' Lambda names: X-Ray's service names for them.
    lambda_names: Vec<String>,
    since_text: String,
    since: Duration,
    trace_ids: Vec<String>,
    user_filter: Option<String>,
    limit: usize,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Once,
    /// `--follow`: poll until Ctrl-C.
    Follow,
}

impl Query {
    fn from_args(ctx: &Context, args: &TracesArgs) -> anyhow::Result<Query> {
        let since =
            logic::parse_since(&args.since).map_err(|e| UsageError(format!("--since {e}")))?;
        if let Some(bad) = args.trace_ids.iter().find(|id| !logic::is_trace_id(id)) {
            return Err(UsageError(format!(
                "--trace-id `{bad}` is not an X-Ray trace id\n  hint: trace ids look like 1-6b064288-6c127964d33ffb9e8a013704 (`invoke --local` and the X-Ray console show them)"
            ))
            .into());
        }
        let project = ctx.project()?;
        let selected = project.select_functions(&args.functions)?;
        Ok(Query {
            keys: selected.iter().map(|(k, _)| k.to_string()).collect(),
            lambda_names: selected
                .iter()
                .map(|(k, _)| project.lambda_name(k).to_string())
                .collect(),
            since_text: args.since.clone(),
            since,
            trace_ids: args.trace_ids.clone(),
            user_filter: args.filter.clone(),
            limit: usize::from(args.limit),
            mode: if args.follow {
                Mode::Follow
            } else {
                Mode::Once
            },
        })
    }

    fn names(&self) -> Vec<&str> {
        self.lambda_names.iter().map(String::as_str).collect()
    }

    /// "of random-name, scorekeep-worker" (and the user's filter), for messages.
    fn selection(&self) -> String {
        let mut text = format!("of {}", self.keys.join(", "));
        if let Some(filter) = &self.user_filter {
            text.push_str(&format!(" matching `{filter}`"));
        }
        text
    }
}

/// One trace as fetched: its documents and their tree.
#[derive(Debug, Serialize)]
pub struct TraceReport {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Top-level segments with their subsegments nested.
    pub tree: Vec<TraceNode>,
    /// The segment documents as X-Ray returned them.
    pub documents: Vec<Value>,
}

impl fmt::Display for TraceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = trace::render_forest(&self.id, &self.tree, self.documents.len());
        write!(f, "{text}")
    }
}

/// The report of one search: `--output json` prints it as one document.
#[derive(Debug, Serialize)]
pub struct TracesReport {
    pub command: &'static str,
    pub functions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    pub since: String,
    /// Oldest first, so the newest ends up next to the prompt.
    pub traces: Vec<TraceReport>,
    /// Why there is nothing to show, when there is nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl fmt::Display for TracesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.traces.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Exit 0 when the search ran, even when the window was empty (an empty window is an answer,
/// not a failure: the message says so on stderr, JSON has `"traces": []`); 1 when an AWS call
/// failed or a `--trace-id` was not found; 130 when `--follow` is stopped with Ctrl-C.
pub fn run(ctx: &Context, args: &TracesArgs) -> anyhow::Result<i32> {
    let query = Query::from_args(ctx, args)?;
    let region = ctx.project()?.config.region.clone();
    ctx.block_on(async {
        let config = aws::load_config(&ctx.global, region.as_deref()).await?;
        let mut xray = Xray::new(&config);
        match query.mode {
            Mode::Once => once(ctx, &mut xray, &query, &config).await,
            Mode::Follow => follow(ctx, &mut xray, &query).await,
        }
    })
}

async fn once(
    ctx: &Context,
    xray: &mut Xray,
    query: &Query,
    config: &aws_config::SdkConfig,
) -> anyhow::Result<i32> {
    let traces = if query.trace_ids.is_empty() {
        search(ctx, xray, query, &HashSet::new()).await?
    } else {
        by_id(xray, &query.trace_ids).await?
    };
    let message = if traces.is_empty() {
        let notes = function_notes(config, query).await;
        Some(logic::no_traces_message(
            &query.since_text,
            &query.selection(),
            &notes,
        ))
    } else {
        None
    };
    if let (Some(message), OutputFormat::Text) = (&message, ctx.reporter.format()) {
        ctx.reporter.line(message);
    }
    ctx.reporter.emit(&TracesReport {
        command: "traces",
        functions: query.keys.clone(),
        filter_expression: xray.filter_for(query),
        since: query.since_text.clone(),
        traces,
        message,
    })?;
    Ok(exit::OK)
}

/// `--follow`: print what the window holds, then poll, printing only traces not seen yet,
/// waiting longer while nothing arrives. Ctrl-C stops it at once, even mid-request.
async fn follow(ctx: &Context, xray: &mut Xray, query: &Query) -> anyhow::Result<i32> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));
    ctx.reporter.line(format!(
        "following traces {} (Ctrl-C to stop)",
        query.selection()
    ));
    let mut wait = Duration::ZERO;
    loop {
        let poll = async {
            tokio::time::sleep(wait).await;
            search(ctx, xray, query, &seen).await
        };
        let traces = tokio::select! {
            found = poll => found?,
            _ = tokio::signal::ctrl_c() => {
                ctx.reporter.line("stopped following traces (Ctrl-C)");
                return Ok(exit::INTERRUPTED);
            }
        };
        let found = if traces.is_empty() {
            PollResult::Nothing
        } else {
            PollResult::NewTraces
        };
        for t in traces {
            seen.insert(t.id.clone());
            print_one(ctx, &t)?;
        }
        wait = backoff.next(found);
    }
}

/// One trace as soon as it is found: its tree, or one JSON line.
fn print_one(ctx: &Context, t: &TraceReport) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match ctx.reporter.format() {
        OutputFormat::Text => writeln!(out, "{t}")?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(t)?)?,
    }
    out.flush()?;
    Ok(())
}

/// The newest `limit` traces of the window that are not in `skip`, oldest first.
async fn search(
    ctx: &Context,
    xray: &mut Xray,
    query: &Query,
    skip: &HashSet<String>,
) -> anyhow::Result<Vec<TraceReport>> {
    let mut ids = xray.summaries(ctx, query).await?;
    ids.retain(|id| !skip.contains(id));
    let mut traces = Vec::new();
    // Newest first; when the endpoint selects by function, no more than needed is fetched.
    for chunk in logic::batches(&ids) {
        let (fetched, _) = xray.batch_get(chunk).await?;
        traces.extend(fetched.into_iter().filter(|t| xray.keeps(query, t)));
        if traces.len() >= query.limit {
            break;
        }
    }
    traces.truncate(query.limit);
    traces.reverse();
    Ok(traces)
}

/// `--trace-id`: exactly these traces; one X-Ray does not have is an error.
async fn by_id(xray: &mut Xray, ids: &[String]) -> anyhow::Result<Vec<TraceReport>> {
    let mut traces = Vec::new();
    let mut missing = Vec::new();
    for chunk in logic::batches(ids) {
        let (fetched, unprocessed) = xray.batch_get(chunk).await?;
        traces.extend(fetched);
        missing.extend(unprocessed);
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "X-Ray has no trace {}\n  hint: X-Ray keeps traces for 30 days and shows them about 30 s after they end; check the id and the region (--region)",
            missing.join(", ")
        );
    }
    Ok(traces)
}

/// Where the traces of the selected functions are picked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    /// By X-Ray, with a `service("…")` filter expression.
    ByEndpoint,
    /// Here, from the documents: the endpoint could not evaluate filter expressions.
    Here,
}

struct Xray {
    client: aws_sdk_xray::Client,
    selection: Selection,
}

impl Xray {
    fn new(config: &aws_config::SdkConfig) -> Xray {
        Xray {
            client: aws_sdk_xray::Client::new(config),
            selection: Selection::ByEndpoint,
        }
    }

    /// The filter expression sent to GetTraceSummaries.
    fn filter_for(&self, query: &Query) -> Option<String> {
        let service = match self.selection {
            Selection::ByEndpoint => logic::service_filter(&query.names()),
            Selection::Here => None,
        };
        logic::combine_filters(service, query.user_filter.as_deref())
    }

    /// Whether a fetched trace belongs to the selected functions (always, when X-Ray selected).
    fn keeps(&self, query: &Query, t: &TraceReport) -> bool {
        self.selection == Selection::ByEndpoint
            || logic::trace_has_function(&t.documents, &query.names())
    }

    /// The ids of the window's traces, newest first, deduplicated.
    async fn summaries(&mut self, ctx: &Context, query: &Query) -> anyhow::Result<Vec<String>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut ids: Vec<String> = Vec::new();
        for (start, end) in logic::time_windows(now + 1, query.since) {
            let mut found = match self.window(start, end, query).await {
                Err(err) if self.can_select_here(query, &err) => {
                    ctx.reporter.line(format!(
                        "note: the X-Ray endpoint could not evaluate the filter expression `{}` ({}); selecting the functions' traces here instead",
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
        self.selection == Selection::ByEndpoint
            && query.user_filter.is_none()
            && !query.lambda_names.is_empty()
            && err.code.as_deref() == Some("InternalFailure")
    }

    /// All pages of GetTraceSummaries for one window.
    async fn window(&self, start: u64, end: u64, query: &Query) -> Result<Vec<String>, AwsError> {
        let filter = self.filter_for(query);
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_trace_summaries()
                .start_time(DateTime::from_secs(start as i64))
                .end_time(DateTime::from_secs(end as i64))
                .set_filter_expression(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| explained(XrayOperation::GetTraceSummaries, filter.as_deref(), &e))?;
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

    /// BatchGetTraces for at most the API's limit of ids (all pages): the traces, and the ids
    /// X-Ray did not return.
    async fn batch_get(&self, ids: &[String]) -> anyhow::Result<(Vec<TraceReport>, Vec<String>)> {
        let mut traces = Vec::new();
        let mut unprocessed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .batch_get_traces()
                .set_trace_ids(Some(ids.to_vec()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| explained(XrayOperation::BatchGetTraces, None, &e))?;
            traces.extend(out.traces().iter().map(trace_report));
            unprocessed.extend(out.unprocessed_trace_ids().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok((traces, unprocessed)),
            }
        }
    }
}

/// A fetched trace: its documents parsed (one that is not JSON is kept as a string, so
/// nothing is hidden) and nested into trees.
fn trace_report(t: &aws_sdk_xray::types::Trace) -> TraceReport {
    let id = t.id().unwrap_or_default().to_string();
    let documents: Vec<Value> = t
        .segments()
        .iter()
        .filter_map(|s| s.document())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_string())))
        .collect();
    TraceReport {
        tree: trace::build_forest(&id, &documents),
        duration_s: t.duration(),
        id,
        documents,
    }
}

/// An X-Ray error explained, with the missing permission named when access was denied.
fn explained<E>(
    operation: XrayOperation,
    filter: Option<&str>,
    err: &aws_sdk_xray::error::SdkError<E>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let action = match filter {
        Some(f) => format!("X-Ray {} with filter `{f}`", operation.name()),
        None => format!("X-Ray {}", operation.name()),
    };
    let mut explained = aws::explain(action, err);
    if let Some(hint) = logic::hint_for(operation, explained.code.as_deref()) {
        explained.hint = Some(hint);
    }
    explained
}

/// What Lambda says about the selected functions, to explain an empty window: not deployed,
/// or tracing not Active. Best effort: a failed lookup adds nothing.
async fn function_notes(config: &aws_config::SdkConfig, query: &Query) -> Vec<String> {
    if !query.trace_ids.is_empty() {
        return Vec::new();
    }
    let lambda = aws_sdk_lambda::Client::new(config);
    let mut notes = Vec::new();
    for (key, name) in query.keys.iter().zip(&query.lambda_names) {
        let answer = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await;
        match answer {
            Ok(c) => {
                let mode = c.tracing_config().and_then(|t| t.mode());
                if let Some(mode) = mode.filter(|m| m.as_str() != "Active") {
                    notes.push(format!(
                        "{key}: Lambda reports tracing {} for function `{name}`; only Active traces every invocation by itself: set `tracing: Active` in the config and run `scorekeep-deploy up`",
                        mode.as_str()
                    ));
                }
            }
            Err(err) if aws::error_code(&err) == Some("ResourceNotFoundException") => {
                notes.push(format!(
                    "{key}: Lambda function `{name}` does not exist in this region; deploy it with `scorekeep-deploy up`"
                ));
            }
            Err(err) => tracing::debug!("GetFunctionConfiguration {name}: {err}"),
        }
    }
    notes
}
