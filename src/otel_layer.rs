//! `tracing_sdk: otel-layer`: AWS's OpenTelemetry Lambda layers (the ADOT distro layers
//! `AWSOpenTelemetryDistroJs` / `AWSOpenTelemetryDistroPython`) and what a function needs to
//! use one: the layer version for its region, the exec wrapper variable, and the managed policy
//! AWS documents for the layer's role (in templates/scorekeep.yaml, behind the
//! `<Prefix>TracingSdk` parameter).
//!
//! The table is the one place the ARNs live. AWS publishes one layer version per region that
//! lists both x86_64 and arm64 as compatible architectures, so the architecture picks the same
//! ARN; it is still an input, so a future per-architecture layer changes only this table.
//! Versions: AWS's published per-region lists as of 2026 (ADOT Lambda layer documentation);
//! check there for newer versions before updating.

use crate::config::{Architecture, Language};

/// The variable that makes Lambda start the runtime through the layer's wrapper script.
pub(crate) const EXEC_WRAPPER: (&str, &str) = ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/otel-instrument");

/// Region → (Node.js layer, Python layer); `None` where no version is recorded here.
const LAYERS: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "ap-northeast-1",
        Some("arn:aws:lambda:ap-northeast-1:615299751070:layer:AWSOpenTelemetryDistroJs:16"),
        Some("arn:aws:lambda:ap-northeast-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "ap-northeast-2",
        None,
        Some("arn:aws:lambda:ap-northeast-2:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "ap-south-1",
        None,
        Some("arn:aws:lambda:ap-south-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "ap-southeast-1",
        Some("arn:aws:lambda:ap-southeast-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-southeast-1:615299751070:layer:AWSOpenTelemetryDistroPython:15"),
    ),
    (
        "ap-southeast-2",
        Some("arn:aws:lambda:ap-southeast-2:615299751070:layer:AWSOpenTelemetryDistroJs:14"),
        Some("arn:aws:lambda:ap-southeast-2:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "ca-central-1",
        None,
        Some("arn:aws:lambda:ca-central-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "eu-central-1",
        Some("arn:aws:lambda:eu-central-1:615299751070:layer:AWSOpenTelemetryDistroJs:10"),
        Some("arn:aws:lambda:eu-central-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "eu-north-1",
        None,
        Some("arn:aws:lambda:eu-north-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "eu-west-1",
        None,
        Some("arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "eu-west-2",
        None,
        Some("arn:aws:lambda:eu-west-2:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "eu-west-3",
        Some("arn:aws:lambda:eu-west-3:615299751070:layer:AWSOpenTelemetryDistroJs:14"),
        Some("arn:aws:lambda:eu-west-3:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "sa-east-1",
        None,
        Some("arn:aws:lambda:sa-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "us-east-1",
        Some("arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:7"),
        Some("arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:19"),
    ),
    (
        "us-east-2",
        None,
        Some("arn:aws:lambda:us-east-2:615299751070:layer:AWSOpenTelemetryDistroPython:16"),
    ),
    (
        "us-west-1",
        None,
        Some("arn:aws:lambda:us-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "us-west-2",
        None,
        Some("arn:aws:lambda:us-west-2:615299751070:layer:AWSOpenTelemetryDistroPython:23"),
    ),
];

/// No layer recorded for a function's language in a region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function `{function}`: `tracing_sdk: otel-layer`: no AWS OpenTelemetry {language} layer is recorded for region {region} (the table in src/otel_layer.rs)")]
pub(crate) struct NoLayer {
    pub(crate) function: String,
    pub(crate) language: &'static str,
    pub(crate) region: String,
    pub(crate) known: String,
}

impl crate::error::Explain for NoLayer {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Usage
    }
    fn hint(&self) -> Option<String> {
        Some(format!("add the layer version AWS publishes for {} to that table, deploy to one of: {}; or use `tracing_sdk: otel`, which bundles the SDK and works in every region", self.region, self.known))
    }
}

/// The layer ARN for a function of `language` on `architecture` in `region`.
pub(crate) fn layer_arn(
    function: &str,
    language: Language,
    region: &str,
    _architecture: Architecture,
) -> Result<&'static str, NoLayer> {
    let pick = |row: &(&str, Option<&'static str>, Option<&'static str>)| match language {
        Language::Node => row.1,
        Language::Python => row.2,
    };
    if let Some(arn) = LAYERS.iter().find(|r| r.0 == region).and_then(pick) {
        return Ok(arn);
    }
    let known: Vec<&str> = LAYERS
        .iter()
        .filter(|r| pick(r).is_some())
        .map(|r| r.0)
        .collect();
    Err(NoLayer {
        function: function.to_string(),
        language: match language {
            Language::Node => "Node.js",
            Language::Python => "Python",
        },
        region: region.to_string(),
        known: known.join(", "),
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
        for (region, js, py) in LAYERS {
            for arn in [js, py].into_iter().flatten() {
                assert!(
                    arn.starts_with(&format!("arn:aws:lambda:{region}:")),
                    "{arn}"
                );
            }
        }
    }

    #[test]
    fn a_region_without_a_layer_is_named_with_the_alternatives() {
        let e = layer_arn(
            "random-name",
            Language::Node,
            "eu-south-2",
            Architecture::Arm64,
        )
        .unwrap_err();
        let text = crate::error::render(e);
        assert!(text.contains("for region eu-south-2"), "{text}");
        assert!(text.contains("function `random-name`"), "{text}");
        assert!(text.contains("us-east-1"), "{text}");
        assert!(text.contains("tracing_sdk: otel"), "{text}");
    }
}
