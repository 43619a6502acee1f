//! Running the build's tools (npm, pip, esbuild, python) with their output captured, and
//! describing a failure so it can be reproduced. Starting, waiting and stopping are
//! [`crate::process`]'s.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::process::{Ended, Group};

/// A command line to run in a directory, with environment changes.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(&'static str, Option<OsString>)>,
}

/// How a command failed.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started at all.
    NotFound { program: String },
    /// Another error starting the program.
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// A signal stopped the run: the command was stopped (its whole process group) first.
    Interrupted { program: String },
    /// It ran and exited unsuccessfully.
    Failed {
        status: String,
        /// The last lines of its stderr (or stdout when stderr was empty).
        tail: String,
        /// All of stderr, for recognizing known failures.
        stderr: String,
    },
}

/// How many lines of a failed command's output are shown.
pub(crate) const TAIL_LINES: usize = 20;

impl Cmd {
    pub(crate) fn new(program: impl Into<OsString>, cwd: &Path) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            env: Vec::new(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: &'static str, value: impl Into<OsString>) -> Self {
        self.env.push((key, Some(value.into())));
        self
    }

    pub(crate) fn env_remove(mut self, key: &'static str) -> Self {
        self.env.push((key, None));
        self
    }

    /// The command as a shell line, starting with `cd DIR &&`, to reproduce it by hand.
    pub(crate) fn display(&self) -> String {
        let mut parts = vec![
            "cd".to_string(),
            shell_quote(&self.cwd.to_string_lossy()),
            "&&".to_string(),
        ];
        for (key, value) in &self.env {
            if let Some(v) = value {
                parts.push(format!("{key}={}", shell_quote(&v.to_string_lossy())));
            }
        }
        parts.push(shell_quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| shell_quote(&a.to_string_lossy())));
        parts.join(" ")
    }

    /// Run it with output captured; stdout on success. A signal (Ctrl-C, SIGTERM, SIGHUP) stops
    /// it: its process group gets SIGTERM, then SIGKILL after [`TERM_GRACE`], and the result
    /// is `Interrupted`.
    pub(crate) fn run(&self) -> Result<String, RunError> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.cwd);
        for (key, value) in &self.env {
            match value {
                Some(v) => command.env(key, v),
                None => command.env_remove(key),
            };
        }
        let program = self.program.to_string_lossy().into_owned();
        // Its own process group (see `crate::process`): a signal reaches us only, and we stop
        // npm/pip and all they started.
        let group = Group::spawn(&mut command).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                RunError::NotFound {
                    program: program.clone(),
                }
            } else {
                RunError::Spawn {
                    program: program.clone(),
                    source,
                }
            }
        })?;
        let Some((status, stdout, stderr)) = wait_capturing(group) else {
            return Err(RunError::Interrupted { program });
        };
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        if status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let shown = if stderr.trim().is_empty() {
            &stdout
        } else {
            &stderr
        };
        Err(RunError::Failed {
            status: status.to_string(),
            tail: tail(shown, TAIL_LINES),
            stderr,
        })
    }
}

/// How long npm/pip get to exit after SIGTERM before SIGKILL: short, since what they leave
/// behind is thrown away with the staging dir, and a signal must stop the run within a second.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// Wait for the child (no deadline: installs take what they take), reading its output on
/// threads so full pipes never block it; `None` when a signal stopped it first (or it could
/// not be waited for, which stops it too).
fn wait_capturing(mut group: Group) -> Option<(ExitStatus, Vec<u8>, Vec<u8>)> {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let child = group.child();
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    match group.wait(None, TERM_GRACE) {
        Ok(Ended::Exited(status)) => {
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            Some((status, stdout, stderr))
        }
        Ok(Ended::Interrupted | Ended::TimedOut) | Err(_) => None,
    }
}

/// The last `n` non-empty lines of `text`, each indented for an error message.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..]
        .iter()
        .map(|l| format!("    | {}", l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Quote `s` for a POSIX shell when it needs it.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '@' | '+')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_a_shell_line_with_the_working_dir() {
        let cmd = Cmd::new("npm", Path::new("/tmp/stage dir"))
            .args(["ci", "--omit=dev"])
            .env("PIP_X", "a b")
            .env_remove("PIP_TARGET");
        assert_eq!(
            cmd.display(),
            "cd '/tmp/stage dir' && PIP_X='a b' npm ci --omit=dev"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("--only-binary=:all:"), "--only-binary=:all:");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text = (1..=30)
            .map(|i| format!("line {i}\n\n"))
            .collect::<String>();
        let t = tail(&text, 3);
        assert_eq!(t, "    | line 28\n    | line 29\n    | line 30");
    }

    #[cfg(unix)]
    #[test]
    fn failures_carry_status_and_stderr_tail() {
        let dir = tempfile::tempdir().unwrap();
        let err = Cmd::new("sh", dir.path())
            .args(["-c", "echo out; echo bad >&2; exit 3"])
            .run()
            .unwrap_err();
        match err {
            RunError::Failed { status, tail, .. } => {
                assert!(status.contains('3'), "{status}");
                assert_eq!(tail, "    | bad");
            }
            other => panic!("{other:?}"),
        }
        let err = Cmd::new("scorekeep-no-such-program", dir.path())
            .run()
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }));
    }
}
