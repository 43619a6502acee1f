//! The deploy engine: `up`, `update-functions`, `plan` and `status` (in `status.rs`) as flows over the
//! stack, function and Beanstalk steps. Each flow returns a report value; the commands print it.

pub mod beanstalk;
pub mod change_set;
pub(crate) mod concurrent;
pub(crate) mod down;
pub mod drift;
pub mod functions;
pub mod release;
pub(crate) mod rollback;
pub mod stack;
pub mod stack_diff;
pub(crate) mod status;
pub(crate) mod sync;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::aws::Clients;
use crate::bundle::{self, Artifact, BuildOptions};
use crate::config::Project;
use crate::error::Problem;
use crate::interrupt::{self, Journal};
use crate::report::{human_duration, Reporter};
use crate::template::{self, RenderedStack};

use self::beanstalk::BeanstalkResult;
use self::functions::ConfigChange;
use self::release::Unpin;
use self::stack::{StackAction, StackOptions, StackResult};
use self::sync::{sync_functions, FunctionInputs, How, Ledger, Run};
use crate::aws::cfn::{StackState, Stacks};
use crate::aws::lambda::LiveFunction;

/// Whether a flow changes what differs (`up`, `update-functions`) or only reports it (`plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Preview,
}

/// What happened (or, for `plan`, would happen) to a function's code or configuration.
/// JSON carries these names (`would_update`); the text report words them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Change {
    Unchanged,
    Updated,
    /// `plan`: the function exists and differs.
    WouldUpdate,
    /// `plan`: the stack that creates the function does not exist yet.
    WouldCreate,
}

impl Change {
    pub(crate) fn code_text(self) -> &'static str {
        match self {
            Change::WouldCreate => "would be uploaded",
            other => other.text(),
        }
    }

    pub(crate) fn config_text(self) -> &'static str {
        match self {
            Change::WouldCreate => "would be set",
            other => other.text(),
        }
    }

    fn text(self) -> &'static str {
        match self {
            Change::Unchanged => "unchanged",
            Change::Updated => "updated",
            Change::WouldUpdate => "would update",
            Change::WouldCreate => "would be created",
        }
    }
}

/// What happened (or, for `plan`, would happen) to one function.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FunctionResult {
    pub(crate) function: String,
    pub(crate) name: String,
    pub(crate) code: Change,
    pub(crate) code_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) live_code_sha256: Option<String>,
    pub(crate) config: Change,
    pub(crate) config_changes: Vec<ConfigChange>,
    /// Fields the endpoint reports differently from what was applied, as the function's
    /// unstored tag records (an emulator that does not store them): not sent again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) unconfirmed_fields: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
    /// The version published and where the release alias moved (`None`: nothing published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) release: Option<release::ReleaseResult>,
    /// `plan`: the alias would move, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pending_release: Option<PendingRelease>,
    /// `rollback` pinned the alias: the function was left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pinned: Option<release::Pin>,
    /// In a failure report: why this function did not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// `plan`: where the release alias is and why it would move.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingRelease {
    pub(crate) alias: String,
    /// `None`: the alias does not exist.
    pub(crate) current_version: Option<String>,
    pub(crate) reason: String,
}

impl fmt::Display for PendingRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.current_version.as_deref().unwrap_or("(none)");
        write!(
            f,
            "alias {} (now version {from}) would move to a version of the source: {}",
            self.alias, self.reason
        )
    }
}

impl FunctionResult {
    /// Nothing done yet to the function `latest` describes.
    pub(crate) fn new(key: &str, name: &str, sha: &str, latest: &LiveFunction) -> Self {
        FunctionResult {
            function: key.to_string(),
            name: name.to_string(),
            code: Change::Unchanged,
            code_sha256: sha.to_string(),
            live_code_sha256: Some(latest.code_sha256.clone()),
            config: Change::Unchanged,
            config_changes: Vec::new(),
            unconfirmed_fields: Vec::new(),
            notes: Vec::new(),
            release: None,
            pending_release: None,
            pinned: None,
            error: None,
        }
    }

    pub(crate) fn changed(&self) -> bool {
        self.code != Change::Unchanged
            || self.config != Change::Unchanged
            || self.release.is_some()
            || self.pending_release.is_some()
    }

