//! The dependency cache: installed dependencies kept per function under
//! `<cache>/deps/<function>/<key>/`, reused only when complete and verified.
//!
//! An entry is a directory holding `tree/` (what npm or pip installed) and `record.json`, its
//! completion record: every bundled file's path, size, execute bit and SHA-256, and a digest
//! of that list. It is assembled under a temporary name (`.tmp-*`) and renamed into place in
//! one step, so a process killed at any moment leaves either the old entry, the new one, or
//! none, plus leftovers that are never read (`.tmp-*`, `.trash-*`; removed by the next
//! build). On use the tree is checked against the record (file list, sizes, contents): an
//! entry damaged on disk is reported and discarded, never shipped.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::{self, FileEntry};

const RECORD: &str = "record.json";
const TREE: &str = "tree";
/// Bumped when the record's meaning changes; older records then fail verification.
const FORMAT: u32 = 1;

/// How bundled files are picked from an installed tree.
#[derive(Clone, Copy)]
pub(crate) struct Selection {
    /// Prefix of their zip paths (`node_modules/` or none).
    pub(crate) prefix: &'static str,
    pub(crate) skip: fn(&str, bool) -> bool,
}

/// What a cache entry holds, as far as the bundle is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    format: u32,
    /// SHA-256 over `files` (see [`list_digest`]): the record is whole and unedited.
    digest: String,
    files: Vec<RecordFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecordFile {
    path: String,
    size: u64,
    executable: bool,
    sha256: String,
}

/// The outcome of looking an entry up.
#[derive(Debug)]
pub(crate) enum Lookup {
    Missing,
    /// The entry matches its record: these files may be bundled.
    Verified(Vec<FileEntry>),
    /// Why the entry cannot be used, for the progress line.
    Damaged(String),
}

/// Look up the entry at `entry` and verify it against its completion record.
pub(crate) fn lookup(entry: &Path, selection: Selection) -> Lookup {
    if !entry.exists() {
        return Lookup::Missing;
    }
    let record: Record = match std::fs::read(entry.join(RECORD)) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(_) => return Lookup::Damaged("its completion record is unreadable".into()),
        },
        Err(_) => {
            return Lookup::Damaged("it has no completion record (an interrupted install)".into())
        }
    };
    if record.format != FORMAT || record.digest != list_digest(&record.files) {
        return Lookup::Damaged("its completion record does not match its own digest".into());
    }
    let found = match files::collect(&entry.join(TREE), selection.prefix, &selection.skip) {
        Ok(found) => found,
        Err(e) => return Lookup::Damaged(format!("reading it failed: {e}")),
    };
    match verify(&record, &found) {
        Ok(()) => Lookup::Verified(found),
        Err(why) => Lookup::Damaged(why),
    }
}

/// Compare what is on disk with the record: the list and sizes first (cheap), then contents.
fn verify(record: &Record, found: &[FileEntry]) -> Result<(), String> {
    let on_disk: std::collections::BTreeMap<&str, &FileEntry> =
        found.iter().map(|f| (f.zip_path.as_str(), f)).collect();
    let recorded: std::collections::BTreeSet<&str> =
        record.files.iter().map(|f| f.path.as_str()).collect();
    let missing: Vec<&str> = record
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| !on_disk.contains_key(p))
        .collect();
    let extra: Vec<&str> = found
        .iter()
        .map(|f| f.zip_path.as_str())
        .filter(|p| !recorded.contains(p))
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of {} files missing, e.g. {}",
            missing.len(),
            record.files.len(),
            missing[0]
        ));
    }
    if !extra.is_empty() {
        problems.push(format!(
            "{} unexpected files, e.g. {}",
            extra.len(),
            extra[0]
        ));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut changed = record.files.iter().filter(|r| {
        let f = on_disk[r.path.as_str()];
        f.size != r.size
            || f.executable != r.executable
            || hash_file(&f.disk_path).ok().as_deref() != Some(r.sha256.as_str())
    });
    match changed.next() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} files changed since it was installed, e.g. {}",
            1 + changed.count(),
            first.path
        )),
    }
}

/// The completion record of freshly installed `files`.
pub(crate) fn record(files: &[FileEntry]) -> std::io::Result<Record> {
    let mut list = Vec::with_capacity(files.len());
    for f in files {
        list.push(RecordFile {
            path: f.zip_path.clone(),
            size: f.size,
            executable: f.executable,
            sha256: hash_file(&f.disk_path)?,
        });
    }
    Ok(Record {
        format: FORMAT,
        digest: list_digest(&list),
        files: list,
    })
}

