//! Finding and asking interpreters, for the build and for `invoke --local` alike: one probe
//! ([`probe`]: the version and the real executable of a Python or Node.js, e.g. the one given
//! with `--runtime-path`) and one search for a Python of one exact minor version (e.g. 3.13)
//! where people have them ([`find_python`]: `python3.13` on PATH, `python3` on PATH when it is
//! that version, pyenv's versions directory, pyenv's shims, then `uv python find`). Every
//! candidate is run before it is chosen: a pyenv shim for a version that is installed but not
//! selected is on PATH yet prints "command not found". When none is found, [`NotFound`] lists
//! every place looked at and says how to install one.
//!
//! Used by the build (to compile bytecode with the runtime's own Python) and `invoke --local`
//! (to run a handler).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Language;

/// A Python minor version, e.g. 3.13.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PyMinor {
    pub(crate) major: u32,
    pub(crate) minor: u32,
}

impl PyMinor {
    /// `3.13`, or a Lambda runtime name `python3.13`.
    pub(crate) fn parse(text: &str) -> Option<PyMinor> {
        let (major, minor) = text.trim_start_matches("python").split_once('.')?;
        Some(PyMinor {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for PyMinor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// An interpreter version, e.g. `3.11.7` or (Node.js) `20.20.2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) patch: u32,
}

impl Version {
    /// `3.11.7`, `v20.20.2`, `3.13.0rc1` (the suffix is ignored), `3.12`.
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches('v');
        let mut parts = text.split('.');
        let number = |s: Option<&str>| -> Option<u32> {
            let s = s?;
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next()).unwrap_or(0);
        let patch = number(parts.next()).unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What running the interpreter told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) version: Version,
    /// The real executable (Python's `sys.executable`, Node's `process.execPath`), so what
    /// runs on it needs no PATH (or shim setup) that found it.
    pub(crate) executable: PathBuf,
}

/// Why an interpreter could not be used.
#[derive(Debug)]
pub(crate) enum ProbeError {
    /// Not on PATH / no such file.
    NotFound(std::io::Error),
    /// It did not run, or ran but did not say its version (e.g. a pyenv shim for a version
    /// not selected): the exit status and its first line of output.
    Failed(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NotFound(e) => write!(f, "cannot run ({e})"),
            ProbeError::Failed(s) => f.write_str(s),
        }
    }
}

const PYTHON_PROBE: &str =
    "import sys\nprint('%d.%d.%d' % tuple(sys.version_info[:3]))\nprint(sys.executable)\n";
const NODE_PROBE: &str = "process.version + '\\n' + process.execPath";

/// Ask `program` (a path, or a name looked up on PATH) its version and where its executable is.
pub(crate) fn probe(program: &OsStr, language: Language) -> Result<Probe, ProbeError> {
    probe_with_path(program, language, None)
}

/// [`probe`], with `PATH` set for it when given (pyenv's shims look things up on it).
fn probe_with_path(
    program: &OsStr,
    language: Language,
    path: Option<&OsStr>,
) -> Result<Probe, ProbeError> {
    let mut cmd = Command::new(program);
    match language {
        Language::Python => cmd.arg("-c").arg(PYTHON_PROBE),
        Language::Node => cmd.arg("-p").arg(NODE_PROBE),
    };
    cmd.stdin(std::process::Stdio::null());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProbeError::NotFound(e)
        } else {
            ProbeError::Failed(format!("cannot run ({e})"))
        }
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let version = lines.next().and_then(Version::parse);
    match (out.status.success(), version) {
        (true, Some(version)) => Ok(Probe {
            version,
            executable: lines
                .next()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map_or_else(|| PathBuf::from(program), PathBuf::from),
        }),
        _ => Err(ProbeError::Failed(format!(
            "{} ({})",
            out.status,
            first_line(&out.stderr, &out.stdout)
        ))),
    }
}

/// The first non-empty line a command printed, stderr first, for messages.
fn first_line(stderr: &[u8], stdout: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let stdout = String::from_utf8_lossy(stdout);
    stderr
        .lines()
        .chain(stdout.lines())
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

/// Where an interpreter was found, in search order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoundIn {
    /// `python3.X` on PATH.
    PathExact,
    /// `python3` on PATH, which is that version.
    PathPython3,
    /// `$PYENV_ROOT/versions/3.X.*` (default `~/.pyenv`).
    Pyenv,
    /// `uv python find 3.X`.
    Uv,
}

impl FoundIn {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FoundIn::PathExact | FoundIn::PathPython3 => "PATH",
            FoundIn::Pyenv => "pyenv",
            FoundIn::Uv => "uv",
        }
    }
}

/// One place looked at and what it gave, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tried {
    /// e.g. `python3.13 on PATH`, `/root/.pyenv/versions`, `uv`.
    pub(crate) place: String,
    pub(crate) outcome: String,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.outcome)
    }
}

