//! One row of a change set (what CloudFormation will do to one resource), shared by the
//! change-set step that reads rows and the stack step that reports them: both import it from
//! here, so neither imports the other for it.

use std::fmt;

use serde::Serialize;

/// One row of a change set: what CloudFormation will do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChangeRow {
    pub(crate) action: String,
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    /// For modifications: `True`, `False` or `Conditional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replacement: Option<String>,
}

impl fmt::Display for ChangeRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:<32} {}",
            self.action, self.logical_id, self.resource_type
        )?;
        if let Some(r) = &self.replacement {
            write!(f, " (replacement: {r})")?;
        }
        Ok(())
    }
}
