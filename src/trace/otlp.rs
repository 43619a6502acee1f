//! OpenTelemetry spans as the X-Ray daemon receives them from ADOT's OTLP UDP exporter (and the
//! functions' `tracing_sdk: otel` exporter, which uses the same format): the daemon's header
//! line `{"format":"json","version":1}`, a newline, `T1S` (sampled spans) or `T1U`, then the
//! base64 of a protobuf `ExportTraceServiceRequest` (decoded with the `opentelemetry-proto`
//! types).
//!
//! Each span becomes the X-Ray document X-Ray itself would make of it, so one tree renderer
//! ([`super::trace`]) shows both SDKs: the X-Ray trace id form, AWS SDK spans named by service
//! with their operation, HTTP client spans named by host, attributes listed in
//! `aws.xray.annotations` as annotations and the rest as metadata, and errors from the status,
//! the HTTP status and `exception` events.

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span};
use prost::Message as _;
use serde_json::{json, Map, Value};

/// The datagram prefixes after the header line: sampled and unsampled spans.
const SPAN_PREFIXES: &[&str] = &["T1S", "T1U"];

/// The attribute listing which other attributes X-Ray indexes as annotations.
pub(crate) const ANNOTATION_KEYS: &str = "aws.xray.annotations";

/// The payload after the daemon header line, when it is OTLP spans.
fn span_payload(datagram: &[u8]) -> Option<&[u8]> {
    let newline = datagram.iter().position(|b| *b == b'\n')?;
    let body = &datagram[newline + 1..];
    SPAN_PREFIXES
        .iter()
        .find(|p| body.starts_with(p.as_bytes()))
        .map(|p| &body[p.len()..])
}

/// Whether a datagram carries OTLP spans (rather than an X-Ray SDK document).
pub(crate) fn is_otlp(datagram: &[u8]) -> bool {
    span_payload(datagram).is_some()
}

/// Decode one OTLP spans datagram.
pub(crate) fn decode(datagram: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let payload = span_payload(datagram).ok_or("not an OTLP spans datagram (no T1S/T1U)")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim_ascii_end())
        .map_err(|e| format!("OTLP payload is not base64: {e}"))?;
    ExportTraceServiceRequest::decode(bytes.as_slice())
        .map_err(|e| format!("OTLP payload is not an ExportTraceServiceRequest: {e}"))
}

/// Every span of a request as an X-Ray (sub)segment document.
pub(crate) fn documents(request: &ExportTraceServiceRequest) -> Vec<Value> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(document)
        .collect()
}

/// `1-{8 hex}-{24 hex}` from a 16-byte OpenTelemetry trace id.
pub(crate) fn xray_trace_id(trace_id: &[u8]) -> String {
    let hex = hex::encode(trace_id);
    if hex.len() != 32 {
        return hex;
    }
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

/// One span as the document X-Ray makes of it.
pub(crate) fn document(span: &Span) -> Value {
    let attrs = Attributes(&span.attributes);
    let mut doc = json!({
        "name": display_name(span, &attrs),
        "id": hex::encode(&span.span_id),
        "trace_id": xray_trace_id(&span.trace_id),
        "type": if span.kind() == span::SpanKind::Server { "segment" } else { "subsegment" },
        "start_time": epoch_seconds(span.start_time_unix_nano),
        "end_time": epoch_seconds(span.end_time_unix_nano),
    });
    if !span.parent_span_id.is_empty() {
        doc["parent_id"] = json!(hex::encode(&span.parent_span_id));
    }
    if let Some(namespace) = namespace(span, &attrs) {
        doc["namespace"] = json!(namespace);
    }
    if let Some(operation) = attrs.str("rpc.method") {
        doc["aws"] = json!({ "operation": operation });
    }
    doc["http"] = http(&attrs);
    let (annotations, metadata) = annotations_and_metadata(&attrs);
    doc["annotations"] = Value::Object(annotations);
    doc["metadata"] = json!({ "default": metadata });
    add_errors(&mut doc, span, &attrs);
    doc
}

/// Epoch seconds with microseconds, as X-Ray's documents have them: a span's nanoseconds
/// would only show as float noise (`…328.4857242`).
fn epoch_seconds(unix_nanos: u64) -> f64 {
    (unix_nanos / 1000) as f64 / 1e6
}

/// AWS SDK spans are named by service (`SNS`), HTTP client spans by host, as X-Ray does.
fn display_name(span: &Span, attrs: &Attributes) -> String {
    if attrs.str("rpc.system") == Some("aws-api") {
        if let Some(service) = attrs.str("rpc.service") {
            return service.to_string();
        }
    }
    if span.kind() == span::SpanKind::Client {
        if let Some(host) = attrs.url().and_then(host_of) {
            return host.to_string();
        }
    }
    span.name.clone()
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // As the X-Ray SDKs name HTTP subsegments: the host, without the port.
    Some(match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    })
}

