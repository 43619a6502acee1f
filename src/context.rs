//! What every command needs: the global options, the reporter, the project, AWS config.

use std::sync::OnceLock;

use crate::cli::GlobalArgs;
use crate::config::{ConfigError, Project};
use crate::report::Reporter;

pub struct Context {
    pub global: GlobalArgs,
    pub reporter: Reporter,
    project: OnceLock<Project>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        let reporter = Reporter::new(global.output, global.no_progress);
        Context {
            global,
            reporter,
            project: OnceLock::new(),
        }
    }

    /// The project config, loaded on first use.
    pub fn project(&self) -> Result<&Project, ConfigError> {
        if let Some(p) = self.project.get() {
            return Ok(p);
        }
        let loaded = Project::load(&self.global.config)?;
        Ok(self.project.get_or_init(|| loaded))
    }
}
