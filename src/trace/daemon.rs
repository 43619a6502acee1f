//! X-Ray on this machine: the trace header a local invocation runs under, and the daemon
//! datagrams the X-Ray SDKs send (`{"format":"json","version":1}`, a newline, one document).

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The trace context of one invocation: `Root=1-<epoch>-<random>;Parent=<id>;Sampled=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceHeader {
    /// The trace id, e.g. `1-6650f1a2-0123456789abcdef01234567`.
    pub(crate) root: String,
    /// The facade segment's id: the `parent_id` of top-level subsegments.
    pub(crate) parent: String,
}

impl TraceHeader {
    /// A fresh, sampled trace for an invocation starting now.
    pub(crate) fn new_random() -> TraceHeader {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        TraceHeader::from_parts(secs, random_bytes(), random_bytes())
    }

    /// The header for a trace started at `epoch_secs` with the given random parts.
    pub(crate) fn from_parts(epoch_secs: u64, random: [u8; 12], parent: [u8; 8]) -> TraceHeader {
        TraceHeader {
            // X-Ray trace ids carry the epoch as 8 hex digits.
            root: format!("1-{:08x}-{}", epoch_secs as u32, hex::encode(random)),
            parent: hex::encode(parent),
        }
    }

    /// The value of `_X_AMZN_TRACE_ID`.
    pub(crate) fn header(&self) -> String {
        format!("Root={};Parent={};Sampled=1", self.root, self.parent)
    }
}

/// Random bytes without a dependency: every `RandomState` is seeded from the OS's randomness
/// (once per process, then incremented per instance), and hashing a fresh counter and the clock
/// through it mixes that seed. Plenty for trace ids, which need uniqueness, not secrecy.
fn random_bytes<const N: usize>() -> [u8; N] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        let bytes = h.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

/// Parse one X-Ray daemon datagram: a JSON header line `{"format":"json","version":1}`, a
/// newline, then one segment or subsegment document (a JSON object).
pub(crate) fn parse_datagram(bytes: &[u8]) -> Result<Value, String> {
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line (expected `{\"format\":\"json\",\"version\":1}` and a newline)")?;
    let header: Value = serde_json::from_slice(&bytes[..newline])
        .map_err(|e| format!("header is not JSON: {e}"))?;
    if header.get("format").and_then(Value::as_str) != Some("json") {
        return Err(format!("unexpected header {header}"));
    }
    let doc: Value = serde_json::from_slice(&bytes[newline + 1..])
        .map_err(|e| format!("document is not JSON: {e}"))?;
    if !doc.is_object() {
        return Err("document is not a JSON object".into());
    }
    Ok(doc)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn header() -> TraceHeader {
        TraceHeader::from_parts(0x6650_f1a2, [0xab; 12], [0x01; 8])
    }

    #[test]
    fn trace_header_has_the_x_ray_format() {
        let h = header();
        assert_eq!(h.root, "1-6650f1a2-abababababababababababab");
        assert_eq!(h.parent, "0101010101010101");
        assert_eq!(
            h.header(),
            "Root=1-6650f1a2-abababababababababababab;Parent=0101010101010101;Sampled=1"
        );

        let a = TraceHeader::new_random();
        let b = TraceHeader::new_random();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.root.split('-').collect();
        assert_eq!(parts.len(), 3, "{}", a.root);
        assert_eq!(parts[0], "1");
        let epoch = u64::from_str_radix(parts[1], 16).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(epoch) < 5, "{epoch} vs {now}");
        assert_eq!(parts[2].len(), 24);
        assert_eq!(a.parent.len(), 16);
        assert!(a
            .root
            .chars()
            .chain(a.parent.chars())
            .all(|c| c.is_ascii_hexdigit() || c == '-'));
    }

    #[test]
    fn datagrams_parse_or_say_why_not() {
        let doc =
            parse_datagram(b"{\"format\":\"json\",\"version\":1}\n{\"name\":\"SNS\"}").unwrap();
        assert_eq!(doc, json!({"name": "SNS"}));
        assert!(parse_datagram(b"{\"name\":\"SNS\"}")
            .unwrap_err()
            .contains("no header line"));
        assert!(parse_datagram(b"{\"format\":\"xml\"}\n{}")
            .unwrap_err()
            .contains("unexpected header"));
        assert!(
            parse_datagram(b"{\"format\":\"json\",\"version\":1}\n{nope")
                .unwrap_err()
                .contains("document is not JSON")
        );
        assert!(parse_datagram(b"{\"format\":\"json\",\"version\":1}\n[1]")
            .unwrap_err()
            .contains("not a JSON object"));
    }
}
