//! Python bytecode shipped in the bundle: every `.py` file (the function's and its
//! dependencies') compiled to `__pycache__/<name>.cpython-3XX.pyc` by an interpreter of the
//! runtime's exact minor version, with PEP 552 hash-based invalidation.
//!
//! Lambda's `/var/task` is read-only, so without them every cold start compiles every module
//! again and throws the result away. `unchecked-hash` pycs carry the source's hash instead of
//! its mtime (zip entries all have one fixed time, which would make timestamp pycs look stale)
//! and are used without reading the source again: right for a bundle nobody edits in place.
//! Each file is compiled with its path in the bundle as `co_filename` (the import system
//! replaces it with the real path at load time), under a fixed hash seed, so the bytes do not
//! depend on the build directory: two builds anywhere give the same zip.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;

use super::files::{self, FileEntry};
use super::manifest::BytecodeRecord;
use super::tool_run::Cmd;
use super::{BuildError, Job};
use crate::interpreter::{find_python, Found, NotFound, PyMinor};
use crate::report::Task;

/// PEP 552 mode written into every pyc.
pub(crate) const MODE: &str = "unchecked-hash";

/// Reads `files.json` ([source path, path in the bundle] pairs) and writes each pyc under
/// `out/` at `importlib.util.cache_from_source(<path in the bundle>)`; then `result.json`.
/// A file this Python cannot compile (e.g. a Python 2 leftover in a package) ships as source.
///
/// Compiled pycs are kept in the cache dir (argv 2), keyed by this interpreter's exact
/// version, the path in the bundle and the source bytes: the pyc a compile would write, since
/// it depends on nothing else (fixed hash seed). Editing a function's own module then compiles
/// that module only, not its dependencies again. A cached pyc is used only if its header names
/// this interpreter, unchecked-hash mode and this source's hash, and its code unmarshals;
/// otherwise the file is compiled again and the entry replaced (written aside, then renamed).
const COMPILE_SCRIPT: &str = r#"
import hashlib, importlib.util, json, marshal, os, py_compile, shutil, sys
work, cache = sys.argv[1], sys.argv[2]
CODE = type(compile("", "", "exec"))
UNCHECKED_HASH = (1).to_bytes(4, "little")
with open(os.path.join(work, "files.json")) as f:
    pairs = json.load(f)

def entry_for(source, rel):
    key = hashlib.sha256(json.dumps([sys.version, rel]).encode() + b"\0" + source).hexdigest()
    return os.path.join(cache, key[:2], key + ".pyc")

def cached(entry, source):
    try:
        with open(entry, "rb") as f:
            data = f.read()
        if (data[:4] == importlib.util.MAGIC_NUMBER and data[4:8] == UNCHECKED_HASH
                and data[8:16] == importlib.util.source_hash(source)
                and isinstance(marshal.loads(data[16:]), CODE)):
            return data
    except (OSError, ValueError, EOFError, TypeError):
        pass
    return None

def keep(out, entry):
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        aside = "%s.%d.tmp" % (entry, os.getpid())
        shutil.copyfile(out, aside)
        os.replace(aside, entry)
    except OSError:
        pass  # a cache that cannot be written only costs the next build time

