//! What every command needs: the global options, the reporter, the project, AWS clients.

use std::sync::OnceLock;

use crate::aws::{self, Clients};
use crate::cli::GlobalArgs;
use crate::config::Project;
use crate::diagnostic::SourceError;
use crate::report::Reporter;

pub struct Context {
    pub(crate) global: GlobalArgs,
    pub(crate) reporter: Reporter,
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
    pub(crate) fn project(&self) -> Result<&Project, SourceError> {
        if let Some(p) = self.project.get() {
            return Ok(p);
        }
        let mut loaded = Project::load(&self.global.config)?;
        if let Some(stage) = &self.global.stage {
            loaded = loaded.select_stage(stage)?;
        }
        Ok(self.project.get_or_init(|| loaded))
    }

    /// AWS clients from the standard chain plus our flags and the config's region.
    pub(crate) async fn clients(&self) -> anyhow::Result<Clients> {
        let region = self.project()?.config.region.clone();
        let config = aws::load_config(&self.aws_target(), region.as_deref()).await?;
        Ok(Clients::with_progress(
            &config,
            std::sync::Arc::new(self.reporter.clone()),
        ))
    }

    /// The region, profile and endpoint flags, for `aws::load_config`; a stage's region and
    /// profile count as flags unless the command line names others.
    pub(crate) fn aws_target(&self) -> aws::Target {
        let stage = self.project().ok().and_then(|p| p.stage.as_ref());
        aws::Target {
            region: (self.global.region.clone()).or_else(|| stage?.region.clone()),
            profile: (self.global.profile.clone()).or_else(|| stage?.profile.clone()),
            endpoint_url: self.global.endpoint_url.clone(),
        }
    }

    /// Run an async command body on a fresh runtime; Ctrl-C drops it (cancelling what is in
    /// flight) unless the body reports the interruption itself first.
    pub(crate) fn block_on<T>(
        &self,
        future: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(crate::interrupt::race(future))
    }
}
