//! Node functions as one minified file: esbuild bundles the handler module and what it
//! requires, for the runtime's Node version, in the module format the function uses. The
//! source map goes beside the zip (`<function>.js.map`) unless `sourcemap: inline`.
//!
//! esbuild itself, pinned and installed into the tool's cache, is [`tool`]'s; which files esbuild
//! read from outside the function (part of the reuse key) is [`inputs`]'s.

use std::path::Path;

use super::files::FileEntry;
use super::manifest::{BundlerRecord, OutsideInput};
use super::tool_run::Cmd;
use super::{BuildError, Job};
use crate::config::{Bundler, SourceMap, TracingSdk};
use crate::report::Task;
use inputs::outside_inputs;
pub(crate) use inputs::outside_inputs_unchanged;
use tool::{Esbuild, VERSION};

mod inputs;
mod tool;

/// Bumped when the esbuild flags change, so bundles made with the old ones are not reused.
/// 3: `otel`/`otel-layer` functions bundled, the AWS SDK beside them.
const RECIPE: u32 = 3;

/// Files of the function that the bundle replaces: modules (inlined) and npm's lock.
const CODE_EXTENSIONS: &[&str] = &[".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts"];
const REPLACED: &[&str] = &["package-lock.json", "npm-shrinkwrap.json"];

/// `cjs` or `esm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Cjs,
    Esm,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Cjs => "cjs",
            Format::Esm => "esm",
        }
    }
}

/// What esbuild is asked to do for one function, decided before the inputs hash.
pub(crate) struct Bundling {
    /// The handler module's path in the bundle, e.g. `index.js`.
    entry: String,
    format: Format,
    /// `node22` for `nodejs22.x`.
    target: String,
    sourcemap: SourceMap,
    externals: Vec<String>,
    /// Packages kept out of the bundle and shipped in `node_modules` beside it.
    beside: Vec<String>,
}

/// Packages a tracing SDK needs as real files under `node_modules`: left out of the bundle
/// and shipped beside it with what they depend on. OpenTelemetry's AWS SDK instrumentation
/// (ours with `otel`, the layer's with `otel-layer`) patches `@smithy/*` and `@aws-sdk/*`
/// modules as `require` loads them; inlined in the bundle they are never `require`d, so no
/// span. Derived, not a fixed list: every AWS SDK package the function depends on directly
/// (the client(s) it uses), so a client added to package.json is hooked too instead of being
/// silently bundled untraced; what those clients load comes along as their closure. The
/// X-Ray SDK needs none: `captureAWSv3Client` adds middleware to the client it is given, and
/// its CLS context works bundled (tests/cli/optimised_bundles.rs runs the trace).
fn beside_bundle(sdk: TracingSdk, direct_dependencies: &[String]) -> Vec<String> {
    match sdk {
        TracingSdk::Xray => Vec::new(),
        TracingSdk::Otel | TracingSdk::OtelLayer => direct_dependencies
            .iter()
            .filter(|d| AWS_SDK_SCOPES.iter().any(|s| d.starts_with(s)))
            .cloned()
            .collect(),
    }
}

/// npm scopes the AWS SDK for JavaScript v3 publishes under.
const AWS_SDK_SCOPES: &[&str] = &["@aws-sdk/", "@smithy/"];

/// Packages a tracing SDK's runtime provides, left out of the bundle and not shipped. With
/// `otel-layer`, AWS's layer sets up the SDK and puts its `@opentelemetry/api` on Node's path
/// (`/opt/nodejs/node_modules`): the function must use that one, the one the layer's
/// provider is registered in, and does not install it.
fn provided_by_sdk(sdk: TracingSdk) -> &'static [&'static str] {
    match sdk {
        TracingSdk::OtelLayer => &["@opentelemetry/api"],
        TracingSdk::Xray | TracingSdk::Otel => &[],
    }
}

/// The bundle's files and the map to write beside the zip.
pub(crate) struct Bundled {
    pub(crate) record: BundlerRecord,
    pub(crate) sourcemap: Option<Vec<u8>>,
}

