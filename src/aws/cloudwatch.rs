//! CloudWatch reads of a gradual release's gates: the state of named alarms (DescribeAlarms)
//! and the new version's own Lambda metrics (GetMetricData on `ExecutedVersion`).

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_cloudwatch::Client;

use crate::aws::explain;

/// One alarm as CloudWatch reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct AlarmReading {
    pub(crate) name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub(crate) state: String,
    pub(crate) reason: String,
}

/// The alarms named `names` (DescribeAlarms, up to 100 names a call); a name CloudWatch does
/// not know is absent from the answer.
pub(crate) async fn alarms(cw: &Client, names: &[String]) -> anyhow::Result<Vec<AlarmReading>> {
    let mut found = Vec::new();
    for chunk in names.chunks(100) {
        let mut token: Option<String> = None;
        loop {
            let out = cw
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| explain(format!("reading alarms {}", chunk.join(", ")), &e))?;
            found.extend(out.metric_alarms().iter().map(|a| {
                AlarmReading {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                }
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(found)
}

/// One version's invocations, errors and throttles through one alias, summed over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(crate) struct VersionMetrics {
    pub(crate) invocations: f64,
    pub(crate) errors: f64,
    pub(crate) throttles: f64,
}

/// Which version's metrics: Lambda publishes them per `FunctionName`, `Resource`
/// (`name:alias`) and `ExecutedVersion` when callers invoke through an alias.
pub(crate) struct VersionOf<'a> {
    pub(crate) function: &'a str,
    pub(crate) alias: &'a str,
    pub(crate) version: &'a str,
}

const METRICS: [(&str, &str); 3] = [
    ("invocations", "Invocations"),
    ("errors", "Errors"),
    ("throttles", "Throttles"),
];

/// The sums of the version's metrics from `since` (a minute earlier, as CloudWatch keeps
/// minutes) until now.
pub(crate) async fn version_metrics(
    cw: &Client,
    of: &VersionOf<'_>,
    since: SystemTime,
) -> anyhow::Result<VersionMetrics> {
    let minute = Duration::from_secs(60);
    let start = since.checked_sub(minute).unwrap_or(since);
    let end = SystemTime::now() + minute;
    let queries = METRICS
        .iter()
        .map(|(id, metric)| query(id, metric, of))
        .collect::<Vec<_>>();
    let out = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from(start))
        .end_time(DateTime::from(end))
        .send()
        .await
        .map_err(|e| {
            explain(
                format!(
                    "reading the metrics of version {} of function {}",
                    of.version, of.function
                ),
                &e,
            )
        })?;
    let mut sums = VersionMetrics::default();
    for result in out.metric_data_results() {
        let total: f64 = result.values().iter().sum();
        match result.id() {
            Some("invocations") => sums.invocations += total,
            Some("errors") => sums.errors += total,
            Some("throttles") => sums.throttles += total,
            _ => {}
        }
    }
    Ok(sums)
}

fn query(id: &str, metric: &str, of: &VersionOf<'_>) -> MetricDataQuery {
    let dimension =
        |name: &str, value: String| Dimension::builder().name(name).value(value).build();
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name(metric)
        .dimensions(dimension("FunctionName", of.function.to_string()))
        .dimensions(dimension(
            "Resource",
            format!("{}:{}", of.function, of.alias),
        ))
        .dimensions(dimension("ExecutedVersion", of.version.to_string()))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}
