//! Exit codes, decided in one place from the error that ended the command.

use crate::config::ConfigError;
use crate::diagnostic::Diagnostic;
use crate::template::TemplateError;

pub const OK: i32 = 0;
pub const FAILURE: i32 = 1;
pub const USAGE: i32 = 2;
/// `plan --detailed-exitcode`: something would change.
pub const CHANGES_PENDING: i32 = 2;
pub const INTERRUPTED: i32 = 130;

/// Bad command-line usage that clap cannot see (e.g. an unknown stack name).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The command was interrupted; AWS keeps working on what it was asked to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// 2 for problems in what the user gave us (nothing was changed), 1 for everything else.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<Interrupted>() {
            return INTERRUPTED;
        }
        if cause.is::<UsageError>()
            || cause.is::<ConfigError>()
            || cause.is::<TemplateError>()
            || cause.is::<Diagnostic>()
        {
            return USAGE;
        }
    }
    FAILURE
}

/// A failure that belongs to one resource, with a next step. Its Display is the message and
/// the hint on a `hint:` line, like every other error; `--output json` reads the fields.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct ResourceError {
    /// What failed, e.g. `s3 bucket scorekeep-records-1`.
    pub resource: String,
    pub message: String,
    pub hint: Option<String>,
}
