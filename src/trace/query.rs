//! `traces`: the pure parts of finding deployed functions' X-Ray traces — the `--since`
//! window, the filter expression, batching ids by the API's limit, the `--follow` back-off,
//! selecting a function's traces from their documents, and the hints for errors and for an
//! empty window. The lookups are in [`super::fetch`].

use std::time::Duration;

use serde_json::Value;

/// What to look for, checked before any AWS call.
pub(crate) struct Query {
    /// `random-name`, for messages.
    pub(crate) keys: Vec<String>,
    /// The functions' Lambda names: X-Ray's service names for them.
    pub(crate) lambda_names: Vec<String>,
    /// `--since` as given, for messages.
    pub(crate) since_text: String,
    pub(crate) since: Duration,
    pub(crate) trace_ids: Vec<String>,
    pub(crate) user_filter: Option<String>,
    pub(crate) limit: usize,
    pub(crate) mode: Mode,
    /// The functions whose config asks for `tracing: Active`, so that a hint about an empty
    /// window does not ask for what is already there.
    pub(crate) configured_active: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Once,
    /// `--follow`: poll until Ctrl-C.
    Follow,
}

impl Query {
    pub(crate) fn names(&self) -> Vec<&str> {
        self.lambda_names.iter().map(String::as_str).collect()
    }

    /// "of random-name, scorekeep-worker" (and the user's filter), for messages.
    pub(crate) fn selection(&self) -> String {
        let mut text = format!("of {}", self.keys.join(", "));
        if let Some(filter) = &self.user_filter {
            text.push_str(&format!(" matching `{filter}`"));
        }
        text
    }
}

/// `BatchGetTraces` takes at most this many trace ids per request.
pub(crate) const BATCH_GET_TRACES_LIMIT: usize = 5;

/// One `GetTraceSummaries` request covers at most this much time; a longer `--since` is split
/// into several windows, newest first (the X-Ray console pages its time ranges the same way).
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// How far back `--since` may reach: beyond a day, the X-Ray console is the better tool.
pub(crate) const MAX_SINCE: Duration = Duration::from_secs(24 * 3600);

/// Parse `--since`: a whole number with a unit, `90s`, `15m`, `2h`, `1d` (at most 24 hours).
pub(crate) fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 90s, 15m, 2h or 1d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number: write e.g. 15m"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`: use s, m, h or d"
            ))
        }
    };
    let since = Duration::from_secs(n.saturating_mul(seconds_per));
    if since.is_zero() {
        return Err(format!("`{text}` is an empty window: give at least 1s"));
    }
    if since > MAX_SINCE {
        return Err(format!(
            "`{text}` reaches back more than 24h: use the X-Ray console for older traces"
        ));
    }
    Ok(since)
}

/// `[start, end)` windows in whole epoch seconds covering `since` before `end`, newest first,
/// none longer than [`MAX_WINDOW`]. Whole seconds because X-Ray's timestamps are epoch seconds
/// and some endpoints (moto) refuse fractions.
pub(crate) fn time_windows(end: u64, since: Duration) -> Vec<(u64, u64)> {
    let start = end.saturating_sub(since.as_secs());
    let step = MAX_WINDOW.as_secs();
    let mut windows = Vec::new();
    let mut upper = end;
    while upper > start {
        let lower = upper.saturating_sub(step).max(start);
        windows.push((lower, upper));
        upper = lower;
    }
    windows
}

/// A string literal in X-Ray's filter-expression language.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter expression selecting traces through any of these Lambda functions: Lambda names
/// its service nodes (`AWS::Lambda`, `AWS::Lambda::Function`) after the function.
pub(crate) fn service_filter(lambda_names: &[&str]) -> Option<String> {
    let parts: Vec<String> = lambda_names
        .iter()
        .map(|name| format!("service({})", quoted(name)))
        .collect();
    match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(parts.join(" OR ")),
    }
}

/// The functions' filter and the user's `--filter`, both required.
pub(crate) fn combine_filters(service: Option<String>, user: Option<&str>) -> Option<String> {
    match (service, user.map(str::trim).filter(|u| !u.is_empty())) {
        (Some(s), Some(u)) => Some(format!("({s}) AND ({u})")),
        (Some(s), None) => Some(s),
        (None, Some(u)) => Some(u.to_string()),
        (None, None) => None,
    }
}

/// Trace ids in `BatchGetTraces`-sized groups, in order.
pub(crate) fn batches(ids: &[String]) -> impl Iterator<Item = &[String]> {
    ids.chunks(BATCH_GET_TRACES_LIMIT)
}

/// The epoch seconds in a trace id (`1-<8 hex digits>-<random>`), to order traces newest first.
pub(crate) fn trace_epoch(id: &str) -> Option<u64> {
    let hex = id.split('-').nth(1)?;
    u64::from_str_radix(hex, 16).ok()
}

/// A trace id as X-Ray writes it: `1-` + 8 hex digits + `-` + 24 hex digits.
pub(crate) fn is_trace_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts[1].len() == 8
        && parts[2].len() == 24
        && parts[1..]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether a trace went through one of these functions, judged from its documents: Lambda's
