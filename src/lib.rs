//! scorekeep-deploy: deploys the Scorekeep sample's X-Ray-instrumented Lambda functions.
//!
//! Layout: `cli` (arguments), `config` (project file), `template` (render and validate),
//! `commands` (one module per subcommand), `report` (progress and output), `error` (the one error model), `exit` (codes),
//! `lock` (one run per project).

pub mod atomic_write;
pub mod aws;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod deploy;
pub mod diagnostic;
pub mod error;
pub mod exit;
pub mod interrupt;
pub mod invoke;
pub mod lock;
pub(crate) mod otel_layer;
pub mod report;
pub mod runtime_python;
pub mod template;
pub mod traces;
pub mod yaml;
