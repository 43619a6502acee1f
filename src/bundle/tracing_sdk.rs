//! `tracing_sdk`: which tracing SDK a function's bundle carries, chosen at bundle time from one
//! source tree.
//!
//! A function keeps its tracing behind one small module (`tracing.js` / `tracing.py`) with one
//! implementation file per SDK beside it, and one locked dependency set per mode:
//!
//! | mode         | implementation files bundled                   | dependency manifests from |
//! | ------------ | ---------------------------------------------- | ------------------------- |
//! | `xray`       | `tracing-xray.js` / `tracing_xray.py`          | the source dir            |
//! | `otel`       | `tracing-otel{,-sdk}.js` / `tracing_otel{,_sdk}.py` | `otel/`              |
//! | `otel-layer` | `tracing-otel.js` / `tracing_otel.py`          | `otel-layer/`             |
//!
//! The bundle holds only its mode's files (so an `otel` bundle has no X-Ray SDK, and switching
//! modes changes the bundle's hash: `plan` shows a code change), and the tracing module loads
//! whichever implementation was shipped. The manifest dirs are never bundled.

use std::path::{Path, PathBuf};

use crate::config::TracingSdk;

/// The implementation files of each SDK (Node.js and Python spellings) and the modes that
/// ship them.
const IMPLEMENTATIONS: &[(&[&str], &[TracingSdk])] = &[
    (&["tracing-xray.js", "tracing_xray.py"], &[TracingSdk::Xray]),
    (
        &["tracing-otel.js", "tracing_otel.py"],
        &[TracingSdk::Otel, TracingSdk::OtelLayer],
    ),
    (
        &["tracing-otel-sdk.js", "tracing_otel_sdk.py"],
        &[TracingSdk::Otel],
    ),
];

/// The source dir's own dependency manifests: `xray`'s, so other modes leave them out (they
/// name the X-Ray SDK).
const ROOT_MANIFESTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "requirements.txt",
    "requirements.in",
];

/// Directories holding a mode's dependency manifests, relative to the source dir.
const MANIFEST_DIRS: &[(&str, TracingSdk)] = &[
    ("otel", TracingSdk::Otel),
    ("otel-layer", TracingSdk::OtelLayer),
];

/// The mode a function is bundled in: `sdk`, unless the function has no per-SDK layout at all
/// (no manifest dir, no implementation file), i.e. it does not trace through an SDK of ours;
/// such a function is bundled as it is, from its own manifests, as `xray` bundles (so the
/// default `otel` does not ask a plain function for an `otel/` it has no use for).
pub(super) fn bundled_as(source_dir: &Path, sdk: TracingSdk) -> TracingSdk {
    let has_layout = MANIFEST_DIRS
        .iter()
        .any(|(dir, _)| source_dir.join(dir).is_dir())
        || IMPLEMENTATIONS
            .iter()
            .flat_map(|(files, _)| files.iter())
            .any(|f| source_dir.join(f).is_file());
    if has_layout {
        sdk
    } else {
        TracingSdk::Xray
    }
}

/// Where `package.json`/`package-lock.json` or `requirements.txt` are read for `sdk`.
pub(super) fn manifest_dir(source_dir: &Path, sdk: TracingSdk) -> PathBuf {
    match MANIFEST_DIRS.iter().find(|(_, s)| *s == sdk) {
        Some((dir, _)) => source_dir.join(dir),
        None => source_dir.to_path_buf(),
    }
}

/// Whether the source file at `zip_path` belongs in a bundle for `sdk`: not another mode's
/// implementation or manifests, and no manifest dir.
pub(super) fn bundled(zip_path: &str, sdk: TracingSdk) -> bool {
    let top = zip_path.split('/').next().unwrap_or(zip_path);
    let is_dir = zip_path.contains('/');
    if is_dir && MANIFEST_DIRS.iter().any(|(dir, _)| *dir == top) {
        return false;
    }
    if is_dir {
        return true;
    }
    if ROOT_MANIFESTS.contains(&zip_path) {
        return sdk == TracingSdk::Xray;
    }
    IMPLEMENTATIONS
        .iter()
        .find(|(files, _)| files.contains(&zip_path))
        .is_none_or(|(_, modes)| modes.contains(&sdk))
}