/// own segments are named after the function. Used when the endpoint cannot evaluate the
/// `service(...)` filter itself.
pub(crate) fn trace_has_function(documents: &[Value], lambda_names: &[&str]) -> bool {
    documents.iter().any(|doc| {
        doc.get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| lambda_names.contains(&name))
            && doc.get("type").and_then(Value::as_str) != Some("subsegment")
    })
}

/// `--follow`'s polling interval: short while traces keep arriving, doubling (up to a cap)
/// while nothing new appears, so an idle terminal costs few requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    current: Duration,
    min: Duration,
    max: Duration,
}

/// What the last poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollResult {
    NewTraces,
    Nothing,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            current: min,
            min,
            max,
        }
    }

    /// The wait before the next poll, given what this one found.
    pub(crate) fn next(&mut self, found: PollResult) -> Duration {
        self.current = match found {
            PollResult::NewTraces => self.min,
            PollResult::Nothing => (self.current * 2).min(self.max),
        };
        self.current
    }
}

/// The two X-Ray operations `traces` makes, and the IAM action each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XrayOperation {
    GetTraceSummaries,
    BatchGetTraces,
}

impl XrayOperation {
    pub(crate) fn permission(self) -> &'static str {
        match self {
            XrayOperation::GetTraceSummaries => "xray:GetTraceSummaries",
            XrayOperation::BatchGetTraces => "xray:BatchGetTraces",
        }
    }
}

/// The hint for an X-Ray error, if it means something specific here: access denied names
/// the missing permission (the generic hint cannot know it); a filter expression the endpoint
/// has not implemented (moto) or cannot parse points at `--filter`.
pub(crate) fn hint_for(
    operation: XrayOperation,
    code: Option<&str>,
    reason: &str,
) -> Option<String> {
    let summaries = operation == XrayOperation::GetTraceSummaries;
    if summaries && crate::aws::xray::is_not_implemented(reason) {
        return Some(
            "this X-Ray endpoint does not evaluate filter expressions (moto answers every one so): drop --filter to list the window's traces, or query AWS's X-Ray".into(),
        );
    }
    match code? {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => Some(format!(
            "the credentials in use lack the IAM permission `{}`; add it to the caller's policy (AWSXrayReadOnlyAccess grants it) and rerun",
            operation.permission()
        )),
        "InternalFailure" if summaries => Some("X-Ray failed on its side: rerun in a moment".into()),
        "InvalidRequestException" if summaries => Some(
            "check the --filter expression's syntax (e.g. `annotation.UserID = \"u-42\"`): https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html".into(),
        ),
        _ => None,
    }
}

/// What to say when the window holds no traces: how long traces take to appear, a longer
/// `--since` than the one given (never the same one), and anything known about the functions
/// (tracing not Active, not deployed).
pub(crate) fn no_traces_message(
    since_text: &str,
    since: Duration,
    selection: &str,
    notes: &[String],
) -> String {
    let further = match longer_window(since) {
        Some(longer) => format!("or look further back with --since {longer}"),
        None => "or, for traces older than 24h, use the X-Ray console".to_string(),
    };
    let mut text = crate::error::with_hints(
        &format!("no X-Ray traces {selection} in the last {since_text}"),
        &[format!("traces appear in X-Ray about 30 s after an invocation ends; invoke the function, wait, and rerun, {further}")],
    );
    for note in notes {
        text.push_str("\n  note: ");
        text.push_str(note);
    }
    text
}

