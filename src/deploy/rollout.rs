//! A gradual release, after the function step published each new version: the release alias
//! keeps the old version and sends the new one a growing share of traffic, step by step, on
//! one clock for every function of the run ([`schedule`]). While a share bakes, the gates
//! ([`super::gates`]) are read every few seconds; a closed gate, a failed read, Ctrl-C or
//! SIGTERM returns every alias still in progress to its old version, with no weights. The
//! state lives in the alias itself, so a rerun after any stop resumes from the share it finds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::gates::{self, Closed, Readings};
use super::release::{self, ReleaseResult, StepRecord};
use crate::aws::cloudwatch::{self, VersionOf};
use crate::aws::routing::{self, Routing};
use crate::aws::versions::{point_alias, AliasState};
use crate::aws::Clients;
use crate::config::strategy::Strategy;
use crate::config::ReleasesConfig;
use crate::error::Problem;
use crate::interrupt::{self, Journal};
use crate::report::{Reporter, Task};

/// The stack output that names the template's own gate alarms, comma separated.
pub(crate) const GATE_ALARMS_OUTPUT: &str = "ReleaseGateAlarms";

/// The alarm gates: the config's, then those the stacks name in [`GATE_ALARMS_OUTPUT`], each
/// once.
pub(crate) fn gate_alarms(
    configured: &[String],
    outputs: &BTreeMap<String, String>,
) -> Vec<String> {
    let from_stacks = outputs
        .get(GATE_ALARMS_OUTPUT)
        .map(|v| v.split(',').map(str::trim).filter(|n| !n.is_empty()));
    let mut all: Vec<String> = configured.to_vec();
    for name in from_stacks.into_iter().flatten() {
        if !all.iter().any(|a| a == name) {
            all.push(name.to_string());
        }
    }
    all
}

/// Every alarm gate exists: a gate on an alarm CloudWatch does not know would never close.
/// Checked before the function step, so a release that could not be gated changes nothing.
pub(crate) async fn check_alarms_exist(clients: &Clients, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let found = cloudwatch::alarms(&clients.cloudwatch, names).await?;
    let missing = gates::missing_alarms(names, &found);
    if missing.is_empty() {
        return Ok(());
    }
    Err(Problem::usage(format!(
        "alarm(s) {} named in `releases.alarms` or the stack output {GATE_ALARMS_OUTPUT} do not exist in {}: no function was changed",
        missing.join(", "),
        clients.region
    ))
    .hint("create them (`scorekeep-deploy up` deploys the stack's), or remove them from `releases.alarms`")
    .into())
}

/// A function whose new version is published and waits to take traffic.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    pub(crate) name: String,
    pub(crate) alias: String,
    /// The version the alias names, which keeps the rest of the traffic until the end.
    pub(crate) primary: String,
    /// The new version.
    pub(crate) candidate: String,
    pub(crate) state: AliasState,
    pub(crate) strategy: Strategy,
    /// The new version's share already (a stopped release resumed); 0 for a new release.
    pub(crate) share: f64,
    /// Why the alias moves (the release's reason, for the report).
    pub(crate) reason: String,
    /// The function's `smoke_event`, sent to the new version before traffic moves.
    pub(crate) smoke_event: Option<std::path::PathBuf>,
}

/// When one function's share changes, on the release's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Move {
    pub(crate) at: Duration,
    pub(crate) function: usize,
    pub(crate) share: f64,
}

/// Every function's steps on one clock, in time order: each function's first step at 0, the
/// next after its bake, and so on (a resumed function starts from its current share).
pub(crate) fn schedule(plans: &[(Strategy, f64)]) -> Vec<Move> {
    let mut moves = Vec::new();
    for (function, (strategy, share)) in plans.iter().enumerate() {
        let mut at = Duration::ZERO;
        for step in strategy.steps_from(*share) {
            moves.push(Move {
                at,
                function,
                share: step.share,
            });
            at += step.bake;
        }
    }
    moves.sort_by_key(|m| (m.at, m.function));
    moves
}

