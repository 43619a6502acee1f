//! The tree of a trace: segment and subsegment documents reduced to what a reader looks at
//! and nested by `parent_id` and by nested `subsegments` arrays.
//!
//! In Lambda mode both X-Ray SDKs (Node.js and Python) build a *facade* segment from
//! `_X_AMZN_TRACE_ID` that they never send; every subsegment goes to the daemon as its own
//! datagram carrying `trace_id` and `parent_id`. A local run's tree ([`build_tree`]) therefore
//! has a synthetic root standing in for the facade: the function, named after it, with the
//! trace id. A stored trace ([`build_forest`]) has Lambda's own segments as its roots.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::daemon::TraceHeader;

/// The name of the subsegment Lambda adds to its function segment on a cold start.
const INITIALIZATION: &str = "Initialization";

/// One segment or subsegment, reduced to what a reader of a trace looks at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TraceNode {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// `function` for the synthetic root, otherwise the document's `type` (`subsegment`).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace_id: Option<String>,
    /// A segment's `origin`, e.g. `AWS::Lambda::Function` (the segments Lambda itself sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// Lambda's `Initialization` subsegment: this invocation started a new execution
    /// environment (a cold start).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) cold_start: bool,
    /// `aws` for AWS SDK calls, `remote` for other HTTP calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    /// `aws.operation`, e.g. `Publish`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// `http.response.status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http_status: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) in_progress: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) error: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) fault: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) throttle: bool,
    /// The exceptions recorded in `cause`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) causes: Vec<Cause>,
    /// Its parent was not among the documents received (shown under the root).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) orphan: bool,
    pub(crate) subsegments: Vec<TraceNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Cause {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    pub(crate) message: String,
}

impl TraceNode {
    fn from_document(doc: &Value) -> TraceNode {
        let str_at = |ptr: &str| doc.pointer(ptr).and_then(Value::as_str).map(String::from);
        let flag = |key: &str| doc.get(key).and_then(Value::as_bool).unwrap_or(false);
        let start_time = doc.get("start_time").and_then(Value::as_f64);
        let end_time = doc.get("end_time").and_then(Value::as_f64);
        TraceNode {
            name: str_at("/name").unwrap_or_else(|| "(unnamed)".into()),
            id: str_at("/id"),
            kind: str_at("/type").unwrap_or_else(|| "segment".into()),
            trace_id: None,
            origin: str_at("/origin"),
            // Lambda records the start of a new execution environment as this subsegment of
            // its AWS::Lambda::Function segment.
            cold_start: str_at("/name").as_deref() == Some(INITIALIZATION)
                && str_at("/type").as_deref() == Some("subsegment"),
            namespace: str_at("/namespace"),
            operation: str_at("/aws/operation"),
            http_method: str_at("/http/request/method"),
            url: str_at("/http/request/url"),
            http_status: doc.pointer("/http/response/status").and_then(Value::as_u64),
            // Shown to the millisecond: documents carry microseconds (or more, as floats).
            start_time: start_time.map(|t| (t * 1000.0).round() / 1000.0),
            duration_ms: match (start_time, end_time) {
                (Some(s), Some(e)) if e >= s => Some(((e - s) * 1000.0 * 1000.0).round() / 1000.0),
                _ => None,
            },
            in_progress: flag("in_progress"),
            annotations: doc
                .get("annotations")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            error: flag("error"),
            fault: flag("fault"),
            throttle: flag("throttle"),
            causes: causes(doc.get("cause")),
            orphan: false,
            subsegments: Vec::new(),
        }
    }

    /// How complete a document is, to pick the best when an id was sent more than once
    /// (e.g. an in-progress document, then the finished one).
    fn completeness(&self) -> u8 {
        u8::from(!self.in_progress) * 2 + u8::from(self.duration_ms.is_some())
    }

    /// Every node in this tree, depth first.
    pub(crate) fn walk(&self) -> Vec<&TraceNode> {
        let mut out = vec![self];
        for s in &self.subsegments {
            out.extend(s.walk());
        }
        out
    }
}

