//! Post-deploy function steps (what the `.ebextensions` scripts did): upload code only when
//! its hash differs from Lambda's `CodeSha256`, then set only the configuration that differs,
//! waiting for Lambda between the two.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, LastUpdateStatus, Runtime, TracingConfig, TracingMode};
use aws_sdk_lambda::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::aws::{error_code, explain};
use crate::config::{resolve_references, Project};

/// The configuration fields `up` manages, as desired or as Lambda reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FunctionSettings {
    pub runtime: String,
    pub handler: String,
    pub memory: i32,
    pub timeout: i32,
    pub tracing: String,
    /// Layer version ARNs (AWS's OpenTelemetry layer with `tracing_sdk: otel-layer`).
    pub layers: Vec<String>,
    /// Not serialized: values may be secrets.
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
}

impl FunctionSettings {
    /// A fingerprint of every compared field, to remember what was applied.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::json!([
            self.runtime,
            self.handler,
            self.memory,
            self.timeout,
            self.tracing,
            self.environment,
            self.layers
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The configuration `up` wants a function to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFunction {
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub settings: FunctionSettings,
}

/// What Lambda reports about a function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveFunction {
    pub arn: String,
    pub code_sha256: String,
    pub last_update_status: String,
    pub state: String,
    #[serde(flatten)]
    pub settings: FunctionSettings,
}

/// One configuration field that differs. Environment values are not shown: they may be secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    pub field: String,
    pub live: String,
    pub desired: String,
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.live, self.desired)
    }
}

/// The desired configuration of a function, with `${output:...}` and `${region}` resolved.
pub fn desired_function(
    project: &Project,
    key: &str,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> anyhow::Result<DesiredFunction> {
    let f = &project.config.functions[key];
    let mut environment = BTreeMap::new();
    for (var, value) in &f.environment {
        let resolved = resolve_references(value, outputs, region).map_err(|e| {
            anyhow::anyhow!(
                "function {key}: environment variable {var}: {e}\n  hint: the stacks must be deployed first (`scorekeep-deploy up`), and the output must be declared in a template"
            )
        })?;
        environment.insert(var.clone(), resolved);
    }
    let layers = otel_layer_settings(key, f, region, &mut environment)?;
    Ok(DesiredFunction {
        key: key.to_string(),
        name: project.lambda_name(key).to_string(),
        settings: FunctionSettings {
            runtime: f.runtime.clone(),
            handler: f.handler.clone(),
            memory: f.memory as i32,
            timeout: f.timeout as i32,
            tracing: f.tracing.as_str().to_string(),
            layers,
            environment,
        },
    })
}

/// With `tracing_sdk: otel-layer`: AWS's OpenTelemetry layer for the region and the exec
/// wrapper variable that starts the runtime through it. Otherwise no layer.
fn otel_layer_settings(
    key: &str,
    f: &crate::config::FunctionConfig,
    region: &str,
    environment: &mut BTreeMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    if f.tracing_sdk != crate::config::TracingSdk::OtelLayer {
        return Ok(Vec::new());
    }
    let arn = crate::otel_layer::layer_arn(key, f.language(), region, f.architecture)
        .map_err(|e| anyhow::Error::new(crate::exit::UsageError(e.to_string())))?;
    let (var, value) = crate::otel_layer::EXEC_WRAPPER;
    environment.insert(var.into(), value.into());
    Ok(vec![arn.to_string()])
}

/// Every field where the live function differs from the desired one.
pub fn config_changes(live: &FunctionSettings, desired: &FunctionSettings) -> Vec<ConfigChange> {
    let mut changes = Vec::new();
    let mut field = |name: &str, live: String, desired: String| {
        if live != desired {
            changes.push(ConfigChange {
                field: name.into(),
                live,
                desired,
            });
        }
    };
    field("runtime", live.runtime.clone(), desired.runtime.clone());
    field("handler", live.handler.clone(), desired.handler.clone());
    field(
        "memory",
        live.memory.to_string(),
        desired.memory.to_string(),
    );
    field(
        "timeout",
        live.timeout.to_string(),
        desired.timeout.to_string(),
    );
    field("tracing", live.tracing.clone(), desired.tracing.clone());
    field("layers", live.layers.join(","), desired.layers.join(","));
    let keys: std::collections::BTreeSet<&String> = live
        .environment
        .keys()
        .chain(desired.environment.keys())
        .collect();
    for key in keys {
        let state = |v: Option<&String>| match v {
            None => "(unset)".to_string(),
            Some(_) => "(set)".to_string(),
        };
        match (live.environment.get(key), desired.environment.get(key)) {
            (a, b) if a == b => {}
            (Some(_), Some(_)) => changes.push(ConfigChange {
                field: format!("environment.{key}"),
                live: "(old value)".into(),
                desired: "(new value)".into(),
            }),
            (a, b) => changes.push(ConfigChange {
                field: format!("environment.{key}"),
                live: state(a),
                desired: state(b),
            }),
        }
    }
    changes
}

/// What the tool last applied to each function and what the service reported right after.
///
/// Some endpoints accept a setting and report another (moto does not store `TracingConfig`).
/// When neither the desired configuration nor the service's report has moved since the last
/// apply, sending the same update again would change nothing, so a rerun stays a no-op. On
/// AWS the report equals what was applied, and this reduces to "live equals desired".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppliedConfigs {
    /// Function ARN → (desired fingerprint, reported fingerprint).
    pub functions: BTreeMap<String, (String, String)>,
}

