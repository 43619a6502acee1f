//! Everything about traces, for `invoke --local` and `traces` alike: the documents of a trace
//! nested into a tree ([`tree`]) and drawn as text ([`render`]); on this machine, the trace
//! header a local run gets and the X-Ray daemon's datagrams ([`daemon`]) and OpenTelemetry
//! spans turned into the documents X-Ray makes of them ([`otlp`]); for the deployed
//! functions, the `traces` flow ([`flow`]): its pure parts ([`query`]: window, filter,
//! batching, back-off, hints), the X-Ray and Lambda lookups ([`fetch`]) and the report
//! ([`report`]). The X-Ray calls themselves are in `crate::aws::xray`.

pub(crate) mod daemon;
pub(crate) mod fetch;
pub(crate) mod flow;
pub(crate) mod html;
pub(crate) mod otlp;
pub(crate) mod query;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod tree;
