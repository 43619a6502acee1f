//! The CLI harness: one integration test binary for everything that runs the
//! `scorekeep-deploy` binary, with or without the moto emulator. One module per area; adding
//! an area is one `mod` line. `util` holds the shared helpers (project copies, file edits, the
//! CLI, the binary's one moto server with a region per test, request counting, the proxy).
//!
//! The aws-smithy-mocks tests (what moto cannot do) are the other binary, `tests/mocks/`.

mod util;

mod beanstalk;
mod build;
mod build_cache;
mod build_dependencies;
mod build_lock;
mod converge;
mod default_sdk;
mod deploy;
mod deploy_down;
mod deploy_errors;
mod deploy_reports;
mod faults;
mod faults_ctrl_c;
mod functions_e2e;
mod gradual;
mod hardening;
mod html;
mod invoke_local;
mod invoke_local_env;
mod invoke_local_failures;
mod invoke_local_inputs;
mod invoke_remote;
mod logs;
mod optimised_bundles;
mod otel;
mod otel_bundles;
mod otel_layer;
mod pipeline;
mod redrive;
mod releases;
mod render;
mod render_errors;
mod rendered_templates;
mod signals;
mod signals_timeouts;
mod stacks;
mod stacksets;
mod stages;
mod teardown;
mod traces;
mod worker_triggers;
