//! A fault-injecting HTTP proxy in front of the moto server (a test utility, not an emulator:
//! every request that is not failed is answered by moto).
//!
//! Each test starts its own proxy on a free 127.0.0.1 port with a list of [`Rule`]s and points
//! the CLI at [`Proxy::endpoint`] through `AWS_ENDPOINT_URL`. A rule matches requests with a
//! predicate, fires always, with a probability (seeded, so runs repeat) or on the nth match,
//! and injects one [`Fault`]. The first rule that matches and fires decides. Every request is
//! recorded with the fault it got, and the proxy knows which are still unanswered, so tests
//! can count what reached moto and send SIGINT while a chosen request is in flight.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The fault injected into this request, if a rule fired.
    pub fault: Option<Fault>,
}

impl Request {
    /// The query-protocol `Action` (CloudFormation, Beanstalk, ...), if any.
    pub fn action(&self) -> Option<&str> {
        self.body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
    }

    /// Whether moto received it: no fault, or one that forwards (a delay, or a failure after
    /// forwarding).
    pub fn forwarded(&self) -> bool {
        matches!(
            self.fault,
            None | Some(Fault::Delay(_)) | Some(Fault::FailAfterForward)
        )
    }

    fn protocol(&self) -> Protocol {
        if self.action().is_some() {
            Protocol::Query
        } else if self.path.starts_with("/2015-03-31/") {
            Protocol::RestJson
        } else {
            Protocol::RestXml
        }
    }
}

enum Protocol {
    /// CloudFormation, Beanstalk: form-encoded requests, XML `ErrorResponse`.
    Query,
    /// Lambda: `x-amzn-ErrorType` header and a JSON body.
    RestJson,
    /// S3: an XML `Error` document.
    RestXml,
}

/// What a rule does to a matching request.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer with the service's throttling error without forwarding (CloudFormation
    /// `Throttling` 400, Lambda `TooManyRequestsException` 429, S3 `SlowDown` 503).
    Throttle,
    /// Answer HTTP 500 (`InternalFailure`) without forwarding.
    ServerError,
    /// Answer Lambda's 409 `ResourceConflictException` ("an update is in progress") without
    /// forwarding, as Lambda does while a function's previous update is still being applied.
    Conflict,
    /// Forward (moto processes the request), then replace the response with HTTP 500.
    FailAfterForward,
    /// Wait, then forward.
    Delay(Duration),
    /// Read the request and never answer (the connection stays open).
    Hang,
    /// Read the request and close the connection without an answer.
    Drop,
    /// Answer a Lambda Invoke without forwarding as Lambda does when the handler threw: 200,
    /// `X-Amz-Function-Error: Unhandled` and the error as the payload.
    HandlerError,
    /// Answer 200 with this XML body without forwarding: a query-protocol answer moto cannot
    /// give (e.g. a StackSet operation that FAILED in one account and region).
    Answer(&'static str),
    /// Answer an awsJson request without forwarding as an endpoint that lacks the operation
    /// does: 400 `UnknownOperationException`.
    UnknownOperation,
}

/// When a matching rule fires.
#[derive(Debug, Clone, Copy)]
pub enum When {
    Always,
    /// With this probability, from a generator seeded per rule.
    Probability(f64),
    /// Only on the nth matching request (1-based).
    Nth(usize),
}

type Predicate = Box<dyn Fn(&Request) -> bool + Send + Sync>;

pub struct Rule {
    matches: Predicate,
    when: When,
    fault: Fault,
    seen: usize,
    rng: u64,
}

