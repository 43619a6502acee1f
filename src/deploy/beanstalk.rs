//! Elastic Beanstalk wiring (what `env.config` and `xray.config` did): environment properties
//! from stack outputs and X-Ray on/off, changed only where they differ.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticbeanstalk::primitives::DateTime;
use aws_sdk_elasticbeanstalk::types::{ConfigurationOptionSetting, EnvironmentStatus};
use aws_sdk_elasticbeanstalk::Client;
use serde::Serialize;

use crate::aws::explain;
use crate::config::{resolve_references, BeanstalkConfig};
use crate::exit::Interrupted;
use crate::report::Task;

use super::Mode;

pub const PROPERTIES_NAMESPACE: &str = "aws:elasticbeanstalk:application:environment";
pub const XRAY_NAMESPACE: &str = "aws:elasticbeanstalk:xray";
pub const XRAY_OPTION: &str = "XRayEnabled";

/// One option setting: namespace, option name, value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Setting {
    pub namespace: String,
    pub option: String,
    pub value: String,
}

/// A setting that differs. Property values are not shown (they may be secrets); X-Ray is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub namespace: String,
    pub option: String,
    pub change: String,
}

impl fmt::Display for SettingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}", self.namespace, self.option, self.change)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BeanstalkResult {
    pub application: String,
    pub environment: String,
    /// `updated`, `unchanged`, `would_update` (plan) or `skipped` (optional and absent).
    pub action: String,
    pub changes: Vec<SettingChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The settings the config asks for, with references resolved.
pub fn desired_settings(
    eb: &BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (name, value) in &eb.properties {
        let value = resolve_references(value, outputs, region)
            .map_err(|e| anyhow::anyhow!("beanstalk property {name}: {e}\n  hint: deploy the stacks first (`scorekeep-deploy up`)"))?;
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
pub fn diff(live: &[Setting], desired: &[Setting]) -> Vec<(Setting, SettingChange)> {
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

/// Status and health of an environment, or `None` when it does not exist.
pub async fn environment(
    eb: &Client,
    app: &str,
    env: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let out = eb
        .describe_environments()
        .application_name(app)
        .environment_names(env)
        .include_deleted(false)
        .send()
        .await
        .map_err(|e| explain(format!("describing Beanstalk environment {env}"), &e))?;
    Ok(out
        .environments()
        .iter()
        .find(|e| e.status() != Some(&EnvironmentStatus::Terminated))
        .map(|e| {
            (
                e.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                e.health()
                    .map(|h| h.as_str().to_string())
                    .unwrap_or_default(),
            )
        }))
}

pub async fn live_settings(eb: &Client, app: &str, env: &str) -> anyhow::Result<Vec<Setting>> {
    let out = eb
        .describe_configuration_settings()
        .application_name(app)
        .environment_name(env)
        .send()
        .await
        .map_err(|e| {
            explain(
                format!("reading the configuration of Beanstalk environment {env}"),
                &e,
            )
        })?;
    Ok(out
        .configuration_settings()
        .iter()
        .flat_map(|c| c.option_settings())
        .filter_map(|o| {
            Some(Setting {
                namespace: o.namespace()?.to_string(),
                option: o.option_name()?.to_string(),
                value: o.value().unwrap_or_default().to_string(),
            })
        })
        .collect())
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
        anyhow::bail!(
            "Beanstalk environment {env} of application {app} does not exist\n  hint: create it, fix `beanstalk.environment` in the config, or set `beanstalk.optional: true`"
        );
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
    let settings: Vec<ConfigurationOptionSetting> = differences
        .iter()
        .map(|(s, _)| {
            ConfigurationOptionSetting::builder()
                .namespace(&s.namespace)
                .option_name(&s.option)
                .value(&s.value)
                .build()
        })
        .collect();
    eb.update_environment()
        .application_name(app)
        .environment_name(env)
        .set_option_settings(Some(settings))
        .send()
        .await
        .map_err(|e| explain(format!("updating Beanstalk environment {env}"), &e))?;
    let (status, health) = wait_until_ready(eb, app, env, started, task).await?;
    result.action = "updated".into();
    result.status = Some(status);
    result.health = Some(health);
    Ok(result)
}

/// Poll until the environment is Ready, printing its events as they come.
pub async fn wait_until_ready(
    eb: &Client,
    app: &str,
    env: &str,
    since: SystemTime,
    task: &Task,
) -> anyhow::Result<(String, String)> {
    let mut shown: HashSet<String> = HashSet::new();
    let mut delay = Duration::from_millis(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30 * 60);
    loop {
        let events = eb
            .describe_events()
            .application_name(app)
            .environment_name(env)
            .start_time(DateTime::from(since))
            .send()
            .await
            .map_err(|e| explain(format!("reading events of Beanstalk environment {env}"), &e))?;
        let mut fresh: Vec<_> = events.events().iter().collect();
        fresh.reverse(); // newest first from the API
        for e in fresh {
            let line = format!(
                "{} {}",
                e.severity().map(|s| s.as_str()).unwrap_or("INFO"),
                e.message().unwrap_or_default()
            );
            if shown.insert(line.clone()) {
                task.println(format!("event   {line}"));
            }
        }
        let Some((status, health)) = environment(eb, app, env).await? else {
            anyhow::bail!("Beanstalk environment {env} disappeared while updating");
        };
        if status == "Ready" {
            return Ok((status, health));
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("Beanstalk environment {env} is still {status} after 30 minutes\n  hint: check its events in the console");
        }
        task.set_message(format!("beanstalk {env}: {status}"));
        tracing::debug!("beanstalk {env} is {status}; checking again in {delay:?}");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = crate::interrupt::cancelled() => {
                return Err(Interrupted(format!(
                    "interrupted while Beanstalk environment {env} is {status}: the update carries on\n  hint: rerun to check the result"
                )).into());
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
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
