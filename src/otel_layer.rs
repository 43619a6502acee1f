//! `tracing_sdk: otel-layer`: AWS's OpenTelemetry Lambda layers (the ADOT distro layers
//! `AWSOpenTelemetryDistroJs` / `AWSOpenTelemetryDistroPython`) and what a function needs to
//! use one: the layer version for its region, the exec wrapper variable, and the managed policy
//! AWS documents for the layer's role (in templates/scorekeep.yaml, behind the
//! `<Prefix>TracingSdk` parameter).
//!
//! The ARNs live in one data file, `data/otel-layer-arns.json` (compiled in), with its source
//! and the date it was taken: AWS's per-region lists on its ADOT site (aws-otel/
//! aws-otel.github.io, `src/config/lambdaLayerArns.js`). `scripts/update-layer-arns FILE`
//! regenerates it from that file; `plan` warns once the snapshot is older than
//! [`STALE_AFTER_DAYS`]. AWS publishes one layer version per region that lists both x86_64 and
//! arm64 as compatible architectures, so the architecture picks the same ARN; it is still an
//! input, so a future per-architecture layer changes only the table.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::config::{Architecture, Language};

/// The variable that makes Lambda start the runtime through the layer's wrapper script.
pub(crate) const EXEC_WRAPPER: (&str, &str) = ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/otel-instrument");

/// After this many days the snapshot may miss newer layer versions: `plan` says so.
pub(crate) const STALE_AFTER_DAYS: i64 = 180;

/// `data/otel-layer-arns.json`.
#[derive(Debug, serde::Deserialize)]
struct Table {
    source: String,
    /// `YYYY-MM-DD`: when the source was read.
    snapshot: String,
    /// Region → language (`nodejs`, `python`) → ARN.
    layers: BTreeMap<String, BTreeMap<String, String>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/otel-layer-arns.json"))
            .expect("data/otel-layer-arns.json is checked by a unit test")
    })
}

/// A warning when the table is older than [`STALE_AFTER_DAYS`] on `today` (`YYYY-MM-DD`).
pub(crate) fn staleness(today: &str) -> Option<String> {
    let t = table();
    let age = days(today)? - days(&t.snapshot)?;
    (age > STALE_AFTER_DAYS).then(|| {
        format!(
            "the AWS OpenTelemetry layer ARNs were taken on {} ({age} days ago) from {}: newer layer versions may exist; `scripts/update-layer-arns FILE` refreshes data/otel-layer-arns.json",
            t.snapshot, t.source
        )
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the proleptic Gregorian calendar).
fn days(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Today as `YYYY-MM-DD` (UTC), from the system clock.
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil(secs.div_euclid(86_400))
}

/// The `YYYY-MM-DD` of a day count since 1970-01-01 (the inverse of [`days`]).
fn civil(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// No layer recorded for a function's language in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoLayer {
    pub(crate) function: String,
    pub(crate) language: &'static str,
    pub(crate) region: String,
    /// The regions the table has a layer of this language for.
    pub(crate) known: Vec<&'static str>,
}

impl std::fmt::Display for NoLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "function `{}`: `tracing_sdk: otel-layer`: no AWS OpenTelemetry {} layer is recorded for region {} (data/otel-layer-arns.json)", self.function, self.language, self.region)
    }
}

crate::explained!(NoLayer);

impl crate::error::Explain for NoLayer {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Usage
    }
    fn hint(&self) -> Option<String> {
        let near: Vec<&str> = self
            .known
            .iter()
            .filter(|r| r.split('-').next() == self.region.split('-').next())
            .copied()
            .collect();
        let elsewhere = match near.is_empty() {
            true => String::new(),
            false => format!(" (nearby: {})", near.join(", ")),
        };
        Some(format!("use `tracing_sdk: otel`, which bundles the SDK and works in every region, or deploy to one of the {} regions the table has a {} layer for{elsewhere}; if AWS has since published one for {}, refresh the table with `scripts/update-layer-arns`", self.known.len(), self.language, self.region))
    }
}

/// The layer ARN for a function of `language` on `architecture` in `region`.
pub(crate) fn layer_arn(
    function: &str,
    language: Language,
    region: &str,
    _architecture: Architecture,
) -> Result<&'static str, NoLayer> {
    let key = match language {
        Language::Node => "nodejs",
        Language::Python => "python",
    };
    let layers = &table().layers;
    if let Some(arn) = layers.get(region).and_then(|r| r.get(key)) {
        return Ok(arn.as_str());
    }
    let known: Vec<&'static str> = layers
        .iter()
        .filter(|(_, r)| r.contains_key(key))
        .map(|(region, _)| region.as_str())
        .collect();
    Err(NoLayer {
        function: function.to_string(),
        language: match language {
            Language::Node => "Node.js",
            Language::Python => "Python",
        },
        region: region.to_string(),
        known,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_gets_its_layer_in_the_region_for_both_architectures() {
        for arch in [Architecture::X86_64, Architecture::Arm64] {
            let js = layer_arn("f", Language::Node, "us-east-1", arch).unwrap();
            let py = layer_arn("f", Language::Python, "us-east-1", arch).unwrap();
            assert!(
                js.starts_with("arn:aws:lambda:us-east-1:")
                    && js.contains(":layer:AWSOpenTelemetryDistroJs:")
            );
            assert!(py.contains(":layer:AWSOpenTelemetryDistroPython:"));
        }
    }

    #[test]
    fn every_arn_is_in_its_own_region() {
        assert!(
            table().layers.len() >= 30,
            "data/otel-layer-arns.json parses"
        );
        for (region, arns) in &table().layers {
            for arn in arns.values() {
                // The China regions are their own partition.
                let partition = if region.starts_with("cn-") {
                    "aws-cn"
                } else {
                    "aws"
                };
                assert!(
                    arn.starts_with(&format!("arn:{partition}:lambda:{region}:")),
                    "{arn}"
                );
            }
        }
    }

    #[test]
    fn a_region_without_a_layer_is_named_with_the_alternatives() {
        let e = layer_arn(
            "random-name",
            Language::Python,
            "me-south-1",
            Architecture::Arm64,
        )
        .unwrap_err();
        let text = crate::error::render(e);
        assert!(text.contains("Python layer"), "{text}");
        assert!(text.contains("for region me-south-1"), "{text}");
        assert!(text.contains("function `random-name`"), "{text}");
        assert!(text.contains("one of the 35 regions"), "{text}");
        assert!(text.contains("nearby: me-central-1"), "{text}");
        assert!(text.contains("tracing_sdk: otel"), "{text}");
    }

    #[test]
    fn the_snapshot_warns_after_180_days_and_dates_count_right() {
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2024-03-01").unwrap() - days("2024-02-28").unwrap(), 2);
        assert_eq!(civil(days("2026-12-04").unwrap()), "2026-12-04");
        assert_eq!(days("2026-13-01"), None);
        let snapshot = table().snapshot.clone();
        let day = days(&snapshot).unwrap();
        assert_eq!(staleness(&civil(day + STALE_AFTER_DAYS)), None);
        let old = staleness(&civil(day + STALE_AFTER_DAYS + 1)).unwrap();
        assert!(
            old.contains(&format!("taken on {snapshot} (181 days ago)")),
            "{old}"
        );
        assert!(old.contains("scripts/update-layer-arns"), "{old}");
        assert_eq!(today().len(), 10);
    }
}
