//! Python functions: the hashed lock in `requirements.txt`, installed with pip for the Lambda
//! runtime's Python version and architecture (binary wheels only), not the build machine's.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dependency_cache::Selection;
use super::files::FileEntry;
use super::installer::{Installer, Plan};
use super::manifest::Dependency;
use super::tool_run::Cmd;
use super::{BuildError, Job};
use crate::config::Architecture;
use crate::report::Task;

pub(crate) const REQUIREMENTS: &str = "requirements.txt";

/// One logical line of a requirements file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Requirement(Requirement),
    /// A global option such as `--index-url`, passed through unchanged.
    Option {
        line: usize,
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    /// First physical line (1-based).
    pub(crate) line: usize,
    pub(crate) name: String,
    /// PEP 503 normalized name.
    pub(crate) normalized: String,
    /// The requirement without its options, e.g. `certifi==2026.10.19.post1`.
    pub(crate) spec: String,
    /// The pinned version, for `==` / `===` pins.
    pub(crate) version: Option<String>,
    /// `--hash=` values, e.g. `sha256:…`.
    pub(crate) hashes: Vec<String>,
    /// Other per-requirement options, kept verbatim.
    pub(crate) options: Vec<String>,
}

/// A problem in requirements.txt, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequirementsError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Physical lines joined at `\` continuations and stripped of comments, as pip reads them:
/// (first line number, logical line).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let is_comment_line = raw.trim_start().starts_with('#') || has_comment(raw);
        if raw.ends_with('\\') && !is_comment_line {
            let piece = &raw[..raw.len() - 1];
            match &mut pending {
                Some((_, acc)) => acc.push_str(piece),
                None => pending = Some((number, piece.to_string())),
            }
            continue;
        }
        let (start, joined) = match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(raw);
                (start, acc)
            }
            None => (number, raw.to_string()),
        };
        let stripped = strip_comment(&joined).trim().to_string();
        if !stripped.is_empty() {
            out.push((start, stripped));
        }
    }
    if let Some((start, acc)) = pending {
        let stripped = strip_comment(&acc).trim().to_string();
        if !stripped.is_empty() {
            out.push((start, stripped));
        }
    }
    out
}

/// pip's comment rule: `#` at the start of a line or after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
}

fn has_comment(line: &str) -> bool {
    comment_start(line).is_some()
}

fn strip_comment(line: &str) -> &str {
    match comment_start(line) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Where the options of a requirement line start: the first whitespace-preceded `-`
/// outside quotes.
fn options_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '-' && prev_space => return Some(i),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// Parse a requirements file. `-r`, `-c` and `-e` lines are refused: the file must be one
/// complete lock.
pub(crate) fn parse(text: &str) -> Result<Vec<Line>, RequirementsError> {
    let mut lines = Vec::new();
    for (line, logical) in logical_lines(text) {
        if logical.starts_with('-') {
            let first = logical.split_whitespace().next().unwrap_or_default();
            let option = first.split('=').next().unwrap_or_default();
            let unsupported = if let Some(long) = option.strip_prefix("--") {
                matches!(long, "requirement" | "constraint" | "editable")
            } else {
                matches!(option.chars().nth(1), Some('r' | 'c' | 'e'))
            };
            if unsupported {
                return Err(RequirementsError {
                    line,
                    message: format!("`{first}` is not supported: requirements.txt must be one complete, hashed lock"),
                });
            }
            lines.push(Line::Option {
                line,
                text: logical,
            });
            continue;
        }
        let (spec, rest) = match options_start(&logical) {
            Some(i) => (logical[..i].trim(), &logical[i..]),
            None => (logical.trim(), ""),
        };
        let name_len = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..name_len];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(RequirementsError {
                line,
                message: format!("`{spec}` does not start with a package name"),
            });
        }
        let mut after = spec[name_len..].trim_start();
        if after.starts_with('[') {
            after = after.find(']').map_or("", |i| after[i + 1..].trim_start());
        }
        let specifier = after.split(';').next().unwrap_or_default().trim();
        let version = specifier
            .strip_prefix("===")
            .or_else(|| specifier.strip_prefix("=="))
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.contains([',', '*', ' ']))
            .map(str::to_string);
        let mut hashes = Vec::new();
        let mut options = Vec::new();
        let mut tokens = rest.split_whitespace();
        while let Some(token) = tokens.next() {
            if let Some(h) = token.strip_prefix("--hash=") {
                hashes.push(h.to_string());
            } else if token == "--hash" {
                match tokens.next() {
                    Some(h) => hashes.push(h.to_string()),
                    None => {
                        return Err(RequirementsError {
                            line,
                            message: format!("`--hash` without a value for `{name}`"),
                        })
                    }
                }
            } else {
                options.push(token.to_string());
            }
        }
        lines.push(Line::Requirement(Requirement {
            line,
            name: name.to_string(),
            normalized: normalize(name),
            spec: spec.to_string(),
            version,
            hashes,
            options,
        }));
    }
    Ok(lines)
}

