//! Ctrl-C, handled once for the whole process.
//!
//! `install` (called by `main` at startup) registers one SIGINT listener. The first Ctrl-C sets
//! a flag and wakes every [`cancelled`] future: the running step drops its in-flight request
//! (or kills its npm/pip child), and the command reports what was done and what was not and
//! exits 130. A second Ctrl-C exits 130 at once, killing any child process group first.
//! Registering `tokio::signal::ctrl_c` per wait only caught the signal while that wait ran.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

use crate::error::{explain, Class, Problem};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static SIGNAL: OnceLock<watch::Sender<bool>> = OnceLock::new();
/// Process groups of running npm/pip children, killed on the second Ctrl-C.
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Listen for SIGINT for the rest of the process. The handler is registered before this
/// returns, so no Ctrl-C falls back to the default "die without a report".
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
            tracing::warn!("cannot listen for Ctrl-C: {err}");
            return;
        }
    };
    let mut listener = {
        let _guard = runtime.enter();
        match Listener::new() {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!("cannot listen for Ctrl-C: {err}");
                return;
            }
        }
    };
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            runtime.block_on(async move {
                listener.next().await;
                request();
                eprintln!(
                    "interrupted: stopping after the current step (Ctrl-C again to abort at once)"
                );
                listener.next().await;
                kill_children();
                eprintln!(
                    "aborted: a second Ctrl-C; what was in flight may or may not have been applied"
                );
                std::process::exit(crate::exit::INTERRUPTED);
            })
        });
    if let Err(err) = spawned {
        tracing::warn!("cannot listen for Ctrl-C: {err}");
    }
}

#[cfg(unix)]
struct Listener(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Listener {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::interrupt()).map(Listener)
    }

    async fn next(&mut self) {
        self.0.recv().await;
    }
}

#[cfg(not(unix))]
struct Listener;

#[cfg(not(unix))]
impl Listener {
    fn new() -> std::io::Result<Self> {
        Ok(Listener)
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Mark the run as interrupted (the signal listener does this; tests may too).
pub(crate) fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
    if let Some(tx) = SIGNAL.get() {
        tx.send_replace(true);
    }
}

/// True once Ctrl-C was pressed.
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Completes when Ctrl-C is pressed (never, when no listener is installed).
pub(crate) async fn cancelled() {
    let Some(tx) = SIGNAL.get() else {
        return std::future::pending().await;
    };
    let mut rx = tx.subscribe();
    let _ = rx.wait_for(|pressed| *pressed).await;
}

/// An interruption error once Ctrl-C was pressed: call between steps.
pub(crate) fn check() -> Result<(), Problem> {
    if requested() {
        return Err(Problem::interrupted("interrupted (Ctrl-C)"));
    }
    Ok(())
}

/// Run `step` unless Ctrl-C comes first; then it is dropped, which cancels its in-flight
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
                Err(_) => Err(Problem::interrupted("interrupted (Ctrl-C)").into()),
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
        _ = cancelled() => Err(Problem::interrupted(format!("interrupted (Ctrl-C) while {doing}")).into()),
    }
}

/// Remember a child's process group so a second Ctrl-C can kill it.
pub(crate) fn register_child(pgid: i32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.push(pgid);
    }
}

pub(crate) fn unregister_child(pgid: i32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.retain(|p| *p != pgid);
    }
}

fn kill_children() {
    #[cfg(unix)]
    if let Ok(children) = CHILDREN.lock() {
        for pgid in children.iter() {
            // SAFETY: kill(2) on a process group this process created; no memory involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// The steps of a run and which of them finished, to say on Ctrl-C what was done and not.
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
            .find(|c| explain(*c).is_some_and(|e| e.class() == Class::Interrupted))
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
