//! One SDK interceptor on every client: it logs each AWS call at `-v` (service, operation,
//! resource, HTTP status, duration) and puts a line on the progress stream whenever a call is
//! about to be retried, so throttling and flaky endpoints are never silent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry as _, RetryAction};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::RetryConfig;

use super::progress::Progress;
use super::timeouts::max_backoff_before;

/// Logs calls and announces retries; see the module docs.
#[derive(Clone)]
pub(crate) struct CallLog {
    /// Where retry lines go; without one they are tracing warnings.
    progress: Option<Arc<dyn Progress + Send>>,
    /// The endpoint override, named when a call gets no answer.
    endpoint: Option<String>,
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog")
            .field("progress", &self.progress.is_some())
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl CallLog {
    pub(crate) fn new(
        progress: Option<Arc<dyn Progress + Send>>,
        endpoint: Option<String>,
    ) -> Self {
        CallLog { progress, endpoint }
    }

    fn progress(&self, line: String) {
        match &self.progress {
            Some(p) => p.note(line),
            None => tracing::warn!("{line}"),
        }
    }
}

#[derive(Debug, Clone)]
struct AttemptStarted {
    at: Instant,
    resource: Option<String>,
}

impl Storable for AttemptStarted {
    type Storer = StoreReplace<Self>;
}

/// How an attempt ended, reduced to what the log and the retry line say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP answer: status and the AWS error code, if any.
    Answered { status: u16, code: Option<String> },
    /// No answer in time.
    TimedOut,
    /// The connection failed or was dropped.
    NoConnection,
    /// Anything else (e.g. a request that could not be built): not retried by the SDK.
    Other,
}

impl Outcome {
    fn is_throttling(&self) -> bool {
        match self {
            Outcome::Answered { status, code } => {
                *status == 429
                    || code.as_deref().is_some_and(|c| {
                        matches!(
                            c,
                            "Throttling"
                                | "ThrottlingException"
                                | "TooManyRequestsException"
                                | "RequestLimitExceeded"
                                | "SlowDown"
                                | "RequestThrottled"
                                | "RequestThrottledException"
                                | "ProvisionedThroughputExceededException"
                        )
                    })
            }
            _ => false,
        }
    }

    /// What the SDK's standard classifiers retry: throttling, 5xx, timeouts, dropped connections.
    fn is_retryable(&self) -> bool {
        match self {
            Outcome::Answered { status, .. } => {
                self.is_throttling() || matches!(status, 500 | 502 | 503 | 504)
            }
            Outcome::TimedOut | Outcome::NoConnection => true,
            Outcome::Other => false,
        }
    }
}

/// The retry line, e.g. `throttled by lambda (UpdateFunctionCode: HTTP 429
/// TooManyRequestsException); retrying within 0.5 s (2/8)`.
pub(crate) fn retry_line(
    service: &str,
    operation: &str,
    outcome: &Outcome,
    endpoint: Option<&str>,
    next_attempt: u32,
    max_attempts: u32,
    backoff: Duration,
) -> String {
    let what = match outcome {
        _ if outcome.is_throttling() => format!("throttled by {service}"),
        Outcome::Answered { .. } => format!("{service} failed"),
        Outcome::TimedOut => format!(
            "no answer from {service} at {}",
            endpoint.unwrap_or("its endpoint")
        ),
        Outcome::NoConnection | Outcome::Other => format!(
            "connection to {service} at {} failed",
            endpoint.unwrap_or("its endpoint")
        ),
    };
    let detail = match outcome {
        Outcome::Answered { status, code } => format!(
            "{operation}: HTTP {status}{}",
            code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
        ),
        _ => operation.to_string(),
    };
    format!(
        "{what} ({detail}); retrying within {:.1} s ({next_attempt}/{max_attempts})",
        backoff.as_secs_f64()
    )
}

/// The resource a request is about, when it is cheap to tell: the name parameter of a
/// query-protocol call, or the REST path.
fn resource_of(uri: &str, body: Option<&[u8]>) -> Option<String> {
    const NAMES: &[&str] = &[
        "StackName=",
        "ChangeSetName=",
        "EnvironmentName=",
        "ApplicationName=",
    ];
    if let Some(body) = body.and_then(|b| std::str::from_utf8(b).ok()) {
        if body.contains("Action=") {
            return body.split('&').find_map(|kv| {
                NAMES
                    .iter()
                    .find_map(|n| kv.strip_prefix(n))
                    .map(|v| v.replace("%2F", "/").replace("%3A", ":"))
            });
        }
    }
    // Before the endpoint is applied the URI is only the path.
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..])?,
        None => uri,
    };
    let path = path.split('?').next().unwrap_or(path);
    (path.len() > 1).then(|| path.to_string())
}

