//! The manifest written next to each zip, the inputs hash that keys the cache, and the
//! Lambda size limits.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bumped whenever what goes into a bundle changes for the same inputs (exclusion rules,
/// install flags, zip layout), so artifacts from an older build recipe are never reused.
pub(crate) const RECIPE_VERSION: u32 = 1;

/// Lambda's hard limit on a function's unzipped code size.
pub(crate) const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Larger zips cannot be sent inline with UpdateFunctionCode and go through S3.
pub(crate) const MAX_DIRECT_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// What `build` knows about one artifact. Written as `<artifact_dir>/<function>.json`; it holds
/// no timestamps or machine paths, so it is as reproducible as the zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The function's key in the project config.
    pub(crate) function: String,
    pub(crate) runtime: String,
    pub(crate) architecture: String,
    pub(crate) sha256_hex: String,
    /// Base64 SHA-256 of the zip: what Lambda reports as `CodeSha256`.
    pub(crate) sha256_base64: String,
    pub(crate) zip_bytes: u64,
    pub(crate) unzipped_bytes: u64,
    pub(crate) file_count: u64,
    /// SHA-256 over everything the zip is made from; see [`InputsSpec`].
    pub(crate) inputs_hash: String,
    pub(crate) tool_version: String,
    /// Seconds since the Unix epoch stamped on every zip entry.
    pub(crate) source_date_epoch: i64,
    /// Over Lambda's 50 MB direct-upload limit: deploy uploads through S3.
    pub(crate) needs_s3_upload: bool,
    /// Installed third-party packages, sorted by name.
    pub(crate) dependencies: Vec<Dependency>,
    /// Python: locked packages left out because the Lambda runtime provides them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) runtime_provided_excluded: Vec<String>,
    /// Python: the wheel platform tags pip was allowed to choose, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) platform_tags: Vec<String>,
    /// Node: how the code was packaged (`esbuild` with its version and settings, or `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bundler: Option<BundlerRecord>,
    /// Python: the bytecode shipped, and which interpreter compiled it (or why none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bytecode: Option<BytecodeRecord>,
}

/// What packaged a Node function's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BundlerRecord {
    /// `esbuild` or `none`.
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// `cjs` or `esm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<String>,
    /// e.g. `node22`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<String>,
    /// `external` (beside the zip) or `inline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sourcemap: Option<String>,
    /// Packages left out and not shipped because the runtime provides them: the user's
    /// `externals`, and with `otel-layer` the layer's `@opentelemetry/api`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) externals: Vec<String>,
    /// Packages shipped in `node_modules` beside the bundle, with what they need.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) beside_bundle: Vec<String>,
    /// Files esbuild read from outside the function's directory (an absolute `require`, where
    /// allowed), with their SHA-256: a change to one makes the last build stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outside_inputs: Vec<OutsideInput>,
}

/// One file outside the function that went into its bundle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct OutsideInput {
    pub(crate) path: std::path::PathBuf,
    pub(crate) sha256: String,
}

impl BundlerRecord {
    /// `node_modules` shipped as installed.
    pub(crate) fn none() -> BundlerRecord {
        BundlerRecord {
            name: "none".into(),
            version: None,
            format: None,
            target: None,
            sourcemap: None,
            externals: Vec::new(),
            beside_bundle: Vec::new(),
            outside_inputs: Vec::new(),
        }
    }
}

/// The Python bytecode in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BytecodeRecord {
    /// `unchecked-hash` (PEP 552), or `none` (source only).
    pub(crate) mode: String,
    /// The compiling interpreter's version, e.g. `3.13.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) interpreter: Option<String>,
    /// Where it was found: `PATH`, `pyenv`, `uv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) found_in: Option<String>,
    /// `__pycache__` tag, e.g. `cpython-313`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_tag: Option<String>,
    /// Number of `.pyc` files shipped.
    #[serde(default)]
    pub(crate) compiled: u64,
    /// Why there is no bytecode (mode `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// Hex and base64 SHA-256 of `bytes`.
pub(crate) fn sha256_pair(bytes: &[u8]) -> (String, String) {
    let digest = Sha256::digest(bytes);
    (
        hex::encode(digest),
        base64::engine::general_purpose::STANDARD.encode(digest),
    )
}

/// Everything other than file contents that decides a bundle's bytes.
#[derive(Debug, Clone)]
pub(crate) struct InputsSpec<'a> {
    pub(crate) tool_version: &'a str,
    pub(crate) language: &'a str,
    pub(crate) runtime: &'a str,
    pub(crate) architecture: &'a str,
    pub(crate) source_date_epoch: i64,
    /// Normalized names, any order (Python only; empty for Node).
    pub(crate) runtime_provided: &'a [String],
    /// How the code is packaged (bundler, bytecode interpreter), as a stable description.
    pub(crate) packaging: &'a str,
}

/// One input file: its path in the bundle (or a role like `.npmrc`), its execute bit, and
/// the SHA-256 of its contents.
#[derive(Debug, Clone)]
pub(crate) struct InputFile {
    pub(crate) path: String,
    pub(crate) executable: bool,
    pub(crate) sha256: [u8; 32],
}

