//! How the service layer reports progress and learns that the run should stop, without
//! knowing the UI or the signal handling: the caller hands in a [`Progress`] (the UI's task
//! and reporter implement it).

use std::future::Future;
use std::pin::Pin;

/// Completes when the run is asked to stop, with what asked (e.g. "interrupted (Ctrl-C)").
pub type Stopped<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// Where a long AWS step shows what it is doing, and what stops its waits.
pub trait Progress: Sync {
    /// A line that stays (an event, a retry).
    fn note(&self, line: String);
    /// The step's current state, replacing the previous one.
    fn status(&self, message: String);
    /// Completes when the run should stop waiting (AWS carries on with what was sent).
    fn stopped(&self) -> Stopped<'_>;
}
