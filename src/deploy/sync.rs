//! The function step of `up`, `update-functions` and `plan`. For each function it takes what
//! Lambda has (`$LATEST`, the release alias and the version the alias names: read by
//! [`super::actual`]), compares that with the local build and the resolved configuration, and in
//! [`Mode::Apply`] does exactly the steps the difference needs: upload code, update
//! configuration, publish and move the alias. No local record takes part, so a rerun after any
//! stop finishes what is left, and an alias moved by hand is moved back (unless `rollback`
//! pinned it).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::aws::lambda::{self, CodeSource};
use crate::aws::versions;
use crate::aws::Clients;
use crate::bundle::Artifact;
use crate::config::strategy::Strategy;
use crate::config::Project;
use crate::error::Problem;
use crate::interrupt::{self, Journal};
use crate::report::{human_bytes, Reporter, Task};
use crate::template::RenderedStack;

use super::actual::{self, differences, served_differs, Actual, Prefetched};
use super::functions::{self, ConfigChange, DesiredFunction};
use super::release::{self, AliasVerdict, MoveReason, Unpin};
use super::rollout::Staged;
use super::{concurrent, function_label, Change, FunctionResult, Mode, PendingRelease};

/// What the function step works from: the earlier steps' results.
pub(crate) struct FunctionInputs<'a> {
    /// The rendered stacks (to name the stack that should have created a missing function).
    pub(crate) rendered: &'a [RenderedStack],
    /// The built bundles, one per function to sync.
    pub(crate) artifacts: &'a [Artifact],
    /// The stacks' outputs, for `${output:...}` in the functions' environments.
    pub(crate) outputs: &'a BTreeMap<String, String>,
}

/// Each function's result as far as it got, so a failed or interrupted run still reports what
/// it released (for `scripts/rollback-released`).
#[derive(Debug, Default)]
pub(crate) struct Ledger(Mutex<BTreeMap<String, FunctionResult>>);

impl Ledger {
    pub(crate) fn record(&self, result: &FunctionResult) {
        if let Ok(mut all) = self.0.lock() {
            all.insert(result.name.clone(), result.clone());
        }
    }

    fn fail(&self, name: &str, error: &anyhow::Error) {
        if let Ok(mut all) = self.0.lock() {
            if let Some(r) = all.get_mut(name) {
                r.error = Some(crate::exit::Failure::render(error));
            }
        }
    }