/// SHA-256 (hex) over the spec and the files, in a canonical, length-prefixed encoding so
/// that no two different input sets can produce the same byte stream.
pub(crate) fn inputs_hash(spec: &InputsSpec<'_>, files: &[InputFile]) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field("recipe", RECIPE_VERSION.to_string().as_bytes());
    field("tool_version", spec.tool_version.as_bytes());
    field("language", spec.language.as_bytes());
    field("runtime", spec.runtime.as_bytes());
    field("architecture", spec.architecture.as_bytes());
    field(
        "source_date_epoch",
        spec.source_date_epoch.to_string().as_bytes(),
    );
    let mut provided: Vec<&str> = spec.runtime_provided.iter().map(String::as_str).collect();
    provided.sort_unstable();
    provided.dedup();
    field("runtime_provided", provided.join("\n").as_bytes());
    field("packaging", spec.packaging.as_bytes());
    let mut sorted: Vec<&InputFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    for f in sorted {
        field("file", f.path.as_bytes());
        field("mode", if f.executable { b"755" } else { b"644" });
        field("sha256", &f.sha256);
    }
    hex::encode(h.finalize())
}

/// Sizes of the biggest directories among `files` (path, size), at most three levels deep,
/// largest first: what to show when a bundle is too big. Files at the top count as `.`.
pub(crate) fn largest_directories<'a>(
    files: impl IntoIterator<Item = (&'a str, u64)>,
    count: usize,
) -> Vec<(String, u64)> {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (path, size) in files {
        let parts: Vec<&str> = path.split('/').collect();
        let dirs = &parts[..parts.len() - 1];
        if dirs.is_empty() {
            *sizes.entry(".".into()).or_default() += size;
        }
        for depth in 1..=dirs.len().min(3) {
            *sizes.entry(dirs[..depth].join("/")).or_default() += size;
        }
    }
    let mut list: Vec<(String, u64)> = sizes.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(count);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(provided: &'a [String]) -> InputsSpec<'a> {
        InputsSpec {
            tool_version: "0.1.0",
            language: "python",
            runtime: "python3.13",
            architecture: "x86_64",
            source_date_epoch: 315_532_800,
            runtime_provided: provided,
            packaging: "",
        }
    }

    fn file(path: &str, data: &[u8]) -> InputFile {
        InputFile {
            path: path.into(),
            executable: false,
            sha256: Sha256::digest(data).into(),
        }
    }

    #[test]
    fn inputs_hash_is_stable_and_sensitive_to_every_input() {
        let provided = vec!["boto3".to_string(), "six".to_string()];
        let files = vec![file("a.py", b"1"), file("requirements.txt", b"x==1")];
        let base = inputs_hash(&spec(&provided), &files);
        // Order of files and of the provided list does not matter.
        let reversed: Vec<_> = files.iter().rev().cloned().collect();
        let provided_rev = vec!["six".to_string(), "boto3".to_string()];
        assert_eq!(base, inputs_hash(&spec(&provided_rev), &reversed));

        let mut changed = Vec::new();
        changed.push(inputs_hash(
            &spec(&provided),
            &[file("a.py", b"2"), files[1].clone()],
        ));
        changed.push(inputs_hash(
            &spec(&provided),
            &[file("b.py", b"1"), files[1].clone()],
        ));
        let mut exec = files.clone();
        exec[0].executable = true;
        changed.push(inputs_hash(&spec(&provided), &exec));
        changed.push(inputs_hash(&spec(&provided[..1]), &files));
        for edit in [
            |s: &mut InputsSpec| s.runtime = "python3.12",
            |s: &mut InputsSpec| s.architecture = "arm64",
            |s: &mut InputsSpec| s.tool_version = "0.2.0",
            |s: &mut InputsSpec| s.source_date_epoch = 1,
            |s: &mut InputsSpec| s.language = "node",
            |s: &mut InputsSpec| s.packaging = "esbuild 0.28.2",
        ] {
            let mut s = spec(&provided);
            edit(&mut s);
            changed.push(inputs_hash(&s, &files));
        }
        for c in &changed {
            assert_ne!(c, &base);
        }
        // A file name cannot bleed into its contents.
        assert_ne!(
            inputs_hash(&spec(&[]), &[file("ab", b"")]),
            inputs_hash(&spec(&[]), &[file("a", b"b")])
        );
    }

    #[test]
    fn sha_pair_matches_lambda_code_sha256_form() {
        let (hex, b64) = sha256_pair(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b64, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    }

    #[test]
    fn largest_directories_are_listed_biggest_first() {
        let files = [
            ("index.js", 10),
            ("node_modules/@aws-sdk/core/a.js", 500),
            ("node_modules/@aws-sdk/client-sns/b.js", 300),
            ("node_modules/chance/chance.js", 100),
        ];
        let top = largest_directories(files.iter().map(|(p, s)| (*p, *s as u64)), 4);
        assert_eq!(
            top,
            vec![
                ("node_modules".to_string(), 900),
                ("node_modules/@aws-sdk".to_string(), 800),
                ("node_modules/@aws-sdk/core".to_string(), 500),
                ("node_modules/@aws-sdk/client-sns".to_string(), 300),
            ]
        );
        let top = largest_directories([("a.txt", 5u64)], 3);
        assert_eq!(top, vec![(".".to_string(), 5)]);
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let m = Manifest {
            function: "f".into(),
            runtime: "nodejs22.x".into(),
            architecture: "x86_64".into(),
            sha256_hex: "00".into(),
            sha256_base64: "AA==".into(),
            zip_bytes: 1,
            unzipped_bytes: 2,
            file_count: 1,
            inputs_hash: "ab".into(),
            tool_version: "0.1.0".into(),
            source_date_epoch: 315_532_800,
            needs_s3_upload: false,
            dependencies: vec![Dependency {
                name: "chance".into(),
                version: "1.1.13".into(),
            }],
            runtime_provided_excluded: vec![],
            platform_tags: vec![],
            bundler: None,
            bytecode: None,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("platform_tags"), "{text}");
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
    }
}