fn causes(cause: Option<&Value>) -> Vec<Cause> {
    let Some(cause) = cause else {
        return Vec::new();
    };
    if let Some(exceptions) = cause.get("exceptions").and_then(Value::as_array) {
        return exceptions
            .iter()
            .map(|e| Cause {
                kind: e.get("type").and_then(Value::as_str).map(String::from),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
    }
    match cause {
        // A string cause refers to an exception recorded on another (sub)segment.
        Value::String(id) => vec![Cause {
            kind: None,
            message: format!("see exception {id}"),
        }],
        _ => Vec::new(),
    }
}

/// Build the tree of one trace: a synthetic root for the function (named `function`, with the
/// header's trace id and the measured `duration_ms`), and under it every document of that
/// trace, nested by `parent_id` and by nested `subsegments` arrays. Documents of other traces
/// are left out. Siblings are ordered by start time.
pub(crate) fn build_tree(
    function: &str,
    header: &TraceHeader,
    documents: &[Value],
    duration_ms: Option<f64>,
) -> TraceNode {
    let mut subsegments: Vec<TraceNode> = nest(&header.root, documents)
        .into_iter()
        .map(|top| {
            let mut node = top.node;
            node.orphan = top.in_loop || top.parent.as_deref() != Some(header.parent.as_str());
            node
        })
        .collect();
    sort_by_start(&mut subsegments);
    synthetic_root(function, header, duration_ms, subsegments)
}

/// The trees of one trace as X-Ray stores it (e.g. from `BatchGetTraces`): every top-level
/// segment (Lambda's `AWS::Lambda` and `AWS::Lambda::Function` segments, a caller's segment,
/// ...) with its subsegments nested under it. A document whose parent was not received is a
/// top-level node marked as such. Ordered by start time.
pub(crate) fn build_forest(trace_id: &str, documents: &[Value]) -> Vec<TraceNode> {
    let mut roots: Vec<TraceNode> = nest(trace_id, documents)
        .into_iter()
        .map(|top| {
            let mut node = top.node;
            node.orphan = top.in_loop || top.parent.is_some();
            node
        })
        .collect();
    sort_by_start(&mut roots);
    roots
}

/// A top-level node of a trace: its parent was not among the documents.
struct TopLevel {
    node: TraceNode,
    /// The `parent_id` it names, if any.
    parent: Option<String>,
    /// Only reachable through a `parent_id` loop.
    in_loop: bool,
}

/// Nest the documents of `trace_id` by `parent_id` and by nested `subsegments` arrays; return
/// the nodes whose parent is not a received document, each with its subtree.
fn nest(trace_id: &str, documents: &[Value]) -> Vec<TopLevel> {
    let flat = Flat::of(trace_id, documents);
    let mut tree = Assembly::new(&flat);
    let top = std::mem::take(&mut tree.top);
    let mut placed: Vec<TopLevel> = top
        .iter()
        .filter_map(|id| tree.top_level(id, false))
        .collect();
    // Documents only reachable through a loop were not placed yet.
    for id in &flat.order {
        if !tree.seen.contains(id) {
            placed.extend(tree.top_level(id, true));
        }
    }
    placed
}

/// Every document and subsegment of one trace, without children, by id.
#[derive(Default)]
struct Flat {
    /// id -> (node without children, parent id)
    nodes: HashMap<String, (TraceNode, Option<String>)>,
    /// The ids in the order first seen.
    order: Vec<String>,
    /// How many documents had no id (they are named `(document N)`).
    anonymous: usize,
}

impl Flat {
    fn of(trace_id: &str, documents: &[Value]) -> Flat {
        let mut flat = Flat::default();
        for doc in documents {
            if doc.get("trace_id").and_then(Value::as_str) != Some(trace_id) {
                continue;
            }
            let parent = doc
                .get("parent_id")
                .and_then(Value::as_str)
                .map(String::from);
            flat.visit(doc, parent);
        }
        flat
    }

    /// Add `doc` and its nested subsegments; of two documents with one id (in progress, then
    /// complete), the more complete one is kept.
    fn visit(&mut self, doc: &Value, parent: Option<String>) {
        let mut node = TraceNode::from_document(doc);
        let id = node.id.clone().unwrap_or_else(|| {
            self.anonymous += 1;
            format!("(document {})", self.anonymous)
        });
        node.id.get_or_insert_with(|| id.clone());
        for sub in doc
            .get("subsegments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.visit(sub, Some(id.clone()));
        }
        match self.nodes.get_mut(&id) {
            Some((existing, existing_parent)) => {
                if node.completeness() >= existing.completeness() {
                    *existing = node;
                }
                if existing_parent.is_none() {
                    *existing_parent = parent;
                }
            }
            None => {
                self.order.push(id.clone());
                self.nodes.insert(id, (node, parent));
            }
        }
    }
}

/// The trees being put together from a [`Flat`] trace.
struct Assembly<'a> {
    flat: &'a Flat,
    /// Child ids by parent id.
    children: HashMap<String, Vec<String>>,
    /// Ids whose parent is not a known document: they hang under the root.
    top: Vec<String>,
    /// Ids already placed in a tree.
    seen: BTreeSet<String>,
}

impl<'a> Assembly<'a> {
    fn new(flat: &'a Flat) -> Assembly<'a> {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        let mut top: Vec<String> = Vec::new();
        for id in &flat.order {
            match &flat.nodes[id].1 {
                Some(p) if p != id && flat.nodes.contains_key(p) => {
                    children.entry(p.clone()).or_default().push(id.clone())
                }
                _ => top.push(id.clone()),
            }
        }
        Assembly {
            flat,
            children,
            top,
            seen: BTreeSet::new(),
        }
    }

    /// The tree under `id` as a top-level node; `None` when it was already placed.
    fn top_level(&mut self, id: &str, in_loop: bool) -> Option<TopLevel> {
        Some(TopLevel {
            node: self.subtree(id)?,
            parent: self.flat.nodes[id].1.clone(),
            in_loop,
        })
    }

    fn subtree(&mut self, id: &str) -> Option<TraceNode> {
        if !self.seen.insert(id.to_string()) {
            return None; // a parent_id loop: show each document once
        }
        let mut node = self.flat.nodes[id].0.clone();
        // Each id is assembled once, so its children are needed once.
        let children = self.children.remove(id).unwrap_or_default();
        node.subsegments = children.iter().filter_map(|c| self.subtree(c)).collect();
        sort_by_start(&mut node.subsegments);
        Some(node)
    }
}

/// The root `invoke --local` shows in place of Lambda's facade segment, which is never sent.
fn synthetic_root(
    function: &str,
    header: &TraceHeader,
    duration_ms: Option<f64>,
    subsegments: Vec<TraceNode>,
) -> TraceNode {
    TraceNode {
        name: function.to_string(),
        id: Some(header.parent.clone()),
        kind: "function".into(),
        trace_id: Some(header.root.clone()),
        origin: None,
        cold_start: false,
        namespace: None,
        operation: None,
        http_method: None,
        url: None,
        http_status: None,
        start_time: subsegments
            .iter()
            .filter_map(|s| s.start_time)
            .reduce(f64::min),
        duration_ms,
        in_progress: false,
        annotations: BTreeMap::new(),
        error: false,
        fault: false,
        throttle: false,
        causes: Vec::new(),
        orphan: false,
        subsegments,
    }
}

fn sort_by_start(nodes: &mut [TraceNode]) {
    nodes.sort_by(|a, b| {
        a.start_time
            .unwrap_or(f64::MAX)
            .total_cmp(&b.start_time.unwrap_or(f64::MAX))
    });
}

#[cfg(test)]
mod tests;
