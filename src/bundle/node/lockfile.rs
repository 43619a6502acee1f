//! A Node.js function's `package.json` and its lockfile, checked before npm runs: the lockfile
//! exists and is in sync, every package has an `integrity` hash, and every `resolved` URL is
//! https on the registry npm is configured with (so `npm ci` installs exactly what was
//! reviewed, from where it was reviewed). Also the packages the function's code may `require`.

use std::collections::BTreeMap;

use serde_json::Value;

/// Lockfiles `npm ci` installs from, in the order npm prefers them.
pub(crate) const LOCKFILES: &[&str] = &["npm-shrinkwrap.json", "package-lock.json"];

/// What is wrong with package.json / the lockfile, found without running npm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LockProblem {
    Missing,
    OutOfDate(String),
    Invalid(String),
    /// Packages (lockfile paths) without an `integrity` hash.
    NoIntegrity(Vec<String>),
    /// A package whose `resolved` URL is not an https URL of an allowed registry.
    Source {
        package: String,
        /// The URL with any credentials in it masked.
        url: String,
        reason: String,
    },
}

/// npm's default registry, allowed unless configured otherwise.
pub(crate) const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

const DEPENDENCY_FIELDS: &[&str] = &[
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
];

/// Whether `package.json` declares any dependency at all (if not, there is nothing to install).
pub(crate) fn has_dependencies(package_json: &str) -> Result<bool, LockProblem> {
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
pub(crate) fn check_lockfile(
    package_json: &str,
    lockfile: Option<&str>,
) -> Result<(), LockProblem> {
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

/// Check that every package in the lockfile carries an `integrity` hash (so npm verifies each
/// tarball, as `--require-hashes` makes pip do) and that any `resolved` URL is https on one of
/// `registry_hosts`: a lockfile edited to drop hashes or to point a package elsewhere is
/// refused before npm runs. Links (workspaces) and bundled packages have no tarball of their own.
pub(crate) fn check_integrity(
    lockfile: &str,
    registry_hosts: &[String],
) -> Result<(), LockProblem> {
    let lock: Value = serde_json::from_str(lockfile)
        .map_err(|e| LockProblem::Invalid(format!("the lockfile is not valid JSON: {e}")))?;
    let mut packages = Vec::new();
    match lock.get("packages").and_then(Value::as_object) {
        Some(map) => packages.extend(
            map.iter()
                .filter(|(path, _)| !path.is_empty())
                .map(|(path, p)| (path.clone(), p)),
        ),
        None => v1_packages(&lock, "", &mut packages),
    }
    let mut unverified = Vec::new();
    for (path, package) in packages {
        let flag = |name: &str| package.get(name).and_then(Value::as_bool) == Some(true);
        if flag("link") || flag("inBundle") || flag("bundled") {
            continue;
        }
        if let Some(url) = package.get("resolved").and_then(Value::as_str) {
            check_source(&path, url, registry_hosts)?;
        }
        let integrity = package.get("integrity").and_then(Value::as_str);
        if !integrity.is_some_and(is_sri) {
            unverified.push(path);
        }
    }
    match unverified.is_empty() {
        true => Ok(()),
        false => Err(LockProblem::NoIntegrity(unverified)),
    }
}

/// Lockfile v1: `dependencies`, nested, as `node_modules/a/node_modules/b` paths.
fn v1_packages<'a>(node: &'a Value, parent: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some(deps) = node.get("dependencies").and_then(Value::as_object) else {
        return;
    };
    for (name, dep) in deps {
        let path = format!("{parent}node_modules/{name}");
        out.push((path.clone(), dep));
        v1_packages(dep, &format!("{path}/"), out);
    }
}

/// `sha512-<base64>` and the other algorithms npm writes.
fn is_sri(integrity: &str) -> bool {
    integrity.split_whitespace().any(|h| {
        h.split_once('-').is_some_and(|(alg, digest)| {
            matches!(alg, "sha1" | "sha256" | "sha384" | "sha512") && !digest.is_empty()
        })
    })
}

fn check_source(path: &str, url: &str, registry_hosts: &[String]) -> Result<(), LockProblem> {
    let problem = |reason: String| LockProblem::Source {
        package: path.to_string(),
        url: mask_credentials(url),
        reason,
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(problem("not an https URL".into()));
    };
    let host = url_host(rest);
    if !registry_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(problem(format!(
            "not the configured registry ({})",
            registry_hosts.join(", ")
        )));
    }
    Ok(())
}

/// `host[:port]` of the part of a URL after its scheme, without credentials.
fn url_host(after_scheme: &str) -> &str {
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    authority.rsplit('@').next().unwrap_or(authority)
}

/// A URL with `user:password@` replaced by `***@`: it goes into error messages.
fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Hosts packages may come from: npm's default registry, or the `registry=` /
/// `@scope:registry=` set in the function's `.npmrc` and `npm_config_registry` in the
/// environment (what npm itself would use).
pub(crate) fn registry_hosts(npmrc: Option<&str>, env_registry: Option<&str>) -> Vec<String> {
    let mut registries: Vec<&str> = Vec::new();
    let mut default = env_registry.filter(|r| !r.trim().is_empty());
    for line in npmrc.unwrap_or_default().lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key == "registry" {
            default = Some(value);
        } else if key.starts_with('@') && key.ends_with(":registry") {
            registries.push(value);
        }
    }
    registries.push(default.unwrap_or(DEFAULT_REGISTRY));
    let mut hosts: Vec<String> = registries
        .iter()
        .filter_map(|r| r.trim().split_once("://"))
        .map(|(_, rest)| url_host(rest).to_ascii_lowercase())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The names in package.json's `dependencies` and `optionalDependencies`, sorted (the JSON