/// The manifest a mode other than `xray` needs, when the function has none: without it the
/// bundle would silently keep the default dependencies (with the X-Ray SDK). A function with
/// no manifest anywhere installs nothing in any mode, so it needs none.
pub(super) fn missing_manifest(
    source_dir: &Path,
    sdk: TracingSdk,
    names: &[&str],
) -> Option<PathBuf> {
    if sdk == TracingSdk::Xray {
        return None;
    }
    let dir = manifest_dir(source_dir, sdk);
    let has = |d: &Path| names.iter().any(|n| d.join(n).is_file());
    if has(&dir) || !has(source_dir) {
        None
    } else {
        Some(dir.join(names[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_bundles_only_its_implementation() {
        let files = [
            "index.js",
            "tracing.js",
            "tracing-xray.js",
            "tracing-otel.js",
            "tracing-otel-sdk.js",
            "otel/package.json",
            "otel-layer/package-lock.json",
            "test/handler.test.js",
            "lambda_function.py",
            "tracing_xray.py",
            "tracing_otel_sdk.py",
            "package.json",
            "requirements.txt",
        ];
        let kept =
            |sdk| -> Vec<&str> { files.iter().copied().filter(|f| bundled(f, sdk)).collect() };
        assert_eq!(
            kept(TracingSdk::Xray),
            [
                "index.js",
                "tracing.js",
                "tracing-xray.js",
                "test/handler.test.js",
                "lambda_function.py",
                "tracing_xray.py",
                "package.json",
                "requirements.txt"
            ]
        );
        assert_eq!(
            kept(TracingSdk::Otel),
            [
                "index.js",
                "tracing.js",
                "tracing-otel.js",
                "tracing-otel-sdk.js",
                "test/handler.test.js",
                "lambda_function.py",
                "tracing_otel_sdk.py"
            ]
        );
        assert_eq!(
            kept(TracingSdk::OtelLayer),
            [
                "index.js",
                "tracing.js",
                "tracing-otel.js",
                "test/handler.test.js",
                "lambda_function.py"
            ]
        );
    }

    #[test]
    fn manifests_come_from_the_modes_directory() {
        let src = Path::new("/f");
        assert_eq!(manifest_dir(src, TracingSdk::Xray), Path::new("/f"));
        assert_eq!(manifest_dir(src, TracingSdk::Otel), Path::new("/f/otel"));
        assert_eq!(
            manifest_dir(src, TracingSdk::OtelLayer),
            Path::new("/f/otel-layer")
        );
    }

    #[test]
    fn a_function_without_the_sdk_layout_is_bundled_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        assert_eq!(bundled_as(dir.path(), TracingSdk::Otel), TracingSdk::Xray);
        std::fs::write(dir.path().join("tracing-otel.js"), "").unwrap();
        assert_eq!(bundled_as(dir.path(), TracingSdk::Otel), TracingSdk::Otel);
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join("otel-layer")).unwrap();
        assert_eq!(
            bundled_as(other.path(), TracingSdk::Otel),
            TracingSdk::Otel,
            "another mode's dir: the layout is there, otel/ is missing"
        );
    }

    #[test]
    fn a_missing_otel_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            missing_manifest(dir.path(), TracingSdk::Otel, &["package.json"]),
            None,
            "no dependencies in any mode: nothing to lock"
        );
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        assert_eq!(
            missing_manifest(dir.path(), TracingSdk::Xray, &["package.json"]),
            None
        );
        assert_eq!(
            missing_manifest(dir.path(), TracingSdk::Otel, &["package.json"]),
            Some(dir.path().join("otel/package.json"))
        );
        std::fs::create_dir(dir.path().join("otel")).unwrap();
        std::fs::write(dir.path().join("otel/package.json"), "{}").unwrap();
        assert_eq!(
            missing_manifest(dir.path(), TracingSdk::Otel, &["package.json"]),
            None
        );
    }
}
