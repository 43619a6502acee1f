//! Ctrl-C, SIGTERM and SIGHUP, handled once for the whole process.
//!
//! `install` (called by `main` at startup) registers one listener for the three. The first
//! signal sets a flag and wakes every [`cancelled`] future: the running step drops its
//! in-flight request (or kills its npm/pip child, or the local handler), and the command
//! reports what was done and what was not and exits 128 + the signal's number (130 Ctrl-C,
//! 143 SIGTERM, 129 SIGHUP). CI runners cancel a job with SIGTERM, and a closed terminal sends
//! SIGHUP: both deserve the same summary as Ctrl-C. A second signal of any kind exits at once,
//! killing every child process (and what they started) first.
//! Registering `tokio::signal::ctrl_c` per wait only caught the signal while that wait ran.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

use crate::error::{explain, Problem};
pub use crate::signal::Signal;
pub(crate) use crate::signal::{signal, stopped_by};

static SIGNAL: OnceLock<watch::Sender<bool>> = OnceLock::new();
/// Set by the second signal while it kills the children: see [`settle`].
static ABORTING: AtomicBool = AtomicBool::new(false);

/// Listen for SIGINT, SIGTERM and SIGHUP for the rest of the process. The handlers are
/// registered before this returns, so no signal falls back to the default "die without a
/// report".
pub fn install() {
    let (tx, _) = watch::channel(false);
    if SIGNAL.set(tx).is_err() {
        return;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::warn!("cannot listen for Ctrl-C, SIGTERM and SIGHUP: {err}");
            return;
        }
    };
    let mut listener = {
        let _guard = runtime.enter();
        match Listener::new() {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!("cannot listen for Ctrl-C, SIGTERM and SIGHUP: {err}");
                return;
            }
        }
    };
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            runtime.block_on(async move {
                let first = listener.next().await;
                request(first);
                say(&format!(
                    "interrupted: stopping after the current step{} ({})",
                    first.received(),
                    first.again()
                ));
                let second = listener.next().await;
                ABORTING.store(true, Ordering::SeqCst);
                say(&format!(
                    "aborted: a second {}; what was in flight may or may not have been applied",
                    second.describe()
                ));
                crate::process::kill_all();
                std::process::exit(crate::exit::for_signal(second));
            })
        });
    if let Err(err) = spawned {
        tracing::warn!("cannot listen for Ctrl-C, SIGTERM and SIGHUP: {err}");
    }
}