/// How often the gates are read while a share bakes: a third of the shortest bake, from 1 s
/// to 10 s.
fn gate_interval(plans: &[(Strategy, f64)]) -> Duration {
    plans
        .iter()
        .flat_map(|(s, _)| s.steps())
        .map(|s| s.bake)
        .filter(|b| !b.is_zero())
        .min()
        .map_or(Duration::from_secs(10), |b| b / 3)
        .clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Why a release stopped before its end.
enum Stop {
    Gate(Closed),
    Interrupted,
    Failed(anyhow::Error),
}

/// One function while its release runs.
struct InFlight {
    staged: Staged,
    state: AliasState,
    share: f64,
    steps: Vec<StepRecord>,
    task: Task,
}

impl InFlight {
    fn baking(&self) -> bool {
        self.share > 0.0 && self.share < 1.0
    }
}

/// What the release needs besides the functions.
pub(crate) struct Rollout<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) settings: &'a ReleasesConfig,
    /// The alarm gates: `releases.alarms` and the stacks' [`GATE_ALARMS_OUTPUT`].
    pub(crate) alarms: Vec<String>,
    pub(crate) reporter: &'a Reporter,
    pub(crate) journal: &'a Journal,
}

impl Rollout<'_> {
    /// Release `staged` step by step; each function's result, by Lambda name.
    pub(crate) async fn run(
        &self,
        staged: Vec<Staged>,
    ) -> anyhow::Result<BTreeMap<String, ReleaseResult>> {
        let plans: Vec<(Strategy, f64)> = staged.iter().map(|s| (s.strategy, s.share)).collect();
        let moves = schedule(&plans);
        let interval = gate_interval(&plans);
        let mut flights: Vec<InFlight> = staged
            .into_iter()
            .map(|s| InFlight {
                task: self.reporter.task(format!(
                    "function {}: releasing version {} ({})",
                    s.name, s.candidate, s.strategy
                )),
                state: s.state.clone(),
                share: s.share,
                staged: s,
                steps: Vec::new(),
            })
            .collect();
        if let Err(err) = self.smoke_tests(&flights).await {
            return Err(self.revert(flights, Stop::Failed(err)).await);
        }
        let clock = Clock {
            start: Instant::now(),
            since: SystemTime::now(),
            interval,
        };
        match self.drive(&moves, &mut flights, &clock).await {
            Ok(()) => self.finish(flights).await,
            Err(stop) => Err(self.revert(flights, stop).await),
        }
    }

    /// Each new version with a `smoke_event` is invoked directly before any traffic moves.
    async fn smoke_tests(&self, flights: &[InFlight]) -> anyhow::Result<()> {
        for f in flights {
            let s = &f.staged;
            if let Some(event) = &s.smoke_event {
                f.task.set_message(format!(
                    "function {}: smoke test of version {}",
                    s.name, s.candidate
                ));
                let test =
                    super::smoke::smoke_test(&self.clients.lambda, &s.name, &s.candidate, event);
                interrupt::race_while(format!("smoke-testing function {}", s.name), test).await?;
            }
        }
        Ok(())
    }

    /// Every move in time order, baking (and reading the gates) until each is due.
    async fn drive(
        &self,
        moves: &[Move],
        flights: &mut [InFlight],
        clock: &Clock,
    ) -> Result<(), Stop> {
        let mut last = None;
        for m in moves {
            if let Some(readings) = self.bake_until(clock, m.at, flights).await? {
                last = Some(readings);
            }
            // A signal during the previous move, with no bake between: stop before this one.
            if interrupt::requested() {
                return Err(Stop::Interrupted);
            }
            let flight = &mut flights[m.function];
            self.shift(flight, m.share).await.map_err(Stop::Failed)?;
            flight.steps.push(StepRecord {
                share: m.share,
                at_seconds: (clock.start.elapsed().as_millis() as f64) / 1000.0,
                gates: last.clone(),
            });
        }
        Ok(())
    }

    /// Wait until `at` on the clock, reading the gates every interval while any share bakes;
    /// the last readings taken, if any.
    async fn bake_until(
        &self,
        clock: &Clock,
        at: Duration,
        flights: &[InFlight],
    ) -> Result<Option<Readings>, Stop> {
        let deadline = clock.start + at;
        let mut last = None;
        while Instant::now() < deadline {
            let next = deadline.min(Instant::now() + clock.interval);
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = interrupt::cancelled() => return Err(Stop::Interrupted),
            }
            if !flights.iter().any(InFlight::baking) {
                continue;
            }
            let readings = self
                .read_gates(flights, clock.since)
                .await
                .map_err(Stop::Failed)?;
            let versions = flights
                .iter()
                .map(|f| (f.staged.name.clone(), f.staged.candidate.clone()))
                .collect();
            if let Some(closed) = gates::judge(&readings, &versions, self.settings.max_error_rate) {
                return Err(Stop::Gate(closed));
            }
            self.show_bake(flights, deadline);
            last = Some(readings);
        }
        Ok(last)
    }

    async fn read_gates(
        &self,
        flights: &[InFlight],
        since: SystemTime,
    ) -> anyhow::Result<Readings> {
        let cw = &self.clients.cloudwatch;
        let mut readings = Readings::default();
        if !self.alarms.is_empty() {
            readings.alarms = cloudwatch::alarms(cw, &self.alarms).await?;
        }
        for f in flights.iter().filter(|f| f.baking()) {
            let of = VersionOf {
                function: &f.staged.name,
                alias: &f.staged.alias,
                version: &f.staged.candidate,
            };
            let sums = cloudwatch::version_metrics(cw, &of, since).await?;
            readings.metrics.insert(f.staged.name.clone(), sums);
        }
        Ok(readings)
    }

    fn show_bake(&self, flights: &[InFlight], deadline: Instant) {
        if !self.reporter.progress_shares_terminal() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        for f in flights.iter().filter(|f| f.baking()) {
            f.task.set_message(format!(
                "{}, {}s of bake left",
                share_text(&f.staged, f.share),
                left.as_secs()
            ));
        }
    }

    /// Give the new version `share` of the alias's traffic, or all of it.
    async fn shift(&self, f: &mut InFlight, share: f64) -> anyhow::Result<()> {
        let s = &f.staged;
        if share >= 1.0 {
            let lambda = &self.clients.lambda;
            point_alias(
                lambda,
                &s.name,
                &s.alias,
                &s.candidate,
                Some(&f.state),
                "",
                &f.task,
            )
            .await?;
        } else {
            let to = Routing {
                name: &s.name,
                alias: &s.alias,
                primary: &s.primary,
                candidate: &s.candidate,
                weight: share,
            };
            f.state = routing::route(&self.clients.lambda, &to, &f.state, &f.task).await?;
        }
        f.share = share;
        f.task.set_message(share_text(s, share));
        Ok(())
    }

    /// Every function reached 100 %: prune old versions, journal and report.
    async fn finish(
        &self,
        flights: Vec<InFlight>,
    ) -> anyhow::Result<BTreeMap<String, ReleaseResult>> {
        let mut results = BTreeMap::new();
        for f in flights {
            let s = &f.staged;
            let keep = self.settings.keep_versions as usize;
            let pruned = release::prune(&self.clients.lambda, &s.name, keep).await?;
            self.journal.done(
                &format!("function {} release", s.name),
                format!("version {} ({})", s.candidate, s.strategy),
            );
            f.task.finish(format!(
                "function {}: alias {} -> version {} ({}, {} step(s))",
                s.name,
                s.alias,
                s.candidate,
                s.strategy,
                f.steps.len()
            ));
            let result = ReleaseResult {
                alias: s.alias.clone(),
                previous_version: Some(s.primary.clone()),
                version: s.candidate.clone(),
                reason: s.reason.clone(),
                pruned_versions: pruned,
                strategy: Some(s.strategy.to_string()),
                steps: f.steps,
            };
            results.insert(s.name.clone(), result);
        }
        Ok(results)
    }

    /// Return every alias that does not name its new version alone to its old version, with
    /// no weights, and say why the release stopped and what each alias names now.
    async fn revert(&self, flights: Vec<InFlight>, stop: Stop) -> anyhow::Error {
        let mut back = Vec::new();
        let mut stuck = Vec::new();
        let moved =
            |f: &&InFlight| f.share < 1.0 && !(f.share == 0.0 && f.state.routing.is_empty());
        for f in flights.iter().filter(moved) {
            let s = &f.staged;
            let lambda = &self.clients.lambda;
            match point_alias(
                lambda,
                &s.name,
                &s.alias,
                &s.primary,
                Some(&f.state),
                "",
                &f.task,
            )
            .await
            {
                Ok(()) => {
                    f.task.println(format!(
                        "function {}: alias {} back on version {} (no weights)",
                        s.name, s.alias, s.primary
                    ));
                    back.push(format!("{} on version {}", s.name, s.primary));
                }
                Err(err) => stuck.push(format!(
                    "{} ({}; run `scorekeep-deploy rollback {} --to {}`)",
                    s.name,
                    crate::error::tell(&err).message,
                    s.name,
                    s.primary
                )),
            }
        }
        let after = format!(
            "; alias {} back: {}{}",
            self.settings.alias,
            if back.is_empty() {
                "none".to_string()
            } else {
                back.join(", ")
            },
            if stuck.is_empty() {
                String::new()
            } else {
                format!("; NOT returned: {}", stuck.join(", "))
            }
        );
        match stop {
            Stop::Gate(closed) => Problem::failure(format!(
                "release stopped by a gate: {}{after}",
                closed.0
            ))
            .hint("find the cause in the new version (`scorekeep-deploy traces`), fix it and rerun; the new version took no more traffic")
            .into(),
            Stop::Interrupted => Problem::interrupted(format!(
                "{} during a gradual release{after}",
                interrupt::interrupted()
            ))
            .into(),
            // The cause keeps its class (usage, failure, interrupted) and hint.
            Stop::Failed(err) => err.context(format!("release stopped{after}")),
        }
    }
}

