//! Which interpreter runs the handler: `--runtime-path`, the runtime's exact Python version
//! wherever it is installed, or `node` on PATH; and whether it can stand in for the runtime.

use std::path::{Path, PathBuf};

use super::runtime;
use super::{Inputs, InvokeError, Warnings};
use crate::config::{FunctionConfig, Language};
use crate::interpreter::{self, PyMinor};

/// The interpreter chosen for a function.
pub(crate) struct Interpreter {
    /// The real executable, run with the handler's environment only.
    pub(crate) program: PathBuf,
    pub(crate) version: runtime::Version,
    /// Where it was found: `--runtime-path`, `PATH`, `pyenv` or `uv`.
    pub(crate) found_in: &'static str,
    /// Places looked at first that gave none, and why.
    pub(crate) skipped: Vec<String>,
    /// Node.js of another major version than the runtime's, which the run has warned about.
    pub(crate) other_node_major: bool,
}

impl Interpreter {
    pub(crate) fn display(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// `--runtime-path` when given; else for Python the runtime's exact version wherever it is
/// installed ([`crate::interpreter`]), for Node.js `node` on PATH.
pub(crate) fn find_interpreter(
    key: &str,
    config: &FunctionConfig,
    explicit: Option<&Path>,
) -> Result<Interpreter, InvokeError> {
    let language = config.language();
    let wanted = PyMinor::parse(&config.runtime).filter(|_| language == Language::Python);
    if let (Some(wanted), None) = (wanted, explicit) {
        let found =
            interpreter::find_python(wanted).map_err(|not_found| InvokeError::PythonNotFound {
                function: key.to_string(),
                runtime: config.runtime.clone(),
                not_found,
            })?;
        return Ok(Interpreter {
            version: runtime::Version::parse(&found.version).unwrap_or(runtime::Version {
                major: wanted.major,
                minor: wanted.minor,
                patch: 0,
            }),
            program: found.program,
            found_in: found.found_in.as_str(),
            skipped: found.tried.iter().map(ToString::to_string).collect(),
            other_node_major: false,
        });
    }
    let program = runtime::explicit_or_node(explicit);
    match runtime::probe(&program, language) {
        Ok(probe) => Ok(Interpreter {
            program: probe.executable,
            version: probe.version,
            found_in: if explicit.is_some() {
                "--runtime-path"
            } else {
                "PATH"
            },
            skipped: Vec::new(),
            other_node_major: false,
        }),
        Err(e) => Err(InvokeError::InterpreterNotFound {
            function: key.to_string(),
            runtime: config.runtime.clone(),
            tried: format!("`{}`: {e}", program.to_string_lossy()),
            hint: match (explicit, wanted) {
                (Some(_), Some(w)) => {
                    format!("point --runtime-path at a working Python {w} interpreter")
                }
                (Some(_), None) => "point --runtime-path at a working Node.js interpreter".into(),
                (None, _) => {
                    "install Node.js (https://nodejs.org), or pass --runtime-path /path/to/node"
                        .into()
                }
            },
        }),
    }
}

/// This machine's interpreter for the function's runtime. A version that cannot stand in for
/// the runtime stops here, with every place that was looked at, before anything is built.
pub(crate) fn choose_interpreter(
    inputs: &Inputs<'_>,
    explicit: Option<&Path>,
    warnings: &mut Warnings<'_>,
) -> Result<Interpreter, InvokeError> {
    let (key, config) = (inputs.key, inputs.config);
    let mut interpreter = find_interpreter(key, config, explicit)?;
    let checked = runtime::check_version(
        key,
        &config.runtime,
        config.language(),
        &interpreter.display(),
        interpreter.version,
    );
    match checked {
        Ok(Some(warning)) => {
            warnings.warn(warning);
            interpreter.other_node_major = true;
        }
        Ok(None) => {}
        Err(m) => {
            let mut detail = m.detail;
            for skipped in &interpreter.skipped {
                detail.push_str(&format!("\n  (tried first: {skipped})"));
            }
            return Err(InvokeError::RuntimeMismatch {
                detail,
                hint: m.hint,
            });
        }
    }
    Ok(interpreter)
}
