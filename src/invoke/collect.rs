//! The trace of a local run: what came in on the daemon socket (X-Ray documents, OTLP span
//! requests), written to `--trace-out` as received and nested into one tree.

use std::path::Path;

use serde_json::Value;

use super::handler_run::RunResult;
use super::{InvokeError, Warnings};
use crate::trace::daemon::{self, TraceHeader};
use crate::trace::otlp;
use crate::trace::tree::{self, TraceNode};

/// This run's trace, nested into one tree.
pub(crate) struct Trace {
    pub(crate) tree: TraceNode,
    /// X-Ray documents of this trace received from the function.
    pub(crate) documents_received: usize,
}

/// The X-Ray documents the function sent (OpenTelemetry spans converted to the documents X-Ray
/// makes of them, [`otlp`]), written to `--trace-out` as received and nested into one tree.
/// Unreadable datagrams and other traces' documents are a warning, not a failure: the
/// handler's result still stands.
pub(crate) fn collect_trace(
    name: &str,
    header: &TraceHeader,
    run: &RunResult,
    trace_out: Option<&Path>,
    warnings: &mut Warnings<'_>,
) -> Result<Trace, InvokeError> {
    let received = parse_documents(&run.datagrams, warnings);
    let documents = received.documents;
    let ours = documents
        .iter()
        .filter(|d| d.get("trace_id").and_then(Value::as_str) == Some(header.root.as_str()))
        .count();
    if ours < documents.len() {
        warnings.warn(format!(
            "{} X-Ray document(s) of other traces were ignored",
            documents.len() - ours
        ));
    }
    if let Some(path) = trace_out {
        write_trace_out(path, &received.raw)?;
    }
    Ok(Trace {
        tree: tree::build_tree(name, header, &documents, Some(run.duration_ms)),
        documents_received: ours,
    })
}

/// What came in on the daemon socket.
pub(crate) struct Received {
    /// X-Ray documents, one per X-Ray SDK datagram and one per OpenTelemetry span.
    documents: Vec<Value>,
    /// For `--trace-out`, as received: the X-Ray SDK's documents and the OTLP requests
    /// (OpenTelemetry's JSON form of `ExportTraceServiceRequest`, with the raw spans).
    raw: Vec<Value>,
}

/// The datagrams that are X-Ray documents or OTLP spans; the others are counted in one warning.
pub(crate) fn parse_documents(datagrams: &[Vec<u8>], warnings: &mut Warnings<'_>) -> Received {
    let mut received = Received {
        documents: Vec::new(),
        raw: Vec::new(),
    };
    let mut malformed = Vec::new();
    for datagram in datagrams {
        if otlp::is_otlp(datagram) {
            match otlp::decode(datagram) {
                Ok(request) => {
                    received.documents.extend(otlp::documents(&request));
                    received
                        .raw
                        .push(serde_json::to_value(&request).unwrap_or(Value::Null));
                }
                Err(why) => malformed.push(why),
            }
            continue;
        }
        match daemon::parse_datagram(datagram) {
            Ok(doc) => {
                received.raw.push(doc.clone());
                received.documents.push(doc);
            }
            Err(why) => malformed.push(why),
        }
    }
    if !malformed.is_empty() {
        warnings.warn(format!(
            "{} datagram{} on the X-Ray socket could not be read (first: {})",
            malformed.len(),
            if malformed.len() == 1 { "" } else { "s" },
            malformed[0]
        ));
    }
    received
}

/// `--trace-out`: everything received (X-Ray documents, OTLP span requests), one JSON line
/// each, written atomically so a reader never sees half a file.
pub(crate) fn write_trace_out(path: &Path, documents: &[Value]) -> Result<(), InvokeError> {
    let mut lines = String::new();
    for doc in documents {
        lines.push_str(&doc.to_string());
        lines.push('\n');
    }
    crate::atomic_write::write_atomically(path, lines.as_bytes()).map_err(InvokeError::io(
        format!("writing the trace documents to {}", path.display()),
        "check that the path is writable",
    ))
}
