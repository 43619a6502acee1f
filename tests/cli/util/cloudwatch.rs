//! CloudWatch for the gradual-release tests: moto's CloudWatch speaks only the query protocol
//! and the Rust SDK sends rpc-v2-cbor, so `scripts/moto-cloudwatch-proxy` (a test utility,
//! started once per test binary) translates the few operations the tool and the tests use.
//! The CLI reaches it through the SDK's own `AWS_ENDPOINT_URL_CLOUDWATCH`; the alarms and
//! metrics it reads are moto's.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use super::moto::{moto, sdk_config};
use super::repo_root;

static ENDPOINT: OnceLock<String> = OnceLock::new();
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// The proxy's endpoint, started on first use in front of the binary's moto server.
pub fn cloudwatch_endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        let script = repo_root().join("scripts/moto-cloudwatch-proxy");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--upstream", &moto().endpoint, "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the CloudWatch proxy said {line:?}"))
            .to_string();
        *CHILD.lock().unwrap() = Some(child);
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(stop_proxy) };
        endpoint
    })
}

extern "C" fn stop_proxy() {
    if let Ok(mut guard) = CHILD.lock() {
        if let Some(mut child) = guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CloudWatch client for `region`, through the proxy.
pub async fn cloudwatch_client(region: &str) -> aws_sdk_cloudwatch::Client {
    let config = sdk_config(region).await;
    aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&config)
            .endpoint_url(cloudwatch_endpoint())
            .build(),
    )
}
