//! Walking a directory into bundle entries, with the rules for what is left out.
//!
//! Symlinks are followed when they stay inside the directory being walked (the file they
//! point to is stored under the link's name); a link that leads outside it is refused, so a
//! bundle can never pick up files from elsewhere on the build machine.

use std::path::{Path, PathBuf};

/// A regular file to put in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    /// Path inside the zip, `/`-separated.
    pub(crate) zip_path: String,
    /// Where the bytes are on disk.
    pub(crate) disk_path: PathBuf,
    pub(crate) size: u64,
    pub(crate) executable: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error("symlink {link} points to {target}, which is outside {root}")]
    SymlinkEscapes {
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("symlink {link} (-> {target}) is broken or part of a loop")]
    BrokenLink { link: PathBuf, target: PathBuf },
    #[error("{path}: {why}")]
    Unportable { path: PathBuf, why: &'static str },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

const NON_UTF8: &str = "the file name is not valid UTF-8, which a zip cannot store portably";
/// Zip readers (Lambda's among them) may take `\` for a directory separator.
const BACKSLASH: &str =
    "the file name has a backslash, which unzips as a directory separator on some systems";

/// Every regular file under `root` that `skip` keeps, sorted by zip path. `skip` sees the
/// path relative to `root` (with `/`) and whether it is a directory; skipping a directory
/// skips everything in it. Zip paths are `prefix` + the relative path.
pub(crate) fn collect(
    root: &Path,
    prefix: &str,
    skip: &dyn Fn(&str, bool) -> bool,
) -> Result<Vec<FileEntry>, CollectError> {
    let canonical_root = std::fs::canonicalize(root).map_err(|source| CollectError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            match relative(root, e.path()) {
                Some(rel) => !skip(&rel, e.file_type().is_dir()),
                None => true, // reported below
            }
        });
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| walk_error(root, &canonical_root, e))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = relative(root, entry.path()).ok_or_else(|| CollectError::Unportable {
            path: entry.path().to_path_buf(),
            why: NON_UTF8,
        })?;
        // Refused here, named, rather than at zipping with a disk-error hint.
        if rel.contains('\\') {
            return Err(CollectError::Unportable {
                path: entry.path().to_path_buf(),
                why: BACKSLASH,
            });
        }
        if entry.path_is_symlink() {
            let link = entry.path().to_path_buf();
            let target = std::fs::read_link(&link).unwrap_or_default();
            let resolved = std::fs::canonicalize(&link).map_err(|_| CollectError::BrokenLink {
                link: link.clone(),
                target: target.clone(),
            })?;
            if !resolved.starts_with(&canonical_root) {
                return Err(CollectError::SymlinkEscapes {
                    link,
                    target: if target.is_absolute() {
                        target
                    } else {
                        resolved
                    },
                    root: root.to_path_buf(),
                });
            }
        }
        if !entry.file_type().is_file() {
            continue; // directories are implied by file paths; sockets and fifos are not bundled
        }
        let meta = entry
            .metadata()
            .map_err(|e| walk_error(root, &canonical_root, e))?;
        files.push(FileEntry {
            zip_path: format!("{prefix}{rel}"),
            disk_path: entry.path().to_path_buf(),
            size: meta.len(),
            executable: is_executable(&meta),
        });
    }
    files.sort_by(|a, b| a.zip_path.as_bytes().cmp(b.zip_path.as_bytes()));
    Ok(files)
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for c in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(c.as_os_str().to_str()?);
    }
    Some(out)
}

