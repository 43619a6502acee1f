//! Unit tests of `bundle/mod.rs`, kept apart so that file stays short enough to read.

use super::*;

fn settings(vars: &[(&str, &str)]) -> Result<BuildSettings, BuildError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BuildSettings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
}

#[test]
fn settings_default_to_lambda_limits_and_1980() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.source_date_epoch, 315_532_800);
    assert_eq!(s.max_unzipped_bytes, 262_144_000);
    assert_eq!(s.max_direct_upload_bytes, 52_428_800);
    let s = settings(&[
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("SCOREKEEP_MAX_UNZIPPED_BYTES", "1000"),
    ])
    .unwrap();
    assert_eq!(s.source_date_epoch, 1_700_000_000);
    assert_eq!(s.max_unzipped_bytes, 1000);
    let e = settings(&[("SOURCE_DATE_EPOCH", "yesterday")]).unwrap_err();
    assert!(
        e.to_string().contains("SOURCE_DATE_EPOCH=`yesterday`"),
        "{e}"
    );
    let e = settings(&[("SCOREKEEP_MAX_UNZIPPED_BYTES", "1MB")]).unwrap_err();
    assert!(
        e.to_string().contains("SCOREKEEP_MAX_UNZIPPED_BYTES"),
        "{e}"
    );
}

fn project(dir: &Path, config: &str) -> Project {
    let path = dir.join("scorekeep-deploy.yaml");
    std::fs::write(&path, config).unwrap();
    Project::load(&path).unwrap()
}

const CONFIG: &str = "\
project: t
stacks: [{name: s, template: t.yaml}]
functions:
  plain:
    source: fn
    runtime: python3.13
    handler: app.handler
    bytecode: false
    # The function's own requirements.txt, as these tests write it (otel reads otel/).
    tracing_sdk: xray
";

fn quiet() -> Reporter {
    Reporter::new(crate::cli::OutputFormat::Json, true)
}

#[test]
fn a_function_without_dependencies_builds_caches_and_rebuilds_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), CONFIG);
    std::fs::create_dir_all(dir.path().join("fn/tests")).unwrap();
    std::fs::write(
        dir.path().join("fn/app.py"),
        "def handler(e, c):\n    return 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("fn/tests/test_app.py"), "").unwrap();
    std::fs::write(dir.path().join("fn/.env"), "SECRET=1").unwrap();

    let built = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    let a = &built[0];
    assert!(!a.cached);
    assert_eq!(
        a.zip_path,
        dir.path().join("target/scorekeep-deploy/plain.zip")
    );
    let bytes = std::fs::read(&a.zip_path).unwrap();
    assert_eq!(manifest::sha256_pair(&bytes).1, a.manifest.sha256_base64);
    let mut zip = ::zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(zip.file_names().collect::<Vec<_>>(), vec!["app.py"]);
    assert!(zip.by_name("app.py").is_ok());
    let on_disk: Manifest =
        serde_json::from_slice(&std::fs::read(&a.manifest_path).unwrap()).unwrap();
    assert_eq!(on_disk, a.manifest);
    assert!(a.manifest.dependencies.is_empty());

    let again = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    assert!(again[0].cached);
    assert_eq!(again[0].manifest, a.manifest);
    let forced = build_functions(
        &p,
        &["plain"],
        &BuildOptions {
            force: true,
            ..Default::default()
        },
        &quiet(),
    )
    .unwrap();
    assert!(!forced[0].cached);
    assert_eq!(forced[0].manifest, a.manifest);

    // An excluded file does not change the inputs; a source file does.
    std::fs::write(dir.path().join("fn/tests/test_app.py"), "changed").unwrap();
    assert!(build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap()[0].cached);
    std::fs::write(
        dir.path().join("fn/app.py"),
        "def handler(e, c):\n    return 2\n",
    )
    .unwrap();
    let changed = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    assert!(!changed[0].cached);
    assert_ne!(changed[0].manifest.inputs_hash, a.manifest.inputs_hash);

    // A zip altered on disk is not reused.
    std::fs::write(&a.zip_path, b"garbage").unwrap();
    assert!(
        !build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap()[0].cached
    );

    let e = build_functions(&p, &["nope"], &BuildOptions::default(), &quiet()).unwrap_err();
    let text = crate::error::render(e);
    assert!(text.contains("plain"), "{text}");
}

#[test]
fn an_artifact_dir_inside_the_source_dir_is_not_bundled() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), &format!("{CONFIG}artifact_dir: fn/dist\n"));
    std::fs::create_dir_all(dir.path().join("fn")).unwrap();
    std::fs::write(dir.path().join("fn/app.py"), "").unwrap();
    let first = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    assert_eq!(first[0].manifest.file_count, 1);
    let second = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    assert!(second[0].cached, "the previous artifact changed the inputs");
    assert_eq!(second[0].manifest.file_count, 1);
}

#[test]
fn requirement_problems_fail_before_pip_runs_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), CONFIG);
    std::fs::create_dir_all(dir.path().join("fn")).unwrap();
    std::fs::write(dir.path().join("fn/app.py"), "").unwrap();
    std::fs::write(
        dir.path().join("fn/requirements.txt"),
        "# lock\nrequests>=2\n",
    )
    .unwrap();
    let e = crate::error::render(
        build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap_err(),
    );
    assert!(e.contains("function `plain`"), "{e}");
    assert!(e.contains("requirements.txt:2:"), "{e}");
    assert!(e.contains("pip-compile --generate-hashes"), "{e}");
    // Nothing but the project lock the build held.
    let written: Vec<_> = walkdir::WalkDir::new(dir.path().join("target"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(
        written,
        [dir.path().join("target/scorekeep-deploy-cache/lock")]
    );
}

#[test]
fn only_runtime_provided_requirements_need_no_pip() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), CONFIG);
    std::fs::create_dir_all(dir.path().join("fn")).unwrap();
    std::fs::write(dir.path().join("fn/app.py"), "").unwrap();
    std::fs::write(
        dir.path().join("fn/requirements.txt"),
        "Boto3==1.0 --hash=sha256:00\nsix==1.17.0 \\\n    --hash=sha256:11\n",
    )
    .unwrap();
    let built = build_functions(&p, &["plain"], &BuildOptions::default(), &quiet()).unwrap();
    assert_eq!(
        built[0].manifest.runtime_provided_excluded,
        ["boto3", "six"]
    );
}

#[test]
fn oversize_sources_are_refused_naming_the_largest_directories() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), CONFIG);
    std::fs::create_dir_all(dir.path().join("fn/data/big")).unwrap();
    std::fs::write(dir.path().join("fn/app.py"), "").unwrap();
    std::fs::write(dir.path().join("fn/data/big/blob.bin"), vec![0u8; 4000]).unwrap();
    let job = Job {
        key: "plain",
        config: &p.config.functions["plain"],
        source_dir: dir.path().join("fn"),
        artifact_dir: dir.path().join("out"),
        settings: &settings(&[("SCOREKEEP_MAX_UNZIPPED_BYTES", "1000")]).unwrap(),
        force: false,
        project_root: dir.path().to_path_buf(),
    };
    let e = job.run(&quiet()).unwrap_err().to_string();
    assert!(
        e.contains("function `plain`") && e.contains("limit of 1.0 KB (1000 bytes)"),
        "{e}"
    );
    assert!(e.contains("data/big"), "{e}");
    assert!(!dir.path().join("out").exists());
}