    /// The function's last progress line.
    pub(crate) fn progress_line(&self) -> String {
        let alias = match (&self.pinned, &self.release, &self.pending_release) {
            (Some(_), _, _) => ", pinned by a rollback".to_string(),
            (_, Some(r), _) => format!(", alias {} -> version {}", r.alias, r.version),
            (_, _, Some(p)) => format!(", alias {} would move", p.alias),
            _ => String::new(),
        };
        format!(
            "function {}: code {}, configuration {}{alias}",
            self.name,
            self.code.code_text(),
            self.config.config_text()
        )
    }
}

/// The report of `up`, `update-functions` and `plan`.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub(crate) command: &'static str,
    pub(crate) region: String,
    pub(crate) stacks: Vec<StackResult>,
    pub(crate) functions: Vec<FunctionResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) beanstalk: Option<BeanstalkResult>,
    pub(crate) changed: bool,
    pub(crate) elapsed_ms: u128,
    #[serde(skip)]
    rows_shown_above: bool,
}

impl DeployReport {
    fn new(
        command: &'static str,
        clients: &Clients,
        stacks: Vec<StackResult>,
        functions: Vec<FunctionResult>,
        beanstalk: Option<BeanstalkResult>,
        started: Instant,
    ) -> Self {
        DeployReport {
            command,
            region: clients.region.clone(),
            stacks,
            functions,
            beanstalk,
            changed: false,
            elapsed_ms: 0,
            rows_shown_above: false,
        }
        .finish(started)
    }

    fn finish(mut self, started: Instant) -> Self {
        self.changed = self.stacks.iter().any(|s| {
            s.action != StackAction::Unchanged
                || (self.command == "plan" && !s.changes.is_empty())
                || s.drift.as_ref().is_some_and(drift::StackDrift::drifted)
        }) || self.functions.iter().any(FunctionResult::changed)
            || self
                .beanstalk
                .as_ref()
                .is_some_and(|b| !b.changes.is_empty() && b.action != "skipped");
        self.elapsed_ms = started.elapsed().as_millis();
        self
    }
}

/// `function random-name`, or `function key (lambda-name)` when the two differ.
pub(crate) fn function_label(key: &str, name: &str) -> String {
    if key == name {
        format!("function {key}")
    } else {
        format!("function {key} ({name})")
    }
}

