//! The health gates of a gradual release: while the new version bakes, the alarms named in
//! `releases.alarms` must not be in ALARM, and the new version's own errors and throttles
//! (per `ExecutedVersion`) must stay within `max_error_rate` of its invocations. Pure: the
//! readings come from `aws::cloudwatch`; this decides and words the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::cloudwatch::{AlarmReading, VersionMetrics};

/// What the gates read at one check, for the report and `--output json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Readings {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) alarms: Vec<AlarmReading>,
    /// By function: the new version's sums since its release began.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) metrics: BTreeMap<String, VersionMetrics>,
}

/// Why a gate closed: what it read, in words that name the alarm or metric and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed(pub(crate) String);

/// The first closed gate in `readings`, if any. Only ALARM closes an alarm gate:
/// `INSUFFICIENT_DATA` is what a quiet alarm says.
pub(crate) fn judge(
    readings: &Readings,
    versions: &BTreeMap<String, String>,
    max_error_rate: f64,
) -> Option<Closed> {
    if let Some(alarm) = readings.alarms.iter().find(|a| a.state == "ALARM") {
        return Some(Closed(format!(
            "alarm {} is in ALARM ({})",
            alarm.name,
            crate::text::field(&alarm.reason)
        )));
    }
    readings.metrics.iter().find_map(|(function, m)| {
        let version = versions.get(function).map_or("?", String::as_str);
        metric_verdict(function, version, m, max_error_rate)
    })
}

/// Errors, then throttles, as a share of the version's invocations (any at all with no
/// invocations counted yet is over every threshold).
fn metric_verdict(
    function: &str,
    version: &str,
    m: &VersionMetrics,
    max_error_rate: f64,
) -> Option<Closed> {
    [("Errors", m.errors), ("Throttles", m.throttles)]
        .into_iter()
        .find_map(|(metric, count)| {
            let rate = share(count, m.invocations);
            (count > 0.0 && rate > max_error_rate).then(|| {
                Closed(format!(
                    "{metric} of function {function} version {version}: {count} of {} invocations ({:.1} %), over max_error_rate {:.1} %",
                    m.invocations,
                    rate * 100.0,
                    max_error_rate * 100.0
                ))
            })
        })
}

fn share(count: f64, invocations: f64) -> f64 {
    if invocations > 0.0 {
        count / invocations
    } else if count > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Names in `releases.alarms` that CloudWatch does not know (checked before traffic moves: a
/// gate on an alarm that does not exist would never close).
pub(crate) fn missing_alarms(names: &[String], found: &[AlarmReading]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !found.iter().any(|a| &a.name == *n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str) -> AlarmReading {
        AlarmReading {
            name: name.into(),
            state: state.into(),
            reason: "Threshold Crossed".into(),
        }
    }

    fn metrics(invocations: f64, errors: f64, throttles: f64) -> Readings {
        Readings {
            alarms: vec![alarm("quiet", "INSUFFICIENT_DATA")],
            metrics: BTreeMap::from([(
                "f".to_string(),
                VersionMetrics {
                    invocations,
                    errors,
                    throttles,
                },
            )]),
        }
    }

    fn versions() -> BTreeMap<String, String> {
        BTreeMap::from([("f".to_string(), "3".to_string())])
    }

    #[test]
    fn an_alarm_in_alarm_closes_the_gate_and_is_named() {
        let readings = Readings {
            alarms: vec![alarm("ok", "OK"), alarm("errors-live", "ALARM")],
            ..Default::default()
        };
        let closed = judge(&readings, &versions(), 0.01).unwrap();
        assert_eq!(
            closed.0,
            "alarm errors-live is in ALARM (Threshold Crossed)"
        );
        assert_eq!(judge(&metrics(0.0, 0.0, 0.0), &versions(), 0.01), None);
    }

    #[test]
    fn errors_over_the_threshold_close_the_gate_with_their_values() {
        let closed = judge(&metrics(10.0, 5.0, 0.0), &versions(), 0.01).unwrap();
        assert_eq!(
            closed.0,
            "Errors of function f version 3: 5 of 10 invocations (50.0 %), over max_error_rate 1.0 %"
        );
        assert_eq!(judge(&metrics(1000.0, 5.0, 0.0), &versions(), 0.01), None);
        assert!(judge(&metrics(10.0, 0.0, 1.0), &versions(), 0.01)
            .unwrap()
            .0
            .starts_with("Throttles of function f"));
        // An error before any invocation is counted is still an error.
        assert!(judge(&metrics(0.0, 1.0, 0.0), &versions(), 0.5).is_some());
    }

    #[test]
    fn unknown_alarm_names_are_found_before_traffic_moves() {
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(missing_alarms(&names, &[alarm("a", "OK")]), vec!["b"]);
    }
}
