//! The test binary's one moto server and what talks to it: started on first use, stopped
//! by its PID when the binary exits; each test takes a region of its own, so tests sharing
//! the server do not see each other's resources or requests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{cli, venv_bin};

/// True when the emulator tests should be skipped (loudly) rather than fail. Under `CI=true`
/// they are never skipped: a test that cannot run must not pass there.
pub fn skip_emulator() -> bool {
    if std::env::var("SCOREKEEP_SKIP_EMULATOR").as_deref() == Ok("1") {
        return super::cannot_run("SCOREKEEP_SKIP_EMULATOR=1: a test that needs the moto emulator");
    }
    false
}

/// An emulator test's start: a region of its own and a fresh project copy; `None` (the test
/// returns) when emulator tests are skipped.
pub fn emulator_project() -> Option<(&'static str, tempfile::TempDir)> {
    if skip_emulator() {
        return None;
    }
    Some((unique_region(), super::project_copy()))
}

/// One moto server per test binary, started on first use on a free 127.0.0.1 port and
/// stopped by its own PID when the test binary exits.
pub struct Moto {
    pub endpoint: String,
    #[allow(dead_code)] // read through `pid()`, which no area needs today
    pid: u32,
    recording: PathBuf,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

pub fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        let server = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| venv_bin("moto_server"));
        assert!(
            server.exists(),
            "moto_server not found at {}: run `scripts/setup` first (or set SCOREKEEP_SKIP_EMULATOR=1 to skip emulator tests)",
            server.display()
        );
        let port = free_port();
        let log = std::fs::File::create(std::env::temp_dir().join(format!("moto-{port}.log"))).unwrap();
        let recording = std::env::temp_dir().join(format!("moto-{port}.recording.jsonl"));
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // moto's own request recorder: tests count the API calls a command made.
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            // Every service in every region `unique_region` hands out, made-up ones included.
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
        let pid = child.id();
        *CHILD.lock().unwrap() = Some(child);
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(stop_moto) };
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until_ready(&endpoint);
        invoke_without_docker(&endpoint);
        Moto { endpoint, pid, recording }
    })
}

extern "C" fn stop_moto() {
    if let Ok(mut guard) = CHILD.lock() {
        if let Some(mut child) = guard.take() {
            // SIGTERM by our own child's PID, then reap it.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto runs a handler only in Docker. Told `lambda.use_docker: false` it answers every Invoke
/// with a fixed payload and no function error (a passing smoke test). Set once, before any
/// test: moto then keeps functions in another backend, so switching later would hide every
/// function made before.
fn invoke_without_docker(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let body = r#"{"lambda": {"use_docker": false}}"#;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /moto-api/config HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 20"), "moto's config: {answer}");
}

fn wait_until_ready(endpoint: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not start listening on {endpoint} within 60 s");
}

impl Moto {
    #[allow(dead_code)] // for a test that signals or inspects the server itself
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The API operations moto received for `region` since the binary started, in order: the
    /// `Action` of query-protocol calls (CloudFormation, SNS, Beanstalk, ...), else
    /// `METHOD /path` (Lambda's REST protocol). Tests in one binary use different regions, so
    /// this is one test's traffic.
    pub fn operations(&self, region: &str) -> Vec<String> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| {
                let auth = entry["headers"]["Authorization"]
                    .as_str()
                    .unwrap_or_default();
                auth.contains(&format!("/{region}/"))
            })
            .map(|entry| {
                // moto 5.2.5's recorder stores form-encoded bodies base64-encoded.
                let raw = entry["body"].as_str().unwrap_or_default();
                let body = if entry["body_encoded"].as_bool() == Some(true) {
                    base64::engine::general_purpose::STANDARD
                        .decode(raw.trim())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                } else {
                    raw.to_string()
                };
                let action = body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .map(String::from);
                action.unwrap_or_else(|| {
                    let url = entry["url"].as_str().unwrap_or_default();
                    let path = url
                        .split("://")
                        .nth(1)
                        .and_then(|u| u.find('/').map(|i| &u[i..]))
                        .unwrap_or(url);
                    format!(
                        "{} {}",
                        entry["method"].as_str().unwrap_or_default(),
                        path.split('?').next().unwrap_or(path)
                    )
                })
            })
            .collect()
    }

    /// Only the query-protocol actions of [`Moto::operations`] (`Publish`, `DescribeStacks`, ...).
    pub fn actions(&self, region: &str) -> Vec<String> {
        self.operations(region)
            .into_iter()
            .filter(|op| !op.contains(' '))
            .collect()
    }
}

/// A region no other test in this binary uses: moto keeps regions apart, so tests sharing
/// one server do not see each other's stacks, functions or exports.
pub fn unique_region() -> &'static str {
    // Every commercial region the SDK knows: one binary holds all the emulator tests.
    const REGIONS: &[&str] = &[
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        // eu-west-3 and me-south-1 are left out: otel::otel_layer_up_… takes them, as a
        // region where AWS publishes both languages' OpenTelemetry layers and one where it
        // publishes no Python layer (src/otel_layer.rs).
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "ap-south-1",
        "ap-south-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ap-east-1",
        "ca-central-1",
        "ca-west-1",
        "sa-east-1",
        "mx-central-1",
        "me-central-1",
        "il-central-1",
        "af-south-1",
    ];
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, Ordering::SeqCst);
    match REGIONS.get(i) {
        Some(region) => region,
        // Then made-up ones, which the server takes (MOTO_ALLOW_NONEXISTENT_REGION) as the
        // SDK and the CLI do with an endpoint given: one binary has more tests than regions.
        None => Box::leak(format!("us-test-{}", i - REGIONS.len() + 1).into_boxed_str()),
    }
}

