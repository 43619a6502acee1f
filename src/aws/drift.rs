//! CloudFormation drift detection, the thin calls: start a detection, read its status, list
//! the resources it found drifted. `deploy::drift` waits and decides; this only talks to AWS.

use aws_sdk_cloudformation::types::StackResourceDriftStatus;
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::aws::{explain, AwsError};

/// One drifted resource: what the template says and what the resource is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceDrift {
    pub logical_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// MODIFIED or DELETED.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

/// One property of a drifted resource, expected (the template's) against actual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyDifference {
    /// A JSON pointer into the resource's properties, e.g. `/VisibilityTimeout`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// ADD, REMOVE or NOT_EQUAL.
    pub difference: String,
}

/// One reading of DescribeStackDriftDetectionStatus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DetectionStatus {
    /// DETECTION_IN_PROGRESS, DETECTION_COMPLETE or DETECTION_FAILED.
    pub(crate) detection: String,
    pub(crate) reason: Option<String>,
    /// DRIFTED, IN_SYNC, UNKNOWN or NOT_CHECKED (absent while in progress).
    pub(crate) stack_drift: Option<String>,
}

/// Hint for the drift calls: the permissions, and that some endpoints lack them (an answer
/// without an AWS error code, e.g. moto's HTTP 500, says more about that than about the URL).
fn with_hint(mut err: AwsError) -> AwsError {
    let unsupported = err.code.is_none() && err.reason.starts_with("HTTP ");
    if unsupported || err.hint.is_none() {
        err.hint = Some("drift detection needs cloudformation:DetectStackDrift, DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts; an endpoint without them (moto 5.2.5 answers HTTP 500) cannot run `plan --drift`: run `plan` without it there".into());
    }
    err
}

/// DetectStackDrift: the detection's id.
pub(crate) async fn start(cfn: &Client, stack: &str) -> Result<String, AwsError> {
    let out = cfn
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            with_hint(explain(
                format!("starting drift detection on stack {stack}"),
                &e,
            ))
        })?;
    Ok(out
        .stack_drift_detection_id()
        .unwrap_or_default()
        .to_string())
}

/// DescribeStackDriftDetectionStatus, once.
pub(crate) async fn status(
    cfn: &Client,
    stack: &str,
    detection_id: &str,
) -> Result<DetectionStatus, AwsError> {
    let out = cfn
        .describe_stack_drift_detection_status()
        .stack_drift_detection_id(detection_id)
        .send()
        .await
        .map_err(|e| {
            with_hint(explain(
                format!("reading the drift detection status of stack {stack}"),
                &e,
            ))
        })?;
    Ok(DetectionStatus {
        detection: out
            .detection_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        reason: out.detection_status_reason().map(String::from),
        stack_drift: out.stack_drift_status().map(|s| s.as_str().to_string()),
    })
}

/// DescribeStackResourceDrifts for the resources found MODIFIED or DELETED, every page.
pub(crate) async fn drifted_resources(
    cfn: &Client,
    stack: &str,
) -> Result<Vec<ResourceDrift>, AwsError> {
    let mut found = Vec::new();
    let mut pages = cfn
        .describe_stack_resource_drifts()
        .stack_name(stack)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            with_hint(explain(
                format!("reading the drifted resources of stack {stack}"),
                &e,
            ))
        })?;
        for drift in page.stack_resource_drifts() {
            found.push(ResourceDrift {
                logical_id: drift.logical_resource_id().unwrap_or_default().to_string(),
                physical_id: drift.physical_resource_id().map(String::from),
                resource_type: drift.resource_type().unwrap_or_default().to_string(),
                status: drift
                    .stack_resource_drift_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                differences: drift
                    .property_differences()
                    .iter()
                    .map(|d| PropertyDifference {
                        path: d.property_path().unwrap_or_default().to_string(),
                        expected: d.expected_value().map(String::from),
                        actual: d.actual_value().map(String::from),
                        difference: d
                            .difference_type()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default(),
                    })
                    .collect(),
            });
        }
    }
    Ok(found)
}
