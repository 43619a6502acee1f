//! `status`: stacks, outputs, functions and the Beanstalk environment, as they are now.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::context::Context;
use crate::deploy::{beanstalk, functions, stack};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub command: &'static str,
    pub region: String,
    pub stacks: Vec<StackStatus>,
    pub functions: Vec<FunctionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beanstalk: Option<BeanstalkStatus>,
}

#[derive(Debug, Serialize)]
pub struct StackStatus {
    pub stack: String,
    /// `None` when the stack does not exist.
    pub status: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct FunctionStatus {
    pub function: String,
    pub name: String,
    pub exists: bool,
    #[serde(flatten)]
    pub live: Option<functions::LiveFunction>,
    /// The base64 SHA-256 of the last local build, if there is one.
    pub local_code_sha256: Option<String>,
    /// Whether the deployed code is the local build (`None` when either is unknown).
    pub code_in_sync: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct BeanstalkStatus {
    pub application: String,
    pub environment: String,
    pub status: Option<String>,
    pub health: Option<String>,
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
                    "function {} ({}): does not exist",
                    func.function, func.name
                )?,
                Some(live) => {
                    let sync = match func.code_in_sync {
                        Some(true) => "matches the local build",
                        Some(false) => "differs from the local build",
                        None => "no local build to compare",
                    };
                    writeln!(
                        f,
                        "function {} ({}): {} / last update {}",
                        func.function, func.name, live.state, live.last_update_status
                    )?;
                    writeln!(f, "  code sha256 {} ({sync})", live.code_sha256)?;
                    writeln!(
                        f,
                        "  {} {} {} MB {} s, tracing {}",
                        live.settings.runtime,
                        live.settings.handler,
                        live.settings.memory,
                        live.settings.timeout,
                        live.settings.tracing
                    )?;
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

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        let mut stacks = Vec::new();
        for s in &project.config.stacks {
            let live = stack::describe(&clients.cloudformation, &s.name).await?;
            stacks.push(StackStatus {
                stack: s.name.clone(),
                status: live.as_ref().map(|l| l.status.clone()),
                outputs: live.map(|l| l.outputs).unwrap_or_default(),
            });
        }
        let mut funcs = Vec::new();
        for key in project.config.functions.keys() {
            let name = project.lambda_name(key).to_string();
            let live = functions::get_live(&clients.lambda, &name).await?;
            let local = local_code_sha256(project, key);
            funcs.push(FunctionStatus {
                function: key.clone(),
                exists: live.is_some(),
                code_in_sync: match (&live, &local) {
                    (Some(l), Some(sha)) => Some(&l.code_sha256 == sha),
                    _ => None,
                },
                live,
                local_code_sha256: local,
                name,
            });
        }
        let beanstalk = match &project.config.beanstalk {
            Some(eb) => {
                let env =
                    beanstalk::environment(&clients.beanstalk, &eb.application, &eb.environment)
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
        anyhow::Ok(StatusReport {
            command: "status",
            region: clients.region.clone(),
            stacks,
            functions: funcs,
            beanstalk,
        })
    })?;
    ctx.reporter.emit(&report)
}

/// The CodeSha256 of the last local build, read from its manifest without building.
fn local_code_sha256(project: &crate::config::Project, key: &str) -> Option<String> {
    let path = project.artifact_dir().join(format!("{key}.json"));
    let manifest: crate::bundle::Manifest =
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(manifest.sha256_base64)
}
