//! The Scorekeep API stub (`tests/fixtures/scorekeep_api_stub.py`): what the worker reads
//! games from, recording the X-Ray trace header of every request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{repo_root, s3_client, venv_bin};

/// A running stub, stopped by closing its stdin.
pub struct ApiStub {
    child: Child,
    /// What the stub printed when ready: `host_port`, `base_url`, `session_id`, `game_id`,
    /// `fail_game_id`, `paths`, `expected_record`, `expected_body`.
    pub info: Value,
}

impl ApiStub {
    pub fn start() -> ApiStub {
        let mut child = Command::new(venv_bin("python"))
            .arg(repo_root().join("tests/fixtures/scorekeep_api_stub.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the Scorekeep API stub");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stub said {line:?}: {e}"));
        ApiStub { child, info }
    }

    /// The API paths the worker must request for the game the stub serves.
    pub fn paths(&self) -> Vec<String> {
        serde_json::from_value(self.info["paths"].clone()).expect("the stub lists its paths")
    }

    /// Assert that the trace `nodes` hold one successful remote HTTP call (`what`: subsegment
    /// or span) for each of the stub's paths.
    pub fn assert_http_node_per_path(&self, nodes: &[&Value], what: &str, report: &Value) {
        let base_url = self.info["base_url"].as_str().unwrap();
        for path in self.paths() {
            let url = format!("{base_url}{path}");
            assert!(
                nodes.iter().any(|n| n["namespace"] == "remote"
                    && n["url"] == url.as_str()
                    && n["http_status"] == 200),
                "no HTTP {what} for {url}: {report:#}"
            );
        }
    }

    /// Stop it; returns the requests it served as (path, X-Amzn-Trace-Id).
    pub fn finish(self) -> Vec<(String, String)> {
        self.finish_with_traceparent()
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
            .collect()
    }

    /// Stop it; returns the requests it served as [path, X-Amzn-Trace-Id, traceparent].
    pub fn finish_with_traceparent(mut self) -> Vec<Value> {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        self.child.wait().unwrap();
        let report: Value = serde_json::from_str(rest.trim()).unwrap();
        report["requests"].as_array().unwrap().clone()
    }
}

impl Drop for ApiStub {
    fn drop(&mut self) {
        // Our own child, by its handle (a no-op once it has exited).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one object in `bucket` (for the game `stub_info` serves): at `YYYY/MM/DD/<session>/<game>.json` for one of `dates` (UTC,
/// before and after the run), JSON, the game with its session, users, states and moves
/// dereferenced, written with sorted keys.
pub async fn assert_game_stored(region: &str, bucket: &str, stub_info: &Value, dates: [String; 2]) {
    let s3 = s3_client(region).await;
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let suffix = format!(
        "/{}/{}.json",
        stub_info["session_id"].as_str().unwrap(),
        stub_info["game_id"].as_str().unwrap()
    );
    assert!(keys.len() == 1 && keys[0].ends_with(&suffix), "{keys:?}");
    let date = &keys[0][..keys[0].len() - suffix.len()];
    assert!(
        dates.iter().any(|d| d == date),
        "{} is not at {dates:?}",
        keys[0]
    );
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    let body = object.body.collect().await.unwrap().into_bytes();
    let record: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(record, stub_info["expected_record"]);
    assert_eq!(
        body,
        stub_info["expected_body"].as_str().unwrap().as_bytes(),
        "sorted-key JSON"
    );
}

/// Today's date in UTC as `YYYY/MM/DD`.
pub fn utc_date() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y/%m/%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
