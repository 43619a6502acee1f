//! One module per subcommand. Each parses nothing and prints one report.

pub mod build;
pub mod down;
pub mod invoke;
pub mod logs;
pub mod plan;
pub mod render;
pub mod rollback;
pub mod status;
pub mod traces;
pub mod up;
pub mod update_functions;
