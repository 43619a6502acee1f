//! `tracing_sdk: otel-layer`: AWS's OpenTelemetry Lambda layers (the ADOT distro layers
//! `AWSOpenTelemetryDistroJs` / `AWSOpenTelemetryDistroPython`) and what a function needs to
//! use one: the layer version for its region, the exec wrapper variable, and the managed policy
//! AWS documents for the layer's role (in templates/scorekeep.yaml, behind the
//! `<Prefix>TracingSdk` parameter).
//!
//! The table is the one place the ARNs live. AWS publishes one layer version per region that
//! lists both x86_64 and arm64 as compatible architectures, so the architecture picks the same
//! ARN; it is still an input, so a future per-architecture layer changes only this table.
//! Source: the per-region lists on AWS's ADOT site (aws-otel/aws-otel.github.io,
//! `src/config/lambdaLayerArns.js`, as of 2026-07-22: 36 regions for Node.js, 35 for Python,
//! which AWS no longer publishes in me-south-1). Check there for newer versions before updating.

use crate::config::{Architecture, Language};

/// The variable that makes Lambda start the runtime through the layer's wrapper script.
pub(crate) const EXEC_WRAPPER: (&str, &str) = ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/otel-instrument");

/// Region → (Node.js layer, Python layer); `None` where no version is recorded here.
const LAYERS: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "af-south-1",
        Some("arn:aws:lambda:af-south-1:904233096616:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:af-south-1:904233096616:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "ap-east-1",
        Some("arn:aws:lambda:ap-east-1:888577020596:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-east-1:888577020596:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "ap-east-2",
        Some("arn:aws:lambda:ap-east-2:412664885777:layer:AWSOpenTelemetryDistroJs:4"),
        Some("arn:aws:lambda:ap-east-2:412664885777:layer:AWSOpenTelemetryDistroPython:4"),
    ),
    (
        "ap-northeast-1",
        Some("arn:aws:lambda:ap-northeast-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-northeast-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ap-northeast-2",
        Some("arn:aws:lambda:ap-northeast-2:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-northeast-2:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ap-northeast-3",
        Some("arn:aws:lambda:ap-northeast-3:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-northeast-3:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ap-south-1",
        Some("arn:aws:lambda:ap-south-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-south-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ap-south-2",
        Some("arn:aws:lambda:ap-south-2:796973505492:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-south-2:796973505492:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "ap-southeast-1",
        Some("arn:aws:lambda:ap-southeast-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-southeast-1:615299751070:layer:AWSOpenTelemetryDistroPython:25"),
    ),
    (
        "ap-southeast-2",
        Some("arn:aws:lambda:ap-southeast-2:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-southeast-2:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ap-southeast-3",
        Some("arn:aws:lambda:ap-southeast-3:039612877180:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-southeast-3:039612877180:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "ap-southeast-4",
        Some("arn:aws:lambda:ap-southeast-4:713881805771:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ap-southeast-4:713881805771:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "ap-southeast-5",
        Some("arn:aws:lambda:ap-southeast-5:152034782359:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws:lambda:ap-southeast-5:152034782359:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "ap-southeast-6",
        Some("arn:aws:lambda:ap-southeast-6:313828097273:layer:AWSOpenTelemetryDistroJs:3"),
        Some("arn:aws:lambda:ap-southeast-6:313828097273:layer:AWSOpenTelemetryDistroPython:3"),
    ),
    (
        "ap-southeast-7",
        Some("arn:aws:lambda:ap-southeast-7:980416031188:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws:lambda:ap-southeast-7:980416031188:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "ca-central-1",
        Some("arn:aws:lambda:ca-central-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:ca-central-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "ca-west-1",
        Some("arn:aws:lambda:ca-west-1:595944127152:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws:lambda:ca-west-1:595944127152:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "cn-north-1",
        Some("arn:aws-cn:lambda:cn-north-1:440179912924:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws-cn:lambda:cn-north-1:440179912924:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "cn-northwest-1",
        Some("arn:aws-cn:lambda:cn-northwest-1:440180067931:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws-cn:lambda:cn-northwest-1:440180067931:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "eu-central-1",
        Some("arn:aws:lambda:eu-central-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-central-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "eu-central-2",
        Some("arn:aws:lambda:eu-central-2:156041407956:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-central-2:156041407956:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "eu-north-1",
        Some("arn:aws:lambda:eu-north-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-north-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "eu-south-1",
        Some("arn:aws:lambda:eu-south-1:257394471194:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-south-1:257394471194:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "eu-south-2",
        Some("arn:aws:lambda:eu-south-2:490004653786:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-south-2:490004653786:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "eu-west-1",
        Some("arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "eu-west-2",
        Some("arn:aws:lambda:eu-west-2:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-west-2:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "eu-west-3",
        Some("arn:aws:lambda:eu-west-3:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:eu-west-3:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "il-central-1",
        Some("arn:aws:lambda:il-central-1:746669239226:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:il-central-1:746669239226:layer:AWSOpenTelemetryDistroPython:23"),
    ),
    (
        "me-central-1",
        Some("arn:aws:lambda:me-central-1:739275441131:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:me-central-1:739275441131:layer:AWSOpenTelemetryDistroPython:22"),
    ),
    (
        "me-south-1",
        Some("arn:aws:lambda:me-south-1:980921751758:layer:AWSOpenTelemetryDistroJs:12"),
        None,
    ),
    (
        "mx-central-1",
        Some("arn:aws:lambda:mx-central-1:610118373846:layer:AWSOpenTelemetryDistroJs:8"),
        Some("arn:aws:lambda:mx-central-1:610118373846:layer:AWSOpenTelemetryDistroPython:14"),
    ),
    (
        "sa-east-1",
        Some("arn:aws:lambda:sa-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:sa-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "us-east-1",
        Some("arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroPython:29"),
    ),
    (
        "us-east-2",
        Some("arn:aws:lambda:us-east-2:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:us-east-2:615299751070:layer:AWSOpenTelemetryDistroPython:26"),
    ),
    (
        "us-west-1",
        Some("arn:aws:lambda:us-west-1:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:us-west-1:615299751070:layer:AWSOpenTelemetryDistroPython:33"),
    ),
    (
        "us-west-2",
        Some("arn:aws:lambda:us-west-2:615299751070:layer:AWSOpenTelemetryDistroJs:15"),
        Some("arn:aws:lambda:us-west-2:615299751070:layer:AWSOpenTelemetryDistroPython:33"),
    ),
];

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
        write!(f, "function `{}`: `tracing_sdk: otel-layer`: no AWS OpenTelemetry {} layer is recorded for region {} (the table in src/otel_layer.rs)", self.function, self.language, self.region)
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
        Some(format!("use `tracing_sdk: otel`, which bundles the SDK and works in every region, or deploy to one of the {} regions the table has a {} layer for{elsewhere}; if AWS has since published one for {}, add its ARN to the table", self.known.len(), self.language, self.region))
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
    let known: Vec<&'static str> = LAYERS
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
        for (region, js, py) in LAYERS {
            for arn in [js, py].into_iter().flatten() {
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
}
