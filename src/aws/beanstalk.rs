//! Elastic Beanstalk: an environment's status, health and option settings, updating settings,
//! and a bounded, interruptible watch of the environment that streams its events (what to wait
//! for, and what counts as failure, is decided in `deploy/beanstalk.rs`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticbeanstalk::primitives::DateTime;
use aws_sdk_elasticbeanstalk::types::{ConfigurationOptionSetting, EnvironmentStatus};
use aws_sdk_elasticbeanstalk::Client;

use super::progress::Progress;
use crate::aws::explain;
use crate::error::Problem;
use crate::text::{self, Lines};

/// One option setting: namespace, option name, value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Setting {
    pub(crate) namespace: String,
    pub(crate) option: String,
    pub(crate) value: String,
}

/// What DescribeEnvironments says about an environment now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Environment {
    /// `Launching`, `Updating`, `Ready`, `Terminating`, …
    pub(crate) status: String,
    /// The colour: `Green`, `Yellow`, `Red`, `Grey`.
    pub(crate) health: String,
    /// Enhanced health (`Ok`, `Warning`, `Degraded`, `Severe`, …), when it is on.
    pub(crate) health_status: Option<String>,
}

/// Status and health of an environment, or `None` when it does not exist.
pub(crate) async fn environment(
    eb: &Client,
    app: &str,
    env: &str,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(describe(eb, app, env).await?.map(|e| (e.status, e.health)))
}

/// The environment (not a terminated one of the same name), or `None` when it does not exist.
pub(crate) async fn describe(
    eb: &Client,
    app: &str,
    env: &str,
) -> anyhow::Result<Option<Environment>> {
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
        .map(|e| Environment {
            status: e
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            health: e
                .health()
                .map(|h| h.as_str().to_string())
                .unwrap_or_default(),
            health_status: e.health_status().map(|h| h.as_str().to_string()),
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

/// One of the environment's events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Event {
    /// `TRACE` … `INFO`, `WARN`, `ERROR`, `FATAL`.
    pub(crate) severity: String,
    pub(crate) message: String,
    /// When it happened (ISO 8601), to tell two events with the same text apart.
    pub(crate) date: String,
}

/// Polls an environment (and its events since a moment, shown as they come) with a bounded
/// back-off; every event seen stays in [`Watcher::events`], oldest first.
pub(crate) struct Watcher<'a> {
    eb: &'a Client,
    app: &'a str,
    env: &'a str,
    /// Events from this moment on are read (none when `None`).
    since: Option<SystemTime>,
    task: &'a dyn Progress,
    pub(crate) events: Vec<Event>,
    seen: HashSet<Event>,
}

/// How a [`Watcher::until`] ended.
#[derive(Debug)]
pub(crate) enum Watched {
    /// `done` said so, on this state.
    Done(Environment),
    /// The limit passed first; the last state.
    TimedOut(Environment),
}

impl<'a> Watcher<'a> {
    pub(crate) fn new(
        eb: &'a Client,
        app: &'a str,
        env: &'a str,
        since: Option<SystemTime>,
        task: &'a dyn Progress,
    ) -> Watcher<'a> {
        Watcher {
            eb,
            app,
            env,
            since,
            task,
            events: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Poll until `done(state, events so far)` or `limit` passes; `why` is the progress status
    /// (e.g. "waiting for Ready before updating"). Ctrl-C stops the wait (AWS carries on).
    pub(crate) async fn until(
        &mut self,
        limit: Duration,
        why: &str,
        done: impl Fn(&Environment, &[Event]) -> bool,
    ) -> anyhow::Result<Watched> {
        let env = self.env;
        let mut delay = Duration::from_millis(200);
        let deadline = std::time::Instant::now() + limit;
        loop {
            self.read_events().await?;
            let Some(state) = describe(self.eb, self.app, env).await? else {
                crate::fail!(
                    "Beanstalk environment {env} disappeared while {why}";
                    hint = "check its events in the console"
                );
            };
            if done(&state, &self.events) {
                return Ok(Watched::Done(state));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(Watched::TimedOut(state));
            }
            let (status, health) = (&state.status, &state.health);
            self.task.status(format!(
                "beanstalk {env}: {status}, health {health} ({why})"
            ));
            tracing::debug!("beanstalk {env} is {status}; checking again in {delay:?}");
            tokio::select! {
                _ = tokio::time::sleep(delay.min(deadline - std::time::Instant::now())) => {}
                stopped = self.task.stopped() => {
                    return Err(Problem::interrupted(format!(
                        "{stopped} while {why}: Beanstalk environment {env} is {status}; what was sent carries on"
                    ))
                    .hint("rerun to check the result")
                    .into());
                }
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// New events since [`Watcher::since`], each shown once.
    async fn read_events(&mut self) -> anyhow::Result<()> {
        let Some(since) = self.since else {
            return Ok(());
        };
        let env = self.env;
        let out = self
            .eb
            .describe_events()
            .application_name(self.app)
            .environment_name(env)
            .start_time(DateTime::from(since))
            .send()
            .await
            .map_err(|e| explain(format!("reading events of Beanstalk environment {env}"), &e))?;
        // Newest first from the API.
        for e in out.events().iter().rev() {
            let event = Event {
                severity: e.severity().map_or("INFO", |s| s.as_str()).to_string(),
                message: e.message().unwrap_or_default().to_string(),
                date: e.event_date().map(|d| d.to_string()).unwrap_or_default(),
            };
            if self.seen.insert(event.clone()) {
                // Outside text, on one line.
                let message = text::visible(&event.message, Lines::Escape);
                self.task
                    .note(format!("event   {} {message}", event.severity));
                self.events.push(event);
            }
        }
        Ok(())
    }
}

/// UpdateEnvironment with these option settings (the caller waits with a [`Watcher`]).
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