    /// The results so far, by Lambda name.
    pub(crate) fn results(&self) -> Vec<FunctionResult> {
        self.0
            .lock()
            .map(|all| all.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Compare each built function with Lambda and, in `Mode::Apply`, do what differs. Each
/// request races Ctrl-C; finished steps are recorded in `journal`, results in `ledger`.
pub(crate) async fn sync_functions(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    inputs: FunctionInputs<'_>,
    how: How,
    run: Run<'_>,
) -> anyhow::Result<Vec<FunctionResult>> {
    let mut desired = Vec::new();
    for artifact in inputs.artifacts {
        let key = artifact.function.as_str();
        desired.push(functions::desired_function(
            project,
            key,
            inputs.outputs,
            &clients.region,
        )?);
    }
    let names = desired.iter().map(|d| d.name.clone()).collect();
    let alias = project.config.releases.alias.as_str();
    let prefetched = interrupt::race_while(
        "reading the functions",
        Prefetched::read(&clients.lambda, &names, alias),
    )
    .await?;
    let sync = FunctionSync {
        clients,
        project,
        how,
        run,
        prefetched,
    };
    // Functions are independent: their steps overlap, a bounded number at a time.
    let jobs: Vec<_> = inputs
        .artifacts
        .iter()
        .zip(&desired)
        .map(|(artifact, desired)| {
            sync.check_and_sync(reporter, inputs.rendered, artifact, desired)
        })
        .collect();
    let results = concurrent::run_bounded(jobs).await;
    let labels: Vec<String> = desired
        .iter()
        .map(|d| function_label(&d.key, &d.name))
        .collect();
    concurrent::combine(&labels, results, |r: &FunctionResult| {
        format!(
            "code {}, configuration {}",
            r.code.code_text(),
            r.config.config_text()
        )
    })
}

/// How the function step runs: changing (`up`, `update-functions`) or previewing (`plan`), and
/// whether a rollback pin is released.
#[derive(Debug, Clone, Copy)]
pub(crate) struct How {
    pub(crate) mode: Mode,
    pub(crate) unpin: Unpin,
    /// `--strategy`: how every alias moves this run (over the config's).
    pub(crate) strategy: Option<Strategy>,
}

/// Where a run records its progress: steps for the Ctrl-C summary, results for failure reports.
#[derive(Clone, Copy)]
pub(crate) struct Run<'a> {
    pub(crate) journal: &'a Journal,
    pub(crate) ledger: &'a Ledger,
}

/// What the per-function steps share, so each step takes only what is particular to it.
struct FunctionSync<'a> {
    clients: &'a Clients,
    project: &'a Project,
    how: How,
    run: Run<'a>,
    /// The bulk read of many functions (empty for a few).
    prefetched: Prefetched,
}

impl FunctionSync<'_> {
    /// Read one function from Lambda, then sync it; a function its stack should have created
    /// and that is missing is an error naming that stack.
    async fn check_and_sync(
        &self,
        reporter: &Reporter,
        rendered: &[RenderedStack],
        artifact: &Artifact,
        desired: &DesiredFunction,
    ) -> anyhow::Result<FunctionResult> {
        interrupt::check()?;
        let task = reporter.task(format!("function {}: checking", desired.name));
        let actual = interrupt::race_while(
            format!("reading function {}", desired.name),
            self.read_actual(artifact, desired),
        )
        .await?;
        let Some(actual) = actual else {
            task.finish(format!("function {}: missing", desired.name));
            return Err(missing_function(
                self.clients,
                rendered,
                &artifact.function,
                &desired.name,
            ));
        };
        let result = self.one(artifact, desired, actual, &task).await;
        match &result {
            Ok(r) => task.finish(r.progress_line()),
            Err(err) => {
                self.run.ledger.fail(&desired.name, err);
                task.finish(format!("function {}: not finished", desired.name));
            }
        }
        result
    }

    /// What Lambda has for the function (see [`actual::read`]).
    async fn read_actual(
        &self,
        artifact: &Artifact,
        desired: &DesiredFunction,
    ) -> anyhow::Result<Option<Actual>> {
        actual::read(
            &self.clients.lambda,
            &self.prefetched,
            self.project.config.releases.alias.as_str(),
            artifact.manifest.sha256_base64.as_str(),
            desired,
        )
        .await
    }

    /// One function: its code, then its configuration, then its alias, each journaled once
    /// decided. A function `rollback` pinned is left alone unless this run unpins.
    async fn one(
        &self,
        artifact: &Artifact,
        desired: &DesiredFunction,
        mut actual: Actual,
        task: &Task,
    ) -> anyhow::Result<FunctionResult> {
        let name = desired.name.as_str();
        let sha = artifact.manifest.sha256_base64.as_str();
        let mut result = FunctionResult::new(&artifact.function, name, sha, &actual.latest);
        let verdict = release::alias_verdict(
            actual.alias.as_ref(),
            served_differs(&actual, sha, desired),
            self.how.unpin,
        );
        if let AliasVerdict::Pinned(pin) = verdict {
            result.notes.push(format!(
                "alias {} {pin}: left alone; `scorekeep-deploy update-functions {} --unpin` releases the source again",
                self.project.config.releases.alias, artifact.function
            ));
            result.pinned = Some(pin);
            self.journal_all(name, "pinned, left alone");
            self.run.ledger.record(&result);
            return Ok(result);
        }
        let diff = differences(&actual, sha, desired);
        result.unconfirmed_fields = diff.echoes.clone();
        self.code(artifact, &mut actual, diff.code, &mut result, task)
            .await?;
        self.run.ledger.record(&result);
        self.run
            .journal
            .done(&format!("function {name} code"), result.code.code_text());
        interrupt::check()?;
        let diff = differences(&actual, sha, desired);
        self.configuration(desired, &mut actual, diff.config, &mut result, task)
            .await?;
        self.run.ledger.record(&result);
        self.run.journal.done(
            &format!("function {name} configuration"),
            result.config.config_text(),
        );
        interrupt::check()?;
        self.alias(artifact, desired, &actual, &mut result, task)
            .await?;
        self.run.ledger.record(&result);
        Ok(result)
    }