fn namespace(span: &Span, attrs: &Attributes) -> Option<&'static str> {
    if attrs.str("rpc.system") == Some("aws-api") {
        Some("aws")
    } else if span.kind() == span::SpanKind::Client && attrs.url().is_some() {
        Some("remote")
    } else {
        None
    }
}

/// `http.request` / `http.response` from the old and the stable semantic conventions.
fn http(attrs: &Attributes) -> Value {
    let mut request = Map::new();
    if let Some(method) = attrs
        .str("http.request.method")
        .or(attrs.str("http.method"))
    {
        request.insert("method".into(), json!(method));
    }
    if let Some(url) = attrs.url() {
        request.insert("url".into(), json!(url));
    }
    let mut http = json!({ "request": request });
    if let Some(status) = attrs.status() {
        http["response"] = json!({ "status": status });
    }
    http
}

/// The attributes named in `aws.xray.annotations`, and all others (but that list).
fn annotations_and_metadata(attrs: &Attributes) -> (Map<String, Value>, Map<String, Value>) {
    let indexed: Vec<String> = match attrs.get(ANNOTATION_KEYS) {
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        Some(Value::String(key)) => vec![key],
        _ => Vec::new(),
    };
    let mut annotations = Map::new();
    let mut metadata = Map::new();
    for kv in attrs.0 {
        if kv.key == ANNOTATION_KEYS {
            continue;
        }
        let value = kv.value.as_ref().map(any_value_json).unwrap_or(Value::Null);
        if indexed.contains(&kv.key) {
            annotations.insert(kv.key.clone(), value);
        } else {
            metadata.insert(kv.key.clone(), value);
        }
    }
    (annotations, metadata)
}

/// X-Ray's flags: 4xx is an error (429 also a throttle), 5xx or an error status without an
/// HTTP status is a fault; `exception` events are the cause.
fn add_errors(doc: &mut Value, span: &Span, attrs: &Attributes) {
    let failed = span
        .status
        .as_ref()
        .is_some_and(|s| s.code() == status::StatusCode::Error);
    match attrs.status() {
        Some(s) if (400..500).contains(&s) => {
            doc["error"] = json!(true);
            if s == 429 {
                doc["throttle"] = json!(true);
            }
        }
        Some(s) if s >= 500 => doc["fault"] = json!(true),
        _ if failed => doc["fault"] = json!(true),
        _ => {}
    }
    let mut exceptions: Vec<Value> = span
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .map(|e| {
            let a = Attributes(&e.attributes);
            json!({
                "type": a.str("exception.type"),
                "message": a.str("exception.message").unwrap_or_default(),
            })
        })
        .collect();
    if exceptions.is_empty() && failed {
        let message = span.status.as_ref().map(|s| s.message.clone());
        exceptions.push(json!({ "type": null, "message": message.unwrap_or_default() }));
    }
    if !exceptions.is_empty() {
        doc["cause"] = json!({ "exceptions": exceptions });
    }
}

/// A span's or event's attributes, looked up by key.
struct Attributes<'a>(&'a [KeyValue]);

impl Attributes<'_> {
    fn get(&self, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(any_value_json)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    fn url(&self) -> Option<&str> {
        self.str("url.full").or(self.str("http.url"))
    }

    fn status(&self) -> Option<u64> {
        ["http.response.status_code", "http.status_code"]
            .iter()
            .find_map(|k| self.get(k))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    }
}

