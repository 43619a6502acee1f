//! `plan --drift`: CloudFormation's drift detection for one stack, waited for and reduced to
//! the drifted resources and their property differences (expected: the template's; actual:
//! the resource's), for the text and JSON reports. Drift is a pending change: `up
//! --revert-drift` puts the resources back.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::aws::drift::{self, DetectionStatus, ResourceDrift};
use crate::error::Problem;
use crate::report::Task;

/// Whether `plan` runs drift detection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DriftCheck {
    #[default]
    Skip,
    /// `plan --drift`.
    Detect,
}

/// Longest wait for one stack's detection (CloudFormation's take seconds to a few minutes).
const DETECTION_BUDGET: Duration = Duration::from_secs(600);

/// What drift detection found for one stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackDrift {
    /// DRIFTED, IN_SYNC, UNKNOWN or NOT_CHECKED, as CloudFormation says.
    pub stack_drift_status: String,
    /// Set when the detection failed for some resources (the others are still listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    pub resources: Vec<ResourceDrift>,
}

impl StackDrift {
    /// True when something differs from the template: a pending change.
    pub fn drifted(&self) -> bool {
        !self.resources.is_empty() || self.stack_drift_status == "DRIFTED"
    }

    /// The report's lines, without indentation of their own beyond nesting.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines = vec![match self.resources.len() {
            0 => format!("drift: {}", self.stack_drift_status),
            n => format!("drift: {}, {n} resource(s)", self.stack_drift_status),
        }];
        if let Some(reason) = &self.incomplete {
            lines.push(format!("  detection incomplete: {reason}"));
        }
        for r in &self.resources {
            let physical = r
                .physical_id
                .as_deref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default();
            lines.push(format!(
                "  {:<8} {} ({}{physical})",
                r.status, r.logical_id, r.resource_type
            ));
            for d in &r.differences {
                lines.push(format!(
                    "    {}: expected {}, actual {} ({})",
                    d.path,
                    d.expected.as_deref().unwrap_or("(none)"),
                    d.actual.as_deref().unwrap_or("(none)"),
                    d.difference
                ));
            }
        }
        lines
    }
}

/// Where a detection stands after one status reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    Running,
    Complete,
    /// DETECTION_FAILED: some resources could not be checked (the reason says which).
    Failed(String),
}

pub(crate) fn progress(status: &DetectionStatus) -> Progress {
    match status.detection.as_str() {
        "DETECTION_COMPLETE" => Progress::Complete,
        "DETECTION_FAILED" => Progress::Failed(
            status
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".into()),
        ),
        _ => Progress::Running,
    }
}

/// Run drift detection on `stack`, wait for it, and read the drifted resources.
pub async fn detect(cfn: &Client, stack: &str, task: &Task) -> anyhow::Result<StackDrift> {
    task.set_message(format!("stack {stack}: detecting drift"));
    let id = drift::start(cfn, stack).await?;
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    let (status, outcome) = loop {
        let status = drift::status(cfn, stack, &id).await?;
        match progress(&status) {
            Progress::Running => {}
            done => break (status, done),
        }
        if started.elapsed() > DETECTION_BUDGET {
            return Err(Problem::failure(format!(
                "stack {stack}: drift detection {id} still running after {} s",
                DETECTION_BUDGET.as_secs()
            ))
            .hint("CloudFormation carries on; look at the stack's drift in the console, or rerun `plan --drift` later")
            .into());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    let resources = drift::drifted_resources(cfn, stack).await?;
    Ok(StackDrift {
        stack_drift_status: status.stack_drift.unwrap_or_else(|| "UNKNOWN".into()),
        incomplete: match outcome {
            Progress::Failed(reason) => Some(reason),
            _ => None,
        },
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::drift::PropertyDifference;

    fn status(detection: &str, reason: Option<&str>) -> DetectionStatus {
        DetectionStatus {
            detection: detection.into(),
            reason: reason.map(String::from),
            stack_drift: None,
        }
    }

    #[test]
    fn detection_statuses_map_to_progress() {
        assert_eq!(
            progress(&status("DETECTION_IN_PROGRESS", None)),
            Progress::Running
        );
        assert_eq!(
            progress(&status("DETECTION_COMPLETE", None)),
            Progress::Complete
        );
        assert_eq!(
            progress(&status("DETECTION_FAILED", Some("Queue: access denied"))),
            Progress::Failed("Queue: access denied".into())
        );
    }

    fn queue_drift() -> ResourceDrift {
        ResourceDrift {
            logical_id: "WorkerQueue".into(),
            physical_id: Some("https://sqs/queue".into()),
            resource_type: "AWS::SQS::Queue".into(),
            status: "MODIFIED".into(),
            differences: vec![PropertyDifference {
                path: "/VisibilityTimeout".into(),
                expected: Some("60".into()),
                actual: Some("30".into()),
                difference: "NOT_EQUAL".into(),
            }],
        }
    }

    #[test]
    fn drifted_resources_are_listed_with_expected_and_actual() {
        let drift = StackDrift {
            stack_drift_status: "DRIFTED".into(),
            incomplete: None,
            resources: vec![queue_drift()],
        };
        assert!(drift.drifted());
        assert_eq!(
            drift.lines(),
            [
                "drift: DRIFTED, 1 resource(s)",
                "  MODIFIED WorkerQueue (AWS::SQS::Queue, https://sqs/queue)",
                "    /VisibilityTimeout: expected 60, actual 30 (NOT_EQUAL)",
            ]
        );
        let json = serde_json::to_value(&drift).unwrap();
        assert_eq!(
            json["resources"][0]["differences"][0]["path"],
            "/VisibilityTimeout"
        );
        assert_eq!(json["resources"][0]["differences"][0]["expected"], "60");
    }

    #[test]
    fn an_in_sync_stack_is_not_pending_and_an_incomplete_detection_says_why() {
        let drift = StackDrift {
            stack_drift_status: "IN_SYNC".into(),
            incomplete: Some("Topic: not checked".into()),
            resources: vec![],
        };
        assert!(!drift.drifted());
        assert_eq!(
            drift.lines(),
            [
                "drift: IN_SYNC",
                "  detection incomplete: Topic: not checked"
            ]
        );
    }
}
