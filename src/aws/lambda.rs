//! Lambda: read a function's configuration, upload code, update configuration, and wait until
//! Lambda has applied each change (retrying while another update holds the function).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, LastUpdateStatus, Runtime, TracingConfig, TracingMode,
};
use aws_sdk_lambda::Client;
use serde::Serialize;
use sha2::{Digest, Sha256};

use aws_sdk_lambda::error::SdkError;

use super::progress::Progress;
use crate::aws::{error_code, explain};

/// The configuration fields `up` manages, as desired or as Lambda reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FunctionSettings {
    pub runtime: String,
    pub handler: String,
    pub memory: i32,
    pub timeout: i32,
    pub tracing: String,
    /// `x86_64` or `arm64`: set with the code (UpdateFunctionCode), not the configuration.
    pub architecture: String,
    /// Layer version ARNs (AWS's OpenTelemetry layer with `tracing_sdk: otel-layer`).
    pub layers: Vec<String>,
    /// Not serialized: values may be secrets.
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
}

impl FunctionSettings {
    /// A fingerprint of every compared field, to remember what was applied.
    pub(crate) fn fingerprint(&self) -> String {
        let canonical = serde_json::json!([
            self.runtime,
            self.handler,
            self.memory,
            self.timeout,
            self.tracing,
            self.architecture,
            self.environment,
            self.layers
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// What Lambda reports about a function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveFunction {
    pub arn: String,
    pub code_sha256: String,
    pub last_update_status: String,
    pub state: String,
    /// Guards PublishVersion against publishing a change made by someone else meanwhile.
    #[serde(skip)]
    pub revision_id: String,
    /// `$LATEST`, or the published version this configuration is of.
    #[serde(skip)]
    pub version: String,
    #[serde(flatten)]
    pub settings: FunctionSettings,
}

/// The managed settings of a function, from GetFunctionConfiguration's answer or one entry
/// of ListFunctions: two SDK types with the same accessors, so a macro rather than a trait.
macro_rules! settings_of {
    ($c:expr) => {{
        let c = $c;
        FunctionSettings {
            runtime: c
                .runtime()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            handler: c.handler().unwrap_or_default().to_string(),
            memory: c.memory_size().unwrap_or_default(),
            timeout: c.timeout().unwrap_or_default(),
            tracing: c
                .tracing_config()
                .and_then(|t| t.mode())
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| "PassThrough".into()),
            architecture: c
                .architectures()
                .first()
                .map(|a| a.as_str().to_string())
                .unwrap_or_else(|| "x86_64".into()),
            layers: c
                .layers()
                .iter()
                .filter_map(|l| l.arn().map(String::from))
                .collect(),
            environment: c
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }};
}
pub(crate) use settings_of;

/// A function as GetFunctionConfiguration, UpdateFunctionCode, UpdateFunctionConfiguration,
/// GetFunction or ListFunctions answers it (SDK types with the same accessors).
macro_rules! live_of {
    ($c:expr) => {{
        let c = $c;
        LiveFunction {
            arn: c.function_arn().unwrap_or_default().to_string(),
            code_sha256: c.code_sha256().unwrap_or_default().to_string(),
            last_update_status: c
                .last_update_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            state: c
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            revision_id: c.revision_id().unwrap_or_default().to_string(),
            version: c.version().unwrap_or("$LATEST").to_string(),
            settings: settings_of!(c),
        }
    }};
}
pub(crate) use live_of;

/// GetFunctionConfiguration, or `None` when the function does not exist.
pub(crate) async fn get_live(lambda: &Client, name: &str) -> anyhow::Result<Option<LiveFunction>> {
    get_live_at(lambda, name, None).await
}

/// GetFunctionConfiguration of a version or alias (`qualifier`; `None`: `$LATEST`), or `None`
/// when it does not exist. An alias answers with the version it points at (`version`).
pub(crate) async fn get_live_at(
    lambda: &Client,
    name: &str,
    qualifier: Option<&str>,
) -> anyhow::Result<Option<LiveFunction>> {
    match lambda
        .get_function_configuration()
        .function_name(name)
        .set_qualifier(qualifier.map(String::from))
        .send()
        .await
    {
        Ok(c) => Ok(Some(live_from(&c))),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => {
            let what = match qualifier {
                Some(q) => format!("reading function {name}:{q}"),
                None => format!("reading function {name}"),
            };
            Err(explain(what, &err).into())
        }
    }
}

/// A function as GetFunction reports it: `$LATEST` and its [`UNSTORED_TAG`] (empty if none).
#[derive(Debug, Clone)]
pub(crate) struct FunctionWithTags {
    pub(crate) live: LiveFunction,
    pub(crate) unstored_tag: String,
}

/// GetFunction (`$LATEST` with the function's tags in one request), or `None` when the function
/// does not exist.
pub(crate) async fn get_function(
    lambda: &Client,
    name: &str,
) -> anyhow::Result<Option<FunctionWithTags>> {
    match lambda.get_function().function_name(name).send().await {
        Ok(out) => {
            let Some(c) = out.configuration() else {
                crate::fail!(
                    "reading function {name}: Lambda's answer has no configuration";
                    hint = "rerun; if it persists, check the endpoint"
                );
            };
            let mut live = live_of!(c);
            // GetFunction names `$LATEST` by the unqualified ARN, as the tag calls want it.
            live.arn = unqualified_arn(&live.arn).to_string();
            let unstored_tag = out
                .tags()
                .and_then(|t| t.get(UNSTORED_TAG))
                .cloned()
                .unwrap_or_default();
            Ok(Some(FunctionWithTags { live, unstored_tag }))
        }
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(explain(format!("reading function {name}"), &err).into()),
    }
}

/// A function's ARN without a version or alias qualifier (the tag calls refuse a qualified
/// one; a listing of every version may qualify even `$LATEST`).
pub(crate) fn unqualified_arn(arn: &str) -> &str {
    // arn:partition:lambda:region:account:function:name[:qualifier]
    match arn.match_indices(':').nth(6) {
        Some((i, _)) => &arn[..i],
        None => arn,
    }
}

/// The tag that records which fields an endpoint accepted and then reported otherwise (moto
/// does not store TracingConfig or Architectures). It lives on the function, so every machine
/// sees it: no local record decides what is deployed.
pub(crate) const UNSTORED_TAG: &str = "scorekeep-deploy:unstored";

/// The function's [`UNSTORED_TAG`] value (empty when it has none).
pub(crate) async fn unstored_tag(lambda: &Client, arn: &str) -> anyhow::Result<String> {
    let out = lambda
        .list_tags()
        .resource(arn)
        .send()
        .await
        .map_err(|e| explain(format!("reading the tags of function {arn}"), &e))?;
    Ok(out
        .tags()
        .and_then(|t| t.get(UNSTORED_TAG))
        .cloned()
        .unwrap_or_default())
}

/// Set the function's [`UNSTORED_TAG`].
pub(crate) async fn set_unstored_tag(
    lambda: &Client,
    arn: &str,
    value: &str,
) -> anyhow::Result<()> {
    lambda
        .tag_resource()
        .resource(arn)
        .tags(UNSTORED_TAG, value)
        .send()
        .await
        .map_err(|e| explain(format!("tagging function {arn}"), &e))?;
    Ok(())
}

fn live_from(c: &GetFunctionConfigurationOutput) -> LiveFunction {
    live_of!(c)
}

/// The function after an update call: as the call answered when Lambda reports the update
/// already applied (`Successful`), else as it is once Lambda has applied it. Saves one read
/// per update where Lambda applies it at once.
async fn applied(
    lambda: &Client,
    name: &str,
    answered: Option<&LastUpdateStatus>,
    live: LiveFunction,
) -> anyhow::Result<LiveFunction> {
    match answered {
        Some(LastUpdateStatus::Successful) => Ok(live),
        _ => wait_until_updated(lambda, name).await,
    }
}

/// Wait until Lambda has finished applying the last update (`LastUpdateStatus` leaves
/// `InProgress`); a failed update is an error with Lambda's reason. Each function backs off
/// from 100 ms to 3 s between polls, and all polls of the region share one rate
/// ([`crate::aws::timeouts::lambda_polls`]).
pub async fn wait_until_updated(lambda: &Client, name: &str) -> anyhow::Result<LiveFunction> {
    let mut delay = Duration::from_millis(100);
    let polls = crate::aws::timeouts::lambda_polls(&region_of(lambda));
    for _ in 0..120 {
        polls.acquire().await;
        let out = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| explain(format!("reading function {name}"), &e))?;
        match out.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {}
            Some(LastUpdateStatus::Failed) => crate::fail!(
                "function {name}: Lambda could not apply the update: {}",
                out.last_update_status_reason().unwrap_or("no reason given");
                hint = "check the bundle and configuration, then rerun"
            ),
            _ => return Ok(live_from(&out)),
        }
        tracing::debug!("function {name}: update in progress; checking again in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
    crate::fail!(
        "function {name}: the update did not finish in time";
        hint = "check the function in the Lambda console and rerun"
    )
}

/// What a synchronous invocation answered: Lambda's `FunctionError` (`Unhandled`, `Handled`)
/// when the handler failed, and the payload it returned.
#[derive(Debug, Clone)]
pub(crate) struct Invoked {
    pub(crate) function_error: Option<String>,
    pub(crate) payload: Vec<u8>,
}

/// Invoke version `version` of `name` directly (RequestResponse), not through an alias: a new
/// version is tried before any caller's traffic reaches it.
pub(crate) async fn invoke_version(
    lambda: &Client,
    name: &str,
    version: &str,
    payload: Vec<u8>,
) -> anyhow::Result<Invoked> {
    let out = lambda
        .invoke()
        .function_name(name)
        .qualifier(version)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|e| explain(format!("invoking version {version} of function {name}"), &e))?;
    Ok(Invoked {
        function_error: out.function_error().map(String::from),
        payload: out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
    })
}

/// What a synchronous invocation of a deployed function answered, for `invoke FN`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answered {
    pub(crate) function_error: Option<String>,
    pub(crate) payload: Vec<u8>,
    /// The end of the invocation's log (Lambda's `LogType: Tail`: its last 4 KB), decoded.
    pub(crate) log_tail: Option<String>,
    /// The version that ran (the alias's, or one of its weighted versions).
    pub(crate) executed_version: Option<String>,
}

/// Invoke `name` at `qualifier` (RequestResponse, `LogType: Tail`) under `trace_header`
/// (X-Amzn-Trace-Id), so the caller knows the trace to look for.
pub(crate) async fn invoke_with_log(
    lambda: &Client,
    name: &str,
    qualifier: &str,
    payload: Vec<u8>,
    trace_header: String,
) -> anyhow::Result<Answered> {
    use base64::Engine as _;
    let out = lambda
        .invoke()
        .function_name(name)
        .qualifier(qualifier)
        .log_type(aws_sdk_lambda::types::LogType::Tail)
        .payload(Blob::new(payload))
        .customize()
        .mutate_request(move |request| {
            request
                .headers_mut()
                .insert("X-Amzn-Trace-Id", trace_header.clone());
        })
        .send()
        .await
        .map_err(|e| explain(format!("invoking function {name}:{qualifier}"), &e))?;
    let log_tail = out.log_result().and_then(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    });
    Ok(Answered {
        function_error: out.function_error().map(String::from),
        payload: out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
        log_tail,
        executed_version: out.executed_version().map(String::from),
    })
}