impl DeployReport {
    /// A stack's change rows, or a count when the progress stream already listed them on
    /// the same terminal.
    fn fmt_rows(&self, f: &mut fmt::Formatter<'_>, s: &StackResult) -> fmt::Result {
        let listed = s.changes.len() + s.stack_changes.len();
        if self.rows_shown_above && listed > 0 {
            writeln!(f, "  {listed} change(s), listed above")?;
        } else {
            for row in &s.changes {
                writeln!(f, "  {row}")?;
            }
            for change in &s.stack_changes {
                writeln!(f, "  {change}")?;
            }
        }
        for line in s.drift.iter().flat_map(drift::StackDrift::lines) {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }

    /// For the text report: the change rows went to the same terminal as progress lines.
    pub(crate) fn with_rows_shown_above(mut self, shown: bool) -> Self {
        self.rows_shown_above = shown;
        self
    }

    /// One line for every function whose reported configuration lags what was applied.
    fn unconfirmed_note(&self) -> Option<String> {
        let lagging: Vec<&FunctionResult> = self
            .functions
            .iter()
            .filter(|f| !f.unconfirmed_fields.is_empty())
            .collect();
        let first = lagging.first()?;
        let same_fields = lagging
            .iter()
            .all(|f| f.unconfirmed_fields == first.unconfirmed_fields);
        let what = if same_fields {
            format!(
                "{} of {}",
                first.unconfirmed_fields.join(", "),
                lagging
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            lagging
                .iter()
                .map(|f| format!("{} of {}", f.unconfirmed_fields.join(", "), f.name))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Some(format!(
            "the endpoint reports {what} differently from what was applied, as the function's tag {} records (emulators may not store it); not sending the same update again", crate::aws::lambda::UNSTORED_TAG
        ))
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.command == "plan";
        for s in &self.stacks {
            let action = match (plan, s.action) {
                (true, _) if s.status.is_empty() => "would be created".to_string(),
                (true, StackAction::Unchanged) => "unchanged".to_string(),
                (true, _) => "would be updated".to_string(),
                (false, a) => format!("{a:?}").to_lowercase(),
            };
            writeln!(f, "stack {}: {action}", s.stack)?;
            self.fmt_rows(f, s)?;
            // Outputs matter when they may have changed; `status` shows them any time.
            if !plan && s.action != StackAction::Unchanged {
                for (k, v) in &s.outputs {
                    writeln!(f, "  output {k} = {v}")?;
                }
            }
        }
        for func in &self.functions {
            writeln!(
                f,
                "{}: code {}, configuration {}",
                function_label(&func.function, &func.name),
                func.code.code_text(),
                func.config.config_text()
            )?;
            writeln!(f, "  code sha256 {}", func.code_sha256)?;
            for c in &func.config_changes {
                writeln!(f, "  {c}")?;
            }
            if let Some(r) = &func.release {
                writeln!(f, "  {r}")?;
            }
            if let Some(p) = &func.pending_release {
                writeln!(f, "  {p}")?;
            }
            for n in &func.notes {
                writeln!(f, "  note: {n}")?;
            }
        }
        if let Some(b) = &self.beanstalk {
            writeln!(
                f,
                "beanstalk {}/{}: {}",
                b.application,
                b.environment,
                b.action.replace('_', " ")
            )?;
            for c in &b.changes {
                writeln!(f, "  {c}")?;
            }
            if let (Some(s), Some(h)) = (&b.status, &b.health) {
                writeln!(f, "  status {s}, health {h}")?;
            }
            if let Some(w) = &b.warning {
                writeln!(f, "  warning: {w}")?;
            }
        }
        if let Some(note) = self.unconfirmed_note() {
            writeln!(f, "note: {note}")?;
        }
        let verdict = match (plan, self.changed) {
            (_, false) => "no changes",
            (true, true) => "changes pending",
            (false, true) => "deployed",
        };
        writeln!(
            f,
            "{verdict} ({})",
            human_duration(std::time::Duration::from_millis(self.elapsed_ms as u64))
        )
    }
}

/// Which flow a journal is for: `up` also deploys stacks and wires Beanstalk,
/// `update-functions` touches functions only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Up,
    UpdateFunctions,
}

/// The steps of `up`/`update-functions`, for the "done / not done" report on Ctrl-C.
fn planned_steps(project: &Project, flow: Flow, keys: &[&str]) -> Vec<String> {
    let mut steps = Vec::new();
    if flow == Flow::Up {
        steps.extend(
            project
                .config
                .stacks
                .iter()
                .map(|s| format!("stack {}", s.name)),
        );
    }
    steps.push("build".to_string());
    for key in keys {
        let name = project.lambda_name(key);
        steps.push(format!("function {name} code"));
        steps.push(format!("function {name} configuration"));
        steps.push(format!("function {name} release"));
    }
    if flow == Flow::Up {
        if let Some(eb) = &project.config.beanstalk {
            steps.push(format!("beanstalk {}", eb.environment));
        }
    }
    steps
}

/// `up`: render → stacks → (build, in parallel) → function code and configuration → Beanstalk.
/// Ctrl-C stops at the next step boundary (or cancels the request in flight) and says what was
/// done and what was not.
pub(crate) async fn up(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    options: StackOptions,
    build_options: BuildOptions,
) -> anyhow::Result<DeployReport> {
    let keys = project.function_keys();
    let journal = Journal::new("up", planned_steps(project, Flow::Up, &keys));
    let ledger = Ledger::default();
    let run = Run {
        journal: &journal,
        ledger: &ledger,
    };
    up_steps(clients, project, reporter, options, build_options, run)
        .await
        .map_err(|e| with_results(journal.explain(e), &ledger))
}

/// A failed or interrupted `up`/`update-functions` error, carrying each function's result so
/// far: `--output json` prints them, so a pipeline can roll back what was released.
fn with_results(err: anyhow::Error, ledger: &Ledger) -> anyhow::Error {
    match serde_json::to_value(ledger.results()) {
        Ok(functions) => err.context(crate::report::PartialResults { functions }),
        Err(_) => err,
    }
}

async fn up_steps(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    options: StackOptions,
    build_options: BuildOptions,
    run: Run<'_>,
) -> anyhow::Result<DeployReport> {
    let journal = run.journal;
    let started = Instant::now();
    functions::check_layers(project, &project.function_keys(), &clients.region)?;
    let rendered = template::render_project(project)?;

    // The build comes first, so a bundle over Lambda's limits stops `up` before the stacks
    // change (it stops by itself on Ctrl-C: npm/pip are killed).
    let artifacts =
        bundle::build_functions(project, &project.function_keys(), &build_options, reporter)?;
    bundle::limits::check_project(project, &artifacts)?;
    journal.done("build", format!("{} bundle(s)", artifacts.len()));
    interrupt::check()?;
    let stacks = deploy_stacks(clients, project, reporter, &rendered, options, journal).await?;
    let outputs = merged_outputs(&stacks);
    let inputs = FunctionInputs {
        rendered: &rendered,
        artifacts: &artifacts,
        outputs: &outputs,
    };
    let functions = apply_functions(clients, project, reporter, inputs, Unpin::No, run).await?;

    let beanstalk = match &project.config.beanstalk {
        Some(eb) => Some(wire_beanstalk(clients, eb, &outputs, reporter, journal).await?),
        None => None,
    };

    Ok(DeployReport::new(
        "up", clients, stacks, functions, beanstalk, started,
    ))
}

/// The stack step of `up`: each rendered stack in order, each racing Ctrl-C.
async fn deploy_stacks(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    rendered: &[RenderedStack],
    options: StackOptions,
    journal: &Journal,
) -> anyhow::Result<Vec<StackResult>> {
    let mut stacks = Vec::new();
    for r in rendered {
        let task = reporter.task(format!("stack {}: checking", r.stack));
        let result = interrupt::race_while(format!("deploying stack {}", r.stack), async {
            let url = template_url(clients, project, r).await?;
            stack::deploy(
                &clients.cloudformation,
                r,
                url.as_deref(),
                &project.config.tags,
                options,
                &task,
            )
            .await
        })
        .await;
        match result {
            Ok(result) => {
                let took = human_duration(task.elapsed());
                let action = format!("{:?}", result.action).to_lowercase();
                task.finish(format!("stack {}: {action} ({took})", r.stack));
                journal.done(&format!("stack {}", r.stack), action);
                stacks.push(result);
            }
            Err(err) => {
                task.finish(format!("stack {}: failed", r.stack));
                return Err(err);
            }
        }
    }
    Ok(stacks)
}

/// The Beanstalk step of `up`, racing Ctrl-C.
async fn wire_beanstalk(
    clients: &Clients,
    eb: &crate::config::BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    reporter: &Reporter,
    journal: &Journal,
) -> anyhow::Result<BeanstalkResult> {
    interrupt::check()?;
    let task = reporter.task(format!("beanstalk {}: checking", eb.environment));
    let result = interrupt::race_while(
        format!("checking Beanstalk environment {}", eb.environment),
        beanstalk::wire(
            &clients.beanstalk,
            eb,
            outputs,
            &clients.region,
            Mode::Apply,
            &task,
        ),
    )
    .await?;
    task.finish(format!("beanstalk {}: {}", eb.environment, result.action));
    journal.done(
        &format!("beanstalk {}", eb.environment),
        result.action.clone(),
    );
    Ok(result)
}

/// `update-functions`: build + code/configuration only, against stacks that exist.
pub(crate) async fn update_functions(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    names: &[String],
    build_options: BuildOptions,
    unpin: Unpin,
) -> anyhow::Result<DeployReport> {
    let selected: Vec<&str> = project
        .select_functions(names)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let journal = Journal::new(
        "update-functions",
        planned_steps(project, Flow::UpdateFunctions, &selected),
    );
    let ledger = Ledger::default();
    let run = Run {
        journal: &journal,
        ledger: &ledger,
    };
    let steps = FunctionsStep {
        selected: &selected,
        build_options,
        unpin,
    };
    update_functions_steps(clients, project, reporter, steps, run)
        .await
        .map_err(|e| with_results(journal.explain(e), &ledger))
}

/// What `update-functions` was asked to do.
struct FunctionsStep<'a> {
    selected: &'a [&'a str],
    build_options: BuildOptions,
    unpin: Unpin,
}

