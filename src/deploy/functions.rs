//! Post-deploy function steps (what the `.ebextensions` scripts did): upload code only when
//! its hash differs from Lambda's `CodeSha256`, then set only the configuration that differs,
//! waiting for Lambda between the two.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub(crate) use crate::aws::lambda::{FunctionSettings, LiveFunction};
use crate::config::{resolve_references, Project};
use crate::error::Problem;

/// The configuration `up` wants a function to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFunction {
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub settings: FunctionSettings,
}

/// One configuration field that differs. Environment values are not shown: they may be secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ConfigChange {
    pub(crate) field: String,
    pub(crate) live: String,
    pub(crate) desired: String,
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.live, self.desired)
    }
}

/// The desired configuration of a function, with `${output:...}` and `${region}` resolved.
pub(crate) fn desired_function(
    project: &Project,
    key: &str,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> anyhow::Result<DesiredFunction> {
    let f = &project.config.functions[key];
    let mut environment = BTreeMap::new();
    for (var, value) in &f.environment {
        let resolved = resolve_references(value, outputs, region).map_err(|e| {
            anyhow::Error::from(Problem::failure(format!("function {key}: environment variable {var}: {e}")).hint("the stacks must be deployed first (`scorekeep-deploy up`), and the output must be declared in a template"))
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

/// Before any change: every `otel-layer` function among `keys` has a layer in `region`, so a
/// region AWS publishes none in fails here, not after the stacks were deployed.
pub(crate) fn check_layers(project: &Project, keys: &[&str], region: &str) -> anyhow::Result<()> {
    for key in keys {
        let f = &project.config.functions[*key];
        if f.tracing_sdk == crate::config::TracingSdk::OtelLayer {
            crate::otel_layer::layer_arn(key, f.language(), region, f.architecture)?;
        }
    }
    Ok(())
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
        .map_err(anyhow::Error::new)?;
    let (var, value) = crate::otel_layer::EXEC_WRAPPER;
    environment.insert(var.into(), value.into());
    Ok(vec![arn.to_string()])
}

/// Every field where the live function differs from the desired one.
pub(crate) fn config_changes(
    live: &FunctionSettings,
    desired: &FunctionSettings,
) -> Vec<ConfigChange> {
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
pub(crate) struct AppliedConfigs {
    /// Function ARN → (desired fingerprint, reported fingerprint).
    pub(crate) functions: BTreeMap<String, (String, String)>,
}

impl AppliedConfigs {
    pub(crate) fn load(path: &Path) -> AppliedConfigs {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_write::write_atomically(path, &bytes)
    }

    /// True when `desired` was already applied and the service's report has not moved since.
    pub(crate) fn already_applied(&self, live: &LiveFunction, desired: &DesiredFunction) -> bool {
        self.functions.get(&live.arn).is_some_and(|(d, r)| {
            *d == desired.settings.fingerprint() && *r == live.settings.fingerprint()
        })
    }

    pub(crate) fn record(&mut self, live_after: &LiveFunction, desired: &DesiredFunction) {
        self.functions.insert(
            live_after.arn.clone(),
            (
                desired.settings.fingerprint(),
                live_after.settings.fingerprint(),
            ),
        );
    }
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
            revision_id: "rev".into(),
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