fn walk_error(root: &Path, canonical_root: &Path, e: walkdir::Error) -> CollectError {
    let path = e.path().unwrap_or(root).to_path_buf();
    if e.loop_ancestor().is_some()
        || std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
    {
        let target = std::fs::read_link(&path).unwrap_or_default();
        // A link to an ancestor of the root is a loop to walkdir, but first of all it escapes.
        if let Ok(resolved) = std::fs::canonicalize(&path) {
            if !resolved.starts_with(canonical_root) {
                return CollectError::SymlinkEscapes {
                    link: path,
                    target: if target.is_absolute() {
                        target
                    } else {
                        resolved
                    },
                    root: root.to_path_buf(),
                };
            }
        }
        return CollectError::BrokenLink { link: path, target };
    }
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("walk failed"));
    CollectError::Io { path, source }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    // The owner's execute bit only, so the result does not depend on the umask.
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn name_of(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// Directories left out of a function's sources when at the top of its `source` dir.
pub(crate) const SOURCE_TOP_LEVEL_EXCLUDED: &[&str] =
    &["test", "tests", "__tests__", "coverage", "venv"];

/// What is left out of a function's own sources:
/// - dot-files and dot-directories, at any depth (`.git`, `.env`, `.venv`, `.DS_Store`, ...)
/// - `node_modules/` and `__pycache__/` at any depth (dependencies are installed fresh), and
///   `*.pyc` / `*.pyo` files
/// - at the top of the source dir only: `test/`, `tests/`, `__tests__/`, `coverage/`, `venv/`
pub(crate) fn skip_source(rel: &str, is_dir: bool) -> bool {
    let name = name_of(rel);
    if name.starts_with('.') {
        return true;
    }
    if is_dir {
        if name == "node_modules" || name == "__pycache__" {
            return true;
        }
        if !rel.contains('/') && SOURCE_TOP_LEVEL_EXCLUDED.contains(&name) {
            return true;
        }
        return false;
    }
    name.ends_with(".pyc") || name.ends_with(".pyo")
}

/// What is left out of an installed `node_modules` (paths relative to `node_modules`):
/// npm's own bookkeeping (`.bin/`, `.package-lock.json`, `.cache/`), TypeScript declarations
/// (`*.d.ts`, `*.d.mts`, `*.d.cts` and their maps: Node never loads them), and packages'
/// README/CHANGELOG/HISTORY markdown. Licenses and everything else are kept.
pub(crate) fn skip_node_dependency(rel: &str, is_dir: bool) -> bool {
    let name = name_of(rel);
    if is_dir {
        return name == ".bin" || name == ".cache";
    }
    if rel == ".package-lock.json" {
        return true;
    }
    const DECLARATIONS: &[&str] = &[
        ".d.ts",
        ".d.mts",
        ".d.cts",
        ".d.ts.map",
        ".d.mts.map",
        ".d.cts.map",
    ];
    if DECLARATIONS.iter().any(|ext| name.ends_with(ext)) {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".md") || lower.ends_with(".markdown"))
        && ["readme", "changelog", "history", "changes"]
            .iter()
            .any(|doc| lower.starts_with(doc))
}