async fn update_functions_steps(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    steps: FunctionsStep<'_>,
    run: Run<'_>,
) -> anyhow::Result<DeployReport> {
    let FunctionsStep {
        selected,
        build_options,
        unpin,
    } = steps;
    let started = Instant::now();
    functions::check_layers(project, selected, &clients.region)?;
    let rendered = template::render_project(project)?;
    let outputs = existing_outputs(clients, project).await?;
    let artifacts = bundle::build_functions(project, selected, &build_options, reporter)?;
    bundle::limits::check_project(project, &artifacts)?;
    run.journal
        .done("build", format!("{} bundle(s)", artifacts.len()));
    let inputs = FunctionInputs {
        rendered: &rendered,
        artifacts: &artifacts,
        outputs: &outputs,
    };
    let functions = apply_functions(clients, project, reporter, inputs, unpin, run).await?;
    Ok(DeployReport::new(
        "update-functions",
        clients,
        Vec::new(),
        functions,
        None,
        started,
    ))
}

/// `plan`: what `up` would change, changing nothing.
pub async fn plan(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
) -> anyhow::Result<DeployReport> {
    plan_with(clients, project, reporter, drift::DriftCheck::Skip).await
}

/// `plan`, with or without CloudFormation drift detection (`--drift`).
pub async fn plan_with(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    drift_check: drift::DriftCheck,
) -> anyhow::Result<DeployReport> {
    let started = Instant::now();
    functions::check_layers(project, &project.function_keys(), &clients.region)?;
    let rendered = template::render_project(project)?;
    let artifacts = bundle::build_functions(
        project,
        &project.function_keys(),
        &BuildOptions { force: false },
        reporter,
    )?;
    bundle::limits::check_project(project, &artifacts)?;
    let stacks = preview_stacks(clients, project, reporter, &rendered, drift_check).await?;
    let outputs = merged_outputs(&stacks);
    let all_exist = stacks.iter().all(|s| !s.status.is_empty());
    let functions = if all_exist {
        let journal = Journal::new("plan", Vec::new());
        let ledger = Ledger::default();
        let how = How {
            mode: Mode::Preview,
            unpin: Unpin::No,
        };
        let run = Run {
            journal: &journal,
            ledger: &ledger,
        };
        let inputs = FunctionInputs {
            rendered: &rendered,
            artifacts: &artifacts,
            outputs: &outputs,
        };
        sync_functions(clients, project, reporter, inputs, how, run).await?
    } else {
        functions_before_create(project, &artifacts)
    };
    let beanstalk = match (&project.config.beanstalk, all_exist) {
        (Some(eb), true) => Some(beanstalk_compare(clients, eb, &outputs, reporter).await?),
        (Some(eb), false) => Some(beanstalk_before_create(clients, eb, reporter).await?),
        (None, _) => None,
    };
    Ok(DeployReport::new(
        "plan", clients, stacks, functions, beanstalk, started,
    ))
}

