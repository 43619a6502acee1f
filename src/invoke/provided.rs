//! The packages the Lambda Python runtime provides (boto3, botocore, ...), which bundles leave
//! out, for local runs: installed once into the tool's cache from the function's own hashed
//! pins in `requirements.txt`, and put on the handler's path after the bundle, as Lambda puts
//! its runtime packages after `/var/task`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bundle::python::{self, Line};
use crate::bundle::tool_run::{Cmd, RunError};
use crate::bundle::{BuildError, InstallFailure, TOOL_VERSION};
use crate::config::Architecture;

use super::InvokeError;

/// Marks a finished cache entry; written before the entry is renamed into place.
const COMPLETE: &str = ".complete";
const STEP: &str = "installing the runtime-provided packages";

/// What the function's requirements pin of the runtime-provided packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pins {
    /// One requirement line each (`boto3==1.44.8 --hash=sha256:...`), sorted: pip's input.
    pub(crate) requirements: String,
    /// `boto3 1.44.8`, ... for messages.
    pub(crate) described: Vec<String>,
    /// The `*.dist-info` directory each pin installs, lowercase (`python_dateutil-2.9.0.dist-info`).
    pub(crate) dist_infos: Vec<String>,
    /// Runtime-provided packages the requirements do not pin (so not provided locally).
    pub(crate) unpinned: Vec<String>,
}

/// The runtime-provided packages among the parsed requirements, with their pins and hashes.
pub(crate) fn select_pins(lines: &[Line], provided: &[String]) -> Pins {
    let wanted: BTreeSet<String> = provided.iter().map(|p| python::normalize(p)).collect();
    let mut requirements = Vec::new();
    let mut described = Vec::new();
    let mut dist_infos = Vec::new();
    let mut pinned = BTreeSet::new();
    for line in lines {
        let Line::Requirement(r) = line else { continue };
        if !wanted.contains(&r.normalized) {
            continue;
        }
        let mut text = r.spec.clone();
        for h in &r.hashes {
            text.push_str(" --hash=");
            text.push_str(h);
        }
        requirements.push(text);
        let version = r.version.as_deref().unwrap_or("?");
        described.push(format!("{} {version}", r.name));
        dist_infos
            .push(format!("{}-{version}.dist-info", r.normalized.replace('-', "_")).to_lowercase());
        pinned.insert(r.normalized.clone());
    }
    requirements.sort();
    described.sort();
    let unpinned = wanted.difference(&pinned).cloned().collect();
    let mut text = requirements.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    dist_infos.sort();
    Pins {
        requirements: text,
        described,
        dist_infos,
        unpinned,
    }
}

/// The cache entry for these pins: `<cache>/runtime-provided/python3.13-<hash>`.
pub(crate) fn entry_dir(
    cache: &Path,
    python_version: &str,
    tags: &[String],
    pins: &Pins,
) -> PathBuf {
    let mut h = Sha256::new();
    for part in [
        pins.requirements.as_str(),
        python_version,
        &tags.join(","),
        TOOL_VERSION,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(h.finalize());
    cache
        .join("runtime-provided")
        .join(format!("python{python_version}-{}", &digest[..16]))
}

/// Where to find them for one function.
pub(crate) struct Request<'a> {
    pub(crate) function: &'a str,
    pub(crate) source_dir: &'a Path,
    pub(crate) provided: &'a [String],
    pub(crate) python_version: &'a str,
    pub(crate) architecture: Architecture,
    pub(crate) cache: &'a Path,
}

/// The result: the directory to put on the path (None when nothing is pinned), whether pip
/// ran now, and what is not provided.
pub(crate) struct Provided {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) pins: Pins,
}

/// Read the pins and make sure their cache entry exists, installing it (once) if not.
pub(crate) fn ensure(req: &Request<'_>, say: impl Fn(String)) -> anyhow::Result<Provided> {
    let path = req.source_dir.join(python::REQUIREMENTS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(InvokeError::io(
                format!("reading {}", path.display()),
                "check the file's permissions",
            )(e)
            .into())
        }
    };
    // `build` has already refused an unparsable or unhashed file.
    let lines = python::parse(&text).unwrap_or_default();
    let pins = select_pins(&lines, req.provided);
    if pins.requirements.is_empty() {
        return Ok(Provided { dir: None, pins });
    }
    let tags = python::platform_tags(req.python_version, req.architecture);
    let dir = entry_dir(req.cache, req.python_version, &tags, &pins);
    if !is_complete(&dir, &pins) {
        say(format!(
            "{STEP} for python{} ({}) into {} (once)",
            req.python_version,
            pins.described.join(", "),
            dir.display()
        ));
        install(req, &pins, &tags, &dir)?;
    }
    Ok(Provided {
        dir: Some(dir),
        pins,
    })
}

