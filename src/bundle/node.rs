//! Node.js functions: production dependencies from the committed lockfile, via `npm ci`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::files::FileEntry;
use super::manifest::Dependency;
use super::process::Cmd;
use crate::config::Architecture;

/// Lockfiles `npm ci` installs from, in the order npm prefers them.
pub const LOCKFILES: &[&str] = &["npm-shrinkwrap.json", "package-lock.json"];

/// Files copied into the clean staging directory `npm ci` runs in.
pub const INSTALL_INPUTS: &[&str] = &[
    "package.json",
    "npm-shrinkwrap.json",
    "package-lock.json",
    ".npmrc",
];

/// What is wrong with package.json / the lockfile, found without running npm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockProblem {
    Missing,
    OutOfDate(String),
    Invalid(String),
}

const DEPENDENCY_FIELDS: &[&str] = &[
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
];

/// Whether `package.json` declares any dependency at all (if not, there is nothing to install).
pub fn has_dependencies(package_json: &str) -> Result<bool, LockProblem> {
    let pkg: Value = serde_json::from_str(package_json)
        .map_err(|e| LockProblem::Invalid(format!("package.json is not valid JSON: {e}")))?;
    Ok(DEPENDENCY_FIELDS.iter().any(|f| {
        pkg.get(f)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    }))
}