/// The stack step of `plan`: each rendered stack's change rows and output, parameter and tag
/// changes, from a change set that is deleted again, or every resource for a stack that does
/// not exist; with `--drift`, what drift detection finds in each existing stack.
async fn preview_stacks(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    rendered: &[RenderedStack],
    drift_check: drift::DriftCheck,
) -> anyhow::Result<Vec<StackResult>> {
    let mut stacks = Vec::new();
    for r in rendered {
        let task = reporter.task(format!("stack {}: comparing", r.stack));
        let url = template_url(clients, project, r).await?;
        let cfn = &clients.cloudformation;
        let preview = stack::preview(cfn, r, url.as_deref(), &project.config.tags, &task).await?;
        let drift = match (drift_check, &preview.live) {
            (drift::DriftCheck::Detect, Some(_)) => Some(
                interrupt::race_while(
                    format!("detecting drift on stack {}", r.stack),
                    drift::detect(cfn, &r.stack, &task),
                )
                .await?,
            ),
            _ => None,
        };
        let pending = preview.rows.len() + preview.stack_changes.len();
        task.finish(format!("stack {}: {pending} change(s)", r.stack));
        stacks.push(StackResult {
            stack: r.stack.clone(),
            action: match &preview.live {
                _ if pending == 0 => StackAction::Unchanged,
                Some(_) => StackAction::Updated,
                None => StackAction::Created,
            },
            status: preview
                .live
                .as_ref()
                .map(|l| l.status.clone())
                .unwrap_or_default(),
            changes: preview.rows,
            stack_changes: preview.stack_changes,
            outputs: preview.live.map(|l| l.outputs).unwrap_or_default(),
            drift,
        });
    }
    Ok(stacks)
}

/// `plan` before the stacks exist: every function would be created by its stack, so there is
/// nothing in Lambda to compare with.
fn functions_before_create(project: &Project, artifacts: &[Artifact]) -> Vec<FunctionResult> {
    artifacts
        .iter()
        .map(|a| FunctionResult {
            function: a.function.clone(),
            name: project.lambda_name(&a.function).to_string(),
            code: Change::WouldCreate,
            code_sha256: a.manifest.sha256_base64.clone(),
            live_code_sha256: None,
            config: Change::WouldCreate,
            config_changes: Vec::new(),
            unconfirmed_fields: Vec::new(),
            notes: vec!["its stack does not exist yet".into()],
            release: None,
            pending_release: None,
            pinned: None,
            error: None,
        })
        .collect()
}

