//! A trace you can look at: one self-contained HTML page (inline CSS, SVG and a few lines of
//! JS; nothing loaded from anywhere) with, per trace, a waterfall (each node a bar on a time
//! axis, nested by indentation, coloured by kind: function, AWS call, HTTP, custom; errors and
//! faults red) and a details table (annotations, AWS operation, HTTP status, causes), and, for
//! several traces, a list of them and a small service map (who called whom, how often, how
//! long on average). The same page for X-Ray and OpenTelemetry traces: both are trees here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::TraceReport;
use super::tree::TraceNode;

/// The waterfall's width in SVG units for the time axis, and a row's height.
const AXIS: f64 = 800.0;
const ROW: f64 = 22.0;
const LABEL: f64 = 260.0;

/// The page for `traces` (newest last, as printed).
pub(crate) fn page(title: &str, traces: &[TraceReport]) -> String {
    let mut body = String::new();
    if traces.len() > 1 {
        body.push_str(&trace_list(traces));
        body.push_str(&service_map(traces));
    }
    for t in traces {
        body.push_str(&trace_section(t));
    }
    if traces.is_empty() {
        body.push_str("<p>No traces.</p>");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body><h1>{}</h1>\n{body}<script>{SCRIPT}</script></body></html>\n",
        esc(title),
        esc(title)
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
h2{font-size:1.1em;margin-top:2em}svg{background:#fafafa;border:1px solid #ddd}\
.bar{cursor:pointer}.function{fill:#3b6fb6}.aws{fill:#e08a1e}.http{fill:#3a9a5b}\
.custom{fill:#8a8a8a}.failed{fill:#c62828}text{font:12px monospace}\
table{border-collapse:collapse;margin-top:.5em}td,th{border:1px solid #ddd;padding:2px 6px;\
text-align:left;vertical-align:top}tr.picked{background:#fff3c4}.edge{stroke:#999}";

/// Clicking a bar picks its row in the details table.
const SCRIPT: &str = "document.querySelectorAll('.bar').forEach(function(b){b.addEventListener('click',\
function(){document.querySelectorAll('tr.picked').forEach(function(r){r.classList.remove('picked')});\
var r=document.getElementById(b.dataset.row);if(r){r.classList.add('picked');r.scrollIntoView();}});});";

/// One node in page order, with its depth and the trace's time origin.
struct Row<'a> {
    node: &'a TraceNode,
    depth: usize,
}

fn rows<'a>(nodes: &'a [TraceNode], depth: usize, out: &mut Vec<Row<'a>>) {
    let mut sorted: Vec<&'a TraceNode> = nodes.iter().collect();
    sorted.sort_by(|a, b| {
        let (x, y) = (a.start_time.unwrap_or(0.0), b.start_time.unwrap_or(0.0));
        x.total_cmp(&y)
    });
    for n in sorted {
        out.push(Row { node: n, depth });
        rows(&n.subsegments, depth + 1, out);
    }
}

/// `function`, `aws`, `http` or `custom`; with `failed` when it faulted or erred.
fn classes(n: &TraceNode) -> String {
    let kind = match n.namespace.as_deref() {
        Some("aws") => "aws",
        Some("remote") => "http",
        _ if n.kind == "function" || n.kind == "segment" || n.origin.is_some() => "function",
        _ => "custom",
    };
    if n.fault || n.error || n.throttle {
        format!("bar {kind} failed")
    } else {
        format!("bar {kind}")
    }
}

fn trace_section(t: &TraceReport) -> String {
    let mut all = Vec::new();
    rows(&t.tree, 0, &mut all);
    let starts = all.iter().filter_map(|r| r.node.start_time);
    let origin = starts.clone().fold(f64::MAX, f64::min);
    let end = all
        .iter()
        .filter_map(|r| Some(r.node.start_time? + r.node.duration_ms? / 1000.0))
        .fold(origin, f64::max);
    let span = (end - origin).max(1e-3);
    let id = anchor(&t.id);
    let mut svg = format!(
        "<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"waterfall of trace {}\">",
        LABEL + AXIS + 20.0,
        ROW * all.len() as f64 + 10.0,
        esc(&t.id)
    );
    let mut table = String::from(
        "<table><tr><th>node</th><th>kind</th><th>start</th><th>duration</th><th>details</th></tr>",
    );
    for (i, r) in all.iter().enumerate() {
        let n = r.node;
        let y = 5.0 + ROW * i as f64;
        let start = n.start_time.map_or(0.0, |s| s - origin);
        let x = LABEL + AXIS * start / span;
        let width = (AXIS * n.duration_ms.unwrap_or(0.0) / 1000.0 / span).max(1.0);
        let row_id = format!("{id}-{i}");
        let label = format!("{}{}", "  ".repeat(r.depth), name_of(n));
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" xml:space=\"preserve\">{}</text><rect class=\"{}\" data-name=\"{}\" data-row=\"{row_id}\" x=\"{x:.2}\" y=\"{y:.1}\" width=\"{width:.2}\" height=\"{:.1}\"><title>{}</title></rect>",
            y + 14.0,
            esc(&label),
            classes(n),
            esc(&n.name),
            ROW - 6.0,
            esc(&details(n))
        );
        let _ = write!(
            table,
            "<tr id=\"{row_id}\"><td>{}</td><td>{}</td><td>{:.1} ms</td><td>{}</td><td>{}</td></tr>",
            esc(&label),
            esc(classes(n).trim_start_matches("bar ")),
            start * 1000.0,
            n.duration_ms.map_or("?".into(), |d| format!("{d:.1} ms")),
            esc(&details(n))
        );
    }
    svg.push_str("</svg>");
    table.push_str("</table>");
    let documents = match t.documents.len() {
        0 => String::new(),
        n => format!(", {n} documents"),
    };
    format!(
        "<section id=\"{id}\"><h2>trace {} ({:.1} ms{documents})</h2>{svg}{table}</section>\n",
        esc(&t.id),
        span * 1000.0
    )
}

fn name_of(n: &TraceNode) -> String {
    match &n.operation {
        Some(op) => format!("{} {op}", n.name),
        None => n.name.clone(),
    }
}

/// What the details column and the hover say: annotations, the call, errors.
fn details(n: &TraceNode) -> String {
    let mut parts: Vec<String> = n
        .annotations
        .iter()
        .map(|(k, v)| format!("annotation {k} = {v}"))
        .collect();
    if let Some(op) = &n.operation {
        parts.push(format!("operation {op}"));
    }
    if let (Some(m), Some(u)) = (&n.http_method, &n.url) {
        parts.push(format!("{m} {u}"));
    }
    if let Some(s) = n.http_status {
        parts.push(format!("HTTP {s}"));
    }
    for flag in [
        ("fault", n.fault),
        ("error", n.error),
        ("throttle", n.throttle),
    ] {
        if flag.1 {
            parts.push(flag.0.to_string());
        }
    }
    parts.extend(n.causes.iter().map(|c| format!("cause: {}", c.message)));
    parts.join("; ")
}

fn trace_list(traces: &[TraceReport]) -> String {
    let items: String = traces
        .iter()
        .map(|t| {
            let root = t.tree.first().map_or("?".to_string(), |n| n.name.clone());
            format!(
                "<li><a href=\"#{}\">{}</a> {}</li>",
                anchor(&t.id),
                esc(&t.id),
                esc(&root)
            )
        })
        .collect();
    format!("<h2>traces</h2><ul>{items}</ul>\n")
}

/// Caller → callee edges of all traces: call counts and mean durations.
fn edges(traces: &[TraceReport]) -> BTreeMap<(String, String), (usize, f64)> {
    let mut edges: BTreeMap<(String, String), (usize, f64)> = BTreeMap::new();
    fn walk(n: &TraceNode, caller: &str, edges: &mut BTreeMap<(String, String), (usize, f64)>) {
        for c in &n.subsegments {
            if c.namespace.is_some() {
                let e = edges
                    .entry((caller.to_string(), c.name.clone()))
                    .or_default();
                e.0 += 1;
                e.1 += c.duration_ms.unwrap_or(0.0);
            }
            walk(c, caller, edges);
        }
    }
    for t in traces {
        for root in &t.tree {
            walk(root, &root.name, &mut edges);
        }
    }
    edges
}

fn service_map(traces: &[TraceReport]) -> String {
    let edges = edges(traces);
    let callers: Vec<&String> = dedup(edges.keys().map(|(a, _)| a));
    let callees: Vec<&String> = dedup(edges.keys().map(|(_, b)| b));
    let height = 40.0 * callers.len().max(callees.len()).max(1) as f64 + 20.0;
    let y_of = |list: &[&String], name: &String| {
        30.0 + 40.0 * list.iter().position(|n| *n == name).unwrap_or(0) as f64
    };
    let mut svg = format!("<h2>service map</h2><svg width=\"700\" height=\"{height}\">");
    for ((a, b), (count, total)) in &edges {
        let (y1, y2) = (y_of(&callers, a), y_of(&callees, b));
        let _ = write!(
            svg,
            "<line class=\"edge\" x1=\"180\" y1=\"{y1}\" x2=\"480\" y2=\"{y2}\"/><text x=\"290\" y=\"{:.1}\">{count} call(s), {:.1} ms mean</text>",
            (y1 + y2) / 2.0 - 4.0,
            total / *count as f64
        );
    }
    for (list, x) in [(&callers, 10.0), (&callees, 490.0)] {
        for name in list.iter() {
            let _ = write!(
                svg,
                "<text class=\"node\" x=\"{x}\" y=\"{}\">{}</text>",
                y_of(list, name) + 4.0,
                esc(name)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn dedup<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut out: Vec<&String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn anchor(trace_id: &str) -> String {
    format!(
        "t{}",
        trace_id.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    )
}

/// HTML-escaped text (for element content and attribute values alike).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, namespace: Option<&str>, start: f64, ms: f64) -> TraceNode {
        TraceNode {
            name: name.into(),
            id: None,
            kind: "subsegment".into(),
            trace_id: None,
            origin: None,
            cold_start: false,
            namespace: namespace.map(String::from),
            operation: None,
            http_method: None,
            url: None,
            http_status: None,
            start_time: Some(start),
            duration_ms: Some(ms),
            in_progress: false,
            annotations: BTreeMap::new(),
            error: false,
            fault: false,
            throttle: false,
            causes: Vec::new(),
            orphan: false,
            subsegments: Vec::new(),
        }
    }

    fn trace() -> TraceReport {
        let mut root = node("random-name", None, 100.0, 100.0);
        root.kind = "function".into();
        let mut ann = node("annotations", None, 100.01, 1.0);
        ann.annotations
            .insert("UserID".into(), serde_json::json!("u-<1>"));
        let mut publish = node("SNS", Some("aws"), 100.02, 50.0);
        publish.operation = Some("Publish".into());
        publish.fault = true;
        root.subsegments = vec![publish, ann];
        TraceReport {
            id: "1-6b12-abc".into(),
            duration_s: Some(0.1),
            tree: vec![root],
            documents: vec![],
        }
    }

    #[test]
    fn bars_are_as_wide_as_their_spans_and_details_are_escaped() {
        let html = page("t", &[trace()]);
        assert!(
            !html.contains("src=") && !html.contains("href=\"http"),
            "no external resource"
        );
        let width = |name: &str| -> f64 {
            let at = html.find(&format!("data-name=\"{name}\"")).unwrap();
            let rest = &html[at..];
            let w = rest.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        // 50 ms of a 100 ms trace is half the axis; 1 ms a hundredth.
        assert!((width("SNS") - AXIS / 2.0).abs() < 1.0, "{}", width("SNS"));
        assert!((width("annotations") - AXIS / 100.0).abs() < 1.0);
        assert!(html.contains("class=\"bar aws failed\""), "a fault is red");
        assert!(
            html.contains("annotation UserID = &quot;u-&lt;1&gt;&quot;"),
            "{html}"
        );
        // Started earlier, shown first: annotations before SNS.
        assert!(html.find("data-name=\"annotations\"") < html.find("data-name=\"SNS\""));
    }

    #[test]
    fn several_traces_get_a_list_and_a_service_map() {
        let mut second = trace();
        second.id = "1-6b12-def".into();
        let html = page("t", &[trace(), second]);
        assert!(html.contains("<a href=\"#t16b12abc\">"), "{html}");
        assert!(html.contains("2 call(s), 50.0 ms mean"), "{html}");
    }
}