    fn journal_all(&self, name: &str, outcome: &str) {
        for step in ["code", "configuration", "release"] {
            self.run
                .journal
                .done(&format!("function {name} {step}"), outcome);
        }
    }

    /// Upload the bundle (with its architecture) when `changes` is not empty (or, previewing,
    /// say it would); check Lambda stored exactly the bundle; `actual` becomes the function as
    /// Lambda now has it.
    async fn code(
        &self,
        artifact: &Artifact,
        actual: &mut Actual,
        changes: Vec<ConfigChange>,
        result: &mut FunctionResult,
        task: &Task,
    ) -> anyhow::Result<()> {
        let name = result.name.clone();
        if changes.is_empty() {
            return Ok(());
        }
        let architecture = changes.iter().find(|c| c.field == "architecture").cloned();
        result.config_changes.extend(architecture.clone());
        if self.how.mode == Mode::Preview {
            result.code = Change::WouldUpdate;
            return Ok(());
        }
        task.set_message(format!(
            "function {name}: uploading {}",
            human_bytes(artifact.manifest.zip_bytes)
        ));
        let live = interrupt::race_while(
            format!(
                "uploading the code of function {name} (Lambda may or may not have received it)"
            ),
            async {
                let source = code_source(self.clients, self.project, artifact).await?;
                let arch = artifact.manifest.architecture.as_str();
                lambda::update_code(&self.clients.lambda, &name, &source, arch, task).await
            },
        )
        .await?;
        if live.code_sha256 != artifact.manifest.sha256_base64 {
            return Err(Problem::failure(format!("function {name}: Lambda reports CodeSha256 {} after the upload, but the bundle's is {}", live.code_sha256, artifact.manifest.sha256_base64)).hint("rerun; if it persists, the upload was altered on the way").into());
        }
        let sent: Vec<ConfigChange> = architecture.into_iter().collect();
        let reported = functions::code_changes(&live, &live.code_sha256, &desired_arch(artifact));
        actual.latest = live;
        self.learn(actual, &sent, &reported, result).await?;
        result.code = Change::Updated;
        Ok(())
    }

    /// Send the configuration fields in `changes` (or, previewing, list them); `actual`
    /// becomes the function as Lambda has it afterwards.
    async fn configuration(
        &self,
        desired: &DesiredFunction,
        actual: &mut Actual,
        changes: Vec<ConfigChange>,
        result: &mut FunctionResult,
        task: &Task,
    ) -> anyhow::Result<()> {
        let name = desired.name.as_str();
        if changes.is_empty() {
            return Ok(());
        }
        result.config_changes.extend(changes.iter().cloned());
        if self.how.mode == Mode::Preview {
            result.config = Change::WouldUpdate;
            return Ok(());
        }
        task.set_message(format!("function {name}: updating configuration"));
        let live = interrupt::race_while(
            format!("updating the configuration of function {name} (Lambda may or may not have applied it)"),
            lambda::update_configuration(
                &self.clients.lambda,
                name,
                &desired.settings,
                &changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
                task,
            ),
        )
        .await?;
        let reported = functions::config_changes(&live.settings, &desired.settings);
        actual.latest = live;
        self.learn(actual, &changes, &reported, result).await?;
        result.config = Change::Updated;
        Ok(())
    }