/// Every requirement must be pinned (`==`, or a direct URL) and carry at least one hash:
/// with `--no-deps` the file is the whole dependency set.
pub(crate) fn check_locked(lines: &[Line]) -> Result<(), RequirementsError> {
    for line in lines {
        let Line::Requirement(r) = line else { continue };
        let is_url = r.spec.contains(" @ ") || r.spec.contains("@ ");
        if r.version.is_none() && !is_url {
            return Err(RequirementsError {
                line: r.line,
                message: format!("`{}` is not pinned to one version with `==`", r.spec),
            });
        }
        if r.hashes.is_empty() {
            return Err(RequirementsError {
                line: r.line,
                message: format!("`{}` has no `--hash`", r.spec),
            });
        }
    }
    Ok(())
}

/// The requirements file pip is given, without the runtime-provided packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filtered {
    /// One logical line per requirement or option.
    pub(crate) text: String,
    /// Number of requirements kept.
    pub(crate) kept: usize,
    /// Normalized names of the locked packages that were left out, sorted.
    pub(crate) excluded: Vec<String>,
}

/// Drop the requirements whose normalized name is in `provided` (compared normalized).
pub(crate) fn filter(lines: &[Line], provided: &[String]) -> Filtered {
    let provided: BTreeSet<String> = provided.iter().map(|p| normalize(p)).collect();
    let mut text = String::new();
    let mut kept = 0;
    let mut excluded = BTreeSet::new();
    for line in lines {
        match line {
            Line::Option { text: t, .. } => {
                text.push_str(t);
                text.push('\n');
            }
            Line::Requirement(r) if provided.contains(&r.normalized) => {
                excluded.insert(r.normalized.clone());
            }
            Line::Requirement(r) => {
                kept += 1;
                text.push_str(&r.spec);
                for o in &r.options {
                    text.push(' ');
                    text.push_str(o);
                }
                for h in &r.hashes {
                    text.push_str(" --hash=");
                    text.push_str(h);
                }
                text.push('\n');
            }
        }
    }
    Filtered {
        text,
        kept,
        excluded: excluded.into_iter().collect(),
    }
}

/// The wheel platform tags a Lambda runtime accepts, best first. Runtimes up to python3.11
/// run on Amazon Linux 2 (glibc 2.26), later ones on Amazon Linux 2023 (glibc 2.34).
pub(crate) fn platform_tags(python_version: &str, arch: Architecture) -> Vec<String> {
    let machine = match arch {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    };
    let minor: u32 = python_version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max_glibc = if minor <= 11 { 26 } else { 34 };
    let mut tags: Vec<String> = (17..=max_glibc)
        .rev()
        .map(|v| format!("manylinux_2_{v}_{machine}"))
        .collect();
    tags.push(format!("manylinux2014_{machine}"));
    if arch == Architecture::X86_64 {
        for t in [
            "manylinux_2_12",
            "manylinux2010",
            "manylinux_2_5",
            "manylinux1",
        ] {
            tags.push(format!("{t}_{machine}"));
        }
    }
    tags
}