/// The release's clock: when it started (for the schedule and CloudWatch's window) and how
/// often gates are read.
struct Clock {
    start: Instant,
    since: SystemTime,
    interval: Duration,
}

fn share_text(s: &Staged, share: f64) -> String {
    if share >= 1.0 {
        format!(
            "function {}: alias {} -> version {} (100 %)",
            s.name, s.alias, s.candidate
        )
    } else {
        format!(
            "function {}: {:.0} % on version {}, the rest on version {}",
            s.name,
            share * 100.0,
            s.candidate,
            s.primary
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str, share: f64) -> (Strategy, f64) {
        (Strategy::parse(text).unwrap(), share)
    }

    #[test]
    fn two_functions_shift_on_one_clock() {
        let moves = schedule(&[plan("canary:50:3s", 0.0), plan("canary:50:3s", 0.0)]);
        let seen: Vec<(u64, usize, f64)> = moves
            .iter()
            .map(|m| (m.at.as_secs(), m.function, m.share))
            .collect();
        assert_eq!(
            seen,
            vec![(0, 0, 0.5), (0, 1, 0.5), (3, 0, 1.0), (3, 1, 1.0)]
        );
    }

    #[test]
    fn linear_takes_four_steps_and_a_resumed_release_starts_where_it_stood() {
        let moves = schedule(&[plan("linear:25:1s", 0.0)]);
        let shares: Vec<f64> = moves.iter().map(|m| m.share).collect();
        assert_eq!(shares, vec![0.25, 0.5, 0.75, 1.0]);
        assert_eq!(moves[3].at, Duration::from_secs(3));
        let resumed = schedule(&[plan("linear:25:1s", 0.5)]);
        let shares: Vec<f64> = resumed.iter().map(|m| m.share).collect();
        assert_eq!(shares, vec![0.5, 0.75, 1.0]);
        assert_eq!(resumed[0].at, Duration::ZERO);
    }

    #[test]
    fn the_stacks_gate_alarms_join_the_configured_ones_once() {
        let outputs = BTreeMap::from([(
            GATE_ALARMS_OUTPUT.to_string(),
            "a-errors, b-errors,,dlq".to_string(),
        )]);
        let configured = vec!["team-alarm".to_string(), "dlq".to_string()];
        assert_eq!(
            gate_alarms(&configured, &outputs),
            vec!["team-alarm", "dlq", "a-errors", "b-errors"]
        );
        assert_eq!(gate_alarms(&[], &BTreeMap::new()), Vec::<String>::new());
    }

    #[test]
    fn gates_are_read_often_enough_for_the_shortest_bake() {
        assert_eq!(
            gate_interval(&[plan("canary:10:3s", 0.0)]),
            Duration::from_secs(1)
        );
        assert_eq!(
            gate_interval(&[plan("canary:10:5m", 0.0)]),
            Duration::from_secs(10)
        );
        assert_eq!(
            gate_interval(&[plan("linear:10:6s", 0.0)]),
            Duration::from_secs(2)
        );
    }
}
