//! What esbuild read from outside the function's directory, from its metafile: checked as the
//! function's own files are (outside the project only when allowed), and recorded with each
//! file's hash so that an edit to one makes the last bundle stale.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bundle::manifest::{BundlerRecord, OutsideInput};
use crate::bundle::{BuildError, Job};

/// The files esbuild read from outside the linked tree (its metafile lists every input), as
/// the function's own files are checked: outside the project they are refused unless the
/// function allows it; each one kept is recorded with its hash, for [`outside_inputs_unchanged`].
pub(super) fn outside_inputs(
    job: &Job,
    tree: &Path,
    metafile: &Path,
) -> Result<Vec<OutsideInput>, BuildError> {
    const READING: &str = "reading esbuild's metafile";
    let bytes = std::fs::read(metafile).map_err(job.io(READING))?;
    let meta: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| job.io(READING)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    // esbuild writes paths relative to its working directory, which it resolves.
    let tree = tree
        .canonicalize()
        .map_err(job.io("resolving the bundling tree"))?;
    let mut found = Vec::new();
    let keys = meta["inputs"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys());
    for path in keys.filter_map(|k| input_path(&tree, k)) {
        if path.starts_with(&tree) {
            continue;
        }
        let path = path.canonicalize().unwrap_or(path);
        if !job.config.allow_outside_project && !path.starts_with(&job.project_root) {
            return Err(BuildError::OutsideInput {
                function: job.function(),
                path,
                root: job.project_root.clone(),
            });
        }
        let bytes = std::fs::read(&path).map_err(job.io(format!("reading {}", path.display())))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        found.push(OutsideInput { path, sha256 });
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// A metafile input as a path: relative to `tree`, `..` resolved without touching the disk;
/// `None` for inputs of esbuild's other namespaces (`ns:path`, e.g. `<runtime>`).
fn input_path(tree: &Path, key: &str) -> Option<PathBuf> {
    if let Some((namespace, _)) = key.split_once(':') {
        if !namespace.contains('/') {
            return None;
        }
    }
    let mut path = PathBuf::new();
    for part in tree.join(key).components() {
        match part {
            std::path::Component::ParentDir => {
                path.pop();
            }
            std::path::Component::CurDir => {}
            other => path.push(other),
        }
    }
    Some(path)
}

/// Whether every file a previous bundle read from outside the function still has the bytes
/// it had (a missing or changed one means the bundle must be made again).
pub(crate) fn outside_inputs_unchanged(record: Option<&BundlerRecord>) -> bool {
    record.is_none_or(|r| {
        r.outside_inputs.iter().all(|i| {
            std::fs::read(&i.path).is_ok_and(|b| hex::encode(Sha256::digest(&b)) == i.sha256)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metafile_inputs_resolve_against_the_tree_and_other_namespaces_are_skipped() {
        let tree = Path::new("/w/tree");
        assert_eq!(
            input_path(tree, "index.js"),
            Some(PathBuf::from("/w/tree/index.js"))
        );
        assert_eq!(
            input_path(tree, "../../home/u/outside.json"),
            Some(PathBuf::from("/home/u/outside.json"))
        );
        assert_eq!(input_path(tree, "<runtime>:x"), None);
        assert_eq!(input_path(tree, "dataurl:abc"), None);
    }
}