    /// After an update: fields the endpoint accepted and reports otherwise go on the
    /// function's unstored tag, so later runs (on any machine) do not send them again.
    async fn learn(
        &self,
        actual: &mut Actual,
        sent: &[ConfigChange],
        reported: &[ConfigChange],
        result: &mut FunctionResult,
    ) -> anyhow::Result<()> {
        if !actual.unstored.learn(sent, reported) {
            return Ok(());
        }
        for change in reported.iter().filter(|c| actual.unstored.explains(c)) {
            if !result.unconfirmed_fields.contains(&change.field) {
                result.unconfirmed_fields.push(change.field.clone());
            }
        }
        let tag = actual.unstored.to_tag();
        interrupt::race_while(
            format!("tagging function {}", result.name),
            lambda::set_unstored_tag(&self.clients.lambda, &actual.latest.arn, &tag),
        )
        .await
    }

    /// Move the release alias when it does not name a version as desired (decided after the
    /// updates, which may have recorded unstored fields); previewing, say why it would.
    async fn alias(
        &self,
        artifact: &Artifact,
        desired: &DesiredFunction,
        actual: &Actual,
        result: &mut FunctionResult,
        task: &Task,
    ) -> anyhow::Result<()> {
        let name = desired.name.as_str();
        let sha = artifact.manifest.sha256_base64.as_str();
        let verdict = release::alias_verdict(
            actual.alias.as_ref(),
            served_differs(actual, sha, desired),
            self.how.unpin,
        );
        let AliasVerdict::Move(reason) = verdict else {
            self.run
                .journal
                .done(&format!("function {name} release"), "alias up to date");
            return Ok(());
        };
        let alias = &self.project.config.releases.alias;
        let strategy = self.strategy_of(&artifact.function);
        if self.how.mode == Mode::Preview {
            result.pending_release = Some(PendingRelease {
                alias: alias.clone(),
                current_version: actual.alias.as_ref().map(|a| a.version.clone()),
                reason: reason.to_string(),
                strategy: gradual(&reason, strategy).map(|s| s.to_string()),
            });
            return Ok(());
        }
        if let Some(strategy) = gradual(&reason, strategy) {
            result.staged = self.stage(name, actual, &reason, strategy, task).await?;
            if result.staged.is_some() {
                return Ok(());
            }
        }
        result.release = Some(self.release(name, actual, &reason, task).await?);
        let version = result.release.as_ref().map(|r| r.version.clone());
        self.run.journal.done(
            &format!("function {name} release"),
            format!("version {}", version.unwrap_or_default()),
        );
        Ok(())
    }

    /// The strategy for function `key`: `--strategy`, then its own, then `releases.strategy`.
    fn strategy_of(&self, key: &str) -> Strategy {
        let own = self
            .project
            .config
            .functions
            .get(key)
            .and_then(|f| f.strategy);
        self.how
            .strategy
            .or(own)
            .unwrap_or(self.project.config.releases.strategy)
    }

    /// The `smoke_event` of the function Lambda calls `name`, resolved against the project.
    fn smoke_event_of(&self, name: &str) -> Option<std::path::PathBuf> {
        let project = self.project;
        let key = project
            .function_keys()
            .into_iter()
            .find(|k| project.lambda_name(k) == name)?;
        let event = project.config.functions[key].smoke_event.as_ref()?;
        Some(project.root.join(event))
    }

    /// A gradual release's first half: the version with the source's code and configuration
    /// (published now, or found: a stopped release's), with the share the alias already
    /// sends it. `None` when that version is the alias's own (only weights to remove).
    async fn stage(
        &self,
        name: &str,
        actual: &Actual,
        reason: &MoveReason,
        strategy: Strategy,
        task: &Task,
    ) -> anyhow::Result<Option<Staged>> {
        let Some(current) = actual.alias.clone() else {
            return Ok(None);
        };
        task.set_message(format!("function {name}: publishing the new version"));
        let lambda = &self.clients.lambda;
        let candidate = interrupt::race_while(
            format!(
                "publishing a version of function {name} (Lambda may or may not have published it)"
            ),
            async {
                match versions::published_already(lambda, name, &actual.latest).await? {
                    Some(v) => Ok(v),
                    None => versions::publish(lambda, name, &actual.latest, task).await,
                }
            },
        )
        .await?;
        if candidate == current.version {
            return Ok(None);
        }
        Ok(Some(Staged {
            name: name.to_string(),
            alias: self.project.config.releases.alias.clone(),
            primary: current.version.clone(),
            share: current.routing.get(&candidate).copied().unwrap_or(0.0),
            candidate,
            state: current,
            strategy,
            reason: reason.to_string(),
            smoke_event: self.smoke_event_of(name),
        }))
    }