/// Environment for talking to moto: endpoint, region, dummy credentials.
pub fn aws_env(cmd: &mut assert_cmd::Command, region: &str) {
    cmd.env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// The CLI as a child process to signal while it runs (std's `Command`, not assert_cmd's):
/// from `dir` with `args`, against `endpoint` in `region`, `CI=true`, dummy credentials, no
/// stdin, stdout discarded and stderr into `stderr` (a file the caller reads).
pub fn background_cli(
    dir: &Path,
    endpoint: &str,
    region: &str,
    args: &[&str],
    stderr: &Path,
) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"));
    cmd.current_dir(dir)
        .args(args)
        .env("CI", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap());
    cmd
}

/// The CLI run from `dir` with `args`, against moto in `region`.
pub fn moto_cli(dir: &Path, region: &str, args: &[&str]) -> assert_cmd::Command {
    cli_via(dir, &moto().endpoint, region, args)
}

/// The CLI run from `dir` with `args`, against `endpoint` (a proxy in front of moto) in
/// `region`.
pub fn cli_via(dir: &Path, endpoint: &str, region: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cli(dir);
    aws_env(&mut cmd, region);
    cmd.env("AWS_ENDPOINT_URL", endpoint).args(args);
    cmd
}

/// `up` of the project at `dir` to moto in `region`; the stack's outputs.
pub fn up(dir: &Path, region: &str) -> serde_json::Value {
    let out = moto_cli(dir, region, &["up", "--output", "json"])
        .assert()
        .success();
    let report = super::stdout_json(out.get_output());
    report["stacks"][0]["outputs"].clone()
}

/// An SDK config for moto in `region`.
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// An S3 client for moto in `region` (path-style: moto serves every bucket on one host).
pub async fn s3_client(region: &str) -> aws_sdk_s3::Client {
    let config = sdk_config(region).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// An SQS client for moto in `region`.
pub async fn sqs_client(region: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(region).await)
}

/// Send `body` to the queue at `queue_url`; the message's id.
pub async fn send_message(region: &str, queue_url: &str, body: &str) -> String {
    let send = sqs_client(region).await.send_message().queue_url(queue_url);
    send.message_body(body)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap()
}

/// How many of `ops` (from [`Moto::operations`] or [`Moto::actions`]) are `name`.
pub fn count(ops: &[String], name: &str) -> usize {
    ops.iter().filter(|op| *op == name).count()
}
