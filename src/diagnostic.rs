//! A problem in an input file, located at `file:line:column`, with a hint.

use std::fmt;
use std::path::{Path, PathBuf};

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

impl std::error::Error for Diagnostic {}

impl crate::error::Explain for Diagnostic {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::Usage
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