/// was already checked by [`has_dependencies`]).
pub(crate) fn direct_dependencies(package_json: &str) -> Vec<String> {
    let pkg: Value = serde_json::from_str(package_json).unwrap_or_default();
    let mut names: Vec<String> = ["dependencies", "optionalDependencies"]
        .iter()
        .flat_map(|f| specs(pkg.get(*f)).into_keys())
        .collect();
    names.sort();
    names.dedup();
    names
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

#[cfg(test)]
mod tests {
    use super::*;

    const PKG: &str =
        r#"{"name":"f","dependencies":{"chance":"1.1.13","@aws-sdk/client-sns":"3.1.0"}}"#;
    const LOCK: &str = r#"{"lockfileVersion":3,"packages":{"":{"name":"f","dependencies":{"@aws-sdk/client-sns":"3.1.0","chance":"1.1.13"}},"node_modules/chance":{"version":"1.1.13"}}}"#;

    #[test]
    fn direct_dependencies_are_what_the_function_may_require() {
        let pkg = r#"{"dependencies":{"chance":"1","@aws-sdk/client-sns":"3"},
            "optionalDependencies":{"fsevents":"2"},"devDependencies":{"mocha":"1"},
            "peerDependencies":{"@aws-sdk/client-s3":"3"}}"#;
        assert_eq!(
            direct_dependencies(pkg),
            ["@aws-sdk/client-sns", "chance", "fsevents"]
        );
        assert!(direct_dependencies("{}").is_empty());
    }

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

    const COMMITTED: &str = include_str!("../../../functions/random-name/package-lock.json");

    fn npmjs() -> Vec<String> {
        registry_hosts(None, None)
    }

    #[test]
    fn the_committed_lockfile_is_fully_hashed() {
        assert_eq!(npmjs(), ["registry.npmjs.org"]);
        assert_eq!(check_integrity(COMMITTED, &npmjs()), Ok(()));
    }

    #[test]
    fn packages_without_integrity_are_named() {
        let mut lock: Value = serde_json::from_str(COMMITTED).unwrap();
        let packages = lock["packages"].as_object_mut().unwrap();
        for name in ["node_modules/chance", "node_modules/@smithy/core"] {
            packages[name].as_object_mut().unwrap().remove("integrity");
        }
        packages["node_modules/tslib"]["integrity"] = "".into();
        // Workspace links and bundled packages have no tarball of their own.
        packages.insert("node_modules/ws".into(), serde_json::json!({"link": true}));
        packages.insert(
            "node_modules/b".into(),
            serde_json::json!({"inBundle": true}),
        );
        let text = lock.to_string();
        assert_eq!(
            check_integrity(&text, &npmjs()),
            Err(LockProblem::NoIntegrity(vec![
                "node_modules/@smithy/core".into(),
                "node_modules/chance".into(),
                "node_modules/tslib".into(),
            ]))
        );
        // Lockfile v1: nested `dependencies`.
        let v1 = r#"{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","integrity":"sha512-x","dependencies":{"b":{"version":"2.0.0"}}}}}"#;
        assert_eq!(
            check_integrity(v1, &npmjs()),
            Err(LockProblem::NoIntegrity(vec![
                "node_modules/a/node_modules/b".into()
            ]))
        );
    }

    fn with_resolved(url: &str) -> String {
        let mut lock: Value = serde_json::from_str(COMMITTED).unwrap();
        lock["packages"]["node_modules/chance"]["resolved"] = url.into();
        lock.to_string()
    }

    #[test]
    fn resolved_urls_must_be_https_on_the_configured_registry() {
        let ok = with_resolved("https://registry.npmjs.org/chance/-/chance-1.1.13.tgz");
        assert_eq!(check_integrity(&ok, &npmjs()), Ok(()));
        match check_integrity(
            &with_resolved("http://registry.npmjs.org/chance.tgz"),
            &npmjs(),
        ) {
            Err(LockProblem::Source {
                package, reason, ..
            }) => {
                assert_eq!(package, "node_modules/chance");
                assert_eq!(reason, "not an https URL");
            }
            other => panic!("{other:?}"),
        }
        let elsewhere = with_resolved("https://user:s3cret@evil.example/chance.tgz");
        match check_integrity(&elsewhere, &npmjs()) {
            Err(LockProblem::Source { url, reason, .. }) => {
                assert_eq!(url, "https://***@evil.example/chance.tgz");
                assert!(reason.contains("registry.npmjs.org"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A registry configured in .npmrc (or the environment) is allowed.
        let npmrc = "; comment\n@corp:registry=https://npm.corp.example/\nregistry = https://mirror.example:8443/npm/\n";
        let hosts = registry_hosts(Some(npmrc), Some("https://ignored.example/"));
        assert_eq!(hosts, ["mirror.example:8443", "npm.corp.example"]);
        let mirrored = with_resolved("https://mirror.example:8443/npm/chance/-/chance-1.1.13.tgz");
        assert_eq!(check_integrity(&mirrored, &hosts), Ok(()));
        assert!(check_integrity(&mirrored, &npmjs()).is_err());
        assert_eq!(
            registry_hosts(None, Some("https://env.example/")),
            ["env.example"]
        );
    }
}
