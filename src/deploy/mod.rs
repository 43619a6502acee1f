//! The deploy engine: `up` and `update-functions` (here), `plan` (in `plan.rs`) and `status` (in
//! `status.rs`) as flows over the stack, function and Beanstalk steps. Each flow returns a report
//! value (`results.rs`); the commands print it.

pub(crate) mod actual;
pub mod beanstalk;
pub(crate) mod change_row;
pub mod change_set;
pub(crate) mod concurrent;
pub(crate) mod down;
pub mod drift;
pub mod functions;
mod gates;
mod output_parameters;
mod plan;
pub mod release;
mod results;
pub(crate) mod rollback;
pub(crate) mod rollout;
mod smoke;
pub mod stack;
pub mod stack_diff;
pub(crate) mod stackset;
pub(crate) mod status;
pub(crate) mod sync;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::aws::Clients;
use crate::bundle::{self, BuildOptions};
use crate::config::Project;
use crate::error::Problem;
use crate::interrupt::{self, Journal};
use crate::report::{human_duration, Reporter};
use crate::template::{self, RenderedStack};

use self::beanstalk::BeanstalkResult;
use self::release::Unpin;
use self::stack::{StackOptions, StackResult};
use self::sync::{sync_functions, FunctionInputs, How, Ledger, Run};
use crate::aws::cfn::{StackState, Stacks};

pub use self::plan::{plan, plan_with};
pub(crate) use self::results::{function_label, Change, FunctionResult, PendingRelease};
pub use self::results::{DeployReport, Mode};

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
    release: ReleaseOptions,
) -> anyhow::Result<DeployReport> {
    let keys = project.function_keys();
    let journal = Journal::new("up", planned_steps(project, Flow::Up, &keys));
    let ledger = Ledger::default();
    let run = Run {
        journal: &journal,
        ledger: &ledger,
    };
    up_steps(
        clients,
        project,
        reporter,
        (options, build_options, release),
        run,
    )
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
    (options, build_options, release): (StackOptions, BuildOptions, ReleaseOptions),
    run: Run<'_>,
) -> anyhow::Result<DeployReport> {
    let journal = run.journal;
    let started = Instant::now();
    functions::check_layers(project, &project.function_keys(), &clients.region)?;
    let rendered = template::render_project(project)?;

    // The build comes first, so a bundle over Lambda's limits stops `up` before the stacks
    // change (it stops by itself on Ctrl-C: npm/pip are killed).
    let artifacts = bundles(project, &project.function_keys(), &build_options, reporter)?;
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
    let functions = apply_functions(clients, project, reporter, inputs, release, run).await?;

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
        let step = output_parameters::StackStep {
            clients,
            project,
            options,
            task: &task,
        };
        let earlier = merged_outputs(&stacks);
        let result = interrupt::race_while(
            format!("deploying stack {}", r.stack),
            output_parameters::deploy(step, r, &earlier),
        )
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
    release: ReleaseOptions,
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
        release,
    };
    update_functions_steps(clients, project, reporter, steps, run)
        .await
        .map_err(|e| with_results(journal.explain(e), &ledger))
}

/// What `update-functions` was asked to do.
struct FunctionsStep<'a> {
    selected: &'a [&'a str],
    build_options: BuildOptions,
    release: ReleaseOptions,
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
        release,
    } = steps;
    let started = Instant::now();
    functions::check_layers(project, selected, &clients.region)?;
    let rendered = template::render_project(project)?;
    // The bundles first, as in `up`: one that is over a limit or refused (`--artifacts`)
    // stops the run before any AWS call.
    let artifacts = bundles(project, selected, &build_options, reporter)?;
    bundle::limits::check_project(project, &artifacts)?;
    run.journal
        .done("build", format!("{} bundle(s)", artifacts.len()));
    let outputs = existing_outputs(clients, project).await?;
    let inputs = FunctionInputs {
        rendered: &rendered,
        artifacts: &artifacts,
        outputs: &outputs,
    };
    let functions = apply_functions(clients, project, reporter, inputs, release, run).await?;
    Ok(DeployReport::new(
        "update-functions",
        clients,
        Vec::new(),
        functions,
        None,
        started,
    ))
}

/// The bundles to deploy: built now, or (`--artifacts DIR`) built before and checked.
pub(super) fn bundles(
    project: &Project,
    keys: &[&str],
    options: &BuildOptions,
    reporter: &Reporter,
) -> anyhow::Result<Vec<bundle::Artifact>> {
    match &options.prebuilt {
        Some(dir) => {
            // Built elsewhere, but deployed now: the X-Ray SDK's end of support still applies.
            if let Some(w) = project.xray_sdk_warning(keys) {
                reporter.warn(w);
            }
            bundle::prebuilt::load(project, keys, dir)
        }
        None => bundle::build_functions(project, keys, options, reporter),
    }
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

/// After the build: bring each built function up to date, as `up` and `update-functions` do;
/// then the gradual releases the function step staged, on one clock.
async fn apply_functions(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    inputs: FunctionInputs<'_>,
    release: ReleaseOptions,
    run: Run<'_>,
) -> anyhow::Result<Vec<FunctionResult>> {
    interrupt::check()?;
    let how = How {
        mode: Mode::Apply,
        unpin: release.unpin,
        strategy: release.strategy,
    };
    let alarms = rollout::gate_alarms(&project.config.releases.alarms, inputs.outputs);
    if may_release_gradually(project, release) {
        rollout::check_alarms_exist(clients, &alarms).await?;
    }
    let mut functions = sync_functions(clients, project, reporter, inputs, how, run).await?;
    let staged: Vec<_> = functions
        .iter_mut()
        .filter_map(|f| f.staged.take())
        .collect();
    if staged.is_empty() {
        return Ok(functions);
    }
    let rollout = rollout::Rollout {
        clients,
        settings: &project.config.releases,
        alarms,
        reporter,
        journal: run.journal,
    };
    let mut released = rollout.run(staged).await?;
    for f in &mut functions {
        if let Some(r) = released.remove(&f.name) {
            f.release = Some(r);
            run.ledger.record(f);
        }
    }
    Ok(functions)
}

/// Whether any function's release could be gradual this run (`--strategy`, the config's or a
/// function's own strategy).
fn may_release_gradually(project: &Project, release: ReleaseOptions) -> bool {
    match release.strategy {
        Some(strategy) => strategy.is_gradual(),
        None => {
            project.config.releases.strategy.is_gradual()
                || project
                    .config
                    .functions
                    .values()
                    .any(|f| f.strategy.is_some_and(|s| s.is_gradual()))
        }
    }
}

/// How `up` and `update-functions` release: whether pinned aliases move, and `--strategy`.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseOptions {
    pub(crate) unpin: Unpin,
    pub(crate) strategy: Option<crate::config::strategy::Strategy>,
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