    async fn release(
        &self,
        name: &str,
        actual: &Actual,
        reason: &MoveReason,
        task: &Task,
    ) -> anyhow::Result<release::ReleaseResult> {
        task.set_message(format!("function {name}: publishing and moving the alias"));
        interrupt::race_while(
            format!(
                "publishing a version of function {name} (Lambda may or may not have published it)"
            ),
            release::release(
                &self.clients.lambda,
                &actual.latest,
                name,
                release::Policy {
                    settings: &self.project.config.releases,
                    smoke_event: self.smoke_event_of(name),
                },
                (actual.alias.as_ref(), reason),
                task,
            ),
        )
        .await
    }
}

/// The strategy, when the alias is to move gradually: only from a version (a missing alias
/// or one on `$LATEST` has no old version to keep traffic on; `--unpin` moves at once).
fn gradual(reason: &MoveReason, strategy: Strategy) -> Option<Strategy> {
    let from_a_version = matches!(
        reason,
        MoveReason::Behind { .. } | MoveReason::InProgress { .. }
    );
    (from_a_version && strategy.is_gradual()).then_some(strategy)
}

/// The desired settings as far as the code step compares them (the bundle's architecture).
fn desired_arch(artifact: &Artifact) -> lambda::FunctionSettings {
    lambda::FunctionSettings {
        architecture: artifact.manifest.architecture.clone(),
        ..Default::default()
    }
}

/// A function its stack should have created is missing: name that stack, so the fix is clear.
fn missing_function(
    clients: &Clients,
    rendered: &[RenderedStack],
    key: &str,
    name: &str,
) -> anyhow::Error {
    let creator = rendered
        .iter()
        .find(|r| r.functions.iter().any(|f| f == key))
        .map(|r| r.stack.as_str())
        .unwrap_or("(none)");
    anyhow::Error::from(
        Problem::failure(format!(
            "function {name} does not exist in {}: stack {creator} should have created it",
            clients.region
        ))
        .hint(format!(
            "run `scorekeep-deploy up` to create or repair stack {creator}"
        )),
    )
}

/// Direct upload under Lambda's 50 MB limit; through the configured S3 bucket above it.
async fn code_source(
    clients: &Clients,
    project: &Project,
    artifact: &Artifact,
) -> anyhow::Result<CodeSource> {
    if !artifact.manifest.needs_s3_upload {
        let bytes = std::fs::read(&artifact.zip_path).map_err(|e| {
            anyhow::Error::from(
                Problem::failure(format!(
                    "reading bundle {}: {e}",
                    artifact.zip_path.display()
                ))
                .hint("rerun `scorekeep-deploy build --force`"),
            )
        })?;
        return Ok(CodeSource::ZipFile(bytes));
    }
    let Some(bucket) = &project.config.artifact_bucket else {
        return Err(Problem::failure(format!(
            "function {}: the bundle is {} zipped, over Lambda's 50 MB direct upload limit",
            artifact.function,
            human_bytes(artifact.manifest.zip_bytes)
        ))
        .hint("set `artifact_bucket:` in the config to an S3 bucket the deploy may write to")
        .into());
    };
    let key = format!(
        "scorekeep-deploy/{}/{}.zip",
        artifact.function, artifact.manifest.sha256_hex
    );
    let what = format!("bundle of {}", artifact.function);
    crate::aws::s3::upload_file(&clients.s3, bucket, &key, &artifact.zip_path, &what).await?;
    Ok(CodeSource::S3 {
        bucket: bucket.clone(),
        key,
    })
}