/// The interpreter found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The real executable (`sys.executable`), not a shim: it runs with any environment.
    pub(crate) program: PathBuf,
    /// Its full version, e.g. `3.13.0`.
    pub(crate) version: String,
    pub(crate) found_in: FoundIn,
    /// Places looked at first that did not give one.
    pub(crate) tried: Vec<Tried>,
}

/// No interpreter of the version exists here; every place looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotFound {
    pub(crate) wanted: PyMinor,
    pub(crate) tried: Vec<Tried>,
}

impl NotFound {
    /// How to install one so the search finds it, for every caller's hint.
    pub(crate) fn how_to_install(&self) -> String {
        let v = self.wanted;
        format!(
            "install Python {v}: `pyenv install {v}` or `uv python install {v}` (both are found without further setup), \
or your system's package (`sudo apt install python{v}`; on Ubuntu releases without it, from the deadsnakes PPA)"
        )
    }

    /// [`NotFound::how_to_install`], or name one (`invoke --local`'s hint).
    pub(crate) fn how_to_get(&self) -> String {
        format!(
            "{}, or pass --runtime-path /path/to/python{}",
            self.how_to_install(),
            self.wanted
        )
    }
}

/// What the search looks at: this process's environment, or fakes in tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    pub(crate) path: Option<OsString>,
    /// `PYENV_ROOT`.
    pub(crate) pyenv_root: Option<PathBuf>,
    pub(crate) home: Option<PathBuf>,
}

impl Search {
    pub(crate) fn from_env() -> Search {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Search {
            path: non_empty("PATH"),
            pyenv_root: non_empty("PYENV_ROOT").map(PathBuf::from),
            home: non_empty("HOME").map(PathBuf::from),
        }
    }

    fn path_dirs(&self) -> Vec<PathBuf> {
        self.path
            .as_deref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default()
    }

    /// Every `name` on PATH that is an executable file, in PATH order.
    fn on_path(&self, name: &str) -> Vec<PathBuf> {
        self.path_dirs()
            .into_iter()
            .map(|d| d.join(name))
            .filter(|p| is_executable(p))
            .collect()
    }