/// `plan` with the stacks in place: the environment's differences from what `up` would set.
async fn beanstalk_compare(
    clients: &Clients,
    eb: &crate::config::BeanstalkConfig,
    outputs: &BTreeMap<String, String>,
    reporter: &Reporter,
) -> anyhow::Result<BeanstalkResult> {
    let task = reporter.task(format!("beanstalk {}: comparing", eb.environment));
    let result = beanstalk::wire(
        &clients.beanstalk,
        eb,
        outputs,
        &clients.region,
        Mode::Preview,
        &task,
    )
    .await?;
    task.finish(format!(
        "beanstalk {}: {} difference(s)",
        eb.environment,
        result.changes.len()
    ));
    Ok(result)
}

/// `plan` before the stacks exist: what `up` would set on the environment, with the values
/// that come from stack outputs named as such (they exist only after the create).
async fn beanstalk_before_create(
    clients: &Clients,
    eb: &crate::config::BeanstalkConfig,
    reporter: &Reporter,
) -> anyhow::Result<BeanstalkResult> {
    let task = reporter.task(format!("beanstalk {}: comparing", eb.environment));
    let referenced = |value: &str| crate::config::referenced_outputs(value);
    // Stand-ins that no live value equals, so every output-fed property shows as a change.
    let placeholders: BTreeMap<String, String> = eb
        .properties
        .values()
        .flat_map(|v| referenced(v))
        .map(|name| (name.clone(), format!("(stack output {name})")))
        .collect();
    let mut result = beanstalk::wire(
        &clients.beanstalk,
        eb,
        &placeholders,
        &clients.region,
        Mode::Preview,
        &task,
    )
    .await?;
    for change in &mut result.changes {
        let outputs = eb.properties.get(&change.option).map(|v| referenced(v));
        if let Some(outputs) = outputs.filter(|o| !o.is_empty()) {
            change.change = format!("(from stack output {}, after create)", outputs.join(", "));
        }
    }
    task.finish(format!(
        "beanstalk {}: {} difference(s) once the stacks exist",
        eb.environment,
        result.changes.len()
    ));
    Ok(result)
}

fn merged_outputs(stacks: &[StackResult]) -> BTreeMap<String, String> {
    stacks.iter().flat_map(|s| s.outputs.clone()).collect()
}

/// Outputs of every configured stack, which must exist and be stable.
pub(crate) async fn existing_outputs(
    clients: &Clients,
    project: &Project,
) -> anyhow::Result<BTreeMap<String, String>> {
    let stacks = Stacks::describe(&clients.cloudformation, project.stack_names()).await?;
    for (name, live) in &stacks.stacks {
        let live = live.as_ref().ok_or_else(|| {
            anyhow::Error::from(Problem::failure(format!("stack {name} does not exist in {}", clients.region)).hint("run `scorekeep-deploy up` first; `update-functions` only updates existing functions"))
        })?;
        if crate::aws::cfn::classify(&live.status) != StackState::Ready {
            return Err(
                Problem::failure(format!("stack {name} is in {}", live.status))
                    .hint("run `scorekeep-deploy up`, which explains and handles this state")
                    .into(),
            );
        }
    }
    Ok(stacks.outputs())
}

/// After the build: bring each built function up to date, as `up` and `update-functions` do.
async fn apply_functions(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    inputs: FunctionInputs<'_>,
    unpin: Unpin,
    run: Run<'_>,
) -> anyhow::Result<Vec<FunctionResult>> {
    interrupt::check()?;
    let how = How {
        mode: Mode::Apply,
        unpin,
    };
    sync_functions(clients, project, reporter, inputs, how, run).await
}

