//! AWS configuration and the one way AWS errors are explained to users.
//!
//! `timeouts`: connect/read/attempt timeouts and the total budget per kind of call; `calls`:
//! the interceptor that logs calls (`-v`) and announces retries on the progress stream;
//! `progress`: how the calls here report progress and learn of Ctrl-C without the UI. One
//! module per service (`cfn`, `lambda`, `s3`, `xray`, ...) holds every SDK call of the crate.

pub(crate) mod beanstalk;
pub(crate) mod calls;
pub(crate) mod cfn;
pub(crate) mod change_set;
pub(crate) mod cloudwatch;
pub(crate) mod drift;
pub mod lambda;
pub(crate) mod lambda_list;
pub(crate) mod live_tail;
pub(crate) mod logs;
pub mod progress;
pub(crate) mod routing;
pub(crate) mod s3;
pub(crate) mod stackset;
pub(crate) mod timeouts;
pub mod versions;
pub(crate) mod xray;

use std::sync::{Arc, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use self::progress::Progress;

use self::calls::CallLog;
use self::timeouts::CallKind;

/// The endpoint override in effect, for errors that must name it (set by `load_config`),
/// without the credentials a URL may carry.
static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The service clients a deploy needs, built once from one `SdkConfig`.
#[derive(Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub beanstalk: aws_sdk_elasticbeanstalk::Client,
    pub s3: aws_sdk_s3::Client,
    pub xray: aws_sdk_xray::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub region: String,
    /// The endpoint override in effect, if any, as given (credentials included: print it
    /// only through [`crate::text::redact_credentials`]).
    pub endpoint: Option<String>,
    /// What the clients were built from, for a client in another region.
    sdk: SdkConfig,
    log: CallLog,
}

impl Clients {
    /// An S3 client like `self.s3` in `region` (a StackSet's code buckets, one per region).
    pub(crate) fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .force_path_style(true)
            .interceptor(self.log.clone())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Clients whose retry lines are tracing warnings (for callers without a reporter).
    pub fn from_config(config: &SdkConfig) -> Clients {
        Clients::build(config, None)
    }

    /// Clients whose retry and backoff lines go to `progress` (the reporter's stream).
    pub(crate) fn with_progress(config: &SdkConfig, progress: Arc<dyn Progress + Send>) -> Clients {
        Clients::build(config, Some(progress))
    }

    fn build(config: &SdkConfig, progress: Option<Arc<dyn Progress + Send>>) -> Clients {
        let shown = config
            .endpoint_url()
            .map(|e| crate::text::redact_credentials(e).into_owned());
        let log = CallLog::new(progress, shown);
        // Path-style S3 addressing works with AWS and with emulators on 127.0.0.1.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .interceptor(log.clone())
            .build();
        let cloudformation = aws_sdk_cloudformation::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        let lambda = aws_sdk_lambda::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        let beanstalk = aws_sdk_elasticbeanstalk::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        let xray = aws_sdk_xray::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        let logs = aws_sdk_cloudwatchlogs::config::Builder::from(config)
            .interceptor(log.clone())
            .build();
        Clients {
            cloudformation: aws_sdk_cloudformation::Client::from_conf(cloudformation),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
            beanstalk: aws_sdk_elasticbeanstalk::Client::from_conf(beanstalk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            xray: aws_sdk_xray::Client::from_conf(xray),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            endpoint: config.endpoint_url().map(String::from),
            sdk: config.clone(),
            log,
        }
    }
}

/// Where to send AWS calls, as the user chose it (command-line flags); unset parts come from
/// the SDK's standard chain.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    pub region: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) endpoint_url: Option<String>,
}

