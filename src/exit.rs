//! Exit codes, decided in one place by asking the error that ended the command its class
//! (see [`crate::error`]).

use crate::error::{class_of, tell, Class, Told};
use crate::signal::Signal;

pub const OK: i32 = 0;
pub const FAILURE: i32 = 1;
pub(crate) const USAGE: i32 = 2;
/// `plan --detailed-exitcode`: something would change.
pub(crate) const CHANGES_PENDING: i32 = 2;
/// Stopped by a signal: 128 + its number, as a shell reports a process the signal killed, so
/// a pipeline tells a cancelled run from a failed one.
pub(crate) const INTERRUPTED: i32 = 130;
pub(crate) const TERMINATED: i32 = 143;
pub(crate) const HUNG_UP: i32 = 129;

/// The exit code of a run that `signal` stopped.
pub(crate) fn for_signal(signal: Signal) -> i32 {
    match signal {
        Signal::Interrupt => INTERRUPTED,
        Signal::Terminate => TERMINATED,
        Signal::Hangup => HUNG_UP,
    }
}

/// 2 for problems in what the user gave us (nothing was changed), 130/143/129 for Ctrl-C,
/// SIGTERM and SIGHUP, 1 for everything else.
pub fn code_for(err: &anyhow::Error) -> i32 {
    match class_of(err) {
        Class::Usage => USAGE,
        Class::Interrupted(signal) => for_signal(signal),
        Class::Failure => FAILURE,
    }
}

/// The error that ended a command, derived once from its chain: for the `error:` text on
/// stderr and the `error` object of `--output json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The causes, outermost first, joined with `: `; hint lines taken out.
    pub(crate) message: String,
    /// The file position or AWS resource the error is about, when one is known.
    pub(crate) resource: Option<String>,
    /// The next steps, joined with ` ` (`None` when no layer gave one).
    pub(crate) hint: Option<String>,
    pub(crate) exit_code: i32,
    /// The signal that stopped the run ("Ctrl-C", "SIGTERM", "SIGHUP"), when one did: a
    /// pipeline tells a cancelled run from a failed one without parsing the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interrupted_by: Option<&'static str>,
    /// The same steps one by one, for the text form's `hint:` lines.
    #[serde(skip)]
    hints: Vec<String>,
}

impl Failure {
    pub fn from_error(err: &anyhow::Error, exit_code: i32) -> Failure {
        let Told {
            message,
            hints,
            resource,
        } = tell(err);
        Failure {
            message,
            resource,
            hint: (!hints.is_empty()).then(|| hints.join(" ")),
            exit_code,
            interrupted_by: match class_of(err) {
                Class::Interrupted(signal) => Some(signal.describe()),
                _ => None,
            },
            hints,
        }
    }

    /// The text form of one error among several (e.g. one function's failure in a list),
    /// with its hints on their own lines, indented under it.
    pub(crate) fn render(err: &anyhow::Error) -> String {
        Failure::from_error(err, code_for(err)).to_string()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Messages quote AWS and handlers: shown, not obeyed, on a terminal.
        let text = crate::error::with_hints(&self.message, &self.hints);
        f.write_str(&crate::text::visible(&text, crate::text::Lines::Keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::error::Problem;

    #[derive(Debug, thiserror::Error)]
    #[error("writing x.zip: {source}")]
    struct WithSource {
        source: std::io::Error,
    }

    fn layer(outer: Problem, inner: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(outer.because(inner))
    }

    #[test]
    fn the_os_error_comes_once_and_before_the_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file (os error 2)");
        let err = anyhow::Error::new(WithSource { source: io }).context("function `a`");
        let err = layer(
            Problem::failure("while building").hint("check the disk"),
            err,
        );
        let f = Failure::from_error(&err, FAILURE);
        assert_eq!(
            f.message,
            "while building: function `a`: writing x.zip: No such file (os error 2)"
        );
        assert_eq!(f.hint.as_deref(), Some("check the disk"));
        assert_eq!(
            f.to_string(),
            "while building: function `a`: writing x.zip: No such file (os error 2)\n  hint: check the disk"
        );
    }

    #[test]
    fn hints_of_every_layer_are_kept_in_order_once() {
        let err = anyhow::Error::new(Problem::usage("bad value").hint("fix the value"));
        let err = layer(
            Problem::failure("config c.yaml").hint("see the README"),
            err,
        );
        let err = layer(Problem::failure("loading").hint("fix the value"), err);
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!(f.message, "loading: config c.yaml: bad value");
        assert_eq!(f.hint.as_deref(), Some("fix the value see the README"));
        assert_eq!(
            f.to_string(),
            "loading: config c.yaml: bad value\n  hint: fix the value\n  hint: see the README"
        );
        assert_eq!(f.exit_code, USAGE);
    }

    #[test]
    fn resource_errors_and_diagnostics_name_their_resource() {
        let err = anyhow::Error::new(
            Problem::failure("bucket b: 1 object version(s) could not be deleted")
                .resource("s3 bucket b")
                .hint("release the hold"),
        );
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!(f.resource.as_deref(), Some("s3 bucket b"));
        assert_eq!(f.exit_code, FAILURE);
        let d = Diagnostic::new(
            std::path::Path::new("c.yaml"),
            Some(crate::yaml::Position { line: 3, column: 5 }),
            "unknown key",
        );
        let err = anyhow::Error::from(d);
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!(f.resource.as_deref(), Some("c.yaml:3:5"));
        assert_eq!(f.exit_code, USAGE);
        assert_eq!(f.hint, None);
        assert_eq!(f.interrupted_by, None);
    }

    #[test]
    fn each_signal_has_its_own_exit_code() {
        assert_eq!(for_signal(Signal::Interrupt), 130);
        assert_eq!(for_signal(Signal::Terminate), 143);
        assert_eq!(for_signal(Signal::Hangup), 129);
        let err = anyhow::Error::new(Problem::interrupted("interrupted (Ctrl-C)"));
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!((f.exit_code, f.interrupted_by), (130, Some("Ctrl-C")));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["interrupted_by"], "Ctrl-C");
    }
}