impl AppliedConfigs {
    pub fn load(path: &Path) -> AppliedConfigs {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_write::write_atomically(path, &bytes)
    }

    /// True when `desired` was already applied and the service's report has not moved since.
    pub fn already_applied(&self, live: &LiveFunction, desired: &DesiredFunction) -> bool {
        self.functions.get(&live.arn).is_some_and(|(d, r)| {
            *d == desired.settings.fingerprint() && *r == live.settings.fingerprint()
        })
    }

    pub fn record(&mut self, live_after: &LiveFunction, desired: &DesiredFunction) {
        self.functions.insert(
            live_after.arn.clone(),
            (
                desired.settings.fingerprint(),
                live_after.settings.fingerprint(),
            ),
        );
    }
}

/// GetFunctionConfiguration, or `None` when the function does not exist.
pub async fn get_live(lambda: &Client, name: &str) -> anyhow::Result<Option<LiveFunction>> {
    match lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(c) => Ok(Some(live_from(&c))),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(explain(format!("reading function {name}"), &err).into()),
    }
}

fn live_from(c: &GetFunctionConfigurationOutput) -> LiveFunction {
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
        settings: FunctionSettings {
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
        },
    }
}

/// Wait until Lambda has finished applying the last update (`LastUpdateStatus` leaves
/// `InProgress`); a failed update is an error with Lambda's reason.
pub async fn wait_until_updated(lambda: &Client, name: &str) -> anyhow::Result<LiveFunction> {
    let mut delay = Duration::from_millis(100);
    for _ in 0..120 {
        let out = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| explain(format!("reading function {name}"), &e))?;
        match out.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {}
            Some(LastUpdateStatus::Failed) => anyhow::bail!(
                "function {name}: Lambda could not apply the update: {}\n  hint: {}",
                out.last_update_status_reason().unwrap_or("no reason given"),
                "check the bundle and configuration, then rerun"
            ),
            _ => return Ok(live_from(&out)),
        }
        tracing::debug!("function {name}: update in progress; checking again in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
    anyhow::bail!("function {name}: the update did not finish in time\n  hint: check the function in the Lambda console and rerun")
}

/// Where the code comes from: bytes for direct upload, or an S3 object for large bundles.
pub enum CodeSource {
    ZipFile(Vec<u8>),
    S3 { bucket: String, key: String },
}

