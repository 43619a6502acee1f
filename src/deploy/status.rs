//! `status`, read-only: stacks, outputs, functions and the Beanstalk environment as they are now.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::cfn::Stacks;
use crate::aws::{lambda, Clients};
use crate::config::Project;
use crate::deploy::{beanstalk, function_label, functions};

#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub(crate) command: &'static str,
    pub(crate) region: String,
    pub(crate) stacks: Vec<StackStatus>,
    pub(crate) functions: Vec<FunctionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) beanstalk: Option<BeanstalkStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StackStatus {
    pub(crate) stack: String,
    /// `None` when the stack does not exist.
    pub(crate) status: Option<String>,
    pub(crate) outputs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FunctionStatus {
    pub(crate) function: String,
    pub(crate) name: String,
    pub(crate) exists: bool,
    #[serde(flatten)]
    pub(crate) live: Option<functions::LiveFunction>,
    /// The base64 SHA-256 of the last local build, if there is one.
    pub(crate) local_code_sha256: Option<String>,
    /// Whether the deployed code is the local build (`None` when either is unknown).
    pub(crate) code_in_sync: Option<bool>,
    /// Configuration fields whose live value is not the config's (empty when in sync, or when
    /// the config cannot be resolved because the stack outputs are missing).
    pub(crate) drift: Vec<functions::ConfigChange>,
    /// The release alias and the versions behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) release: Option<crate::deploy::release::ReleaseStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BeanstalkStatus {
    pub(crate) application: String,
    pub(crate) environment: String,
    pub(crate) status: Option<String>,
    pub(crate) health: Option<String>,
}

impl FunctionStatus {
    /// `PassThrough (drift: desired Active)` when the live value is not the config's.
    fn marked(&self, field: &str, value: String) -> String {
        match self.drift.iter().find(|c| c.field == field) {
            Some(c) => format!("{value} (drift: desired {})", c.desired),
            None => value,
        }
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "region {}", self.region)?;
        for s in &self.stacks {
            writeln!(
                f,
                "stack {}: {}",
                s.stack,
                s.status.as_deref().unwrap_or("does not exist")
            )?;
            for (k, v) in &s.outputs {
                writeln!(f, "  {k} = {v}")?;
            }
        }
        for func in &self.functions {
            match &func.live {
                None => writeln!(
                    f,
                    "{}: does not exist",
                    function_label(&func.function, &func.name)
                )?,
                Some(live) => {
                    let sync = match func.code_in_sync {
                        Some(true) => "matches the local build",
                        Some(false) => "differs from the local build",
                        None => "no local build to compare",
                    };
                    writeln!(
                        f,
                        "{}: {} / last update {}",
                        function_label(&func.function, &func.name),
                        live.state,
                        live.last_update_status
                    )?;
                    writeln!(f, "  code sha256 {} ({sync})", live.code_sha256)?;
                    let field = |name: &str, value: String| func.marked(name, value);
                    let s = &live.settings;
                    writeln!(
                        f,
                        "  {} {} {} {} s, tracing {}",
                        field("runtime", s.runtime.clone()),
                        field("handler", s.handler.clone()),
                        field("memory", format!("{} MB", s.memory)),
                        field("timeout", s.timeout.to_string()),
                        field("tracing", s.tracing.clone())
                    )?;
                    let env: Vec<&str> = func
                        .drift
                        .iter()
                        .filter_map(|c| c.field.strip_prefix("environment."))
                        .collect();
                    if !env.is_empty() {
                        writeln!(
                            f,
                            "  environment {} (drift: not as configured)",
                            env.join(", ")
                        )?;
                    }
                    if let Some(r) = &func.release {
                        writeln!(f, "  {r}")?;
                    }
                }
            }
        }
        if let Some(b) = &self.beanstalk {
            match (&b.status, &b.health) {
                (Some(s), Some(h)) => writeln!(
                    f,
                    "beanstalk {}/{}: {s}, health {h}",
                    b.application, b.environment
                )?,
                _ => writeln!(
                    f,
                    "beanstalk {}/{}: does not exist",
                    b.application, b.environment
                )?,
            }
        }
        Ok(())
    }
}

/// Read every configured stack, function and the Beanstalk environment; change nothing.
pub(crate) async fn status(clients: &Clients, project: &Project) -> anyhow::Result<StatusReport> {
    let described = Stacks::describe(&clients.cloudformation, project.stack_names()).await?;
    let outputs = described.outputs();
    let stacks = described
        .stacks
        .into_iter()
        .map(|(stack, live)| StackStatus {
            stack,
            status: live.as_ref().map(|l| l.status.clone()),
            outputs: live.map(|l| l.outputs).unwrap_or_default(),
        })
        .collect();
    let mut funcs = Vec::new();
    for key in project.config.functions.keys() {
        funcs.push(function_status(clients, project, key, &outputs).await?);
    }
    let beanstalk = match &project.config.beanstalk {
        Some(eb) => {
            let env = beanstalk::environment(&clients.beanstalk, &eb.application, &eb.environment)
                .await?;
            Some(BeanstalkStatus {
                application: eb.application.clone(),
                environment: eb.environment.clone(),
                status: env.as_ref().map(|(s, _)| s.clone()),
                health: env.map(|(_, h)| h),
            })
        }
        None => None,
    };
    Ok(StatusReport {
        command: "status",
        region: clients.region.clone(),
        stacks,
        functions: funcs,
        beanstalk,
    })
}

/// One function: live configuration, code compared with the last local build, drift.
async fn function_status(
    clients: &Clients,
    project: &Project,
    key: &str,
    outputs: &BTreeMap<String, String>,
) -> anyhow::Result<FunctionStatus> {
    let name = project.lambda_name(key).to_string();
    let live = lambda::get_live(&clients.lambda, &name).await?;
    let local = local_code_sha256(project, key);
    let drift = match (
        &live,
        functions::desired_function(project, key, outputs, &clients.region),
    ) {
        (Some(l), Ok(desired)) => functions::config_changes(&l.settings, &desired.settings),
        _ => Vec::new(),
    };
    let release = match &live {
        Some(_) => Some(
            crate::deploy::release::status(&clients.lambda, &name, &project.config.releases.alias)
                .await?,
        ),
        None => None,
    };
    Ok(FunctionStatus {
        release,
        drift,
        function: key.to_string(),
        exists: live.is_some(),
        code_in_sync: match (&live, &local) {
            (Some(l), Some(sha)) => Some(&l.code_sha256 == sha),
            _ => None,
        },
        live,
        local_code_sha256: local,
        name,
    })
}

/// The CodeSha256 of the last local build, read from its manifest without building.
pub(crate) fn local_code_sha256(project: &Project, key: &str) -> Option<String> {
    let path = project.artifact_dir().join(format!("{key}.json"));
    let manifest: crate::bundle::Manifest = crate::atomic_write::read_json(&path)?;
    Some(manifest.sha256_base64)
}
