//! Elastic Beanstalk wiring (what `env.config` and `xray.config` did): environment properties
//! from stack outputs and X-Ray on/off, changed only where they differ.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use aws_sdk_elasticbeanstalk::Client;
use serde::Serialize;

pub(crate) use crate::aws::beanstalk::{environment, Setting};
use crate::aws::beanstalk::{live_settings, update_settings, wait_until_ready};
use crate::config::{resolve_references, BeanstalkConfig};
use crate::error::Problem;
use crate::report::Task;

use super::Mode;

pub const PROPERTIES_NAMESPACE: &str = "aws:elasticbeanstalk:application:environment";
pub const XRAY_NAMESPACE: &str = "aws:elasticbeanstalk:xray";
pub const XRAY_OPTION: &str = "XRayEnabled";

/// A setting that differs. Property values are not shown (they may be secrets); X-Ray is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub(crate) namespace: String,
    pub(crate) option: String,
    pub(crate) change: String,
}

impl fmt::Display for SettingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}", self.namespace, self.option, self.change)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BeanstalkResult {
    pub(crate) application: String,
    pub(crate) environment: String,
    /// `updated`, `unchanged`, `would_update` (plan) or `skipped` (optional and absent).
    pub action: String,
    pub changes: Vec<SettingChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// The settings the config asks for, with references resolved.
pub(crate) fn desired_settings(
    eb: &BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (name, value) in &eb.properties {
        let value = resolve_references(value, outputs, region).map_err(|e| {
            anyhow::Error::from(
                Problem::failure(format!("beanstalk property {name}: {e}"))
                    .hint("deploy the stacks first (`scorekeep-deploy up`)"),
            )
        })?;
        settings.push(Setting {
            namespace: PROPERTIES_NAMESPACE.into(),
            option: name.clone(),
            value,
        });
    }
    settings.push(Setting {
        namespace: XRAY_NAMESPACE.into(),
        option: XRAY_OPTION.into(),
        value: eb.xray.to_string(),
    });
    Ok(settings)
}

/// The desired settings whose live value differs (or is missing).
pub(crate) fn diff(live: &[Setting], desired: &[Setting]) -> Vec<(Setting, SettingChange)> {
    desired
        .iter()
        .filter_map(|want| {
            let have = live
                .iter()
                .find(|s| s.namespace == want.namespace && s.option == want.option)
                .map(|s| s.value.as_str());
            if have == Some(want.value.as_str()) {
                return None;
            }
            let change = if want.namespace == XRAY_NAMESPACE {
                format!("{} -> {}", have.unwrap_or("(unset)"), want.value)
            } else if have.is_some() {
                "(changed)".to_string()
            } else {
                "(set)".to_string()
            };
            Some((
                want.clone(),
                SettingChange {
                    namespace: want.namespace.clone(),
                    option: want.option.clone(),
                    change,
                },
            ))
        })
        .collect()
}

/// Compare and, with `Mode::Apply`, update the environment and wait for it to be Ready again.
pub async fn wire(
    eb: &Client,
    config: &BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    region: &str,
    mode: Mode,
    task: &Task,
) -> anyhow::Result<BeanstalkResult> {
    let (app, env) = (config.application.as_str(), config.environment.as_str());
    let mut result = BeanstalkResult {
        application: app.into(),
        environment: env.into(),
        action: "unchanged".into(),
        changes: Vec::new(),
        status: None,
        health: None,
        note: None,
    };
    let Some((status, health)) = environment(eb, app, env).await? else {
        if config.optional {
            result.action = "skipped".into();
            result.note = Some(format!(
                "environment {env} of application {app} does not exist (optional: skipped)"
            ));
            return Ok(result);
        }
        return Err(Problem::failure(format!("Beanstalk environment {env} of application {app} does not exist")).hint("create it, fix `beanstalk.environment` in the config, or set `beanstalk.optional: true`").into());
    };
    result.status = Some(status);
    result.health = Some(health);

    let desired = desired_settings(config, outputs, region)?;
    let live = live_settings(eb, app, env).await?;
    let differences = diff(&live, &desired);
    result.changes = differences.iter().map(|(_, c)| c.clone()).collect();
    if differences.is_empty() || mode == Mode::Preview {
        if !differences.is_empty() {
            result.action = "would_update".into();
        }
        return Ok(result);
    }

    let started = SystemTime::now();
    let settings: Vec<Setting> = differences.into_iter().map(|(s, _)| s).collect();
    update_settings(eb, app, env, &settings).await?;
    let (status, health) = wait_until_ready(eb, app, env, started, task).await?;
    result.action = "updated".into();
    result.status = Some(status);
    result.health = Some(health);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eb_config() -> BeanstalkConfig {
        BeanstalkConfig {
            application: "scorekeep".into(),
            environment: "scorekeep-dev".into(),
            optional: false,
            xray: true,
            properties: BTreeMap::from([
                ("AWS_REGION".into(), "${region}".into()),
                ("WORKER_QUEUE".into(), "${output:Q}".into()),
            ]),
        }
    }

    #[test]
    fn desired_settings_resolve_outputs_and_add_xray() {
        let outputs = BTreeMap::from([("Q".to_string(), "https://q".to_string())]);
        let s = desired_settings(&eb_config(), &outputs, "eu-west-1").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].value, "eu-west-1");
        assert_eq!(s[1].value, "https://q");
        assert_eq!(
            (s[2].namespace.as_str(), s[2].value.as_str()),
            (XRAY_NAMESPACE, "true")
        );
        assert!(desired_settings(&eb_config(), &BTreeMap::new(), "r").is_err());
    }

    #[test]
    fn diff_reports_only_differences_and_hides_property_values() {
        let outputs = BTreeMap::from([("Q".to_string(), "https://q".to_string())]);
        let desired = desired_settings(&eb_config(), &outputs, "eu-west-1").unwrap();
        let live = vec![
            Setting {
                namespace: PROPERTIES_NAMESPACE.into(),
                option: "AWS_REGION".into(),
                value: "eu-west-1".into(),
            },
            Setting {
                namespace: PROPERTIES_NAMESPACE.into(),
                option: "WORKER_QUEUE".into(),
                value: "https://old".into(),
            },
            Setting {
                namespace: XRAY_NAMESPACE.into(),
                option: XRAY_OPTION.into(),
                value: "false".into(),
            },
        ];
        let changes: Vec<String> = diff(&live, &desired)
            .into_iter()
            .map(|(_, c)| c.to_string())
            .collect();
        assert_eq!(
            changes,
            vec![
                format!("{PROPERTIES_NAMESPACE}:WORKER_QUEUE (changed)"),
                format!("{XRAY_NAMESPACE}:XRayEnabled false -> true"),
            ]
        );
        assert!(diff(&desired, &desired).is_empty());
    }
}