/// The interpreter whose pip installs the dependencies: `SCOREKEEP_PYTHON`, else `python3`.
pub(crate) fn python_program() -> OsString {
    std::env::var_os("SCOREKEEP_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// `pip install --target` for the Lambda runtime, run in `staging` with the filtered
/// requirements in `staging/requirements.txt`, into `staging/target`.
pub(crate) fn pip_install(
    python: OsString,
    staging: &Path,
    python_version: &str,
    tags: &[String],
) -> Cmd {
    let mut cmd = Cmd::new(python, staging).args([
        "-m",
        "pip",
        "install",
        "--target",
        "target",
        "--requirement",
        REQUIREMENTS,
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
    ]);
    for tag in tags {
        cmd = cmd.arg("--platform").arg(tag);
    }
    cmd.args([
        "--no-compile",
        "--no-warn-script-location",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ])
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env("PIP_ROOT_USER_ACTION", "ignore")
    .env("PIP_REQUIRE_VIRTUALENV", "0")
    .env("PIP_USER", "0")
    .env_remove("PIP_TARGET")
    .env_remove("PIP_PREFIX")
    .env_remove("PIP_ROOT")
}

/// What a pip failure means and what to do, from its stderr.
pub(crate) fn explain_pip_failure(
    stderr: &str,
    python_version: &str,
    arch: Architecture,
) -> (String, String) {
    if stderr.contains("DO NOT MATCH THE HASHES") {
        let package = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.contains(" from ") && l.contains("=="))
            .map(|l| l.split(" from ").next().unwrap_or(l).to_string())
            .unwrap_or_default();
        return (
            format!("a downloaded file does not match the hashes in requirements.txt{}", if package.is_empty() { String::new() } else { format!(" ({package})") }),
            "if requirements.txt was edited by hand, regenerate it with `pip-compile --generate-hashes` (see functions/README.md); otherwise check that your package index (PIP_INDEX_URL) serves the official files".into(),
        );
    }
    if let Some(line) = stderr
        .lines()
        .find(|l| l.contains("No matching distribution found for"))
    {
        let package = line
            .split("No matching distribution found for")
            .nth(1)
            .unwrap_or_default()
            .trim();
        return (
            format!("no wheel of {package} for Python {python_version} on Lambda {} (manylinux)", arch.as_str()),
            format!("check that `{package}` exists at that version on your package index and publishes a binary wheel for cp{} {}; cross-target builds cannot compile source distributions", python_version.replace('.', ""), arch.as_str()),
        );
    }
    if stderr.contains("No module named pip") {
        return (
            "the interpreter has no pip".into(),
            "install pip for it (`python3 -m ensurepip --upgrade`), or point SCOREKEEP_PYTHON at an interpreter that has pip".into(),
        );
    }
    (
        "pip install failed".into(),
        "fix the cause shown above, or run the command below to reproduce it".into(),
    )
}

/// Name and version of every installed distribution, from `*.dist-info/METADATA`.
pub(crate) fn installed_distributions(files: &[FileEntry]) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = files
        .iter()
        .filter(|f| {
            f.zip_path
                .strip_suffix("/METADATA")
                .is_some_and(|dir| dir.ends_with(".dist-info") && !dir.contains('/'))
        })
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f.disk_path).ok()?;
            metadata_name_version(&text)
        })
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

/// `Name:` and `Version:` from a METADATA header.
pub(crate) fn metadata_name_version(text: &str) -> Option<Dependency> {
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim().to_string());
        }
    }
    Some(Dependency {
        name: name?,
        version: version?,
    })
}

/// Which installed files are bundled: everything pip put in the target dir that Lambda needs.
pub(super) const SELECTION: Selection = Selection {
    prefix: "",
    skip: super::files::skip_python_dependency,
};

/// `pip install --target` of the filtered lock, binary wheels for the runtime's platform.
pub(super) struct PipInstall {
    requirements: String,
    python_version: String,
    pub(super) tags: Vec<String>,
}

/// Check requirements.txt is a hashed lock and leave out what the runtime provides; pip
/// installs only when something is left.
pub(super) fn plan(job: &Job) -> Result<Plan, BuildError> {
    let mut plan = Plan::new("python");
    plan.runtime_provided = job
        .config
        .runtime_provided()
        .iter()
        .map(|n| normalize(n))
        .collect();
    job.check_tracing_manifest(&[REQUIREMENTS])?;
    let path = job.manifest_dir().join(REQUIREMENTS);
    let Some(text) = job.read_optional(&path)? else {
        return Ok(plan);
    };
    let requirements_error = |e: RequirementsError| BuildError::Requirements {
        function: job.function(),
        path: path.clone(),
        line: e.line,
        message: e.message,
    };
    let lines = parse(&text).map_err(requirements_error)?;
    check_locked(&lines).map_err(requirements_error)?;
    let filtered = filter(&lines, &plan.runtime_provided);
    plan.excluded = filtered.excluded;
    if filtered.kept == 0 {
        return Ok(plan);
    }
    let python_version = job.config.python_version().unwrap_or_default().to_string();
    let tags = platform_tags(&python_version, job.config.architecture);
    plan.installer = Installer::Pip(PipInstall {
        requirements: filtered.text,
        python_version,
        tags,
    });
    Ok(plan)
}

