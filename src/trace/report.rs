//! What `traces` reports: each fetched trace with its documents and tree, and the search as a
//! whole (`--output json` prints it as one document).

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::render;
use super::tree::{self, TraceNode};
use crate::aws::xray::FetchedTrace;

/// One trace as fetched: its documents and their tree.
#[derive(Debug, Serialize)]
pub(crate) struct TraceReport {
    pub(crate) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration_s: Option<f64>,
    /// Top-level segments with their subsegments nested.
    pub(crate) tree: Vec<TraceNode>,
    /// The segment documents as X-Ray returned them.
    pub(crate) documents: Vec<Value>,
}

impl fmt::Display for TraceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = render::render_forest(&self.id, &self.tree, self.documents.len());
        write!(f, "{text}")
    }
}

/// The report of one search: `--output json` prints it as one document.
#[derive(Debug, Serialize)]
pub(crate) struct TracesReport {
    pub(crate) command: &'static str,
    pub(crate) functions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) filter_expression: Option<String>,
    pub(crate) since: String,
    /// Oldest first, so the newest ends up next to the prompt.
    pub(crate) traces: Vec<TraceReport>,
    /// Why there is nothing to show, when there is nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

impl fmt::Display for TracesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.traces.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// A fetched trace: its documents parsed (one that is not JSON is kept as a string, so
/// nothing is hidden) and nested into trees.
pub(crate) fn trace_report(t: FetchedTrace) -> TraceReport {
    let documents: Vec<Value> = t
        .documents
        .into_iter()
        .map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d)))
        .collect();
    TraceReport {
        tree: tree::build_forest(&t.id, &documents),
        duration_s: t.duration_s,
        id: t.id,
        documents,
    }
}