/// Where CloudFormation fetches a template that is over the inline limit: uploaded once to
/// `artifact_bucket` under its SHA-256, so reruns find it there and upload nothing.
async fn template_url(
    clients: &Clients,
    project: &Project,
    rendered: &RenderedStack,
) -> anyhow::Result<Option<String>> {
    use sha2::Digest;
    if !rendered.needs_s3_upload {
        return Ok(None);
    }
    let Some(bucket) = &project.config.artifact_bucket else {
        return Err(Problem::failure(format!("stack {}: the rendered template is {} bytes, over CloudFormation's {}-byte inline limit", rendered.stack, rendered.size_bytes, template::INLINE_BODY_LIMIT)).hint("set `artifact_bucket:` in the config to an S3 bucket the deploy may write to, or shorten the template").into());
    };
    let sha = hex::encode(sha2::Sha256::digest(rendered.body.as_bytes()));
    let key = format!("scorekeep-deploy/templates/{}/{sha}.yaml", rendered.stack);
    if !crate::aws::s3::object_exists(&clients.s3, bucket, &key).await {
        let what = format!("template of stack {}", rendered.stack);
        let body = rendered.body.clone().into_bytes();
        crate::aws::s3::upload_bytes(&clients.s3, bucket, &key, body, &what).await?;
    }
    Ok(Some(format!(
        "https://{bucket}.s3.{}.amazonaws.com/{key}",
        clients.region
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::stack::ChangeRow;

    fn report(command: &'static str, action: StackAction) -> DeployReport {
        DeployReport {
            command,
            region: "us-east-1".into(),
            stacks: vec![StackResult {
                stack: "s".into(),
                action,
                status: "UPDATE_COMPLETE".into(),
                changes: vec![ChangeRow {
                    action: "Modify".into(),
                    logical_id: "WorkerQueue".into(),
                    resource_type: "AWS::SQS::Queue".into(),
                    replacement: Some("False".into()),
                }],
                outputs: BTreeMap::from([("QueueUrl".to_string(), "https://q".to_string())]),
                ..StackResult::default()
            }],
            functions: Vec::new(),
            beanstalk: None,
            changed: true,
            elapsed_ms: 0,
            rows_shown_above: false,
        }
    }

    #[test]
    fn rows_listed_by_progress_on_the_same_terminal_are_counted_not_repeated() {
        let text = report("up", StackAction::Updated).to_string();
        assert!(text.contains("WorkerQueue"), "{text}");
        let text = report("up", StackAction::Updated)
            .with_rows_shown_above(true)
            .to_string();
        assert!(!text.contains("WorkerQueue"), "{text}");
        assert!(text.contains("1 change(s), listed above"), "{text}");
    }

    #[test]
    fn outputs_only_after_a_stack_changed() {
        let updated = report("up", StackAction::Updated).to_string();
        assert!(updated.contains("output QueueUrl = https://q"), "{updated}");
        let mut same = report("up", StackAction::Unchanged);
        same.stacks[0].changes.clear();
        assert!(!same.to_string().contains("output "), "{same}");
        assert!(!report("plan", StackAction::Updated)
            .to_string()
            .contains("output "));
    }

    #[test]
    fn a_plan_with_only_an_output_change_or_only_drift_is_pending() {
        use crate::deploy::stack_diff::{PartAction, StackChange, StackPart};
        let mut plan = report("plan", StackAction::Updated);
        plan.stacks[0].changes.clear();
        plan.stacks[0].stack_changes = vec![StackChange {
            part: StackPart::Output,
            name: "Extra".into(),
            action: PartAction::Add,
            from: None,
            to: None,
        }];
        let plan = plan.finish(Instant::now());
        assert!(plan.changed);
        let text = plan.to_string();
        assert!(text.contains("stack s: would be updated"), "{text}");
        assert!(text.contains("Add      output Extra"), "{text}");

        let mut drifted = report("plan", StackAction::Unchanged);
        drifted.stacks[0].changes.clear();
        drifted.stacks[0].drift = Some(drift::StackDrift {
            stack_drift_status: "DRIFTED".into(),
            incomplete: None,
            resources: Vec::new(),
        });
        let drifted = drifted.finish(Instant::now());
        assert!(drifted.changed, "drift is a pending change");
        assert!(drifted.to_string().contains("drift: DRIFTED"), "{drifted}");
        let mut in_sync = report("plan", StackAction::Unchanged);
        in_sync.stacks[0].changes.clear();
        assert!(!in_sync.finish(Instant::now()).changed);
    }

    #[test]
    fn a_function_named_like_its_key_is_named_once() {
        assert_eq!(
            function_label("random-name", "random-name"),
            "function random-name"
        );
        assert_eq!(
            function_label("worker", "scorekeep-worker"),
            "function worker (scorekeep-worker)"
        );
    }
}