impl Rule {
    pub fn new(
        matches: impl Fn(&Request) -> bool + Send + Sync + 'static,
        when: When,
        fault: Fault,
    ) -> Rule {
        Rule {
            matches: Box::new(matches),
            when,
            fault,
            seen: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Seed the probability generator (rules with the same seed fire on the same requests).
    pub fn seed(mut self, seed: u64) -> Rule {
        // splitmix64 spreads small seeds over the whole state (xorshift needs that).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.rng = (z ^ (z >> 31)).max(1);
        self
    }

    fn fires(&mut self, request: &Request) -> bool {
        if !(self.matches)(request) {
            return false;
        }
        self.seen += 1;
        match self.when {
            When::Always => true,
            When::Nth(n) => self.seen == n,
            When::Probability(p) => {
                // xorshift64: deterministic, no dependency.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (self.rng % 10_000) as f64 / 10_000.0 < p
            }
        }
    }
}

/// Predicate: a query-protocol request with this `Action`.
pub fn action(name: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| r.action() == Some(name)
}

/// Predicate: the path starts with `prefix` (Lambda: `/2015-03-31/functions`).
pub fn path_prefix(prefix: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| r.path.starts_with(prefix)
}

/// Predicate: method and a path suffix, e.g. `("PUT", "/code")`.
pub fn method_path_suffix(
    method: &'static str,
    suffix: &'static str,
) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| {
        r.method == method && r.path.split('?').next().unwrap_or("").ends_with(suffix)
    }
}

/// Predicate: an awsJson request for this operation (`X-Amz-Target: Service.Operation`).
pub fn target(operation: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| {
        r.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("x-amz-target") && v.rsplit('.').next() == Some(operation)
        })
    }
}

/// Predicate: every request.
pub fn any() -> impl Fn(&Request) -> bool + Send + Sync {
    |_: &Request| true
}

struct State {
    rules: Vec<Rule>,
    seen: Vec<Request>,
    injected: usize,
    /// Requests read but not yet answered (or dropped), by their index in `seen`.
    in_flight: Vec<usize>,
}

pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Start a proxy to `upstream` (`http://127.0.0.1:PORT`) with `rules`.
    pub fn start(upstream: &str, rules: Vec<Rule>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            rules,
            seen: Vec::new(),
            injected: 0,
            in_flight: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream_addr = upstream.trim_start_matches("http://").to_string();
        {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, stop, upstream) =
                        (state.clone(), stop.clone(), upstream_addr.clone());
                    std::thread::spawn(move || serve(stream, &upstream, &state, &stop));
                }
            });
        }
        Proxy {
            endpoint,
            state,
            stop,
        }
    }

    /// Requests seen so far that satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&Request) -> bool) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|r| pred(r))
            .count()
    }

    /// All requests seen so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests that satisfy `pred` and are in flight now: read, not yet answered or dropped.
    pub fn in_flight(&self, pred: impl Fn(&Request) -> bool) -> usize {
        let s = self.state.lock().unwrap();
        s.in_flight.iter().filter(|&&i| pred(&s.seen[i])).count()
    }

    /// How many faults were injected.
    pub fn injected(&self) -> usize {
        self.state.lock().unwrap().injected
    }

    /// Wait until a request satisfying `pred` has been seen; false on timeout.
    #[allow(dead_code)] // faults.rs waits on a child process instead; kept for new areas
    pub fn wait_for(&self, pred: impl Fn(&Request) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.count(&pred) > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// Serve one client connection: requests one after another until it closes.
fn serve(mut client: TcpStream, upstream: &str, state: &Mutex<State>, stop: &AtomicBool) {
    while let Some((raw, mut request)) = read_request(&mut client) {
        let (fault, index) = {
            let mut s = state.lock().unwrap();
            let fault = s
                .rules
                .iter_mut()
                .find_map(|r| r.fires(&request).then_some(r.fault));
            if fault.is_some() {
                s.injected += 1;
            }
            request.fault = fault;
            let index = s.seen.len();
            s.seen.push(request.clone());
            s.in_flight.push(index);
            (fault, index)
        };
        let response = match fault {
            None => forward(upstream, &raw),
            Some(Fault::Throttle) => Some(error_response(&request, ErrorKind::Throttle)),
            Some(Fault::ServerError) => Some(error_response(&request, ErrorKind::Internal)),
            Some(Fault::Conflict) => Some(error_response(&request, ErrorKind::Conflict)),
            Some(Fault::HandlerError) => Some(handler_error()),
            Some(Fault::Answer(body)) => Some(xml_answer(body)),
            Some(Fault::UnknownOperation) => Some(unknown_operation()),
            Some(Fault::FailAfterForward) => {
                forward(upstream, &raw);
                Some(error_response(&request, ErrorKind::Internal))
            }
            Some(Fault::Delay(d)) => {
                std::thread::sleep(d);
                forward(upstream, &raw)
            }
            Some(Fault::Hang) => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                None
            }
            Some(Fault::Drop) => None,
        };
        let written = match response {
            Some(response) => client.write_all(&response).is_ok(),
            None => {
                let _ = client.shutdown(Shutdown::Both);
                false
            }
        };
        state.lock().unwrap().in_flight.retain(|&i| i != index);
        if !written {
            return;
        }
    }
}