impl Bundling {
    /// `None` for `bundler: none` (and Python functions). `direct_dependencies`: the names
    /// in the mode's package.json, for [`beside_bundle`].
    pub(crate) fn for_job(
        job: &Job,
        sources: &[FileEntry],
        direct_dependencies: &[String],
    ) -> Option<Bundling> {
        if job.config.bundler() != Bundler::Esbuild {
            return None;
        }
        let sdk = job.sdk();
        let module = job.config.handler.rsplit_once('.').map_or("", |(m, _)| m);
        let entry = [".js", ".mjs", ".cjs"]
            .iter()
            .map(|ext| format!("{module}{ext}"))
            .find(|p| sources.iter().any(|f| &f.zip_path == p))
            .unwrap_or_else(|| format!("{module}.js"));
        let package_type = package_type(sources);
        let mut externals = job.config.externals.clone().unwrap_or_default();
        for provided in provided_by_sdk(sdk) {
            if !externals.iter().any(|e| e == provided) {
                externals.push(provided.to_string());
            }
        }
        // One the user lists as provided by the runtime is `require`d from there (and hooked
        // there): not shipped beside.
        let mut beside = beside_bundle(sdk, direct_dependencies);
        beside.retain(|b| !externals.contains(b));
        Some(Bundling {
            format: format_of(&entry, package_type.as_deref()),
            entry,
            target: node_target(&job.config.runtime),
            sourcemap: job.config.sourcemap.unwrap_or_default(),
            externals,
            beside,
        })
    }

    /// Its part of the inputs hash.
    pub(crate) fn key(&self) -> String {
        format!(
            "bundler=esbuild {VERSION} recipe={RECIPE} entry={} format={} target={} sourcemap={:?} externals={} beside={}",
            self.entry,
            self.format.as_str(),
            self.target,
            self.sourcemap,
            self.externals.join(","),
            self.beside.join(",")
        )
    }

    /// Replace the function's modules and `node_modules` in `all` by the bundle.
    pub(crate) fn apply(
        &self,
        job: &Job,
        task: &Task,
        all: &mut Vec<FileEntry>,
        work: &mut tempfile::TempDir,
    ) -> Result<Bundled, BuildError> {
        // esbuild runs in the tree: the paths it is given must not be relative to here.
        let esbuild = tool::install(job, task)?
            .absolute()
            .map_err(job.io("resolving the esbuild path"))?;
        task.set_message(format!("{}: bundling with esbuild {VERSION}", job.key));
        let work_dir =
            std::path::absolute(work.path()).map_err(job.io("resolving the staging path"))?;
        let tree = work_dir.join("tree");
        link_tree(job, all, &tree)?;
        let out = work_dir.join("out");
        let metafile = work_dir.join("meta.json");
        let cmd = self
            .command(&esbuild, &tree, &out)
            .arg(format!("--metafile={}", metafile.display()));
        job.run_install(cmd, "esbuild bundling", work, |stderr| {
            (
                format!("esbuild could not bundle {}", self.entry),
                match stderr.contains("Could not resolve") {
                    true => "a module it requires is not installed: add it to package.json (and the lockfile), or list it under `externals` if the Lambda runtime provides it".into(),
                    false => "fix the error shown above, or set `bundler: none` to ship node_modules as installed".into(),
                },
            )
        })?;
        let outside = outside_inputs(job, &tree, &metafile)?;
        let bundle = out.join(&self.entry);
        let sourcemap = match self.sourcemap {
            SourceMap::External => {
                let map = out.join(format!("{}.map", self.entry));
                Some(std::fs::read(&map).map_err(job.io(format!("reading {}", map.display())))?)
            }
            SourceMap::Inline => None,
        };
        let keep = package_closure(all, &self.beside);
        all.retain(|f| !is_replaced(&f.zip_path) || keep.iter().any(|d| in_dir(&f.zip_path, d)));
        let size = std::fs::metadata(&bundle)
            .map_err(job.io(format!("reading {}", bundle.display())))?
            .len();
        all.push(FileEntry {
            zip_path: self.entry.clone(),
            disk_path: bundle,
            size,
            executable: false,
        });
        Ok(Bundled {
            record: self.record(outside),
            sourcemap,
        })
    }

    fn record(&self, outside_inputs: Vec<OutsideInput>) -> BundlerRecord {
        BundlerRecord {
            name: "esbuild".into(),
            version: Some(VERSION.into()),
            format: Some(self.format.as_str().into()),
            target: Some(self.target.clone()),
            sourcemap: Some(format!("{:?}", self.sourcemap).to_lowercase()),
            externals: self.externals.clone(),
            beside_bundle: self.beside.clone(),
            outside_inputs,
        }
    }

