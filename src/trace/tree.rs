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
mod tests {
    use super::*;
    use crate::trace::daemon::tests::header;
    use crate::trace::render::{render_forest, render_tree};
    use serde_json::json;

    fn sub(id: &str, parent: &str, name: &str, start: f64, end: f64) -> Value {
        json!({
            "type": "subsegment", "id": id, "parent_id": parent, "name": name,
            "trace_id": header().root, "start_time": start, "end_time": end,
        })
    }

    #[test]
    fn tree_nests_by_parent_id_and_nested_arrays_and_ignores_other_traces() {
        let h = header();
        let mut publish = sub("b2", &h.parent, "SNS", 10.010, 10.050);
        publish["namespace"] = json!("aws");
        publish["aws"] = json!({"operation": "Publish"});
        publish["http"] = json!({"response": {"status": 200}});
        let mut annotations = sub("a1", &h.parent, "annotations", 10.001, 10.002);
        annotations["annotations"] = json!({"Name": "Ann", "UserID": "u-1"});
        // A child sent before its parent, and a grandchild nested in the parent's document.
        let child = sub("c3", "p9", "GET", 10.2, 10.3);
        let mut parent = sub("p9", &h.parent, "work", 10.1, 10.4);
        let mut nested = sub("n4", "", "nested", 10.11, 10.12);
        nested.as_object_mut().unwrap().remove("parent_id");
        parent["subsegments"] = json!([nested]);
        let mut other = sub("x1", &h.parent, "other trace", 1.0, 2.0);
        other["trace_id"] = json!("1-00000000-000000000000000000000000");
        let orphan = sub("o5", "unknown", "orphan", 11.0, 11.5);
        let in_progress = json!({"type": "subsegment", "id": "b2", "parent_id": h.parent,
            "name": "SNS", "trace_id": h.root, "start_time": 10.010, "in_progress": true});

        let docs = vec![
            child,
            publish,
            in_progress,
            parent,
            annotations,
            other,
            orphan,
        ];
        let root = build_tree("random-name", &h, &docs, Some(240.0));
        assert_eq!(root.name, "random-name");
        assert_eq!(root.kind, "function");
        assert_eq!(root.trace_id.as_deref(), Some(h.root.as_str()));
        let names: Vec<&str> = root.subsegments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["annotations", "SNS", "work", "orphan"]);
        let sns = &root.subsegments[1];
        assert!(!sns.in_progress, "the finished document wins: {sns:?}");
        assert_eq!(sns.operation.as_deref(), Some("Publish"));
        assert_eq!(sns.http_status, Some(200));
        assert_eq!(sns.duration_ms, Some(40.0));
        let work = &root.subsegments[2];
        let inner: Vec<&str> = work.subsegments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(inner, ["nested", "GET"]);
        assert!(root.subsegments[3].orphan);
        assert!(!work.orphan);
        assert_eq!(root.walk().len(), 7);
        assert!(root.walk().iter().all(|n| n.name != "other trace"));
    }

    #[test]
    fn a_parent_id_loop_shows_each_document_once() {
        let h = header();
        let docs = vec![sub("a", "b", "A", 1.0, 2.0), sub("b", "a", "B", 1.0, 2.0)];
        let root = build_tree("f", &h, &docs, None);
        assert_eq!(root.walk().len(), 3, "{root:#?}");
    }

    #[test]
    fn start_times_are_shown_to_the_millisecond() {
        let h = header();
        let doc = json!({"type": "subsegment", "id": "a1", "parent_id": h.parent, "name": "x",
            "trace_id": h.root, "start_time": 1764843328.4857242, "end_time": 1764843328.5});
        let root = build_tree("f", &h, &[doc], None);
        let node = &root.subsegments[0];
        let json = serde_json::to_string(node).unwrap();
        assert!(json.contains("\"start_time\":1764843328.486,"), "{json}");
        assert!(json.contains("\"duration_ms\":14.276,"), "{json}");
        assert_eq!(root.start_time, Some(1764843328.486));
    }

    #[test]
    fn errors_and_causes_are_kept() {
        let h = header();
        let mut failed = sub("f1", &h.parent, "S3", 1.0, 1.2);
        failed["fault"] = json!(true);
        failed["cause"] = json!({"exceptions": [{"id": "e", "type": "NoSuchBucket",
            "message": "The specified bucket does not exist"}]});
        let root = build_tree("w", &h, &[failed], None);
        let node = &root.subsegments[0];
        assert!(node.fault && !node.error);
        assert_eq!(
            node.causes,
            [Cause {
                kind: Some("NoSuchBucket".into()),
                message: "The specified bucket does not exist".into()
            }]
        );
        let text = render_tree(&root, 1);
        assert!(text.contains("S3  200 ms  FAULT"), "{text}");
        assert!(
            text.contains("cause NoSuchBucket: The specified bucket does not exist"),
            "{text}"
        );
    }

    #[test]
    fn rendering_draws_the_tree_with_details() {
        let h = header();
        let mut annotations = sub("a1", &h.parent, "annotations", 10.001, 10.0015);
        annotations["annotations"] = json!({"Name": "Ann", "UserID": "u-1"});
        let mut publish = sub("b2", &h.parent, "SNS", 10.010, 10.050);
        publish["namespace"] = json!("aws");
        publish["aws"] = json!({"operation": "Publish"});
        publish["http"] = json!({"response": {"status": 200}});
        let mut get = sub("c3", "b2", "127.0.0.1:8080", 10.02, 10.03);
        get["namespace"] = json!("remote");
        get["http"] = json!({"request": {"method": "GET", "url": "http://127.0.0.1:8080/api"},
            "response": {"status": 404}});
        get["error"] = json!(true);
        let root = build_tree(
            "random-name",
            &h,
            &[annotations, publish, get],
            Some(1250.0),
        );
        let text = render_tree(&root, 3);
        let expected = "\
X-Ray trace 1-6650f1a2-abababababababababababab (3 documents received)
random-name  (Lambda function, run locally)  1.25 s
├─ annotations  0.5 ms
│     annotation Name = \"Ann\"
│     annotation UserID = \"u-1\"
└─ SNS  aws Publish  HTTP 200  40.0 ms
   └─ 127.0.0.1:8080  remote  GET http://127.0.0.1:8080/api  HTTP 404  10.0 ms  ERROR
";
        assert_eq!(text, expected);

        let empty = build_tree("f", &h, &[], Some(3.0));
        let text = render_tree(&empty, 0);
        assert!(text.contains("0 documents received"), "{text}");
        assert!(text.contains("no subsegments"), "{text}");
    }

    /// What Lambda itself sends for an invocation with tracing Active: its function segment
    /// (whose id is the `Parent` the SDK's subsegments name), with `Initialization` on a cold
    /// start.
    fn lambda_function_segment(h: &TraceHeader) -> Value {
        json!({
            "id": h.parent, "trace_id": h.root, "name": "random-name",
            "origin": "AWS::Lambda::Function", "start_time": 9.5, "end_time": 10.5,
            "subsegments": [
                {"id": "i1", "name": "Initialization", "type": "subsegment",
                 "start_time": 9.5, "end_time": 9.9},
                {"id": "v1", "name": "Invocation", "type": "subsegment",
                 "start_time": 10.0, "end_time": 10.4},
            ]
        })
    }

    #[test]
    fn a_stored_trace_nests_under_lambdas_segment_and_marks_the_cold_start() {
        let h = header();
        let mut publish = sub("b2", &h.parent, "SNS", 10.010, 10.050);
        publish["namespace"] = json!("aws");
        publish["aws"] = json!({"operation": "Publish"});
        let orphan = sub("o5", "never-sent", "lost", 11.0, 11.5);
        let docs = [lambda_function_segment(&h), publish, orphan];
        let roots = build_forest(&h.root, &docs);
        let names: Vec<&str> = roots.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["random-name", "lost"]);
        assert!(!roots[0].orphan && roots[1].orphan);
        let children: Vec<&str> = roots[0]
            .subsegments
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(children, ["Initialization", "Invocation", "SNS"]);
        assert!(roots[0].subsegments[0].cold_start);
        assert!(!roots[0].subsegments[1].cold_start);

        let text = render_forest(&h.root, &roots, 3);
        let expected = "\
X-Ray trace 1-6650f1a2-abababababababababababab (3 documents)  cold start
random-name  AWS::Lambda::Function  1.00 s
├─ Initialization  (cold start)  400 ms
├─ Invocation  400 ms
└─ SNS  aws Publish  40.0 ms
lost  500 ms  (parent not received)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_warm_stored_trace_with_a_fault_shows_the_cause_and_no_cold_start() {
        let h = header();
        let mut function = lambda_function_segment(&h);
        function["subsegments"].as_array_mut().unwrap().remove(0);
        function["fault"] = json!(true);
        function["cause"] = json!({"working_directory": "/var/task", "exceptions": [
            {"id": "e1", "type": "TypeError", "message": "Cannot read properties of undefined"}]});
        let roots = build_forest(&h.root, &[function]);
        let text = render_forest(&h.root, &roots, 1);
        assert!(!text.contains("cold start"), "{text}");
        assert!(
            text.contains("random-name  AWS::Lambda::Function  1.00 s  FAULT"),
            "{text}"
        );
        assert!(
            text.contains("│  cause TypeError: Cannot read properties of undefined"),
            "{text}"
        );
    }

    /// ADOT's X-Ray exporter turns OpenTelemetry spans into the same documents: a server
    /// span becomes a segment, a client span a subsegment with `namespace`/`aws`/`http`, span
    /// attributes become `metadata` (and indexed ones `annotations`).
    #[test]
    fn opentelemetry_spans_exported_to_x_ray_render_the_same() {
        let h = header();
        let publish = json!({
            "name": "SNS", "id": "c1c1c1c1c1c1c1c1", "parent_id": h.parent, "type": "subsegment",
            "trace_id": h.root, "start_time": 10.0, "end_time": 10.05, "namespace": "aws",
            "aws": {"operation": "Publish", "region": "us-east-1",
                    "xray": {"sdk": "opentelemetry for nodejs"}},
            "http": {"response": {"status": 200}},
            "annotations": {"UserID": "u-42"},
            "metadata": {"default": {"rpc.system": "aws-api"}}
        });
        let roots = build_forest(&h.root, &[lambda_function_segment(&h), publish]);
        let text = render_forest(&h.root, &roots, 2);
        assert!(
            text.contains(
                "└─ SNS  aws Publish  HTTP 200  50.0 ms\n      annotation UserID = \"u-42\""
            ),
            "{text}"
        );
    }
}