/// The client's region: Lambda's quotas, and so the poll rate, are per region.
fn region_of(lambda: &Client) -> String {
    lambda
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// Where the code comes from: bytes for direct upload, or an S3 object for large bundles.
pub(crate) enum CodeSource {
    ZipFile(Vec<u8>),
    S3 { bucket: String, key: String },
}

/// How many times a call Lambda refuses with `ResourceConflictException` is tried again.
const CONFLICT_RETRIES: u64 = 5;

/// Lambda refuses a change while another update of the function is in progress
/// (`ResourceConflictException`): wait for that update, then try again, a few times, each
/// retry announced on the function's progress line (the SDK's own retries of throttling and
/// 5xx are announced by `calls::CallLog`). Not for CreateAlias, where the same code means the
/// alias exists. `Err` is a failed wait; `Ok(Err)` is Lambda's final answer, for the caller to
/// explain.
pub(crate) async fn with_conflict_retry<T, E, F, Fut>(
    lambda: &Client,
    name: &str,
    what: &str,
    task: &dyn Progress,
    mut call: F,
) -> anyhow::Result<Result<T, SdkError<E>>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E>>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(err)
                if error_code(&err) == Some("ResourceConflictException")
                    && attempt < CONFLICT_RETRIES =>
            {
                attempt += 1;
                task.note(format!(
                    "{what} {name}: an update of the function is in progress (ResourceConflictException); waiting for it, then retry {attempt}/{CONFLICT_RETRIES}"
                ));
                wait_until_updated(lambda, name).await?;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            answer => return Ok(answer),
        }
    }
}

