//! `rollback [FUNCTION…] [--to VERSION]`: move each function's release alias back and pin it
//! there (in the alias's description), one UpdateAlias per function after two reads. Nothing is built or uploaded and CloudFormation
//! is not called, so it takes as long as three Lambda requests.

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::aws::versions;
use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::deploy::concurrent::{combine, run_bounded};
use crate::deploy::release::{self, VersionInfo};
use crate::interrupt::{self, Journal};
use crate::report::{human_duration, Task};

#[derive(Debug, Serialize)]
pub(crate) struct RollbackReport {
    pub(crate) command: &'static str,
    pub(crate) region: String,
    pub(crate) alias: String,
    pub(crate) functions: Vec<FunctionRollback>,
    pub(crate) elapsed_ms: u128,
}

#[derive(Debug, Serialize)]
pub(crate) struct FunctionRollback {
    pub(crate) function: String,
    pub(crate) name: String,
    pub(crate) from_version: String,
    pub(crate) to_version: String,
    pub(crate) code_sha256: String,
    pub(crate) latest_code_sha256: String,
    /// Unqualified callers (`$LATEST`) still run other code than the alias now names.
    pub(crate) latest_differs: bool,
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.functions {
            writeln!(
                f,
                "function {}: alias {} {} -> {} (code sha256 {})",
                r.name, self.alias, r.from_version, r.to_version, r.code_sha256
            )?;
            writeln!(
                f,
                "  pinned: `up` and `update-functions` leave {} alone until `scorekeep-deploy update-functions {} --unpin`",
                r.name, r.function
            )?;
            if r.latest_differs {
                writeln!(
                    f,
                    "  note: $LATEST still has code {}: callers that invoke `{}` without `:{}` still run it",
                    r.latest_code_sha256, r.name, self.alias
                )?;
            }
        }
        writeln!(
            f,
            "rolled back {} function(s) ({})",
            self.functions.len(),
            human_duration(std::time::Duration::from_millis(self.elapsed_ms as u64))
        )
    }
}

pub fn run(ctx: &Context, args: &RollbackArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    // Unknown names fail before any AWS call.
    let selected: Vec<(String, String)> = project
        .select_functions(&args.functions)?
        .into_iter()
        .map(|(k, _)| (k.to_string(), project.lambda_name(k).to_string()))
        .collect();
    let alias = project.config.releases.alias.clone();
    let journal = Journal::new(
        "rollback",
        selected.iter().map(|(_, n)| format!("function {n} alias")),
    );
    let started = Instant::now();
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        // One UpdateAlias per function, functions at once (bounded, as for updates).
        let jobs: Vec<_> = selected
            .iter()
            .map(|(key, name)| {
                let (clients, alias, journal) = (&clients, &alias, &journal);
                async move {
                    interrupt::check()?;
                    let task = ctx.reporter.task(format!("function {name}: rolling back"));
                    let done = interrupt::race_while(
                        format!("moving alias {alias} of function {name} (Lambda may or may not have moved it)"),
                        one(&clients.lambda, key, name, alias, args.to.as_deref(), &task),
                    )
                    .await;
                    match &done {
                        Ok(d) => task.finish(format!(
                            "function {name}: alias {alias} {} -> {}",
                            d.from_version, d.to_version
                        )),
                        Err(_) => task.finish(format!("function {name}: not rolled back")),
                    }
                    let done = done?;
                    journal.done(&format!("function {name} alias"), done.to_version.clone());
                    anyhow::Ok(done)
                }
            })
            .collect();
        let results = run_bounded(jobs).await;
        let labels: Vec<String> = selected.iter().map(|(_, n)| format!("function {n}")).collect();
        let functions = combine(&labels, results, |r: &FunctionRollback| {
            format!("alias {alias} {} -> {}", r.from_version, r.to_version)
        })
        .map_err(|e| journal.explain(e))?;
        anyhow::Ok(RollbackReport {
            command: "rollback",
            region: clients.region.clone(),
            alias: alias.clone(),
            functions,
            elapsed_ms: started.elapsed().as_millis(),
        })
    })?;
    ctx.reporter.emit(&report)
}

/// One function: read the alias and the versions, pick the target, UpdateAlias.
async fn one(
    lambda: &aws_sdk_lambda::Client,
    key: &str,
    name: &str,
    alias: &str,
    to: Option<&str>,
    task: &Task,
) -> anyhow::Result<FunctionRollback> {
    let current = versions::get_alias(lambda, name, alias).await?.ok_or_else(|| {
        anyhow::Error::from(crate::error::Problem::failure(format!("function {name}: alias {alias} does not exist, so there is nothing to roll back")).hint(format!("`scorekeep-deploy up` or `update-functions {key}` publishes a version and creates it")))
    })?;
    let (versions, latest_sha) = versions::list_versions(lambda, name).await?;
    let target = release::rollback_target(&versions, &current.version, to).map_err(|why| {
        anyhow::Error::from(
            crate::error::Problem::failure(format!(
                "function {name}: cannot roll back alias {alias} (now version {}): {why}",
                current.version
            ))
            .hint("`scorekeep-deploy status` lists the versions; pass one with --to"),
        )
    })?;
    // The pin goes on the alias itself, so `up` and `update-functions` on any machine leave
    // the function alone until `update-functions --unpin`.
    let pin = release::Pin {
        version: target.clone(),
        from: current.version.clone(),
    };
    versions::point_alias(
        lambda,
        name,
        alias,
        &target,
        Some(&current),
        &pin.description(),
        task,
    )
    .await?;
    let code_sha256 = sha_of(&versions, &target);
    Ok(FunctionRollback {
        function: key.to_string(),
        name: name.to_string(),
        from_version: current.version,
        to_version: target,
        latest_differs: !latest_sha.is_empty() && latest_sha != code_sha256,
        code_sha256,
        latest_code_sha256: latest_sha,
    })
}

fn sha_of(versions: &[VersionInfo], version: &str) -> String {
    versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.code_sha256.clone())
        .unwrap_or_default()
}