    /// `PYENV_ROOT`, else `~/.pyenv`.
    fn pyenv_root(&self) -> Option<PathBuf> {
        self.pyenv_root
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".pyenv")))
    }

    fn pyenv_versions(&self) -> Option<PathBuf> {
        Some(self.pyenv_root()?.join("versions"))
    }

    /// Whether `program` is one of pyenv's shims (`<root>/shims/NAME`, or a plugin's).
    fn is_pyenv_shim(&self, program: &Path) -> bool {
        self.pyenv_root().is_some_and(|root| {
            program.starts_with(&root)
                && program.parent().and_then(Path::file_name) == Some(OsStr::new("shims"))
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Find Python `wanted` in this process's environment.
pub(crate) fn find_python(wanted: PyMinor) -> Result<Found, NotFound> {
    find_python_in(wanted, &Search::from_env())
}

/// Find Python `wanted`: `python3.X` on PATH (every one, in order), `python3` on PATH,
/// pyenv's `versions/3.X.*` (newest patch first), pyenv's shims of those two names, then
/// `uv python find 3.X`.
///
/// pyenv's shims are tried after its versions directory although PATH lists them first: a
/// shim only ever runs one of those versions (or the system's interpreter, which PATH lists
/// after the shims and is looked at anyway), yet each run of one costs pyenv's version
/// selection (a shell script, 0.1 s and more) and often just answers "command not found" or
/// another version. Tried last, they still find what the directory names otherwise (a
/// virtualenv, a `-dev` build).
pub(crate) fn find_python_in(wanted: PyMinor, search: &Search) -> Result<Found, NotFound> {
    let exact_place = format!("python{wanted} on PATH");
    let (exact_shims, exact): (Vec<PathBuf>, Vec<PathBuf>) = search
        .on_path(&format!("python{wanted}"))
        .into_iter()
        .partition(|p| search.is_pyenv_shim(p));
    // Only the first `python3`: it is the one `python3` means here.
    let (python3_shim, python3): (Vec<PathBuf>, Vec<PathBuf>) = search
        .on_path("python3")
        .into_iter()
        .take(1)
        .partition(|p| search.is_pyenv_shim(p));
    let mut tried = Vec::new();
    if exact.is_empty() && exact_shims.is_empty() {
        tried.push(Tried {
            place: exact_place.clone(),
            outcome: "none".into(),
        });
    }
    let python3_place = "python3 on PATH";
    let found = first_that_runs(exact, &exact_place, wanted, search, &mut tried)
        .map(|p| (FoundIn::PathExact, p))
        .or_else(|| {
            first_that_runs(python3, python3_place, wanted, search, &mut tried)
                .map(|p| (FoundIn::PathPython3, p))
        })
        .or_else(|| pyenv(wanted, search, &mut tried).map(|p| (FoundIn::Pyenv, p)))
        .or_else(|| {
            first_that_runs(exact_shims, &exact_place, wanted, search, &mut tried)
                .map(|p| (FoundIn::PathExact, p))
        })
        .or_else(|| {
            first_that_runs(python3_shim, python3_place, wanted, search, &mut tried)
                .map(|p| (FoundIn::PathPython3, p))
        })
        .or_else(|| uv(wanted, search, &mut tried).map(|p| (FoundIn::Uv, p)));
    match found {
        Some((found_in, p)) => Ok(Found {
            program: p.executable,
            version: p.version,
            found_in,
            tried,
        }),
        None => Err(NotFound { wanted, tried }),
    }
}

/// What running a candidate told us.
struct Probed {
    version: String,
    executable: PathBuf,
}

/// Run `program` and check it is Python `wanted`; the outcome for messages otherwise.
fn check(program: &Path, wanted: PyMinor, search: &Search) -> Result<Probed, String> {
    let probed = probe_with_path(
        program.as_os_str(),
        Language::Python,
        search.path.as_deref(),
    )
    .map_err(|e| format!("{} {e}", program.display()))?;
    let version = probed.version;
    if (version.major, version.minor) != (wanted.major, wanted.minor) {
        return Err(format!("{} is Python {version}", program.display()));
    }
    Ok(Probed {
        version: version.to_string(),
        executable: probed.executable,
    })
}

/// The first candidate that runs as Python `wanted`; each one that does not is recorded under
/// `place`, for the not-found message.
fn first_that_runs(
    candidates: impl IntoIterator<Item = PathBuf>,
    place: &str,
    wanted: PyMinor,
    search: &Search,
    tried: &mut Vec<Tried>,
) -> Option<Probed> {
    for program in candidates {
        match check(&program, wanted, search) {
            Ok(p) => return Some(p),
            Err(outcome) => tried.push(Tried {
                place: place.to_string(),
                outcome,
            }),
        }
    }
    None
}

/// The names under pyenv's `versions/` that are CPython `3.X.N` releases, newest first
/// (`3.13.0t` free-threaded builds, `-dev` and virtualenvs are other interpreters).
pub(crate) fn pyenv_releases(
    names: impl IntoIterator<Item = String>,
    wanted: PyMinor,
) -> Vec<String> {
    let prefix = format!("{wanted}.");
    let mut releases: Vec<(u32, String)> = names
        .into_iter()
        .filter_map(|name| {
            let patch = name.strip_prefix(&prefix)?.parse::<u32>().ok()?;
            Some((patch, name))
        })
        .collect();
    releases.sort_by_key(|r| std::cmp::Reverse(r.0));
    releases.into_iter().map(|(_, name)| name).collect()
}

fn pyenv(wanted: PyMinor, search: &Search, tried: &mut Vec<Tried>) -> Option<Probed> {
    let versions = search.pyenv_versions()?;
    let place = versions.display().to_string();
    let names = match std::fs::read_dir(&versions) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        Err(_) => {
            tried.push(Tried {
                place,
                outcome: "no such directory (pyenv not installed)".into(),
            });
            return None;
        }
    };
    let releases = pyenv_releases(names, wanted);
    if releases.is_empty() {
        tried.push(Tried {
            place,
            outcome: format!("no {wanted}.*"),
        });
        return None;
    }
    let programs = releases
        .iter()
        .map(|name| versions.join(name).join(format!("bin/python{wanted}")));
    first_that_runs(programs, &place, wanted, search, tried)
}

fn uv(wanted: PyMinor, search: &Search, tried: &mut Vec<Tried>) -> Option<Probed> {
    let Some(uv) = search.on_path("uv").into_iter().next() else {
        tried.push(Tried {
            place: "uv".into(),
            outcome: "not installed".into(),
        });
        return None;
    };
    let mut fail = |outcome: String| {
        tried.push(Tried {
            place: format!("uv python find {wanted}"),
            outcome,
        });
        None
    };
    let mut cmd = Command::new(&uv);
    cmd.args([
        OsStr::new("python"),
        OsStr::new("find"),
        OsStr::new(&wanted.to_string()),
    ])
    .stdin(std::process::Stdio::null());
    if let Some(path) = &search.path {
        cmd.env("PATH", path);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => return fail(format!("{} cannot run ({e})", uv.display())),
    };
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || found.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return fail(format!("{} ({said})", out.status));
    }
    match check(Path::new(&found), wanted, search) {
        Ok(p) => Some(p),
        Err(outcome) => fail(outcome),
    }
}

#[cfg(test)]
mod tests;