/// What is left out of a `pip install --target` directory: console scripts in `bin/` (their
/// shebang names the build machine's interpreter), bytecode, and pip's install records that
/// the runtime never reads (`RECORD`, `INSTALLER`, `REQUESTED`, `direct_url.json` in
/// `*.dist-info/`). `METADATA` and the rest of `*.dist-info` stay, so
/// `importlib.metadata` keeps working.
pub(crate) fn skip_python_dependency(rel: &str, is_dir: bool) -> bool {
    let name = name_of(rel);
    if is_dir {
        return (rel == "bin") || name == "__pycache__";
    }
    if name.ends_with(".pyc") || name.ends_with(".pyo") {
        return true;
    }
    let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    !parent.contains('/')
        && parent.ends_with(".dist-info")
        && matches!(
            name,
            "RECORD" | "INSTALLER" | "REQUESTED" | "direct_url.json"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rules() {
        for skipped in [
            (".git", true),
            (".env", false),
            ("lib/.DS_Store", false),
            ("node_modules", true),
            ("lib/node_modules", true),
            ("__pycache__", true),
            ("pkg/__pycache__", true),
            ("mod.pyc", false),
            ("test", true),
            ("tests", true),
            ("__tests__", true),
            ("venv", true),
            ("coverage", true),
        ] {
            assert!(skip_source(skipped.0, skipped.1), "{skipped:?} kept");
        }
        for kept in [
            ("index.js", false),
            ("package-lock.json", false),
            ("lib", true),
            ("lib/test", true),
            ("lib/tests", true),
            ("tests.py", false),
            ("requirements.txt", false),
        ] {
            assert!(!skip_source(kept.0, kept.1), "{kept:?} skipped");
        }
    }

    #[test]
    fn node_dependency_rules() {
        for skipped in [
            (".bin", true),
            ("a/node_modules/.bin", true),
            (".package-lock.json", false),
            ("@aws-sdk/core/dist-types/index.d.ts", false),
            ("x/index.d.mts", false),
            ("x/index.d.ts.map", false),
            ("chance/README.md", false),
            ("x/CHANGELOG.md", false),
            ("x/History.md", false),
        ] {
            assert!(
                skip_node_dependency(skipped.0, skipped.1),
                "{skipped:?} kept"
            );
        }
        for kept in [
            ("chance/chance.js", false),
            ("x/dist-cjs/index.js", false),
            ("x/dist-cjs/index.js.map", false),
            ("x/LICENSE", false),
            ("x/LICENSE.md", false),
            ("x/package.json", false),
            ("x/dist-types", true),
            ("x/docs/usage.md", false),
            ("x/.npmignore", false),
        ] {
            assert!(!skip_node_dependency(kept.0, kept.1), "{kept:?} skipped");
        }
    }

    #[test]
    fn python_dependency_rules() {
        for skipped in [
            ("bin", true),
            ("requests/__pycache__", true),
            ("requests/api.pyc", false),
            ("requests-2.34.2.dist-info/RECORD", false),
            ("requests-2.34.2.dist-info/INSTALLER", false),
            ("requests-2.34.2.dist-info/REQUESTED", false),
            ("requests-2.34.2.dist-info/direct_url.json", false),
        ] {
            assert!(
                skip_python_dependency(skipped.0, skipped.1),
                "{skipped:?} kept"
            );
        }
        for kept in [
            ("requests/api.py", false),
            ("requests-2.34.2.dist-info/METADATA", false),
            ("requests-2.34.2.dist-info/WHEEL", false),
            ("pkg/bin", true),
            ("pkg/RECORD", false),
            ("wrapt/_wrappers.cpython-313-aarch64-linux-gnu.so", false),
        ] {
            assert!(!skip_python_dependency(kept.0, kept.1), "{kept:?} skipped");
        }
    }

    #[cfg(unix)]
    #[test]
    fn collects_sorted_files_follows_inner_links_and_refuses_escaping_ones() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("lib/deep")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::write(root.join("index.js"), "x").unwrap();
        std::fs::write(root.join("lib/deep/a.js"), "abc").unwrap();
        std::fs::write(root.join("node_modules/x/i.js"), "").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        symlink("lib/deep/a.js", root.join("alias.js")).unwrap();
        symlink("lib", root.join("liblink")).unwrap();

        let files = collect(&root, "", &skip_source).unwrap();
        let got: Vec<_> = files
            .iter()
            .map(|f| (f.zip_path.as_str(), f.size, f.executable))
            .collect();
        assert_eq!(
            got,
            vec![
                ("alias.js", 3, false),
                ("index.js", 1, false),
                ("lib/deep/a.js", 3, false),
                ("liblink/deep/a.js", 3, false),
                ("run.sh", 9, true),
            ]
        );

        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, "s").unwrap();
        symlink(&outside, root.join("secret")).unwrap();
        let err = collect(&root, "", &skip_source).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CollectError::SymlinkEscapes { .. }), "{msg}");
        assert!(
            msg.contains("secret.txt") && msg.contains("src/secret"),
            "{msg}"
        );
        std::fs::remove_file(root.join("secret")).unwrap();

        symlink("../..", root.join("lib/up")).unwrap();
        let msg = collect(&root, "", &skip_source).unwrap_err().to_string();
        assert!(msg.contains("lib/up") && msg.contains("outside"), "{msg}");
        std::fs::remove_file(root.join("lib/up")).unwrap();

        std::fs::write(root.join("a\\b.js"), "x").unwrap();
        let err = collect(&root, "", &skip_source).unwrap_err();
        assert!(
            matches!(err, CollectError::Unportable { why: BACKSLASH, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("a\\b.js: the file name has a backslash"),
            "{err}"
        );
        std::fs::remove_file(root.join("a\\b.js")).unwrap();

        symlink("missing.js", root.join("dangling.js")).unwrap();
        let msg = collect(&root, "", &skip_source).unwrap_err().to_string();
        assert!(
            msg.contains("dangling.js") && msg.contains("broken"),
            "{msg}"
        );
    }
}
