//! Elastic Beanstalk: an environment's status and option settings, updating settings, and the
//! wait for Ready that streams the environment's events.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticbeanstalk::primitives::DateTime;
use aws_sdk_elasticbeanstalk::types::{ConfigurationOptionSetting, EnvironmentStatus};
use aws_sdk_elasticbeanstalk::Client;

use super::progress::Progress;
use crate::aws::explain;
use crate::error::Problem;

/// One option setting: namespace, option name, value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Setting {
    pub(crate) namespace: String,
    pub(crate) option: String,
    pub(crate) value: String,
}

/// Status and health of an environment, or `None` when it does not exist.
pub(crate) async fn environment(
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

pub(crate) async fn live_settings(
    eb: &Client,
    app: &str,
    env: &str,
) -> anyhow::Result<Vec<Setting>> {
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

/// Poll until the environment is Ready, printing its events as they come.
pub(crate) async fn wait_until_ready(
    eb: &Client,
    app: &str,
    env: &str,
    since: SystemTime,
    task: &dyn Progress,
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
                task.note(format!("event   {line}"));
            }
        }
        let Some((status, health)) = environment(eb, app, env).await? else {
            anyhow::bail!("Beanstalk environment {env} disappeared while updating");
        };
        if status == "Ready" {
            return Ok((status, health));
        }
        if std::time::Instant::now() > deadline {
            crate::fail!(
                "Beanstalk environment {env} is still {status} after 30 minutes";
                hint = "check its events in the console"
            );
        }
        task.status(format!("beanstalk {env}: {status}"));
        tracing::debug!("beanstalk {env} is {status}; checking again in {delay:?}");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            why = task.stopped() => {
                return Err(Problem::interrupted(format!(
                    "{why} while Beanstalk environment {env} is {status}: the update carries on"
                ))
                .hint("rerun to check the result")
                .into());
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// UpdateEnvironment with these option settings (the caller waits with [`wait_until_ready`]).
pub(crate) async fn update_settings(
    eb: &Client,
    app: &str,
    env: &str,
    settings: &[Setting],
) -> anyhow::Result<()> {
    let settings: Vec<ConfigurationOptionSetting> = settings
        .iter()
        .map(|s| {
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
    Ok(())
}
