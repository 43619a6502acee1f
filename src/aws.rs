//! AWS configuration and the one way AWS errors are explained to users.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::cli::GlobalArgs;

/// The service clients a deploy needs, built once from one `SdkConfig`.
#[derive(Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub beanstalk: aws_sdk_elasticbeanstalk::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    /// The endpoint override in effect, if any (for messages).
    pub endpoint: Option<String>,
}

impl Clients {
    pub fn from_config(config: &SdkConfig) -> Clients {
        // Path-style S3 addressing works with AWS and with emulators on 127.0.0.1.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            beanstalk: aws_sdk_elasticbeanstalk::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            endpoint: config.endpoint_url().map(String::from),
        }
    }
}

/// Load AWS configuration the standard way, with our flags on top.
///
/// Region: `--region`, then `AWS_REGION`/`AWS_DEFAULT_REGION`, then the project config's
/// `region`, then the profile. Endpoint: `--endpoint-url`, then `AWS_ENDPOINT_URL` (read by
/// aws-config itself). Retries: the SDK's adaptive mode, so throttling backs off by itself.
pub async fn load_config(
    global: &GlobalArgs,
    project_region: Option<&str>,
) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    if let Some(region) = global
        .region
        .clone()
        .or(env_region)
        .or(project_region.map(String::from))
    {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = &global.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        anyhow::bail!(crate::exit::UsageError(
            "no AWS region is configured\n  hint: pass --region, set AWS_REGION, or add `region:` to the config".into()
        ));
    }
    Ok(config)
}

/// An AWS call that failed, explained: what we were doing, AWS's code and message, and a hint.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {reason}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct AwsError {
    pub action: String,
    pub code: Option<String>,
    pub reason: String,
    pub hint: Option<String>,
}

/// Explain an SDK error. `action` says what we were doing, e.g. "describing stack scorekeep".
pub fn explain<E>(
    action: impl Into<String>,
    err: &aws_sdk_cloudformation::error::SdkError<E>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    let action = action.into();
    let detail = chain_text(err);
    if let Some(not_aws) = not_an_aws_response(err) {
        return AwsError {
            action,
            code: None,
            reason: not_aws,
            hint: Some(NOT_AWS_HINT.into()),
        };
    }
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(String::from);
            let reason = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => detail.clone(),
            };
            let hint = hint_for_code(code.as_deref());
            AwsError {
                action,
                code,
                reason,
                hint,
            }
        }
        SdkError::DispatchFailure(_)
        | SdkError::TimeoutError(_)
        | SdkError::ConstructionFailure(_) => {
            let lower = detail.to_lowercase();
            let hint = if lower.contains("credential") {
                "no usable AWS credentials: set AWS_PROFILE (or --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            } else {
                "cannot reach the AWS endpoint: check the network, --endpoint-url / AWS_ENDPOINT_URL, and the region"
            };
            AwsError {
                action,
                code: None,
                reason: detail,
                hint: Some(hint.into()),
            }
        }
        _ => AwsError {
            action,
            code: None,
            reason: detail,
            hint: None,
        },
    }
}

const NOT_AWS_HINT: &str = "the endpoint does not look like an AWS API (no AWS error in its answer): check --endpoint-url / AWS_ENDPOINT_URL, which must be the service's base URL";

/// An HTTP answer without an AWS error code (a plain web server's 404 page, a proxy's error):
/// the SDK could only say "unhandled error" or "error parsing XML".
fn not_an_aws_response<E>(err: &aws_sdk_cloudformation::error::SdkError<E>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    use aws_sdk_cloudformation::error::SdkError;
    let raw = match err {
        SdkError::ServiceError(service) if service.err().code().is_none() => service.raw(),
        SdkError::ResponseError(response) => response.raw(),
        _ => return None,
    };
    let status = raw.status().as_u16();
    let content_type = raw
        .headers()
        .get("content-type")
        .unwrap_or("no content type");
    Some(format!(
        "HTTP {status} ({content_type}) without an AWS error code"
    ))
}

/// The error and its sources as one line of Display texts (no Debug dumps), repeats dropped.
fn chain_text(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        // Keep only the first line: the credential chain lists every provider it tried.
        let first = text.lines().next().unwrap_or_default();
        let first = first
            .trim()
            .trim_end_matches("Attempted:")
            .trim_end()
            .to_string();
        if !first.is_empty() && !parts.iter().any(|p| p.contains(&first)) {
            parts.push(first);
        }
        current = e.source();
    }
    parts.join(": ")
}

fn hint_for_code(code: Option<&str>) -> Option<String> {
    let hint = match code? {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            "the credentials in use are not allowed to do this; check the IAM policy of the caller"
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            "the session credentials expired; refresh them (e.g. `aws sso login`) and rerun"
        }
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" => {
            "the access key is not valid for this account/region; check AWS_PROFILE and the keys in use"
        }
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" => {
            "AWS is throttling requests; wait a minute and rerun"
        }
        _ => return None,
    };
    Some(hint.to_string())
}

/// The service error code, if the error is one the service returned.
pub fn error_code<E: ProvideErrorMetadata>(
    err: &aws_sdk_cloudformation::error::SdkError<E>,
) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// The service error message, if the error is one the service returned.
pub fn error_message<E: ProvideErrorMetadata>(
    err: &aws_sdk_cloudformation::error::SdkError<E>,
) -> Option<&str> {
    err.as_service_error().and_then(|e| e.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_get_hints() {
        assert!(hint_for_code(Some("ExpiredToken"))
            .unwrap()
            .contains("sso login"));
        assert!(hint_for_code(Some("SomethingElse")).is_none());
        assert!(hint_for_code(None).is_none());
    }
}
