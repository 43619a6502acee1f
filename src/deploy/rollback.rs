//! The `rollback [FUNCTION…] [--to VERSION]` flow: move each function's release alias back and
//! pin it there (in the alias's description), one UpdateAlias per function after two reads.
//! Nothing is built or uploaded and CloudFormation is not called, so it takes as long as three
//! Lambda requests. It lives in `deploy/` beside `release.rs`, whose versions, alias and pin it
//! moves: the command only checks the names, calls [`Rollback::run`] and prints the report.

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::aws::{lambda, versions, Clients};
use crate::config::Project;
use crate::deploy::concurrent::{combine, run_bounded};
use crate::deploy::release::{self, VersionInfo};
use crate::error::Problem;
use crate::interrupt::{self, Journal};
use crate::report::{human_duration, Reporter, Task};

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

/// A rollback of the chosen functions, checked against the config before any AWS call.
#[derive(Debug)]
pub(crate) struct Rollback {
    /// (function key, Lambda name) of each chosen function.
    selected: Vec<(String, String)>,
    alias: String,
    to: Option<String>,
}

impl Rollback {
    /// The functions named (all when none is), or a usage error for a name the config lacks.
    pub(crate) fn new(
        project: &Project,
        functions: &[String],
        to: Option<String>,
    ) -> Result<Rollback, Problem> {
        let selected = project
            .select_functions(functions)?
            .into_iter()
            .map(|(k, _)| (k.to_string(), project.lambda_name(k).to_string()))
            .collect();
        Ok(Rollback {
            selected,
            alias: project.config.releases.alias.clone(),
            to,
        })
    }

    /// One UpdateAlias per function, functions at once (bounded, as for updates).
    pub(crate) async fn run(
        &self,
        clients: &Clients,
        reporter: &Reporter,
    ) -> anyhow::Result<RollbackReport> {
        let (selected, alias) = (&self.selected, &self.alias);
        let journal = Journal::new(
            "rollback",
            selected.iter().map(|(_, n)| format!("function {n} alias")),
        );
        let started = Instant::now();
        let jobs: Vec<_> = selected
            .iter()
            .map(|(key, name)| self.one_job(clients, reporter, &journal, key, name))
            .collect();
        let results = run_bounded(jobs).await;
        let labels: Vec<String> = selected
            .iter()
            .map(|(_, n)| format!("function {n}"))
            .collect();
        let functions = combine(&labels, results, |r: &FunctionRollback| {
            format!("alias {alias} {} -> {}", r.from_version, r.to_version)
        })
        .map_err(|e| journal.explain(e))?;
        Ok(RollbackReport {
            command: "rollback",
            region: clients.region.clone(),
            alias: alias.clone(),
            functions,
            elapsed_ms: started.elapsed().as_millis(),
        })
    }

    /// One function's rollback with its progress line, racing Ctrl-C, journaled when done.
    async fn one_job(
        &self,
        clients: &Clients,
        reporter: &Reporter,
        journal: &Journal,
        key: &str,
        name: &str,
    ) -> anyhow::Result<FunctionRollback> {
        let alias = &self.alias;
        interrupt::check()?;
        let task = reporter.task(format!("function {name}: rolling back"));
        let done = interrupt::race_while(
            format!(
                "moving alias {alias} of function {name} (Lambda may or may not have moved it)"
            ),
            one(&clients.lambda, key, name, alias, self.to.as_deref(), &task),
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
        Ok(done)
    }
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
    let Some(current) = versions::get_alias(lambda, name, alias).await? else {
        return Err(no_alias(lambda, key, name, alias).await.into());
    };
    let (versions, latest_sha) = versions::list_versions(lambda, name).await?;
    let target = release::rollback_target(&versions, &current.version, to).map_err(|why| {
        anyhow::Error::from(
            Problem::failure(format!(
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

/// Why there is no alias: the function itself may be missing (never deployed, another
/// region or account), which GetAlias reports as the same ResourceNotFoundException.
async fn no_alias(lambda: &aws_sdk_lambda::Client, key: &str, name: &str, alias: &str) -> Problem {
    match lambda::get_live(lambda, name).await {
        Ok(None) => Problem::failure(format!(
            "function {name} does not exist, so there is nothing to roll back"
        ))
        .hint(
            "`scorekeep-deploy up` creates it; if it was deployed, check the region and profile (--region, --profile)",
        ),
        // Present (or unreadable: the alias answer stands).
        _ => Problem::failure(format!(
            "function {name}: alias {alias} does not exist, so there is nothing to roll back"
        ))
        .hint(format!(
            "`scorekeep-deploy up` or `update-functions {key}` publishes a version and creates it"
        )),
    }
    .resource(format!("lambda function {name}"))
}

fn sha_of(versions: &[VersionInfo], version: &str) -> String {
    versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.code_sha256.clone())
        .unwrap_or_default()
}
