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

/// The error that ended a command, derived once from its chain: for the `error:` text on
/// stderr and the `error` object of `--output json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The causes, outermost first, joined with `: `; hint lines taken out.
    pub message: String,
    /// The file position or AWS resource the error is about, when one is known.
    pub resource: Option<String>,
    /// The next steps, joined with ` ` (`None` when no layer gave one).
    pub hint: Option<String>,
    pub exit_code: i32,
    /// The same steps one by one, for the text form's `hint:` lines.
    #[serde(skip)]
    hints: Vec<String>,
}

impl Failure {
    pub fn from_error(err: &anyhow::Error, exit_code: i32) -> Failure {
        let mut message = String::new();
        let mut hints: Vec<String> = Vec::new();
        for cause in err.chain() {
            let text = cause.to_string();
            // A layer that already printed its source (`{source}` in its message) makes the
            // source's own text a repeat: keep it once, before the hints.
            if text.trim().is_empty() || message.contains(text.trim()) {
                continue;
            }
            let (part, trailing) = split_trailing_hints(&text);
            for h in trailing {
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
            if part.trim().is_empty() || message.contains(part.trim()) {
                continue;
            }
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&part);
        }
        Failure {
            message,
            resource: resource_of(err),
            hint: (!hints.is_empty()).then(|| hints.join(" ")),
            exit_code,
            hints,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        for hint in &self.hints {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A layer's text without the `hint:` lines that end it, and those hints. Hints inside the
/// text (one per error in a list of several) stay beside the error they belong to.
fn split_trailing_hints(text: &str) -> (String, Vec<String>) {
    let mut lines: Vec<&str> = text.lines().collect();
    let mut hints = Vec::new();
    while let Some(h) = lines
        .last()
        .and_then(|l| l.trim_start().strip_prefix("hint:"))
    {
        hints.insert(0, h.trim().to_string());
        lines.pop();
    }
    (lines.join("\n"), hints)
}

/// The innermost located cause: a config/template position, or a resource an error names.
fn resource_of(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        // Config and template errors wrap their Diagnostic transparently: no chain link of its own.
        let diagnostic = cause.downcast_ref::<Diagnostic>().or_else(|| {
            match (
                cause.downcast_ref::<ConfigError>(),
                cause.downcast_ref::<TemplateError>(),
            ) {
                (Some(ConfigError::Invalid(d)), _) | (_, Some(TemplateError::Invalid(d))) => {
                    Some(d)
                }
                _ => None,
            }
        });
        if let Some(d) = diagnostic {
            return Some(match d.position {
                Some(p) => format!("{}:{p}", d.file.display()),
                None => d.file.display().to_string(),
            });
        }
        match (
            cause.downcast_ref::<ConfigError>(),
            cause.downcast_ref::<TemplateError>(),
        ) {
            (Some(ConfigError::Read { path, .. }), _)
            | (_, Some(TemplateError::Read { path, .. })) => {
                return Some(path.display().to_string())
            }
            _ => {}
        }
        cause
            .downcast_ref::<ResourceError>()
            .map(|r| r.resource.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing x.zip: {source}\n  hint: check the disk")]
    struct WithSource {
        source: std::io::Error,
    }

    #[test]
    fn the_os_error_comes_once_and_before_the_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file (os error 2)");
        let err = anyhow::Error::new(WithSource { source: io }).context("function `a`");
        let f = Failure::from_error(&err, FAILURE);
        assert_eq!(
            f.message,
            "function `a`: writing x.zip: No such file (os error 2)"
        );
        assert_eq!(f.hint.as_deref(), Some("check the disk"));
        assert_eq!(
            f.to_string(),
            "function `a`: writing x.zip: No such file (os error 2)\n  hint: check the disk"
        );
    }

    #[test]
    fn hints_inside_a_list_of_errors_stay_with_their_error() {
        let err = anyhow::anyhow!(
            "2 functions failed:\n- a: broken\n  hint: fix a\n- b: broken\n  hint: fix b"
        );
        let f = Failure::from_error(&err, FAILURE);
        assert_eq!(
            f.message,
            "2 functions failed:\n- a: broken\n  hint: fix a\n- b: broken"
        );
        assert_eq!(f.hint.as_deref(), Some("fix b"));
    }

    #[test]
    fn resource_errors_and_diagnostics_name_their_resource() {
        let err = anyhow::Error::new(ResourceError {
            resource: "s3 bucket b".into(),
            message: "bucket b: 1 object version(s) could not be deleted".into(),
            hint: Some("release the hold".into()),
        });
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!(f.resource.as_deref(), Some("s3 bucket b"));
        assert_eq!(f.exit_code, FAILURE);
        let d = Diagnostic::new(
            std::path::Path::new("c.yaml"),
            Some(crate::yaml::Position { line: 3, column: 5 }),
            "unknown key",
        );
        let err = anyhow::Error::new(d);
        let f = Failure::from_error(&err, code_for(&err));
        assert_eq!(f.resource.as_deref(), Some("c.yaml:3:5"));
        assert_eq!(f.exit_code, USAGE);
        assert_eq!(f.hint, None);
    }
}
