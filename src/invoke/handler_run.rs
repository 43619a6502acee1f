//! Running the handler: a temporary task root with the unpacked bundle, the embedded runner
//! script, a UDP socket standing in for the X-Ray daemon, and the child process with its
//! timeout. The handler's own output (stdout and stderr) goes to our stderr; its result comes
//! back through a file, so the two never mix.
//!
//! The handler runs in its own process group with its output piped (never our own stdio;
//! started and waited for by [`crate::process`]), and when it ends (returned, timed out, or a
//! signal stopped us) the group and every process below us are killed: a `sleep 1000 &` it left, or a `setsid` child, would otherwise keep
//! running and hold the output open, so `invoke … | cat` would never end.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Language;
use crate::process::tree::{self, Reap};
use crate::process::{Ended, Group};

use super::error::InvokeError;

/// The runner scripts, embedded in the binary and written next to the task root.
pub(crate) const RUNNER_JS: &str = include_str!("runner.js");
pub(crate) const RUNNER_PY: &str = include_str!("runner.py");

/// How long datagrams are still collected after the child exited: the SDKs send
/// asynchronously, and the kernel may still hold some.
pub(crate) const GRACE: Duration = Duration::from_millis(300);

/// A temporary directory with `task/` (the unpacked bundle, like `/var/task`), `runtime/`
/// (the runner), the event and, after the run, the result. Removed when dropped.
pub(crate) struct Workspace {
    _dir: tempfile::TempDir,
    pub(crate) task_root: PathBuf,
    pub(crate) runtime_dir: PathBuf,
    pub(crate) runner: PathBuf,
    pub(crate) event_path: PathBuf,
    pub(crate) result_path: PathBuf,
    pub(crate) language: Language,
}

impl Workspace {
    pub(crate) fn create(
        zip: &Path,
        language: Language,
        event: &Value,
    ) -> Result<Workspace, InvokeError> {
        const HINT: &str = "check that the temporary directory (TMPDIR) is writable and has space";
        let dir = tempfile::Builder::new()
            .prefix("scorekeep-invoke-")
            .tempdir()
            .map_err(InvokeError::io("creating a temporary directory", HINT))?;
        let task_root = dir.path().join("task");
        let runtime_dir = dir.path().join("runtime");
        std::fs::create_dir_all(&runtime_dir).map_err(InvokeError::io(
            format!("creating {}", runtime_dir.display()),
            HINT,
        ))?;
        let file = std::fs::File::open(zip).map_err(InvokeError::io(
            format!("opening {}", zip.display()),
            "rerun; the build should have written it (try `scorekeep-deploy build --force`)",
        ))?;
        zip::ZipArchive::new(file)
            .and_then(|mut archive| archive.extract(&task_root))
            .map_err(|e| InvokeError::Io {
                action: format!("unpacking {} into {}", zip.display(), task_root.display()),
                cause: std::io::Error::other(e),
                hint: "rebuild the bundle with `scorekeep-deploy build --force`, and check the disk space of TMPDIR",
            })?;
        let (name, source) = match language {
            Language::Node => ("runner.js", RUNNER_JS),
            Language::Python => ("runner.py", RUNNER_PY),
        };
        let runner = runtime_dir.join(name);
        std::fs::write(&runner, source).map_err(InvokeError::io(
            format!("writing {}", runner.display()),
            HINT,
        ))?;
        let event_path = dir.path().join("event.json");
        std::fs::write(
            &event_path,
            serde_json::to_vec(event).expect("JSON value serializes"),
        )
        .map_err(InvokeError::io(
            format!("writing {}", event_path.display()),
            HINT,
        ))?;
        let result_path = dir.path().join("result.json");
        Ok(Workspace {
            task_root,
            runtime_dir,
            runner,
            event_path,
            result_path,
            language,
            _dir: dir,
        })
    }
}

