//! Elastic Beanstalk wiring (what `env.config` and `xray.config` did): environment properties
//! from stack outputs and X-Ray on/off, changed only where they differ.
//!
//! An update is sent only to a Ready environment (AWS rejects one while it is Launching or
//! Updating), so the step first waits for Ready. Ready afterwards is not success: Beanstalk
//! reports a failed or rolled-back deployment through events and health, so the step fails on
//! an ERROR or FATAL event since the update, an event saying it failed or was rolled back, or
//! Red health, and gives a Yellow (Degraded, Grey) environment a bounded time to settle.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticbeanstalk::Client;
use serde::Serialize;

pub(crate) use crate::aws::beanstalk::{environment, Setting};
use crate::aws::beanstalk::{live_settings, update_settings, Environment, Event, Watched, Watcher};
use crate::config::{resolve_references, BeanstalkConfig};
use crate::error::Problem;
use crate::report::{human_duration, Task};
use crate::text::{self, Lines};

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
    pub health: Option<String>,
    /// Said on every run (on stderr as it happens, and here): e.g. an optional environment
    /// that does not exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// How long the step waits, at most, for each phase.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// For an environment busy with another operation to be Ready before the update.
    pub before_update: Duration,
    /// For the update to finish (Ready again).
    pub update: Duration,
    /// For Yellow/Degraded health after the update to turn Green.
    pub settle: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            before_update: Duration::from_secs(20 * 60),
            update: Duration::from_secs(30 * 60),
            settle: Duration::from_secs(5 * 60),
        }
    }
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

/// Compare and, with `Mode::Apply`, update the environment and judge the update (see the
/// module docs), with the default [`Waits`].
pub async fn wire(
    eb: &Client,
    config: &BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    region: &str,
    mode: Mode,
    task: &Task,
) -> anyhow::Result<BeanstalkResult> {
    wire_with(eb, config, outputs, region, mode, task, Waits::default()).await
}

