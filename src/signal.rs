//! Which signal stopped the run: the signals this tool stops on and the one that came first.
//! Kept apart from [`crate::interrupt`] (the listener, `check`, the journal) so the error
//! model and the exit codes can name a signal without importing what reports interruptions.

use std::sync::atomic::{AtomicU8, Ordering};

/// The signal that stopped the run: 0 while none came, else [`Signal::number`].
static STOPPED_BY: AtomicU8 = AtomicU8::new(0);

/// The signals that stop a run, each with its own exit code ([`crate::exit::for_signal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: how CI runners and `kill` cancel a job.
    Terminate,
    /// SIGHUP: the terminal or SSH session went away.
    Hangup,
}

impl Signal {
    /// The signal's number on Linux and the BSDs (the exit code is 128 + it).
    pub fn number(self) -> u8 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }

    fn from_number(n: u8) -> Option<Signal> {
        [Signal::Hangup, Signal::Interrupt, Signal::Terminate]
            .into_iter()
            .find(|s| s.number() == n)
    }

    /// As messages name it: "Ctrl-C", "SIGTERM", "SIGHUP".
    pub fn describe(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// " on SIGTERM" for the first-signal line; nothing for Ctrl-C, whose user just pressed it.
    pub(crate) fn received(self) -> String {
        match self {
            Signal::Interrupt => String::new(),
            other => format!(" on {}", other.describe()),
        }
    }

    pub(crate) fn again(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C again to abort at once",
            _ => "a second signal aborts at once",
        }
    }
}

/// Remember `signal` as the one that stopped the run, unless one already did: the first
/// signal is the one the run reports and exits with.
pub(crate) fn record(signal: Signal) {
    let _ = STOPPED_BY.compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst);
}

/// The signal that asked the run to stop, if one did.
pub(crate) fn stopped_by() -> Option<Signal> {
    Signal::from_number(STOPPED_BY.load(Ordering::SeqCst))
}

/// The signal that stopped the run; Ctrl-C when none did (an interruption made in a test).
pub(crate) fn signal() -> Signal {
    stopped_by().unwrap_or(Signal::Interrupt)
}