fn list_digest(files: &[RecordFile]) -> String {
    let mut text = String::new();
    for f in files {
        let _ = writeln!(
            text,
            "{}\0{}\0{}\0{}",
            f.path, f.size, f.executable, f.sha256
        );
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Move the installed tree `installed` into the cache as `entry`, with its record, replacing
/// any previous entry of this function. Returns where the tree is afterwards: inside the
/// entry, or (when the cache could not be written) wherever it got to; only the reuse next
/// time is lost then.
pub(crate) fn commit(installed: &Path, entry: &Path, record: &Record) -> PathBuf {
    match try_commit(installed, entry, record) {
        Ok(tree) => tree,
        Err((tree, e)) => {
            tracing::debug!("not caching dependencies in {}: {e}", entry.display());
            tree
        }
    }
}

type CommitError = (PathBuf, std::io::Error);

fn try_commit(installed: &Path, entry: &Path, record: &Record) -> Result<PathBuf, CommitError> {
    let parent = entry.parent().expect("an entry has a parent");
    std::fs::create_dir_all(parent).map_err(|e| (installed.to_path_buf(), e))?;
    let tmp = scratch_dir(parent, ".tmp-").map_err(|e| (installed.to_path_buf(), e))?;
    let tree = tmp.join(TREE);
    std::fs::rename(installed, &tree).map_err(|e| (installed.to_path_buf(), e))?;
    let json = serde_json::to_vec(record).expect("a record serializes");
    crate::atomic_write::write_atomically(&tmp.join(RECORD), &json)
        .map_err(|e| (tree.clone(), e))?;
    discard(entry).map_err(|e| (tree.clone(), e))?;
    std::fs::rename(&tmp, entry).map_err(|e| (tree.clone(), e))?;
    remove_others(parent, entry);
    Ok(entry.join(TREE))
}

/// Where a committed entry's installed files are.
pub(crate) fn tree_of(entry: &Path) -> PathBuf {
    entry.join(TREE)
}

/// Remove `entry` if present: renamed out of the way first (one step), so a kill during the
/// slow removal leaves a `.trash-*` directory that is never read, not a partial entry.
pub(crate) fn discard(entry: &Path) -> std::io::Result<()> {
    if !entry.exists() {
        return Ok(());
    }
    let parent = entry.parent().expect("an entry has a parent");
    let trash = scratch_dir(parent, ".trash-")?;
    std::fs::rename(entry, trash.join("entry"))?;
    std::fs::remove_dir_all(&trash)
}

/// Everything in a function's cache dir but `keep`: older entries and what killed builds
/// left. Only called under the project lock, so none of it belongs to a running build.
pub(crate) fn remove_others(parent: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path != keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// A new, empty directory `<parent>/<prefix>XXXXXX` that outlives this call.
fn scratch_dir(parent: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)?
        .keep())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Selection = Selection {
        prefix: "node_modules/",
        skip: |_, _| false,
    };

    fn installed(dir: &Path) -> PathBuf {
        let tree = dir.join("staging/node_modules");
        std::fs::create_dir_all(tree.join("a/lib")).unwrap();
        std::fs::write(tree.join("a/package.json"), "{}").unwrap();
        std::fs::write(tree.join("a/lib/index.js"), "module.exports = 1").unwrap();
        tree
    }

    fn commit_one(dir: &Path, entry: &Path) -> PathBuf {
        let tree = installed(dir);
        let files = files::collect(&tree, ALL.prefix, &ALL.skip).unwrap();
        commit(&tree, entry, &record(&files).unwrap())
    }

    #[test]
    fn a_committed_entry_verifies_and_replaces_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("deps/f/old");
        std::fs::create_dir_all(old.join("tree")).unwrap();
        std::fs::create_dir_all(dir.path().join("deps/f/.tmp-dead")).unwrap();
        let entry = dir.path().join("deps/f/new");
        assert!(matches!(lookup(&entry, ALL), Lookup::Missing));
        let tree = commit_one(dir.path(), &entry);
        assert_eq!(tree, entry.join("tree"));
        assert!(!dir.path().join("staging/node_modules").exists());
        let listing: Vec<_> = std::fs::read_dir(dir.path().join("deps/f"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(listing, ["new"]);
        match lookup(&entry, ALL) {
            Lookup::Verified(files) => {
                let paths: Vec<_> = files.iter().map(|f| f.zip_path.as_str()).collect();
                assert_eq!(
                    paths,
                    ["node_modules/a/lib/index.js", "node_modules/a/package.json"]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    fn damaged(entry: &Path) -> String {
        match lookup(entry, ALL) {
            Lookup::Damaged(why) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damage_of_every_kind_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("deps/f/k");
        commit_one(dir.path(), &entry);
        let index = entry.join("tree/a/lib/index.js");

        std::fs::write(&index, "module.exports = 2").unwrap(); // same size
        assert!(damaged(&entry)
            .contains("1 files changed since it was installed, e.g. node_modules/a/lib/index.js"));
        std::fs::remove_file(&index).unwrap();
        assert!(damaged(&entry).contains("1 of 2 files missing, e.g. node_modules/a/lib/index.js"));
        std::fs::write(entry.join("tree/a/extra.js"), "").unwrap();
        assert!(damaged(&entry).contains("1 unexpected files, e.g. node_modules/a/extra.js"));

        let record_path = entry.join(RECORD);
        let text = std::fs::read_to_string(&record_path).unwrap();
        std::fs::write(&record_path, text.replace("\"size\":2", "\"size\":3")).unwrap();
        assert!(damaged(&entry).contains("does not match its own digest"));
        std::fs::remove_file(&record_path).unwrap();
        assert!(damaged(&entry).contains("no completion record"));

        discard(&entry).unwrap();
        assert!(matches!(lookup(&entry, ALL), Lookup::Missing));
        assert_eq!(
            std::fs::read_dir(dir.path().join("deps/f"))
                .unwrap()
                .count(),
            0
        );
    }
}