impl PipInstall {
    /// The filtered requirements and the platform they are installed for.
    pub(super) fn hash_into(&self, hasher: &mut Sha256) {
        hasher.update(self.requirements.as_bytes());
        hasher.update(self.python_version.as_bytes());
        hasher.update(self.tags.join(",").as_bytes());
    }

    /// `pip install --target` in `staging`; returns the target dir.
    pub(super) fn install(
        &self,
        job: &Job,
        task: &Task,
        staging: &mut tempfile::TempDir,
    ) -> Result<PathBuf, BuildError> {
        let arch = job.config.architecture;
        let python_version = &self.python_version;
        task.set_message(format!(
            "{}: installing dependencies (pip, Python {python_version} {})",
            job.key,
            arch.as_str()
        ));
        std::fs::write(staging.path().join(REQUIREMENTS), &self.requirements)
            .map_err(job.io("writing the filtered requirements"))?;
        let cmd = pip_install(
            job.settings.python.clone(),
            staging.path(),
            python_version,
            &self.tags,
        );
        job.run_install(cmd, "pip install", staging, |stderr| {
            explain_pip_failure(stderr, python_version, arch)
        })?;
        Ok(staging.path().join("target"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = include_str!("../../functions/scorekeep-worker/requirements.txt");

    fn requirements(lines: &[Line]) -> Vec<&Requirement> {
        lines
            .iter()
            .filter_map(|l| match l {
                Line::Requirement(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a--_.b"), "a-b");
        assert_eq!(normalize("Boto3"), "boto3");
    }

    #[test]
    fn parses_the_committed_pip_compile_lock() {
        let lines = parse(LOCK).unwrap();
        let reqs = requirements(&lines);
        let names: Vec<&str> = reqs.iter().map(|r| r.normalized.as_str()).collect();
        assert_eq!(
            names,
            [
                "aws-xray-sdk",
                "boto3",
                "botocore",
                "certifi",
                "charset-normalizer",
                "idna",
                "jmespath",
                "python-dateutil",
                "requests",
                "s3transfer",
                "six",
                "urllib3",
                "wrapt"
            ]
        );
        let xray = reqs[0];
        assert_eq!(xray.spec, "aws-xray-sdk==2.15.0");
        assert_eq!(xray.version.as_deref(), Some("2.15.0"));
        assert_eq!(xray.hashes.len(), 2);
        assert!(xray.hashes[0].starts_with("sha256:"));
        let charset = reqs
            .iter()
            .find(|r| r.name == "charset-normalizer")
            .unwrap();
        assert!(charset.hashes.len() > 50, "{}", charset.hashes.len());
        assert!(reqs.iter().all(|r| r.options.is_empty()));
        check_locked(&lines).unwrap();
    }

    #[test]
    fn filters_runtime_provided_packages_by_normalized_name() {
        let lines = parse(LOCK).unwrap();
        let provided: Vec<String> = [
            "boto3",
            "botocore",
            "s3transfer",
            "jmespath",
            "Python_Dateutil",
            "six",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = filter(&lines, &provided);
        assert_eq!(f.kept, 7);
        assert_eq!(
            f.excluded,
            [
                "boto3",
                "botocore",
                "jmespath",
                "python-dateutil",
                "s3transfer",
                "six"
            ]
        );
        assert!(!f.text.contains("boto"), "{}", f.text);
        assert!(!f.text.contains('#'));
        // The filtered text is itself a valid lock with the same requirements.
        let again = parse(&f.text).unwrap();
        let reqs = requirements(&again);
        assert_eq!(reqs.len(), 7);
        assert_eq!(reqs[0].hashes, requirements(&lines)[0].hashes);
        check_locked(&again).unwrap();
        assert_eq!(filter(&lines, &[]).kept, 13);
    }

    #[test]
    fn continuation_comments_options_and_markers() {
        let text = "\
--index-url https://example.invalid/simple  # a mirror
# a comment \\
Foo_Bar[extra] == 1.0 ; python_version >= \"3.8\" \\
    --hash=sha256:aa \\
    --hash sha256:bb
    # via x
baz===2 --hash=sha256:cc
";
        let lines = parse(text).unwrap();
        assert_eq!(
            lines[0],
            Line::Option {
                line: 1,
                text: "--index-url https://example.invalid/simple".into()
            }
        );
        let reqs = requirements(&lines);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].line, 3);
        assert_eq!(reqs[0].normalized, "foo-bar");
        assert_eq!(
            reqs[0].spec,
            "Foo_Bar[extra] == 1.0 ; python_version >= \"3.8\""
        );
        assert_eq!(reqs[0].version.as_deref(), Some("1.0"));
        assert_eq!(reqs[0].hashes, ["sha256:aa", "sha256:bb"]);
        assert_eq!(reqs[1].version.as_deref(), Some("2"));
        assert_eq!(reqs[1].line, 7);
        check_locked(&lines).unwrap();
    }

    #[test]
    fn unlocked_and_unsupported_lines_are_errors_with_line_numbers() {
        let e =
            check_locked(&parse("a==1 --hash=sha256:x\nrequests>=2 --hash=sha256:y\n").unwrap())
                .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not pinned"), "{}", e.message);
        let e = check_locked(&parse("\n\nrequests==2.0\n").unwrap()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("no `--hash`"), "{}", e.message);
        assert!(check_locked(&parse("a==1.*  --hash=sha256:x").unwrap()).is_err());
        for bad in [
            "-r base.txt",
            "--requirement=base.txt",
            "-c c.txt",
            "-e .",
            "--editable .",
        ] {
            let e = parse(&format!("# x\n{bad}\n")).unwrap_err();
            assert_eq!(e.line, 2);
            assert!(e.message.contains("not supported"), "{}", e.message);
        }
        assert!(parse("./local-dir --hash=sha256:x").is_err());
    }

    #[test]
    fn platform_tags_follow_the_runtime_and_architecture() {
        let arm = platform_tags("3.13", Architecture::Arm64);
        assert_eq!(arm.first().unwrap(), "manylinux_2_34_aarch64");
        assert!(arm.contains(&"manylinux2014_aarch64".to_string()));
        assert!(arm.iter().all(|t| t.ends_with("_aarch64")));
        let x86 = platform_tags("3.11", Architecture::X86_64);
        assert_eq!(x86.first().unwrap(), "manylinux_2_26_x86_64");
        assert!(x86.contains(&"manylinux1_x86_64".to_string()));
    }

    #[test]
    fn pip_command_is_cross_target() {
        let tags = platform_tags("3.13", Architecture::Arm64);
        let line = pip_install("python3".into(), Path::new("/s"), "3.13", &tags).display();
        for part in [
            "-m pip install --target target --requirement requirements.txt --require-hashes --no-deps",
            "--only-binary=:all: --implementation cp --python-version 3.13",
            "--platform manylinux_2_34_aarch64",
            "--platform manylinux2014_aarch64",
            "--no-compile",
        ] {
            assert!(line.contains(part), "{part} missing in {line}");
        }
    }

    #[test]
    fn pip_failures_are_explained() {
        let (cause, hint) = explain_pip_failure(
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n    idna==3.20 from https://x/idna-3.20-py3-none-any.whl:\n        Expected sha256 00\n",
            "3.13",
            Architecture::X86_64,
        );
        assert!(
            cause.contains("hashes") && cause.contains("idna==3.20"),
            "{cause}"
        );
        assert!(hint.contains("pip-compile"), "{hint}");
        let (cause, hint) = explain_pip_failure(
            "ERROR: Could not find a version that satisfies the requirement nope==1.0 (from versions: none)\nERROR: No matching distribution found for nope==1.0\n",
            "3.13",
            Architecture::Arm64,
        );
        assert!(
            cause.contains("nope==1.0") && cause.contains("arm64"),
            "{cause}"
        );
        assert!(hint.contains("cp313"), "{hint}");
    }

    #[test]
    fn metadata_header_gives_name_and_version() {
        let text = "Metadata-Version: 2.1\nName: charset-normalizer\nVersion: 3.5.2\nSummary: x\n\nVersion: body\n";
        assert_eq!(
            metadata_name_version(text),
            Some(Dependency {
                name: "charset-normalizer".into(),
                version: "3.5.2".into()
            })
        );
        assert_eq!(metadata_name_version("Name: x\n"), None);
    }
}