/// Upload new code built for `architecture` (sent together, so Lambda never runs a bundle
/// on another architecture) and wait until Lambda has applied it.
pub(crate) async fn update_code(
    lambda: &Client,
    name: &str,
    code: &CodeSource,
    architecture: &str,
    task: &dyn Progress,
) -> anyhow::Result<LiveFunction> {
    let what = "updating the code of function";
    let out = with_conflict_retry(lambda, name, what, task, || async {
        let request = lambda
            .update_function_code()
            .function_name(name)
            .architectures(Architecture::from(architecture));
        let request = match code {
            CodeSource::ZipFile(bytes) => request.zip_file(Blob::new(bytes.clone())),
            CodeSource::S3 { bucket, key } => request.s3_bucket(bucket).s3_key(key),
        };
        // Megabytes go up in this request: it gets the upload timeouts, not DescribeStacks'.
        request
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(crate::aws::timeouts::CallKind::Upload.timeouts()),
            )
            .send()
            .await
    })
    .await?
    .map_err(|err| explain(format!("{what} {name}"), &err))?;
    applied(lambda, name, out.last_update_status(), live_of!(&out)).await
}

/// Send only the `changed` fields (`memory`, `environment.KEY`, ...) of `desired` and wait
/// until Lambda has applied them.
pub async fn update_configuration(
    lambda: &Client,
    name: &str,
    desired: &FunctionSettings,
    changed: &[&str],
    task: &dyn Progress,
) -> anyhow::Result<LiveFunction> {
    let has = |field: &str| {
        changed
            .iter()
            .any(|c| *c == field || c.starts_with(&format!("{field}.")))
    };
    let what = "updating the configuration of function";
    let out = with_conflict_retry(lambda, name, what, task, || async {
        let mut request = lambda.update_function_configuration().function_name(name);
        if has("runtime") {
            request = request.runtime(Runtime::from(desired.runtime.as_str()));
        }
        if has("handler") {
            request = request.handler(&desired.handler);
        }
        if has("memory") {
            request = request.memory_size(desired.memory);
        }
        if has("timeout") {
            request = request.timeout(desired.timeout);
        }
        if has("tracing") {
            request = request.tracing_config(
                TracingConfig::builder()
                    .mode(TracingMode::from(desired.tracing.as_str()))
                    .build(),
            );
        }
        if has("layers") {
            request = request.set_layers(Some(desired.layers.clone()));
        }
        if has("environment") {
            // Lambda replaces the whole map, so send all of it.
            request = request.environment(
                Environment::builder()
                    .set_variables(Some(desired.environment.clone().into_iter().collect()))
                    .build(),
            );
        }
        request.send().await
    })
    .await?
    .map_err(|err| explain(format!("{what} {name}"), &err))?;
    applied(lambda, name, out.last_update_status(), live_of!(&out)).await
}

/// What GetFunctionConfiguration says of a function's tracing (for `traces` to explain an
/// empty window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FunctionTracing {
    /// The function does not exist.
    NoFunction,
    /// The answer carries no tracing mode.
    Unreported,
    /// `Active` or `PassThrough`.
    Mode(String),
}

/// The function's tracing mode as Lambda reports it.
pub(crate) async fn tracing_mode(lambda: &Client, name: &str) -> anyhow::Result<FunctionTracing> {
    match lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(c) => Ok(match c.tracing_config().and_then(|t| t.mode()) {
            Some(mode) => FunctionTracing::Mode(mode.as_str().to_string()),
            None => FunctionTracing::Unreported,
        }),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => {
            Ok(FunctionTracing::NoFunction)
        }
        Err(err) => Err(explain(format!("reading function {name}"), &err).into()),
    }
}