/// A UDP socket on 127.0.0.1 that keeps every datagram it receives, on its own thread.
pub(crate) struct Collector {
    pub(crate) address: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl Collector {
    pub(crate) fn start() -> std::io::Result<Collector> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(25)))?;
        let address = socket.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut received = Vec::new();
            let mut buf = vec![0u8; 65_536];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => received.push(buf[..n].to_vec()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // Stop only once the socket has nothing left.
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            received
        });
        Ok(Collector {
            address,
            stop,
            thread,
        })
    }

    /// Stop listening and return every datagram, in arrival order.
    pub(crate) fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

/// The error a handler threw, as the runner reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HandlerError {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) stack: Vec<String>,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Returned(Value),
    Threw(HandlerError),
    /// Killed at the timeout.
    TimedOut,
    /// The process ended without reporting a result (crashed, exited, or a Node.js handler
    /// whose promise never settled).
    NoResult {
        status: String,
    },
}

#[derive(Debug)]
pub(crate) struct RunResult {
    pub(crate) outcome: Outcome,
    /// The handler's own duration when the runner measured it, else the process's.
    pub(crate) duration_ms: f64,
    pub(crate) pid: u32,
    pub(crate) datagrams: Vec<Vec<u8>>,
}

/// What to run.
pub(crate) struct RunSpec<'a> {
    pub(crate) program: &'a Path,
    pub(crate) workspace: &'a Workspace,
    pub(crate) handler: &'a str,
    /// Python: the runtime-provided packages, put on the path after the task root.
    pub(crate) runtime_provided: Option<&'a Path>,
    /// The handler's whole environment: nothing of ours is inherited.
    pub(crate) env: BTreeMap<OsString, OsString>,
    pub(crate) timeout: Duration,
    pub(crate) collector: Collector,
}

#[derive(Deserialize)]
struct RunnerResult {
    ok: bool,
    #[serde(default)]
    result: Value,
    error: Option<HandlerError>,
    duration_ms: Option<f64>,
}

/// Run the handler and wait for it (at most `timeout`), then for late datagrams. Whatever
/// it started is killed when it ends; a signal stops it and is the error.
pub(crate) fn run(spec: RunSpec<'_>) -> anyhow::Result<RunResult> {
    let ws = spec.workspace;
    // Orphans of the handler (a setsid child whose parent exited) become ours, so they are
    // found and killed below instead of living on under init.
    tree::become_subreaper();
    let started = Instant::now();
    let mut group = Group::spawn(&mut command(&spec)).map_err(InvokeError::io(
        format!("starting {}", spec.program.display()),
        "check --runtime-path, or that the interpreter on PATH can be run",
    ))?;
    let pid = group.id();
    let output = Copiers::start(group.child());
    // A hung handler must not hang us: killed at once at the deadline (no grace, like Lambda).
    let ended = group.wait(Some(started + spec.timeout), Duration::ZERO);
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The handler was reaped by `wait`: what is left below us is what it started.
    tree::kill_group(pid as i32);
    tree::kill_descendants(Reap::Orphans);
    drop(group);
    output.finish();
    let ended = ended.map_err(InvokeError::io(
        format!("waiting for process {pid}"),
        "rerun the invocation",
    ))?;
    let (outcome, duration_ms) = match ended {
        Ended::Exited(status) => read_outcome(&ws.result_path, status),
        Ended::TimedOut => (Outcome::TimedOut, None),
        Ended::Interrupted => return Err(interrupted(pid).into()),
    };
    std::thread::sleep(GRACE);
    let datagrams = spec.collector.finish();
    Ok(RunResult {
        outcome,
        duration_ms: duration_ms.unwrap_or(wall_ms),
        pid,
        datagrams,
    })
}

fn interrupted(pid: u32) -> crate::error::Problem {
    crate::error::Problem::interrupted(format!(
        "{} while the handler ran (pid {pid}); it and every process it started were stopped",
        crate::interrupt::interrupted()
    ))
    .hint("rerun the invocation; stopping it changed nothing outside this machine")
}