fn any_value_json(value: &AnyValue) -> Value {
    use any_value::Value as V;
    match &value.value {
        Some(V::StringValue(s)) => json!(s),
        Some(V::BoolValue(b)) => json!(b),
        Some(V::IntValue(i)) => json!(i),
        Some(V::DoubleValue(d)) => json!(d),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(any_value_json).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map(any_value_json).unwrap_or(Value::Null);
                    (kv.key.clone(), v)
                })
                .collect(),
        ),
        Some(V::BytesValue(b)) => json!(hex::encode(b)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    fn span(name: &str, kind: span::SpanKind, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: hex::decode("5759e988bd862e3fe1be46a994272793").unwrap(),
            span_id: hex::decode("00000000000000b2").unwrap(),
            parent_span_id: hex::decode("53995c3f42cd8ad8").unwrap(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: 10_000_000_000,
            end_time_unix_nano: 10_040_000_000,
            attributes,
            ..Default::default()
        }
    }

    /// A datagram as the exporters send it: the header line, `T1S`, base64 protobuf.
    fn datagram(spans: Vec<Span>) -> Vec<u8> {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let body = base64::engine::general_purpose::STANDARD.encode(request.encode_to_vec());
        format!("{{\"format\":\"json\",\"version\":1}}\nT1S{body}").into_bytes()
    }

    #[test]
    fn aws_sdk_spans_become_aws_subsegments_named_by_service() {
        let publish = span(
            "SNS.Publish",
            span::SpanKind::Client,
            vec![
                kv("rpc.system", s("aws-api")),
                kv("rpc.service", s("SNS")),
                kv("rpc.method", s("Publish")),
                kv("http.status_code", any_value::Value::IntValue(200)),
            ],
        );
        let bytes = datagram(vec![publish]);
        assert!(is_otlp(&bytes));
        let docs = documents(&decode(&bytes).unwrap());
        assert_eq!(docs.len(), 1);
        let doc = &docs[0];
        assert_eq!(doc["name"], "SNS");
        assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["namespace"], "aws");
        assert_eq!(doc["aws"]["operation"], "Publish");
        assert_eq!(doc["http"]["response"]["status"], 200);
        assert_eq!(doc["type"], "subsegment");
        assert!((doc["end_time"].as_f64().unwrap() - 10.04).abs() < 1e-9);
    }

    #[test]
    fn only_attributes_listed_in_aws_xray_annotations_are_annotations() {
        let keys = any_value::Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(s("Name")),
            }],
        });
        let sp = span(
            "annotations",
            span::SpanKind::Internal,
            vec![
                kv("Name", s("Ada")),
                kv("UserID", s("u-1")),
                kv(ANNOTATION_KEYS, keys),
            ],
        );
        let doc = document(&sp);
        assert_eq!(doc["annotations"], json!({"Name": "Ada"}));
        assert_eq!(doc["metadata"]["default"], json!({"UserID": "u-1"}));
        assert!(doc.get("namespace").is_none());
    }

    #[test]
    fn http_client_spans_are_remote_and_errors_map_to_x_ray_flags() {
        let mut get = span(
            "GET",
            span::SpanKind::Client,
            vec![
                kv("http.method", s("GET")),
                kv("http.url", s("http://127.0.0.1:8080/api/game/s/g")),
                kv("http.status_code", any_value::Value::IntValue(503)),
            ],
        );
        get.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: "upstream down".into(),
        });
        let doc = document(&get);
        assert_eq!(doc["name"], "127.0.0.1");
        assert_eq!(doc["namespace"], "remote");
        assert_eq!(doc["http"]["request"]["method"], "GET");
        assert_eq!(doc["fault"], true);
        assert_eq!(doc["cause"]["exceptions"][0]["message"], "upstream down");
    }

    #[test]
    fn other_datagrams_are_not_otlp_and_bad_payloads_say_why() {
        assert!(!is_otlp(
            b"{\"format\":\"json\",\"version\":1}\n{\"name\":\"x\"}"
        ));
        let e = decode(b"{\"format\":\"json\",\"version\":1}\nT1S!!!").unwrap_err();
        assert!(e.contains("base64"), "{e}");
        let e = decode(b"{\"format\":\"json\",\"version\":1}\nT1S/w==").unwrap_err();
        assert!(e.contains("ExportTraceServiceRequest"), "{e}");
    }

    #[test]
    fn span_times_become_epoch_seconds_with_microseconds() {
        assert_eq!(epoch_seconds(1_764_843_328_485_724_213), 1764843328.485724);
        assert_eq!(
            json!(epoch_seconds(1_764_843_328_485_724_999)).to_string(),
            "1764843328.485724"
        );
    }
}