/// An entry is used only when its completion mark records these pins and every pinned
/// package's metadata is there: one damaged by hand is reinstalled, not used.
fn is_complete(dir: &Path, pins: &Pins) -> bool {
    let marked = std::fs::read_to_string(dir.join(COMPLETE)).is_ok_and(|t| t == pins.requirements);
    let present: BTreeSet<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    marked
        && pins
            .dist_infos
            .iter()
            .all(|d| present.contains(d) && dir.join(d).join("METADATA").is_file())
}

/// pip into a staging directory beside the entry, then one rename: a reader (or a crash)
/// never sees a partial entry, and two runs racing both end with a complete one.
fn install(req: &Request<'_>, pins: &Pins, tags: &[String], dir: &Path) -> anyhow::Result<()> {
    let parent = dir.parent().expect("entry has a parent");
    let io_hint = "check the disk space and permissions of the project's target directory";
    std::fs::create_dir_all(parent).map_err(InvokeError::io(
        format!("creating {}", parent.display()),
        io_hint,
    ))?;
    let mut staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
        .map_err(InvokeError::io(
            format!("creating a directory in {}", parent.display()),
            io_hint,
        ))?;
    let requirements = staging.path().join(python::REQUIREMENTS);
    std::fs::write(&requirements, &pins.requirements).map_err(InvokeError::io(
        format!("writing {}", requirements.display()),
        io_hint,
    ))?;
    let cmd = python::pip_install(
        python::real_executable(&python::python_program()),
        staging.path(),
        req.python_version,
        tags,
    );
    run_pip(req, &cmd, &mut staging)?;
    let target = staging.path().join("target");
    std::fs::write(target.join(COMPLETE), &pins.requirements).map_err(InvokeError::io(
        format!("writing in {}", target.display()),
        io_hint,
    ))?;
    if std::fs::rename(&target, dir).is_ok() || is_complete(dir, pins) {
        return Ok(()); // ours, or another run's that finished first
    }
    // A damaged entry (its mark or a package gone): replace it.
    let replace = std::fs::remove_dir_all(dir).and_then(|()| std::fs::rename(&target, dir));
    replace.map_err(InvokeError::io(
        format!("replacing {} with {}", dir.display(), target.display()),
        io_hint,
    ))?;
    Ok(())
}