/// Check that the lockfile exists and records the same dependency specs as package.json
/// (what `npm ci` would refuse). Lockfiles without a `packages[""]` entry (v1) are left to npm.
pub fn check_lockfile(package_json: &str, lockfile: Option<&str>) -> Result<(), LockProblem> {
    let Some(lockfile) = lockfile else {
        return Err(LockProblem::Missing);
    };
    let pkg: Value = serde_json::from_str(package_json)
        .map_err(|e| LockProblem::Invalid(format!("package.json is not valid JSON: {e}")))?;
    let lock: Value = serde_json::from_str(lockfile)
        .map_err(|e| LockProblem::Invalid(format!("the lockfile is not valid JSON: {e}")))?;
    let Some(root) = lock.get("packages").and_then(|p| p.get("")) else {
        return Ok(());
    };
    for field in DEPENDENCY_FIELDS {
        let want = specs(pkg.get(field));
        let have = specs(root.get(field));
        for (name, spec) in &want {
            match have.get(name) {
                None => {
                    return Err(LockProblem::OutOfDate(format!(
                        "package.json {field} has {name}@{spec}, the lockfile does not"
                    )))
                }
                Some(locked) if locked != spec => {
                    return Err(LockProblem::OutOfDate(format!(
                        "package.json {field} has {name}@{spec}, the lockfile {name}@{locked}"
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some(name) = have.keys().find(|n| !want.contains_key(*n)) {
            return Err(LockProblem::OutOfDate(format!(
                "the lockfile {field} has {name}, package.json does not"
            )));
        }
    }
    Ok(())
}

fn specs(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// npm's name for a Lambda architecture (`--cpu`).
pub fn npm_cpu(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "x64",
        Architecture::Arm64 => "arm64",
    }
}

/// `npm ci` for production dependencies only, from the lockfile, no lifecycle scripts, using a
/// warm cache when there is one, choosing optional platform packages for Lambda (linux, glibc,
/// the function's architecture), with no `.bin` links, audit or funding calls.
pub fn npm_ci(staging: &Path, arch: Architecture) -> Cmd {
    let npm = std::env::var_os("SCOREKEEP_NPM").unwrap_or_else(|| "npm".into());
    Cmd::new(npm, staging)
        .args([
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--no-bin-links",
            "--os=linux",
            "--libc=glibc",
        ])
        .arg(format!("--cpu={}", npm_cpu(arch)))
        .args(["--loglevel=warn", "--update-notifier=false"])
        .env("NODE_ENV", "production")
}

/// Whether npm's stderr says the lockfile does not match package.json.
pub fn is_out_of_sync(stderr: &str) -> bool {
    stderr.contains("are in sync")
        || (stderr.contains("Missing: ") && stderr.contains("from lock file"))
}

/// Name and version of every installed package, from the `package.json` at each package root
/// under `node_modules` (nested installs included), sorted and de-duplicated.
pub fn installed_packages(files: &[FileEntry]) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = files
        .iter()
        .filter(|f| is_package_root_manifest(&f.zip_path))
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f.disk_path).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            Some(Dependency {
                name: v.get("name")?.as_str()?.to_string(),
                version: v.get("version")?.as_str()?.to_string(),
            })
        })
        .collect();
    deps.sort();
    deps.dedup();
    deps
}

/// `node_modules/x/package.json`, `node_modules/@s/x/package.json`,
/// `node_modules/a/node_modules/b/package.json`; not files deeper inside a package.
pub fn is_package_root_manifest(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let Some((&"package.json", dirs)) = parts.split_last() else {
        return false;
    };
    let mut i = 0;
    while i < dirs.len() {
        if dirs[i] != "node_modules" || i + 1 >= dirs.len() {
            return false;
        }
        i += 1;
        if dirs[i].starts_with('@') {
            i += 1;
            if i >= dirs.len() {
                return false;
            }
        }
        i += 1;
    }
    !dirs.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKG: &str =
        r#"{"name":"f","dependencies":{"chance":"1.1.13","@aws-sdk/client-sns":"3.1.0"}}"#;
    const LOCK: &str = r#"{"lockfileVersion":3,"packages":{"":{"name":"f","dependencies":{"@aws-sdk/client-sns":"3.1.0","chance":"1.1.13"}},"node_modules/chance":{"version":"1.1.13"}}}"#;

    #[test]
    fn lockfile_in_sync_passes() {
        assert_eq!(check_lockfile(PKG, Some(LOCK)), Ok(()));
        assert!(has_dependencies(PKG).unwrap());
        assert!(!has_dependencies(r#"{"name":"f"}"#).unwrap());
    }

    #[test]
    fn missing_and_out_of_date_lockfiles_are_found() {
        assert_eq!(check_lockfile(PKG, None), Err(LockProblem::Missing));
        let newer = PKG.replace("1.1.13", "1.1.14");
        match check_lockfile(&newer, Some(LOCK)) {
            Err(LockProblem::OutOfDate(d)) => {
                assert!(
                    d.contains("chance@1.1.14") && d.contains("chance@1.1.13"),
                    "{d}"
                )
            }
            other => panic!("{other:?}"),
        }
        let added = PKG.replace(r#""chance""#, r#""left-pad":"1.0.0","chance""#);
        assert!(
            matches!(check_lockfile(&added, Some(LOCK)), Err(LockProblem::OutOfDate(d)) if d.contains("left-pad"))
        );
        let removed = r#"{"dependencies":{"chance":"1.1.13"}}"#;
        assert!(
            matches!(check_lockfile(removed, Some(LOCK)), Err(LockProblem::OutOfDate(d)) if d.contains("@aws-sdk/client-sns"))
        );
        assert!(matches!(
            check_lockfile("{", Some(LOCK)),
            Err(LockProblem::Invalid(_))
        ));
        // v1 lockfiles have no packages[""]: left to npm.
        assert_eq!(
            check_lockfile(PKG, Some(r#"{"lockfileVersion":1}"#)),
            Ok(())
        );
    }

    #[test]
    fn package_roots_are_recognized() {
        for yes in [
            "node_modules/chance/package.json",
            "node_modules/@aws-sdk/core/package.json",
            "node_modules/a/node_modules/b/package.json",
            "node_modules/a/node_modules/@s/b/package.json",
        ] {
            assert!(is_package_root_manifest(yes), "{yes}");
        }
        for no in [
            "package.json",
            "node_modules/package.json",
            "node_modules/@aws-sdk/package.json",
            "node_modules/@aws-sdk/core/dist-cjs/package.json",
            "node_modules/a/lib/package.json",
        ] {
            assert!(!is_package_root_manifest(no), "{no}");
        }
    }

    #[test]
    fn npm_command_targets_lambda() {
        let line = npm_ci(Path::new("/s"), Architecture::Arm64).display();
        for flag in [
            "ci",
            "--omit=dev",
            "--ignore-scripts",
            "--prefer-offline",
            "--cpu=arm64",
            "--os=linux",
        ] {
            assert!(line.contains(flag), "{line}");
        }
        assert!(line.starts_with("cd /s && NODE_ENV=production "), "{line}");
    }

    #[test]
    fn npm_sync_message_is_recognized() {
        assert!(is_out_of_sync("npm error `npm ci` can only install packages when your package.json and package-lock.json or npm-shrinkwrap.json are in sync."));
        assert!(!is_out_of_sync("npm error 404 Not Found"));
    }
}