/// Load AWS configuration the standard way, with our flags on top.
///
/// Region: see [`choose_region`]. Endpoint: `--endpoint-url`, then `AWS_ENDPOINT_URL` (read by
/// aws-config itself). Retries and timeouts: see [`timeouts`].
pub(crate) async fn load_config(
    global: &Target,
    project_region: Option<&str>,
) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(timeouts::retry_config())
        .timeout_config(CallKind::Api.timeouts());
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = choose_region(global, project_region).await {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = &global.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if let Some(endpoint) = config.endpoint_url() {
        let _ = ENDPOINT.set(crate::text::redact_credentials(endpoint).into_owned());
    }
    if config.region().is_none() {
        anyhow::bail!(crate::error::Problem::usage("no AWS region is configured").hint(
            "pass --region, set AWS_REGION, set `region` in the AWS profile, or add `region:` to the config"
        ));
    }
    Ok(config)
}

/// Region precedence, as the README and `--help` state it: `--region`, then
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, then the profile's `region` (`--profile` or
/// `AWS_PROFILE`, from `AWS_CONFIG_FILE`), then the project config's `region:`. `None` leaves
/// the rest of the SDK's chain (instance metadata) to decide.
async fn choose_region(global: &Target, project_region: Option<&str>) -> Option<String> {
    if let Some(region) = &global.region {
        return Some(region.clone());
    }
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    if env_region.is_some() {
        return env_region;
    }
    use aws_config::meta::region::ProvideRegion;
    let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(name) = &global.profile {
        profile = profile.profile_name(name);
    }
    if let Some(region) = profile.build().region().await {
        return Some(region.to_string());
    }
    project_region.map(String::from)
}

/// An AWS call that failed, explained: what we were doing, AWS's code and message, and a hint.
#[derive(Debug)]
pub(crate) struct AwsError {
    pub(crate) action: String,
    pub(crate) code: Option<String>,
    pub(crate) reason: String,
    pub(crate) hint: Option<String>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.action, self.reason)
    }
}

impl crate::error::Explain for AwsError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

crate::explained!(AwsError);

/// Explain an SDK error. `action` says what we were doing, e.g. "describing stack scorekeep".
pub(crate) fn explain<E>(
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
            let endpoint = ENDPOINT
                .get()
                .map(|e| format!("the AWS endpoint {e}"))
                .unwrap_or_else(|| "the AWS endpoint".into());
            let hint = if lower.contains("credential") {
                "no usable AWS credentials: set AWS_PROFILE (or --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string()
            } else if matches!(err, SdkError::TimeoutError(_))
                || lower.contains("timeout")
                || lower.contains("timed out")
            {
                format!("{endpoint} did not answer in time (every retry included); check that it is up and reachable (--endpoint-url / AWS_ENDPOINT_URL, the network, the region), then rerun")
            } else {
                format!("cannot reach {endpoint}: check the network, --endpoint-url / AWS_ENDPOINT_URL, and the region")
            };
            AwsError {
                action,
                code: None,
                reason: detail,
                hint: Some(hint),
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
pub(crate) fn error_code<E: ProvideErrorMetadata>(
    err: &aws_sdk_cloudformation::error::SdkError<E>,
) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// The service error message, if the error is one the service returned.
pub(crate) fn error_message<E: ProvideErrorMetadata>(
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

    /// Every `.rs` file under `dir`, with its path relative to the crate root.
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// The layering this module promises: every SDK request is sent from src/aws, and
    /// src/aws does not reach up into the UI or the signal handling.
    #[test]
    fn every_aws_call_is_sent_from_src_aws_which_imports_no_ui() {
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 50, "found {} files", files.len());
        assert!(files
            .iter()
            .any(|(p, t)| p == "src/aws/s3.rs" && t.contains(".send()")));
        let outside: Vec<&str> = files
            .iter()
            .filter(|(p, t)| !p.starts_with("src/aws/") && t.contains(".send()"))
            .map(|(p, _)| p.as_str())
            .collect();
        assert!(outside.is_empty(), "AWS calls outside src/aws: {outside:?}");
        let upward: Vec<&str> = files
            .iter()
            .filter(|(p, t)| {
                p.starts_with("src/aws/")
                    && ["report", "interrupt"]
                        .iter()
                        // Built here so that this test's own text does not match.
                        .any(|m| t.contains(&format!("crate::{m}")))
            })
            .map(|(p, _)| p.as_str())
            .collect();
        assert!(upward.is_empty(), "src/aws importing the UI: {upward:?}");
    }
}
