//! Unit tests of `trace/tree.rs`, kept apart so that file stays short enough to read.

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
        text.contains("└─ SNS  aws Publish  HTTP 200  50.0 ms\n      annotation UserID = \"u-42\""),
        "{text}"
    );
}