    /// `esbuild ENTRY --bundle …` run in the linked tree, writing `out/ENTRY`.
    fn command(&self, esbuild: &Esbuild, tree: &Path, out: &Path) -> Cmd {
        let cmd = match esbuild {
            Esbuild::Native(binary) => Cmd::new(binary, tree),
            Esbuild::Script(script) => Cmd::new("node", tree).arg(script.as_os_str()),
        };
        let mut cmd = cmd
            .arg(&self.entry)
            .args([
                "--bundle",
                "--platform=node",
                "--minify",
                "--log-level=warning",
            ])
            // Function names survive minifying: stack traces in logs still say `at handler`.
            .arg("--keep-names")
            .arg(format!("--target={}", self.target))
            .arg(format!("--format={}", self.format.as_str()))
            .arg(format!("--sourcemap={:?}", self.sourcemap).to_lowercase())
            // Paths in the map stay `node_modules/...`, not the cache entry they link to.
            .arg("--preserve-symlinks")
            .arg(format!("--outfile={}", out.join(&self.entry).display()));
        if self.format == Format::Esm {
            // Bundled CommonJS packages call `require` for Node's built-ins; ESM has none.
            cmd = cmd.arg("--banner:js=import{createRequire as __skCreateRequire}from'module';const require=__skCreateRequire(import.meta.url);");
        }
        for external in self.externals.iter().chain(&self.beside) {
            cmd = cmd.arg(format!("--external:{external}"));
        }
        cmd
    }
}

