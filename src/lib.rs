//! scorekeep-deploy: deploys the Scorekeep sample's X-Ray-instrumented Lambda functions.
//!
//! Layout: `cli` (arguments), `config` (project file), `template` (render and validate),
//! `commands` (one module per subcommand), `report` (progress and output), `error` (the one error model), `exit` (codes),
//! `lock` (one run per project).

pub(crate) mod atomic_write;
pub mod aws;
pub(crate) mod bounded;
pub(crate) mod browser;
pub(crate) mod bundle;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod deploy;
pub(crate) mod diagnostic;
pub mod error;
pub mod exit;
pub(crate) mod interpreter;
pub mod interrupt;
pub(crate) mod invoke;
pub(crate) mod lock;
pub(crate) mod logs;
pub(crate) mod otel_layer;
pub(crate) mod process;
pub mod report;
pub(crate) mod signal;
pub(crate) mod suggest;
pub mod template;
pub mod text;
pub(crate) mod trace;
pub mod yaml;