/// A line on stderr that may go nowhere: after SIGHUP the terminal is gone, and a failed
/// write must not panic the listener (eprintln! would).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// One stream per signal; `None` for a signal this process was started with ignored: `nohup`
/// (SIGHUP) and `cmd &` in a script (SIGINT) mean "do not stop on it", and listening would
/// undo that.
#[cfg(unix)]
struct Listener {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
    hangup: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Listener {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind| -> std::io::Result<_> {
            if ignored(kind.as_raw_value()) {
                return Ok(None);
            }
            signal(kind).map(Some)
        };
        Ok(Listener {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = recv(&mut self.interrupt) => Signal::Interrupt,
            _ = recv(&mut self.terminate) => Signal::Terminate,
            _ = recv(&mut self.hangup) => Signal::Hangup,
        }
    }
}

#[cfg(unix)]
async fn recv(stream: &mut Option<tokio::signal::unix::Signal>) {
    match stream {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Whether `signal` is ignored (SIG_IGN), as a parent like `nohup` left it.
#[cfg(unix)]
fn ignored(signal: libc::c_int) -> bool {
    // SAFETY: sigaction(2) only reads the current disposition into a zeroed struct we own.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(not(unix))]
struct Listener;

#[cfg(not(unix))]
impl Listener {
    fn new() -> std::io::Result<Self> {
        Ok(Listener)
    }

    async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

/// Mark the run as stopped by `signal` (the listener does this; tests may too). The first
/// signal is the one the run reports and exits with.
pub(crate) fn request(signal: Signal) {
    crate::signal::record(signal);
    if let Some(tx) = SIGNAL.get() {
        tx.send_replace(true);
    }
}

/// True once a signal asked the run to stop.
pub(crate) fn requested() -> bool {
    stopped_by().is_some()
}

/// "interrupted (SIGTERM)": the start of every interruption message.
pub(crate) fn interrupted() -> String {
    format!("interrupted ({})", signal().describe())
}

/// Completes when a signal asks the run to stop (never, when no listener is installed).
pub(crate) async fn cancelled() {
    let Some(tx) = SIGNAL.get() else {
        return std::future::pending().await;
    };
    let mut rx = tx.subscribe();
    let _ = rx.wait_for(|pressed| *pressed).await;
}

/// An interruption error once a signal asked the run to stop: call between steps.
pub(crate) fn check() -> Result<(), Problem> {
    if requested() {
        return Err(Problem::interrupted(interrupted()));
    }
    Ok(())
}

/// Run `step` unless a signal comes first; then it is dropped, which cancels its in-flight
/// request. The step goes first, so its own, more precise, interruption error wins a tie.
pub(crate) async fn race<T>(step: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    check()?;
    tokio::pin!(step);
    tokio::select! {
        biased;
        result = &mut step => result,
        _ = cancelled() => {
            // The step usually reports the interruption itself, saying what was done and what
            // was not; give it a moment to, so a scheduling race does not lose that report.
            match tokio::time::timeout(std::time::Duration::from_millis(300), &mut step).await {
                Ok(result) => result,
                Err(_) => Err(Problem::interrupted(interrupted()).into()),
            }
        }
    }
}

/// [`race`], with the interruption saying what was going on: "interrupted while `doing`".
pub(crate) async fn race_while<T>(
    doing: impl std::fmt::Display,
    step: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    check()?;
    tokio::select! {
        biased;
        result = step => result,
        _ = cancelled() => Err(Problem::interrupted(format!("{} while {doing}", interrupted())).into()),
    }
}

/// Call before exiting: while a second signal is killing the children, wait for it to end the
/// process (at most 3 s), so the run's own exit does not cut the kill short.
pub fn settle() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while ABORTING.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The steps of a run and which of them finished, to say on a signal what was done and not.
#[derive(Debug)]
pub(crate) struct Journal {
    command: &'static str,
    steps: Mutex<Vec<(String, Option<String>)>>,
}

impl Journal {
    pub(crate) fn new(command: &'static str, steps: impl IntoIterator<Item = String>) -> Self {
        Journal {
            command,
            steps: Mutex::new(steps.into_iter().map(|s| (s, None)).collect()),
        }
    }

    /// Mark `step` finished with `outcome` (e.g. "created", "unchanged").
    pub(crate) fn done(&self, step: &str, outcome: impl Into<String>) {
        if let Ok(mut steps) = self.steps.lock() {
            if let Some(entry) = steps.iter_mut().find(|(s, _)| s == step) {
                entry.1 = Some(outcome.into());
            }
        }
    }

    /// An interruption becomes one message: where it happened, what was done, what was not,
    /// and how to resume. Other errors pass through unchanged.
    pub(crate) fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let Some(cause) = err
            .chain()
            .find(|c| explain(*c).is_some_and(|e| e.class().is_interrupted()))
            .map(|c| c.to_string())
        else {
            return err;
        };
        let steps = self.steps.lock().map(|s| s.clone()).unwrap_or_default();
        let list = |done: bool| {
            let items: Vec<String> = steps
                .iter()
                .filter(|(_, o)| o.is_some() == done)
                .map(|(s, o)| match o {
                    Some(o) => format!("{s} ({o})"),
                    None => s.clone(),
                })
                .collect();
            if items.is_empty() {
                "nothing".to_string()
            } else {
                items.join(", ")
            }
        };
        Problem::interrupted(format!(
            "{cause}\n  done: {}\n  not done: {}",
            list(true),
            list(false),
        ))
        .hint(format!(
            "rerun `scorekeep-deploy {}` to finish; finished steps are compared and not repeated",
            self.command
        ))
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_says_what_was_done_and_not() {
        let journal = Journal::new(
            "up",
            [
                "stack s".to_string(),
                "build".into(),
                "function f code".into(),
            ],
        );
        journal.done("stack s", "created");
        let err: anyhow::Error = Problem::interrupted("interrupted while stack s is X")
            .hint("rerun the same command")
            .into();
        let text = crate::exit::Failure::render(&journal.explain(err.context("while deploying")));
        assert_eq!(
            text,
            "interrupted while stack s is X\n  done: stack s (created)\n  not done: build, function f code\n  hint: rerun `scorekeep-deploy up` to finish; finished steps are compared and not repeated"
        );
        let other = journal.explain(anyhow::anyhow!("boom"));
        assert_eq!(other.to_string(), "boom");
    }
}