fn in_dir(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The package directories (`node_modules/a`, `node_modules/a/node_modules/b`) of `roots` and
/// of everything they depend on, resolved as Node does: nested first, then up the tree.
fn package_closure(all: &[FileEntry], roots: &[String]) -> Vec<String> {
    let manifests: std::collections::BTreeMap<&str, &FileEntry> = all
        .iter()
        .filter_map(|f| Some((f.zip_path.strip_suffix("/package.json")?, f)))
        .collect();
    let mut todo: Vec<String> = roots.iter().map(|r| format!("node_modules/{r}")).collect();
    let mut found = Vec::new();
    while let Some(dir) = todo.pop() {
        let Some(manifest) = manifests.get(dir.as_str()) else {
            continue;
        };
        if found.contains(&dir) {
            continue;
        }
        for dep in package_dependencies(&manifest.disk_path) {
            if let Some(resolved) = resolve(&dir, &dep, |d| manifests.contains_key(d)) {
                todo.push(resolved);
            }
        }
        found.push(dir);
    }
    found.sort();
    found
}

/// `dependencies` and `optionalDependencies` of an installed package's package.json.
fn package_dependencies(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    super::node::direct_dependencies(&text)
}

/// Where `require(dep)` from package `dir` finds it: `dir/node_modules/dep`, then each
/// enclosing `node_modules`.
fn resolve(dir: &str, dep: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    let mut base = dir;
    loop {
        let candidate = format!("{base}/node_modules/{dep}");
        if exists(&candidate) {
            return Some(candidate);
        }
        match base.rfind("/node_modules/") {
            Some(cut) => base = &base[..cut],
            None => {
                let top = format!("node_modules/{dep}");
                return exists(&top).then_some(top);
            }
        }
    }
}

/// Files the bundle stands for: the function's modules, its lockfile and `node_modules`.
fn is_replaced(zip_path: &str) -> bool {
    zip_path.starts_with("node_modules/")
        || REPLACED.contains(&zip_path)
        || CODE_EXTENSIONS.iter().any(|ext| zip_path.ends_with(ext))
}

/// The bundle's files laid out as on Lambda (sources and `node_modules`) under `tree`, as
/// hard links (copies across file systems): esbuild resolves from there.
fn link_tree(job: &Job, all: &[FileEntry], tree: &Path) -> Result<(), BuildError> {
    for f in all {
        let dest = tree.join(&f.zip_path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(job.io(format!("creating {}", parent.display())))?;
        }
        std::fs::hard_link(&f.disk_path, &dest)
            .or_else(|_| std::fs::copy(&f.disk_path, &dest).map(|_| ()))
            .map_err(job.io(format!("copying {}", f.disk_path.display())))?;
    }
    Ok(())
}

/// `"type"` of the function's package.json, if any.
fn package_type(sources: &[FileEntry]) -> Option<String> {
    let pkg = sources.iter().find(|f| f.zip_path == "package.json")?;
    let text = std::fs::read_to_string(&pkg.disk_path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("type")?.as_str().map(str::to_string)
}

/// Node's rule: `.mjs` is ESM, `.cjs` CommonJS, `.js` whatever package.json's `type` says.
fn format_of(entry: &str, package_type: Option<&str>) -> Format {
    match (entry.rsplit_once('.').map(|(_, e)| e), package_type) {
        (Some("mjs"), _) => Format::Esm,
        (Some("cjs"), _) => Format::Cjs,
        (_, Some("module")) => Format::Esm,
        _ => Format::Cjs,
    }
}

/// `nodejs22.x` → `node22`.
fn node_target(runtime: &str) -> String {
    let major: String = runtime
        .trim_start_matches("nodejs")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("node{major}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_format_follows_node_rules() {
        assert_eq!(format_of("index.js", None), Format::Cjs);
        assert_eq!(format_of("index.js", Some("module")), Format::Esm);
        assert_eq!(format_of("index.js", Some("commonjs")), Format::Cjs);
        assert_eq!(format_of("index.mjs", None), Format::Esm);
        assert_eq!(format_of("index.cjs", Some("module")), Format::Cjs);
        assert_eq!(node_target("nodejs22.x"), "node22");
        assert_eq!(node_target("nodejs24.x"), "node24");
    }

    #[test]
    fn otel_modes_keep_the_aws_sdk_packages_the_function_depends_on_beside_the_bundle() {
        let deps: Vec<String> = [
            "@aws-sdk/client-s3",
            "@aws-sdk/client-sns",
            "@opentelemetry/api",
            "@smithy/util-retry",
            "aws-sdk-client-mock",
            "chance",
        ]
        .map(String::from)
        .into();
        let aws = [
            "@aws-sdk/client-s3",
            "@aws-sdk/client-sns",
            "@smithy/util-retry",
        ];
        assert_eq!(beside_bundle(TracingSdk::Otel, &deps), aws);
        assert_eq!(beside_bundle(TracingSdk::OtelLayer, &deps), aws);
        assert!(beside_bundle(TracingSdk::Xray, &deps).is_empty());
        assert_eq!(
            provided_by_sdk(TracingSdk::OtelLayer),
            ["@opentelemetry/api"]
        );
        assert!(provided_by_sdk(TracingSdk::Otel).is_empty());
        assert!(provided_by_sdk(TracingSdk::Xray).is_empty());
    }

    #[test]
    fn packages_kept_beside_the_bundle_bring_what_they_depend_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        let mut package = |zip_dir: &str, deps: &str| {
            let disk = dir.path().join(zip_dir);
            std::fs::create_dir_all(&disk).unwrap();
            let manifest = disk.join("package.json");
            std::fs::write(&manifest, format!(r#"{{"dependencies":{{{deps}}}}}"#)).unwrap();
            all.push(FileEntry {
                zip_path: format!("{zip_dir}/package.json"),
                disk_path: manifest,
                size: 1,
                executable: false,
            });
        };
        package("node_modules/hook", r#""shim":"1","@s/util":"1""#);
        package("node_modules/hook/node_modules/shim", r#""tslib":"1""#);
        package("node_modules/shim", "");
        package("node_modules/@s/util", "");
        package("node_modules/tslib", "");
        package("node_modules/unrelated", "");
        let kept = package_closure(&all, &["hook".to_string()]);
        assert_eq!(
            kept,
            [
                "node_modules/@s/util",
                "node_modules/hook",
                "node_modules/hook/node_modules/shim",
                "node_modules/tslib",
            ]
        );
        assert!(package_closure(&all, &[]).is_empty());
        assert!(in_dir("node_modules/hook/index.js", "node_modules/hook"));
        assert!(!in_dir("node_modules/hooks/index.js", "node_modules/hook"));
    }

    #[test]
    fn bundle_replaces_modules_and_node_modules_only() {
        for yes in [
            "index.js",
            "lib/a.mjs",
            "node_modules/x/package.json",
            "package-lock.json",
        ] {
            assert!(is_replaced(yes), "{yes}");
        }
        for no in ["package.json", "data/names.txt", "config.json"] {
            assert!(!is_replaced(no), "{no}");
        }
    }
}