/// Lambda rejects a second update while one is in progress (`ResourceConflictException`):
/// wait for the function and try again, a few times.
async fn with_conflict_retry<T, E, F, Fut>(
    lambda: &Client,
    name: &str,
    what: &str,
    mut call: F,
) -> anyhow::Result<T>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_sdk_lambda::error::SdkError<E>>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(err) if error_code(&err) == Some("ResourceConflictException") && attempt < 5 => {
                attempt += 1;
                tracing::info!(
                    "{what} {name}: an update is in progress, waiting before retry {attempt}"
                );
                wait_until_updated(lambda, name).await?;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(err) => return Err(explain(format!("{what} {name}"), &err).into()),
        }
    }
}

/// Upload new code and wait until Lambda has applied it.
pub async fn update_code(
    lambda: &Client,
    name: &str,
    code: &CodeSource,
) -> anyhow::Result<LiveFunction> {
    with_conflict_retry(lambda, name, "updating the code of function", || async {
        let request = lambda.update_function_code().function_name(name);
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
    .await?;
    wait_until_updated(lambda, name).await
}

/// Send only the fields in `changes` and wait until Lambda has applied them.
pub async fn update_configuration(
    lambda: &Client,
    desired: &DesiredFunction,
    changes: &[ConfigChange],
) -> anyhow::Result<LiveFunction> {
    let name = desired.name.as_str();
    let desired = &desired.settings;
    let has = |field: &str| {
        changes
            .iter()
            .any(|c| c.field == field || c.field.starts_with(&format!("{field}.")))
    };
    with_conflict_retry(
        lambda,
        name,
        "updating the configuration of function",
        || async {
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
        },
    )
    .await?;
    wait_until_updated(lambda, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredFunction {
        DesiredFunction {
            key: "random-name".into(),
            name: "random-name".into(),
            settings: FunctionSettings {
                runtime: "nodejs22.x".into(),
                handler: "index.handler".into(),
                memory: 128,
                timeout: 10,
                tracing: "Active".into(),
                layers: Vec::new(),
                environment: BTreeMap::from([("TOPIC_ARN".into(), "arn:topic".into())]),
            },
        }
    }

    fn live_matching() -> LiveFunction {
        LiveFunction {
            arn: "arn:fn".into(),
            code_sha256: "abc".into(),
            last_update_status: "Successful".into(),
            state: "Active".into(),
            settings: desired().settings,
        }
    }

    #[test]
    fn identical_configuration_has_no_changes() {
        assert!(config_changes(&live_matching().settings, &desired().settings).is_empty());
    }

    #[test]
    fn each_difference_is_one_change_and_env_values_are_not_shown() {
        let mut live = live_matching().settings;
        live.memory = 256;
        live.tracing = "PassThrough".into();
        live.environment
            .insert("TOPIC_ARN".into(), "arn:secret-old".into());
        live.environment.insert("STALE".into(), "x".into());
        let changes = config_changes(&live, &desired().settings);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "memory",
                "tracing",
                "environment.STALE",
                "environment.TOPIC_ARN"
            ]
        );
        assert_eq!(changes[0].to_string(), "memory: 256 -> 128");
        assert!(changes
            .iter()
            .all(|c| !c.live.contains("secret") && !c.desired.contains("arn:topic")));
    }

    #[test]
    fn applied_history_makes_an_ignored_setting_a_no_op_until_something_moves() {
        let d = desired();
        let mut reported = live_matching();
        reported.settings.tracing = "PassThrough".into(); // the endpoint ignored TracingConfig
        let mut history = AppliedConfigs::default();
        assert!(!history.already_applied(&reported, &d));
        history.record(&reported, &d);
        assert!(history.already_applied(&reported, &d));

        let mut changed_desire = d.clone();
        changed_desire.settings.memory = 512;
        assert!(!history.already_applied(&reported, &changed_desire));

        let mut drifted = reported.clone();
        drifted.settings.handler = "other.handler".into();
        assert!(!history.already_applied(&drifted, &d));
    }
}