fn run_pip(req: &Request<'_>, cmd: &Cmd, staging: &mut tempfile::TempDir) -> anyhow::Result<()> {
    let (cause, status, tail, hint) = match cmd.run() {
        Ok(_) => return Ok(()),
        Err(RunError::NotFound { program }) => (
            format!("`{program}` was not found"),
            "not started".to_string(),
            String::new(),
            "install Python 3 with pip, or point SCOREKEEP_PYTHON at an interpreter that has pip"
                .to_string(),
        ),
        Err(RunError::Spawn { program, source }) => (
            format!("`{program}` could not be started: {source}"),
            "not started".to_string(),
            String::new(),
            "point SCOREKEEP_PYTHON at an interpreter that has pip".to_string(),
        ),
        // `invoke --local` leaves Ctrl-C its default meaning, so this is a stop from elsewhere.
        Err(RunError::Interrupted { program }) => (
            format!("`{program}` was interrupted"),
            "interrupted".to_string(),
            String::new(),
            "rerun the command; nothing was kept from the interrupted install".to_string(),
        ),
        Err(RunError::Failed {
            status,
            tail,
            stderr,
        }) => {
            let (cause, hint) =
                python::explain_pip_failure(&stderr, req.python_version, req.architecture);
            (cause, status, tail, hint)
        }
    };
    // Keep the staging directory so the printed command can be rerun as is.
    staging.disable_cleanup(true);
    Err(BuildError::Install(Box::new(InstallFailure {
        function: req.function.to_string(),
        step: STEP,
        cause,
        status,
        tail,
        command: cmd.display(),
        hint,
    }))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "\
aws-xray-sdk==2.15.0 \\\n    --hash=sha256:aa\n\
boto3==1.44.8 \\\n    --hash=sha256:b1 \\\n    --hash=sha256:b2\n    # via -r requirements.in\n\
Python_Dateutil==2.9.0.post0 --hash=sha256:dd\n\
six==1.17.0 --hash=sha256:66\n";

    fn provided() -> Vec<String> {
        crate::config::PYTHON_RUNTIME_PROVIDED
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn pins_are_the_runtime_provided_requirements_with_their_hashes() {
        let pins = select_pins(&python::parse(LOCK).unwrap(), &provided());
        assert_eq!(
            pins.requirements,
            "Python_Dateutil==2.9.0.post0 --hash=sha256:dd\n\
boto3==1.44.8 --hash=sha256:b1 --hash=sha256:b2\nsix==1.17.0 --hash=sha256:66\n"
        );
        assert_eq!(
            pins.described,
            ["Python_Dateutil 2.9.0.post0", "boto3 1.44.8", "six 1.17.0"]
        );
        assert_eq!(pins.unpinned, ["botocore", "jmespath", "s3transfer"]);
        let none = select_pins(&[], &provided());
        assert!(none.requirements.is_empty());
        assert_eq!(none.unpinned.len(), 6);
    }

    #[test]
    fn the_cache_entry_is_keyed_by_pins_version_and_platform() {
        let pins = select_pins(&python::parse(LOCK).unwrap(), &provided());
        let tags = python::platform_tags("3.13", Architecture::X86_64);
        let cache = Path::new("/c");
        let a = entry_dir(cache, "3.13", &tags, &pins);
        assert!(a.starts_with("/c/runtime-provided"), "{}", a.display());
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("python3.13-"));
        assert_eq!(a, entry_dir(cache, "3.13", &tags, &pins));
        assert_ne!(a, entry_dir(cache, "3.12", &tags, &pins));
        let other = select_pins(
            &python::parse(&LOCK.replace("b2", "b3")).unwrap(),
            &provided(),
        );
        assert_ne!(a, entry_dir(cache, "3.13", &tags, &other));
    }

    #[test]
    fn a_finished_entry_is_used_without_pip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("requirements.txt"), LOCK).unwrap();
        let cache = dir.path().join("cache");
        let req = Request {
            function: "w",
            source_dir: &src,
            provided: &provided(),
            python_version: "3.13",
            architecture: Architecture::X86_64,
            cache: &cache,
        };
        let pins = select_pins(&python::parse(LOCK).unwrap(), &provided());
        let tags = python::platform_tags("3.13", Architecture::X86_64);
        let entry = entry_dir(&cache, "3.13", &tags, &pins);
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(entry.join(COMPLETE), &pins.requirements).unwrap();
        let dists = [
            "boto3-1.44.8.dist-info",
            "python_dateutil-2.9.0.post0.dist-info",
            "six-1.17.0.dist-info",
        ];
        assert_eq!(pins.dist_infos, dists);
        for d in dists {
            std::fs::create_dir_all(entry.join(d)).unwrap();
            std::fs::write(entry.join(d).join("METADATA"), "").unwrap();
        }
        let said = std::cell::RefCell::new(Vec::new());
        let got = ensure(&req, |m| said.borrow_mut().push(m)).unwrap();
        assert_eq!(got.dir, Some(entry.clone()));
        assert!(said.borrow().is_empty(), "{:?}", said.borrow());
        assert!(is_complete(&entry, &pins));

        // A package removed by hand, or a mark for other pins: not complete, so reinstalled.
        std::fs::remove_dir_all(entry.join(dists[2])).unwrap();
        assert!(!is_complete(&entry, &pins));
        std::fs::create_dir_all(entry.join(dists[2])).unwrap();
        std::fs::write(entry.join(dists[2]).join("METADATA"), "").unwrap();
        assert!(is_complete(&entry, &pins));
        std::fs::write(entry.join(COMPLETE), "other pins").unwrap();
        assert!(!is_complete(&entry, &pins));
    }
}