compiled, reused, skipped = 0, 0, []
for src, rel in pairs:
    out = os.path.join(work, "out", importlib.util.cache_from_source(rel))
    with open(src, "rb") as f:
        source = f.read()
    entry = entry_for(source, rel)
    data = cached(entry, source)
    if data is not None:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        compiled, reused = compiled + 1, reused + 1
        continue
    try:
        py_compile.compile(src, cfile=out, dfile=rel, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError as e:
        skipped.append([rel, e.msg])
        continue
    compiled += 1
    keep(out, entry)
with open(os.path.join(work, "result.json"), "w") as f:
    json.dump({"cache_tag": sys.implementation.cache_tag, "compiled": compiled, "reused": reused,
               "skipped": skipped}, f)
"#;

/// Whether the bundle gets bytecode; the interpreter is looked for only when a bundle is
/// actually built (a build with nothing changed runs nothing).
pub(crate) enum Bytecode {
    /// `bytecode: false`, or not a Python function.
    Off,
    /// Compile with an interpreter of this version, if this machine has one.
    Wanted(PyMinor),
}

/// "No python3.X here" is said once per run, not once per function.
static SAID_SOURCE_ONLY: AtomicBool = AtomicBool::new(false);

#[derive(Deserialize)]
struct CompileResult {
    cache_tag: String,
    compiled: u64,
    /// Of `compiled`, how many came from the pyc cache (not in the manifest: a build's record
    /// must not depend on what an earlier build left in the cache).
    reused: u64,
    skipped: Vec<(String, String)>,
}

impl Bytecode {
    pub(crate) fn for_job(job: &Job) -> Bytecode {
        match PyMinor::parse(&job.config.runtime) {
            Some(v) if job.config.bytecode() => Bytecode::Wanted(v),
            _ => Bytecode::Off,
        }
    }

    /// Its part of the inputs hash.
    pub(crate) fn key(&self) -> String {
        match self {
            Bytecode::Off => "bytecode=off".into(),
            Bytecode::Wanted(v) => format!("bytecode={MODE} python{v}"),
        }
    }

    /// Whether a previous bundle is still what a build would make: one built without an
    /// interpreter is rebuilt once one is here.
    pub(crate) fn still_current(&self, previous: Option<&BytecodeRecord>) -> bool {
        match (self, previous) {
            (Bytecode::Wanted(v), Some(r)) if r.mode == "none" => find_python(*v).is_err(),
            _ => true,
        }
    }

    /// Add the pycs for `all` (the merged bundle); the record for the manifest.
    pub(crate) fn apply(
        &self,
        job: &Job,
        task: &Task,
        all: &mut Vec<FileEntry>,
        work: &mut tempfile::TempDir,
    ) -> Result<Option<BytecodeRecord>, BuildError> {
        let Bytecode::Wanted(wanted) = self else {
            return Ok(None);
        };
        let python = match find_python(*wanted) {
            Ok(found) => found,
            Err(not_found) => {
                announce_source_only(job, task, &not_found);
                return Ok(Some(BytecodeRecord {
                    mode: "none".into(),
                    interpreter: None,
                    found_in: None,
                    cache_tag: None,
                    compiled: 0,
                    reason: Some(format!("no Python {wanted} on the build machine")),
                }));
            }
        };
        task.set_message(format!(
            "{}: compiling bytecode (Python {})",
            job.key, python.version
        ));
        let result = compile(job, &python, all, work)?;
        for (path, why) in &result.skipped {
            tracing::debug!("{}: {path} ships as source: {why}", job.key);
        }
        tracing::debug!(
            "{}: bytecode: {} pyc(s), {} of them from the cache",
            job.key,
            result.compiled,
            result.reused
        );
        let out = work.path().join("out");
        let pycs = match out.is_dir() {
            true => files::collect(&out, "", &|_, _| false).map_err(|e| job.collect_error(e))?,
            false => Vec::new(),
        };
        all.extend(pycs);
        Ok(Some(BytecodeRecord {
            mode: MODE.into(),
            interpreter: Some(python.version.clone()),
            found_in: Some(python.found_in.as_str().into()),
            cache_tag: Some(result.cache_tag),
            compiled: result.compiled,
            reason: None,
        }))
    }
}

/// Say (once per run) that the bundle ships source only, and how to get the interpreter.
fn announce_source_only(job: &Job, task: &Task, not_found: &NotFound) {
    if SAID_SOURCE_ONLY.swap(true, Ordering::SeqCst) {
        return;
    }
    let v = not_found.wanted;
    let looked: Vec<String> = not_found.tried.iter().map(|t| t.to_string()).collect();
    task.println(crate::error::with_hints(
        &format!(
            "{}: no Python {v} found, so the bundle ships source only (every cold start compiles it); looked at: {}",
            job.key,
            looked.join("; ")
        ),
        &[format!(
            "{}, and build again; or set `bytecode: false` to say source only is meant",
            not_found.how_to_install()
        )],
    ));
}

/// Run the compile script over every `.py` file of the bundle, in bundle order.
fn compile(
    job: &Job,
    python: &Found,
    all: &[FileEntry],
    work: &mut tempfile::TempDir,
) -> Result<CompileResult, BuildError> {
    // The script runs in `work`: paths relative to the project would not resolve there.
    let pairs: Vec<(PathBuf, &str)> = all
        .iter()
        .filter(|f| f.zip_path.ends_with(".py"))
        .map(|f| Ok((std::path::absolute(&f.disk_path)?, f.zip_path.as_str())))
        .collect::<std::io::Result<_>>()
        .map_err(job.io("resolving the bundle's paths"))?;
    let list = work.path().join("files.json");
    let json = serde_json::to_vec(&pairs).expect("paths serialize");
    std::fs::write(&list, json).map_err(job.io(format!("writing {}", list.display())))?;
    let dir = std::path::absolute(work.path()).map_err(job.io("resolving the staging path"))?;
    let cache = std::path::absolute(job.cache_dir().join("bytecode"))
        .map_err(job.io("resolving the bytecode cache path"))?;
    let cmd = compile_command(&python.program, &dir, &cache);
    job.run_install(cmd, "python bytecode compilation", work, |_| {
        (
            "the runtime's Python could not compile the bundle".into(),
            "the command below reproduces it; set `bytecode: false` to ship source only".into(),
        )
    })?;
    let result = work.path().join("result.json");
    let text = std::fs::read(&result).map_err(job.io(format!("reading {}", result.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| job.io(format!("reading {}", result.display()))(std::io::Error::other(e)))
}

/// `python -s -S -B -c SCRIPT WORK CACHE` without site-packages, with a fixed hash seed (the
/// order of frozenset constants follows it). Not `-I`: that would ignore PYTHONHASHSEED.
fn compile_command(python: &Path, work: &Path, cache: &Path) -> Cmd {
    Cmd::new(python.as_os_str(), work)
        .args(["-s", "-S", "-B", "-c", COMPILE_SCRIPT])
        .arg(work.as_os_str())
        .arg(cache.as_os_str())
        .env("PYTHONHASHSEED", "0")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONSTARTUP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_follows_the_setting_and_runtime() {
        let v = PyMinor::parse("python3.13").unwrap();
        assert_eq!(
            Bytecode::Wanted(v).key(),
            "bytecode=unchecked-hash python3.13"
        );
        assert_ne!(Bytecode::Wanted(v).key(), Bytecode::Off.key());
        // Only a source-only bundle may be out of date without its inputs changing.
        let compiled = BytecodeRecord {
            mode: MODE.into(),
            interpreter: Some("3.13.0".into()),
            found_in: Some("pyenv".into()),
            cache_tag: Some("cpython-313".into()),
            compiled: 1,
            reason: None,
        };
        assert!(Bytecode::Wanted(v).still_current(Some(&compiled)));
        assert!(Bytecode::Off.still_current(None));
    }

    #[test]
    fn compile_command_fixes_the_hash_seed_and_isolates() {
        let line =
            compile_command(Path::new("/p/python3.13"), Path::new("/w"), Path::new("/c")).display();
        assert!(line.contains("PYTHONHASHSEED=0"), "{line}");
        assert!(line.contains(" -s -S -B -c "), "{line}");
    }
}
