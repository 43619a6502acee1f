//! A trace tree as text: one line per (sub)segment, its annotations and causes below it.
//! Every string in it came from a trace document, so each is shown through [`text::field`].

use std::fmt::Write as _;

use super::tree::TraceNode;
use crate::text;

/// `0.4 ms`, `35.1 ms`, `240 ms`, `1.25 s`.
pub(crate) fn format_ms(ms: f64) -> String {
    if ms < 100.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// The tree as text: one line per (sub)segment with its namespace and operation, HTTP method,
/// URL and status, duration and error flags; its annotations and causes indented below it.
pub(crate) fn render_tree(root: &TraceNode, documents: usize) -> String {
    let mut out = String::new();
    let trace_id = text::field(root.trace_id.as_deref().unwrap_or("?"));
    let _ = writeln!(
        out,
        "X-Ray trace {trace_id} ({documents} document{} received)",
        if documents == 1 { "" } else { "s" }
    );
    render_node(&mut out, root, "", true, true);
    if root.subsegments.is_empty() {
        let _ = writeln!(
            out,
            "   (no subsegments: the function made no traced call, or its tracing SDK is not set up)"
        );
    }
    out
}

/// The trees of one stored trace (see [`build_forest`]) as text, in the same form as
/// [`render_tree`]: a header line (marking a cold start), then each top-level segment.
pub(crate) fn render_forest(trace_id: &str, roots: &[TraceNode], documents: usize) -> String {
    let mut out = String::new();
    let trace_id = text::field(trace_id);
    let cold = roots.iter().any(|r| r.walk().iter().any(|n| n.cold_start));
    let _ = writeln!(
        out,
        "X-Ray trace {trace_id} ({documents} document{}){}",
        if documents == 1 { "" } else { "s" },
        if cold { "  cold start" } else { "" }
    );
    for root in roots {
        render_node(&mut out, root, "", true, true);
    }
    out
}

/// One line per node; every string in it came from a trace document, so each is shown with
/// its control characters made visible.
fn head(node: &TraceNode, is_root: bool) -> String {
    let shown = |s: &str| text::field(s).into_owned();
    let mut parts = vec![shown(&node.name)];
    if is_root && node.kind == "function" {
        parts.push("(Lambda function, run locally)".into());
    }
    if let Some(origin) = &node.origin {
        parts.push(shown(origin));
    }
    if node.cold_start {
        parts.push("(cold start)".into());
    }
    match (&node.namespace, &node.operation) {
        (Some(ns), Some(op)) => parts.push(format!("{} {}", shown(ns), shown(op))),
        (Some(ns), None) => parts.push(shown(ns)),
        (None, Some(op)) => parts.push(shown(op)),
        (None, None) => {}
    }
    if node.operation.is_none() {
        match (&node.http_method, &node.url) {
            (Some(m), Some(u)) => parts.push(format!("{} {}", shown(m), shown(u))),
            (None, Some(u)) => parts.push(shown(u)),
            _ => {}
        }
    }
    if let Some(status) = node.http_status {
        parts.push(format!("HTTP {status}"));
    }
    match node.duration_ms {
        Some(ms) => parts.push(format_ms(ms)),
        None if node.in_progress => parts.push("(in progress)".into()),
        None => {}
    }
    let flags: Vec<&str> = [
        (node.error, "ERROR"),
        (node.fault, "FAULT"),
        (node.throttle, "THROTTLE"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !flags.is_empty() {
        parts.push(flags.join(" "));
    }
    if node.orphan {
        parts.push("(parent not received)".into());
    }
    parts.join("  ")
}

fn render_node(out: &mut String, node: &TraceNode, prefix: &str, last: bool, is_root: bool) {
    let (line_prefix, child_prefix) = if is_root {
        (String::new(), String::new())
    } else if last {
        (format!("{prefix}└─ "), format!("{prefix}   "))
    } else {
        (format!("{prefix}├─ "), format!("{prefix}│  "))
    };
    let _ = writeln!(out, "{line_prefix}{}", head(node, is_root));
    let detail_prefix = if node.subsegments.is_empty() {
        format!("{child_prefix}   ")
    } else {
        format!("{child_prefix}│  ")
    };
    for (key, value) in &node.annotations {
        let key = text::field(key);
        let _ = writeln!(out, "{detail_prefix}annotation {key} = {value}");
    }
    for cause in &node.causes {
        match &cause.kind {
            Some(kind) => {
                let (kind, message) = (text::field(kind), text::field(&cause.message));
                let _ = writeln!(out, "{detail_prefix}cause {kind}: {message}");
            }
            None => {
                let message = text::field(&cause.message);
                let _ = writeln!(out, "{detail_prefix}cause {message}");
            }
        }
    }
    let count = node.subsegments.len();
    for (i, child) in node.subsegments.iter().enumerate() {
        render_node(out, child, &child_prefix, i + 1 == count, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(format_ms(0.42), "0.4 ms");
        assert_eq!(format_ms(35.14), "35.1 ms");
        assert_eq!(format_ms(240.4), "240 ms");
        assert_eq!(format_ms(1250.0), "1.25 s");
    }
}