/// Read one HTTP/1.1 request (Content-Length bodies; the SDK sends no chunked requests to
/// these services). Returns the raw bytes with `Connection: close` for upstream.
fn read_request(client: &mut TcpStream) -> Option<(Vec<u8>, Request)> {
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let mut chunk = [0u8; 65536];
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..header_end + length].to_vec();
    let mut raw = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (k, v) in &headers {
        if !k.eq_ignore_ascii_case("connection") {
            raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
    }
    raw.extend_from_slice(b"Connection: close\r\n\r\n");
    raw.extend_from_slice(&body);
    let request = Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        fault: None,
    };
    Some((raw, request))
}

/// Send `raw` to moto and return its whole response, re-headed for a kept-alive client.
fn forward(upstream: &str, raw: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    server.write_all(raw).ok()?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).ok()?;
    let header_end = find(&response, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&response[..header_end]).into_owned();
    let body = &response[header_end..];
    let mut lines = head.trim_end().split("\r\n");
    let status = lines.next()?.to_string();
    let mut out = format!("{status}\r\n");
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        // moto answered a `Connection: close` request: restate the framing for our client.
        if ["connection", "content-length", "transfer-encoding"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(data, b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

enum ErrorKind {
    Throttle,
    Internal,
    Conflict,
}

/// The error each protocol's SDK deserializer recognises.
fn error_response(request: &Request, kind: ErrorKind) -> Vec<u8> {
    let (status, content_type, extra, body) = match (request.protocol(), kind) {
        (Protocol::Query, ErrorKind::Throttle) => (
            "400 Bad Request",
            "text/xml",
            String::new(),
            query_error("Throttling", "Rate exceeded"),
        ),
        (Protocol::Query, ErrorKind::Internal) => (
            "500 Internal Server Error",
            "text/xml",
            String::new(),
            query_error("InternalFailure", "injected by the test proxy"),
        ),
        (Protocol::RestJson, ErrorKind::Throttle) => (
            "429 Too Many Requests",
            "application/json",
            "x-amzn-ErrorType: TooManyRequestsException\r\n".to_string(),
            r#"{"Type":"User","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#
                .to_string(),
        ),
        (Protocol::RestJson, ErrorKind::Internal) => (
            "500 Internal Server Error",
            "application/json",
            "x-amzn-ErrorType: ServiceException\r\n".to_string(),
            r#"{"Type":"Service","message":"injected by the test proxy"}"#.to_string(),
        ),
        (Protocol::RestJson, ErrorKind::Conflict) => (
            "409 Conflict",
            "application/json",
            "x-amzn-ErrorType: ResourceConflictException\r\n".to_string(),
            r#"{"Type":"User","message":"The operation cannot be performed at this time. An update is in progress for resource: injected by the test proxy"}"#
                .to_string(),
        ),
        (_, ErrorKind::Conflict) => unreachable!("Fault::Conflict is Lambda's (REST-JSON) error"),
        (Protocol::RestXml, ErrorKind::Throttle) => (
            "503 Slow Down",
            "application/xml",
            String::new(),
            s3_error("SlowDown", "Please reduce your request rate."),
        ),
        (Protocol::RestXml, ErrorKind::Internal) => (
            "500 Internal Server Error",
            "application/xml",
            String::new(),
            s3_error("InternalError", "injected by the test proxy"),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}x-amzn-RequestId: proxy-fault\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn handler_error() -> Vec<u8> {
    let body =
        r#"{"errorType":"Error","errorMessage":"injected by the test proxy: the handler threw"}"#;
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Function-Error: Unhandled\r\nx-amzn-RequestId: proxy-fault\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn xml_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nx-amzn-RequestId: proxy-answer\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn unknown_operation() -> Vec<u8> {
    let body = r#"{"__type":"UnknownOperationException","message":"injected by the test proxy"}"#;
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: proxy-fault\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn query_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy-fault</RequestId></ErrorResponse>"
    )
}

fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy-fault</RequestId></Error>"
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