/// The AWS error code of an error response, from the header or the body.
fn error_code(headers_type: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    if let Some(t) = headers_type {
        return Some(t.split(':').next().unwrap_or(t).to_string());
    }
    let body = std::str::from_utf8(body?).ok()?;
    if let Some(start) = body.find("<Code>") {
        let rest = &body[start + 6..];
        return rest.find("</Code>").map(|end| rest[..end].to_string());
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .get("__type")
        .or_else(|| value.get("code"))
        .and_then(|v| v.as_str())
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
}

fn outcome_of(context: &FinalizerInterceptorContextRef<'_>) -> Outcome {
    if let Some(response) = context.response() {
        let status = response.status().as_u16();
        let code = (status >= 400)
            .then(|| {
                error_code(
                    response.headers().get("x-amzn-errortype"),
                    response.body().bytes(),
                )
            })
            .flatten();
        return Outcome::Answered { status, code };
    }
    match context.output_or_error() {
        Some(Err(e)) if e.is_timeout_error() => Outcome::TimedOut,
        Some(Err(e)) => match e.as_connector_error() {
            Some(c) if c.is_timeout() => Outcome::TimedOut,
            Some(_) => Outcome::NoConnection,
            None => Outcome::Other,
        },
        _ => Outcome::Other,
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "scorekeep-deploy call log"
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let resource = resource_of(request.uri(), request.body().bytes());
        cfg.interceptor_state().store_put(AttemptStarted {
            at: Instant::now(),
            resource,
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| {
                (
                    m.service().to_lowercase().replace(' ', ""),
                    m.name().to_string(),
                )
            })
            .unwrap_or_default();
        let started = cfg.load::<AttemptStarted>().cloned();
        let took = started.as_ref().map(|s| s.at.elapsed()).unwrap_or_default();
        let resource = started.and_then(|s| s.resource).unwrap_or_default();
        let outcome = outcome_of(context);
        let result = match &outcome {
            Outcome::Answered { status, code } => {
                format!(
                    "{status}{}",
                    code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
                )
            }
            Outcome::TimedOut => "timed out".into(),
            Outcome::NoConnection => "connection failed".into(),
            Outcome::Other => "failed".into(),
        };
        tracing::info!(
            target: "scorekeep_deploy::aws",
            "aws {service} {operation} {resource} {result} ({} ms)",
            took.as_millis()
        );
        let attempts = cfg
            .load::<RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(1);
        // A classifier of the call's own (e.g. X-Ray's for answers that are final) may forbid
        // what the standard ones would retry.
        let forbidden = runtime_components
            .retry_classifiers()
            .any(|c| c.classify_retry(context.inner()) == RetryAction::RetryForbidden);
        if let Some(retry) = cfg.load::<RetryConfig>() {
            if outcome.is_retryable() && !forbidden && attempts < retry.max_attempts() {
                let backoff =
                    max_backoff_before(attempts, retry.initial_backoff(), retry.max_backoff());
                self.progress(retry_line(
                    &service,
                    &operation,
                    &outcome,
                    self.endpoint.as_deref(),
                    attempts + 1,
                    retry.max_attempts(),
                    backoff,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_lines_name_the_service_the_cause_and_the_count() {
        let throttled = Outcome::Answered {
            status: 429,
            code: Some("TooManyRequestsException".into()),
        };
        let line = retry_line(
            "lambda",
            "UpdateFunctionCode",
            &throttled,
            None,
            3,
            8,
            Duration::from_millis(1000),
        );
        assert_eq!(
            line,
            "throttled by lambda (UpdateFunctionCode: HTTP 429 TooManyRequestsException); retrying within 1.0 s (3/8)"
        );
        let hung = retry_line(
            "cloudformation",
            "DescribeStacks",
            &Outcome::TimedOut,
            Some("http://127.0.0.1:9"),
            2,
            8,
            Duration::from_millis(250),
        );
        assert!(
            hung.starts_with("no answer from cloudformation at http://127.0.0.1:9"),
            "{hung}"
        );
    }

    #[test]
    fn throttling_codes_are_recognised_in_every_protocol() {
        let query = br#"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"#;
        assert_eq!(error_code(None, Some(query)).as_deref(), Some("Throttling"));
        assert_eq!(
            error_code(Some("TooManyRequestsException:http://x"), None).as_deref(),
            Some("TooManyRequestsException")
        );
        let json = br#"{"__type":"com.amazon#ThrottlingException","message":"slow"}"#;
        assert_eq!(
            error_code(None, Some(json)).as_deref(),
            Some("ThrottlingException")
        );
        let s3 = Outcome::Answered {
            status: 503,
            code: Some("SlowDown".into()),
        };
        assert!(s3.is_throttling() && s3.is_retryable());
        let denied = Outcome::Answered {
            status: 403,
            code: Some("AccessDenied".into()),
        };
        assert!(!denied.is_retryable());
    }

    #[test]
    fn resources_come_from_the_name_parameter_or_the_path() {
        assert_eq!(
            resource_of(
                "http://h/",
                Some(b"Action=DescribeStacks&StackName=scorekeep-lambda&Version=1")
            ),
            Some("scorekeep-lambda".into())
        );
        assert_eq!(
            resource_of("/2015-03-31/functions/random-name", None),
            Some("/2015-03-31/functions/random-name".into())
        );
        assert_eq!(
            resource_of(
                "http://h:1/2015-03-31/functions/random-name/configuration?x=1",
                None
            ),
            Some("/2015-03-31/functions/random-name/configuration".into())
        );
    }
}
