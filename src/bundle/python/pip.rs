//! The pip run that installs a Python function's dependencies for Lambda rather than for the
//! build machine: the wheel platform tags of the runtime's Amazon Linux and architecture, the
//! `pip install --target` command (binary wheels only), and what a pip failure means.

use std::ffi::OsString;
use std::path::Path;

use super::requirements::REQUIREMENTS;
use crate::bundle::tool_run::Cmd;
use crate::config::Architecture;

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

/// The interpreter's own executable rather than a pyenv shim: a shim runs `pyenv rehash` after
/// every `pip install` and fails the install when another one holds pyenv's rehash lock (two
/// builds at once). If the probe fails, the program as given, whose pip then says why.
pub(crate) fn real_executable(python: &std::ffi::OsStr) -> std::ffi::OsString {
    crate::interpreter::probe(python, crate::config::Language::Python)
        .map(|p| p.executable.into_os_string())
        .unwrap_or_else(|_| python.to_os_string())
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn pip_runs_on_the_real_executable_not_a_shim() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in shim: a script that execs python3 (as pyenv's shims do).
        let shim = dir.path().join("python3-shim");
        std::fs::write(&shim, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
        let mut perms = std::fs::metadata(&shim).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&shim, perms).unwrap();
        let real = real_executable(shim.as_os_str());
        assert_ne!(real, shim.as_os_str(), "resolved past the shim");
        assert!(std::path::Path::new(&real).is_absolute(), "{real:?}");
        // Something that does not run is kept, for pip's own error.
        let missing = std::ffi::OsStr::new("/nonexistent/python3");
        assert_eq!(real_executable(missing), missing);
    }
}
