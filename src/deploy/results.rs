//! What the flows report: each function's result (code, configuration, release), the report of
//! `up`, `update-functions` and `plan`, and its text form (JSON is its serde form).

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use super::beanstalk::BeanstalkResult;
use super::drift;
use super::functions::ConfigChange;
use super::release;
use super::stack::{StackAction, StackResult};
use crate::aws::lambda::LiveFunction;
use crate::aws::Clients;
use crate::report::human_duration;

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
    /// `plan`: the tracing SDK the function is built with changes (from the stack's
    /// `<Prefix>TracingSdk` parameter to the config's `tracing_sdk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tracing_sdk: Option<SdkSwitch>,
    /// A gradual release's published version, waiting for the rollout (not reported).
    #[serde(skip)]
    pub(crate) staged: Option<super::rollout::Staged>,
}

/// `plan`: a function's tracing SDK, as deployed and as configured (`xray`, `otel`,
/// `otel-layer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SdkSwitch {
    pub(crate) from: String,
    pub(crate) to: String,
}

/// `plan`: where the release alias is and why it would move.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PendingRelease {
    pub(crate) alias: String,
    /// `None`: the alias does not exist.
    pub(crate) current_version: Option<String>,
    pub(crate) reason: String,
    /// A gradual strategy the move would follow (`None`: at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
}

impl fmt::Display for PendingRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.current_version.as_deref().unwrap_or("(none)");
        write!(
            f,
            "alias {} (now version {from}) would move to a version of the source: {}",
            self.alias, self.reason
        )?;
        match &self.strategy {
            Some(s) => write!(f, "; gradually ({s})"),
            None => Ok(()),
        }
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
            tracing_sdk: None,
            staged: None,
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
    pub(crate) fn new(
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

    pub(crate) fn finish(mut self, started: Instant) -> Self {
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

/// The first characters of a base64 SHA-256: enough to tell two builds apart at a glance.
fn short_sha(sha: &str) -> &str {
    sha.char_indices().nth(12).map_or(sha, |(i, _)| &sha[..i])
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
            match func.live_code_sha256.as_deref() {
                // A pending code change names both bundles, short: which build replaces which.
                Some(live) if func.code == Change::WouldUpdate && live != func.code_sha256 => {
                    let (from, to) = (short_sha(live), short_sha(&func.code_sha256));
                    writeln!(f, "  code sha256 {from} -> {to}")?
                }
                _ => writeln!(f, "  code sha256 {}", func.code_sha256)?,
            }
            if let Some(sdk) = &func.tracing_sdk {
                writeln!(f, "  tracing SDK {} -> {}", sdk.from, sdk.to)?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::change_row::ChangeRow;
    use std::collections::BTreeMap;

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

    fn function(code: Change, live: &str) -> FunctionResult {
        let latest = LiveFunction {
            code_sha256: live.into(),
            ..Default::default()
        };
        let mut f = FunctionResult::new("random-name", "random-name", "NEWSHAabcdefghij=", &latest);
        f.code = code;
        f
    }

    #[test]
    fn a_planned_code_change_names_the_old_and_new_sha_short() {
        let mut plan = report("plan", StackAction::Unchanged);
        let mut f = function(Change::WouldUpdate, "OLDSHAabcdefghij=");
        f.tracing_sdk = Some(SdkSwitch {
            from: "xray".into(),
            to: "otel".into(),
        });
        plan.functions = vec![f, function(Change::Unchanged, "NEWSHAabcdefghij=")];
        let text = plan.to_string();
        assert!(
            text.contains("code sha256 OLDSHAabcdef -> NEWSHAabcdef\n"),
            "{text}"
        );
        assert!(text.contains("tracing SDK xray -> otel\n"), "{text}");
        // Unchanged code: the one sha, in full.
        assert!(text.contains("code sha256 NEWSHAabcdefghij=\n"), "{text}");
        assert_eq!(text.matches("tracing SDK").count(), 1, "{text}");
    }
}