/// [`wire`] with the given waits.
pub async fn wire_with(
    eb: &Client,
    config: &BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    region: &str,
    mode: Mode,
    task: &Task,
    waits: Waits,
) -> anyhow::Result<BeanstalkResult> {
    let (app, env) = (config.application.as_str(), config.environment.as_str());
    let mut result = BeanstalkResult {
        application: app.into(),
        environment: env.into(),
        action: "unchanged".into(),
        changes: Vec::new(),
        status: None,
        health: None,
        warning: None,
    };
    let Some((status, health)) = environment(eb, app, env).await? else {
        if config.optional {
            let warning = format!(
                "Beanstalk environment {env} of application {app} does not exist: not wired (optional: true)"
            );
            task.println(format!("warning: {warning}"));
            result.action = "skipped".into();
            result.warning = Some(warning);
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

    ready_for_update(eb, app, env, waits.before_update, task).await?;
    let started = SystemTime::now();
    let settings: Vec<Setting> = differences.into_iter().map(|(s, _)| s).collect();
    update_settings(eb, app, env, &settings).await?;
    let state = judge_update(env, Watcher::new(eb, app, env, Some(started), task), waits).await?;
    result.action = "updated".into();
    result.status = Some(state.status);
    result.health = Some(state.health);
    Ok(result)
}

/// Wait (bounded) until the environment is Ready: an update sent while it is Launching or
/// Updating is rejected.
async fn ready_for_update(
    eb: &Client,
    app: &str,
    env: &str,
    limit: Duration,
    task: &Task,
) -> anyhow::Result<()> {
    let mut watcher = Watcher::new(eb, app, env, None, task);
    // Terminating never becomes Ready: stop at once.
    let why = "waiting for Ready before updating";
    let settled =
        |e: &Environment, _: &[Event]| e.status == "Ready" || e.status.starts_with("Terminat");
    let state = match watcher.until(limit, why, settled).await? {
        Watched::Done(state) if state.status == "Ready" => return Ok(()),
        Watched::Done(state) => state,
        Watched::TimedOut(state) => {
            return Err(Problem::failure(format!(
                "Beanstalk environment {env} is still {} after {}, so its settings were not updated (AWS rejects an update until it is Ready)",
                state.status,
                human_duration(limit)
            ))
            .resource(format!("beanstalk environment {env}"))
            .hint("let the environment's current operation finish (its events are in the Beanstalk console), then rerun `scorekeep-deploy up`")
            .into())
        }
    };
    Err(Problem::failure(format!(
        "Beanstalk environment {env} is {}, so its settings were not updated",
        state.status
    ))
    .resource(format!("beanstalk environment {env}"))
    .hint("recreate the environment (or point `beanstalk.environment` at another), then rerun `scorekeep-deploy up`")
    .into())
}

/// After UpdateEnvironment: Ready again, no failure event, and health not Red; Yellow gets
/// `waits.settle` to turn Green.
async fn judge_update(
    env: &str,
    mut watcher: Watcher<'_>,
    waits: Waits,
) -> anyhow::Result<Environment> {
    let done = |e: &Environment, events: &[Event]| e.status == "Ready" || failure(events).is_some();
    let state = match watcher.until(waits.update, "updating", done).await? {
        Watched::Done(state) => state,
        Watched::TimedOut(state) => {
            return Err(update_problem(
                env,
                format!(
                    "is still {} {} after the update was sent",
                    state.status,
                    human_duration(waits.update)
                ),
            ))
        }
    };
    if let Some(event) = failure(&watcher.events) {
        return Err(failed_event(env, event));
    }
    let mut state = state;
    if !healthy(&state) && !unhealthy(&state) {
        let done = |e: &Environment, events: &[Event]| {
            healthy(e) || unhealthy(e) || failure(events).is_some()
        };
        state = match watcher
            .until(waits.settle, "settling after the update", done)
            .await?
        {
            Watched::Done(state) | Watched::TimedOut(state) => state,
        };
        if let Some(event) = failure(&watcher.events) {
            return Err(failed_event(env, event));
        }
    }
    if healthy(&state) {
        return Ok(state);
    }
    let health = describe_health(&state);
    let why = if unhealthy(&state) {
        format!("is {health} after the update")
    } else {
        format!(
            "is still {health} {} after the update",
            human_duration(waits.settle)
        )
    };
    Err(update_problem(env, why))
}

/// Green (and, with enhanced health, Ok or Info).
fn healthy(e: &Environment) -> bool {
    e.health == "Green"
        && e.health_status
            .as_deref()
            .is_none_or(|h| matches!(h, "Ok" | "Info"))
}

/// Red, or Severe enhanced health: the update is not going to settle by itself.
fn unhealthy(e: &Environment) -> bool {
    e.health == "Red" || e.health_status.as_deref() == Some("Severe")
}

fn describe_health(e: &Environment) -> String {
    match &e.health_status {
        Some(h) => format!("{} ({h})", e.health),
        None => e.health.clone(),
    }
}

/// The first event since the update that says it failed: ERROR or FATAL severity, or a
/// message about a failure, a rollback or a revert.
fn failure(events: &[Event]) -> Option<&Event> {
    events.iter().find(|e| {
        let message = e.message.to_lowercase();
        matches!(e.severity.as_str(), "ERROR" | "FATAL")
            || [
                "failed",
                "rolled back",
                "rolling back",
                "reverted",
                "with errors",
            ]
            .iter()
            .any(|words| message.contains(words))
    })
}

fn failed_event(env: &str, event: &Event) -> anyhow::Error {
    // The event is Beanstalk's (outside) text, quoted inside our one-line message.
    let message = text::visible(&event.message, Lines::Escape);
    update_problem(
        env,
        format!(
            "reported the update failed: {} event: {message}",
            event.severity
        ),
    )
}

fn update_problem(env: &str, what: String) -> anyhow::Error {
    Problem::failure(format!("Beanstalk environment {env} {what}"))
        .resource(format!("beanstalk environment {env}"))
        .hint("the settings were sent: read the environment's events and health in the Beanstalk console (or `aws elasticbeanstalk describe-events --environment-name ENV`), fix the cause, then rerun `scorekeep-deploy up`")
        .into()
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