/// The next window worth trying after `since`: 1h, 6h, then the 24h maximum.
fn longer_window(since: Duration) -> Option<&'static str> {
    [("1h", 3600), ("6h", 6 * 3600), ("24h", 24 * 3600)]
        .into_iter()
        .find(|(_, secs)| Duration::from_secs(*secs) > since)
        .map(|(text, _)| text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_takes_whole_numbers_with_a_unit_up_to_a_day() {
        assert_eq!(parse_since("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_since("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_since("15").unwrap_err().contains("no unit"));
        assert!(parse_since("m").unwrap_err().contains("whole number"));
        assert!(parse_since("1.5h")
            .unwrap_err()
            .contains("unknown unit `.5h`"));
        assert!(parse_since("3w").unwrap_err().contains("unknown unit `w`"));
        assert!(parse_since("0m").unwrap_err().contains("empty window"));
        assert!(parse_since("25h").unwrap_err().contains("more than 24h"));
    }

    #[test]
    fn windows_cover_the_span_newest_first_in_six_hour_steps() {
        assert_eq!(time_windows(1000, Duration::from_secs(900)), [(100, 1000)]);
        let end = 100_000;
        let w = time_windows(end, Duration::from_secs(13 * 3600));
        assert_eq!(
            w,
            [
                (end - 6 * 3600, end),
                (end - 12 * 3600, end - 6 * 3600),
                (end - 13 * 3600, end - 12 * 3600)
            ]
        );
    }

    #[test]
    fn filters_select_the_functions_and_the_users_expression() {
        assert_eq!(
            service_filter(&["random-name"]).as_deref(),
            Some("service(\"random-name\")")
        );
        assert_eq!(
            service_filter(&["a", "b\"c"]).as_deref(),
            Some("service(\"a\") OR service(\"b\\\"c\")")
        );
        assert_eq!(service_filter(&[]), None);
        let user = "annotation.UserID = \"u-42\"";
        assert_eq!(
            combine_filters(service_filter(&["a", "b"]), Some(user)).as_deref(),
            Some("(service(\"a\") OR service(\"b\")) AND (annotation.UserID = \"u-42\")")
        );
        assert_eq!(combine_filters(None, Some(user)).as_deref(), Some(user));
        assert_eq!(combine_filters(None, Some("  ")), None);
    }

    #[test]
    fn ids_are_batched_by_the_api_limit() {
        let ids: Vec<String> = (0..12).map(|i| format!("id-{i}")).collect();
        let sizes: Vec<usize> = batches(&ids).map(<[String]>::len).collect();
        assert_eq!(sizes, [5, 5, 2]);
        assert_eq!(batches(&[]).count(), 0);
    }

    #[test]
    fn trace_ids_are_recognised_and_dated() {
        let id = "1-6b064288-6c127964d33ffb9e8a013704";
        assert!(is_trace_id(id));
        assert_eq!(trace_epoch(id), Some(0x6b06_4288));
        assert!(!is_trace_id("1-6b064288"));
        assert!(!is_trace_id("2-6b064288-6c127964d33ffb9e8a013704"));
        assert!(!is_trace_id("1-6b06428z-6c127964d33ffb9e8a013704"));
    }

    #[test]
    fn a_function_is_recognised_by_lambdas_segments_not_by_a_subsegment_name() {
        let lambda = json!({"name": "random-name", "origin": "AWS::Lambda::Function"});
        let call = json!({"name": "random-name", "type": "subsegment"});
        assert!(trace_has_function(&[lambda], &["random-name"]));
        assert!(!trace_has_function(&[call], &["random-name"]));
        assert!(!trace_has_function(
            &[json!({"name": "other"})],
            &["random-name"]
        ));
    }

    #[test]
    fn follow_backs_off_while_idle_and_resets_on_new_traces() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));
        let waits: Vec<u64> = [
            PollResult::Nothing,
            PollResult::Nothing,
            PollResult::Nothing,
            PollResult::Nothing,
            PollResult::NewTraces,
            PollResult::Nothing,
        ]
        .iter()
        .map(|r| b.next(*r).as_secs())
        .collect();
        assert_eq!(waits, [4, 8, 16, 30, 2, 4]);
    }

    #[test]
    fn access_denied_names_the_missing_permission() {
        use XrayOperation::{BatchGetTraces, GetTraceSummaries};
        for code in ["AccessDeniedException", "AccessDenied"] {
            let hint = hint_for(GetTraceSummaries, Some(code), "").unwrap();
            assert!(hint.contains("`xray:GetTraceSummaries`"), "{hint}");
            let hint = hint_for(BatchGetTraces, Some(code), "").unwrap();
            assert!(hint.contains("`xray:BatchGetTraces`"), "{hint}");
        }
        assert!(
            hint_for(GetTraceSummaries, Some("InvalidRequestException"), "")
                .unwrap()
                .contains("--filter")
        );
        let moto = "InternalFailure: Not implemented yet - moto";
        let hint = hint_for(GetTraceSummaries, Some("InternalFailure"), moto).unwrap();
        assert!(
            hint.contains("does not evaluate filter expressions"),
            "{hint}"
        );
        assert!(hint.contains("drop --filter"), "{hint}");
        let hint = hint_for(GetTraceSummaries, Some("InternalFailure"), "boom").unwrap();
        assert_eq!(hint, "X-Ray failed on its side: rerun in a moment");
        assert_eq!(hint_for(BatchGetTraces, Some("Other"), ""), None);
        assert_eq!(hint_for(BatchGetTraces, None, ""), None);
    }

    #[test]
    fn the_empty_window_message_suggests_a_longer_since_than_the_one_given() {
        let text = no_traces_message(
            "15m",
            Duration::from_secs(900),
            "of random-name",
            &["random-name: Lambda reports tracing PassThrough".into()],
        );
        assert!(text.starts_with("no X-Ray traces of random-name in the last 15m"));
        assert!(text.contains("about 30 s"), "{text}");
        assert!(text.contains("--since 1h"), "{text}");
        assert!(text.contains("note: random-name: Lambda reports tracing PassThrough"));
        // Given 1h (however written), the hint goes further back; at 24h, to the console.
        for (given, secs, next) in [
            ("1h", 3600, "--since 6h"),
            ("60m", 3600, "--since 6h"),
            ("6h", 6 * 3600, "--since 24h"),
        ] {
            let text = no_traces_message(given, Duration::from_secs(secs), "of f", &[]);
            assert!(text.contains(next), "{given}: {text}");
            assert!(
                !text.contains(&format!("--since {given}")),
                "{given}: {text}"
            );
        }
        let text = no_traces_message("1d", Duration::from_secs(86_400), "of f", &[]);
        assert!(!text.contains("--since"), "{text}");
        assert!(text.contains("X-Ray console"), "{text}");
    }
}