/// The runner under the interpreter, in the task root, with the handler's environment only.
fn command(spec: &RunSpec<'_>) -> Command {
    let ws = spec.workspace;
    let mut cmd = Command::new(spec.program);
    if ws.language == Language::Python {
        // No site-packages of this interpreter (Lambda has only the runtime's own, which
        // `runtime_provided` stands for): a dependency missing from the bundle fails here too.
        cmd.arg("-S");
    }
    cmd.arg(&ws.runner)
        .arg(&ws.task_root)
        .arg(spec.handler)
        .arg(&ws.event_path)
        .arg(&ws.result_path)
        .arg(spec.timeout.as_millis().to_string())
        .arg(
            spec.runtime_provided
                .map(Path::as_os_str)
                .unwrap_or_default(),
        )
        .current_dir(&ws.task_root)
        .env_clear()
        .envs(&spec.env);
    cmd
}

/// How long the handler's output is still copied after everything below us was killed: the
/// pipes close then, unless something we could not find still holds one (it must not hang us).
const COPY_GRACE: Duration = Duration::from_millis(500);

/// The handler's stdout and stderr, each copied to our stderr by a thread as it comes.
struct Copiers {
    done: mpsc::Receiver<()>,
    count: usize,
}

impl Copiers {
    fn start(child: &mut Child) -> Copiers {
        let (tx, done) = mpsc::channel();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as _),
            child.stderr.take().map(|p| Box::new(p) as _),
        ];
        let mut count = 0;
        for mut pipe in pipes.into_iter().flatten() {
            let tx = tx.clone();
            count += 1;
            std::thread::spawn(move || {
                copy_to_stderr(&mut pipe);
                let _ = tx.send(());
            });
        }
        Copiers { done, count }
    }

    /// Wait until both pipes end, at most [`COPY_GRACE`].
    fn finish(self) {
        let deadline = Instant::now() + COPY_GRACE;
        for _ in 0..self.count {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

fn copy_to_stderr(pipe: &mut dyn Read) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                // Our stderr may be gone (a closed terminal): keep draining the pipe anyway.
                let _ = std::io::stderr().lock().write_all(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The outcome the runner wrote to `result_path`, and the handler's duration it measured; a
/// process that wrote none ended without a result (crashed, exited, or never settled).
fn read_outcome(result_path: &Path, status: ExitStatus) -> (Outcome, Option<f64>) {
    let reported = std::fs::read(result_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RunnerResult>(&bytes).ok());
    match reported {
        Some(r) if r.ok => (Outcome::Returned(r.result), r.duration_ms),
        Some(r) => (
            Outcome::Threw(r.error.unwrap_or_else(|| HandlerError {
                kind: "Unknown".into(),
                message: "the handler failed without an error object".into(),
                stack: Vec::new(),
            })),
            r.duration_ms,
        ),
        None => (
            Outcome::NoResult {
                status: status.to_string(),
            },
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_keeps_every_datagram_sent_before_it_finishes() {
        let collector = Collector::start().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..3 {
            sender
                .send_to(format!("d{i}").as_bytes(), &collector.address)
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let got = collector.finish();
        assert_eq!(got, [b"d0".to_vec(), b"d1".to_vec(), b"d2".to_vec()]);
    }

    #[test]
    fn runner_scripts_take_the_documented_arguments() {
        assert!(RUNNER_JS.contains("[taskRoot, handlerSpec, eventFile, resultFile, timeoutArg]"));
        assert!(RUNNER_PY
            .contains("TASK_ROOT, HANDLER, EVENT_FILE, RESULT_FILE, TIMEOUT_MS, RUNTIME_PROVIDED"));
        assert!(RUNNER_PY.contains("sys.path[0:1] = [os.path.abspath(TASK_ROOT)]"));
    }
}
