//! The Scorekeep API stub (`tests/fixtures/scorekeep_api_stub.py`): what the worker reads
//! games from, recording the X-Ray trace header of every request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{repo_root, venv_bin};

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

    /// Stop it; returns the requests it served as (path, X-Amzn-Trace-Id).
    pub fn finish(mut self) -> Vec<(String, String)> {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        self.child.wait().unwrap();
        let report: Value = serde_json::from_str(rest.trim()).unwrap();
        report["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
            .collect()
    }
}

impl Drop for ApiStub {
    fn drop(&mut self) {
        // Our own child, by its handle (a no-op once it has exited).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
