//! A problem in an input file (the config or a template), located at `file:line:column`,
//! with a hint: [`Diagnostic`], and [`SourceError`], the one error of loading such a file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::bounded::{self, Input};
use crate::error::{Class, Explain};
use crate::yaml::Position;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub(crate) file: PathBuf,
    pub(crate) position: Option<Position>,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(file: &Path, position: Option<Position>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            position,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Explain for Diagnostic {
    fn class(&self) -> Class {
        Class::Usage
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
    fn resource(&self) -> Option<String> {
        Some(match self.position {
            Some(p) => format!("{}:{p}", self.file.display()),
            None => self.file.display().to_string(),
        })
    }
}

/// The config file or a template could not be loaded: it cannot be read, or it is invalid at a
/// located spot. Always a usage error (exit 2), about the file or its `file:line:column`.
#[derive(Debug)]
pub enum SourceError {
    Read {
        /// `Input::Config` or `Input::Template`: what the file is, for the message and hint.
        input: Input,
        path: PathBuf,
        source: std::io::Error,
    },
    Invalid(Diagnostic),
}

impl SourceError {
    /// `map_err` for reading the file at `path`.
    pub(crate) fn read(input: Input, path: &Path) -> impl FnOnce(std::io::Error) -> SourceError {
        let path = path.to_path_buf();
        move |source| SourceError::Read {
            input,
            path,
            source,
        }
    }
}

impl From<Diagnostic> for SourceError {
    fn from(d: Diagnostic) -> Self {
        SourceError::Invalid(d)
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Read {
                input,
                path,
                source,
            } => {
                let what = match input {
                    Input::Template => "template",
                    _ => "config",
                };
                write!(f, "cannot read {what} {}: {source}", path.display())
            }
            SourceError::Invalid(d) => d.fmt(f),
        }
    }
}

impl Explain for SourceError {
    fn class(&self) -> Class {
        Class::Usage
    }
    fn hint(&self) -> Option<String> {
        let hint = match self {
            SourceError::Invalid(d) => return d.hint(),
            SourceError::Read { input: Input::Template, source, .. } if bounded::is_too_large(source) => {
                "CloudFormation takes templates of at most 1 MB: check what `stacks[].template` points to"
            }
            SourceError::Read { input: Input::Template, .. } => {
                "check `stacks[].template` in the config; paths are relative to the config file"
            }
            SourceError::Read { source, .. } if bounded::is_too_large(source) => {
                "check that --config names the project's YAML file (the limits are in the README)"
            }
            SourceError::Read { .. } => "run from the project directory or pass --config PATH",
        };
        Some(hint.into())
    }
    fn resource(&self) -> Option<String> {
        match self {
            SourceError::Read { path, .. } => Some(path.display().to_string()),
            SourceError::Invalid(d) => d.resource(),
        }
    }
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::Read { source, .. } => Some(source),
            SourceError::Invalid(_) => None,
        }
    }
}

crate::explained!(Diagnostic, SourceError);
