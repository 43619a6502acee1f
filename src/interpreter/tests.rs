//! Unit tests of `interpreter.rs`, kept apart so that file stays short enough to read.

use super::*;
use std::os::unix::fs::PermissionsExt;

const V313: PyMinor = PyMinor {
    major: 3,
    minor: 13,
};

/// A directory of fake interpreters (shell scripts that answer the probe).
struct Fakes(tempfile::TempDir);

impl Fakes {
    fn new() -> Fakes {
        Fakes(tempfile::tempdir().unwrap())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }

    fn script(&self, rel: &str, body: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A Python that reports `version` and itself as sys.executable.
    fn python(&self, rel: &str, version: &str) -> PathBuf {
        let path = self.path(rel);
        self.script(rel, &format!("echo {version}; echo {}", path.display()))
    }

    fn shim(&self, rel: &str) -> PathBuf {
        self.script(
            rel,
            "echo 'pyenv: python3.13: command not found' >&2; exit 127",
        )
    }

    fn search(&self, path: &[&str]) -> Search {
        Search {
            path: Some(std::env::join_paths(path.iter().map(|p| self.path(p))).unwrap()),
            pyenv_root: Some(self.path("pyenv")),
            home: Some(self.path("home")),
        }
    }
}

#[test]
fn exact_version_on_path_comes_first_and_a_failing_shim_is_skipped() {
    let f = Fakes::new();
    f.shim("shims/python3.13");
    let real = f.python("usr/bin/python3.13", "3.13.2");
    f.python("pyenv/versions/3.13.0/bin/python3.13", "3.13.0");
    let found = find_python_in(V313, &f.search(&["shims", "usr/bin"])).unwrap();
    assert_eq!(found.program, real);
    assert_eq!(found.version, "3.13.2");
    assert_eq!(found.found_in, FoundIn::PathExact);
    assert_eq!(found.tried.len(), 1, "{:?}", found.tried);
    assert!(
        found.tried[0].outcome.contains("command not found"),
        "{:?}",
        found.tried
    );
}

#[test]
fn python3_on_path_counts_when_it_is_the_version() {
    let f = Fakes::new();
    let python3 = f.python("bin/python3", "3.13.1");
    f.python("pyenv/versions/3.13.0/bin/python3.13", "3.13.0");
    let found = find_python_in(V313, &f.search(&["bin"])).unwrap();
    assert_eq!(
        (found.program, found.found_in),
        (python3, FoundIn::PathPython3)
    );
}

#[test]
fn pyenv_versions_come_after_path_newest_patch_first() {
    let f = Fakes::new();
    f.shim("shims/python3.13");
    f.python("shims/python3", "3.11.7");
    f.python("pyenv/versions/3.13.0/bin/python3.13", "3.13.0");
    let newest = f.python("pyenv/versions/3.13.10/bin/python3.13", "3.13.10");
    f.python("pyenv/versions/3.13.2t/bin/python3.13", "3.13.2");
    f.python("pyenv/versions/3.12.9/bin/python3.13", "3.12.9");
    let found = find_python_in(V313, &f.search(&["shims"])).unwrap();
    assert_eq!(found.program, newest);
    assert_eq!(found.found_in, FoundIn::Pyenv);
    let tried: Vec<String> = found.tried.iter().map(ToString::to_string).collect();
    assert!(tried[0].starts_with("python3.13 on PATH: "), "{tried:?}");
    assert!(tried[1].contains("is Python 3.11.7"), "{tried:?}");
    // Without PYENV_ROOT, ~/.pyenv.
    let mut search = f.search(&["shims"]);
    search.pyenv_root = None;
    f.python("home/.pyenv/versions/3.13.4/bin/python3.13", "3.13.4");
    let found = find_python_in(V313, &search).unwrap();
    assert_eq!(
        found.program,
        f.path("home/.pyenv/versions/3.13.4/bin/python3.13")
    );
}

#[test]
fn pyenv_shims_are_run_only_after_pyenv_versions() {
    let f = Fakes::new();
    // Shims that leave a mark when run: none must be, as versions/ has 3.13.
    let ran = f.path("shim-ran");
    let mark = format!("touch {}; exit 127", ran.display());
    f.script("pyenv/shims/python3.13", &mark);
    f.script("pyenv/shims/python3", &mark);
    let system = f.python("usr/bin/python3.13", "3.13.1");
    let pyenv = f.python("pyenv/versions/3.13.0/bin/python3.13", "3.13.0");
    // A real python3.13 after the shims on PATH is still found first, as before.
    let search = f.search(&["pyenv/shims", "usr/bin"]);
    assert_eq!(find_python_in(V313, &search).unwrap().program, system);
    std::fs::remove_file(&system).unwrap();
    let found = find_python_in(V313, &search).unwrap();
    assert_eq!((found.program, found.found_in), (pyenv, FoundIn::Pyenv));
    assert!(found.tried.is_empty(), "{:?}", found.tried);
    assert!(!ran.exists(), "a pyenv shim was run");
    // With nothing under versions/ the shims are still tried, after it.
    std::fs::remove_dir_all(f.path("pyenv/versions/3.13.0")).unwrap();
    let venv = f.python("pyenv/versions/venv313/bin/python3.13", "3.13.2");
    f.script(
        "pyenv/shims/python3.13",
        &format!("echo 3.13.2; echo {}", venv.display()),
    );
    let found = find_python_in(V313, &search).unwrap();
    assert_eq!((found.program, found.found_in), (venv, FoundIn::PathExact));
    let tried: Vec<String> = found.tried.iter().map(ToString::to_string).collect();
    assert_eq!(
        tried,
        [format!("{}: no 3.13.*", f.path("pyenv/versions").display())]
    );
}

#[test]
fn uv_comes_last_and_what_it_finds_is_run_too() {
    let f = Fakes::new();
    let managed = f.python("uv-pythons/cpython-3.13.5/bin/python3.13", "3.13.5");
    f.script(
        "bin/uv",
        &format!(
            "[ \"$1 $2 $3\" = 'python find 3.13' ] || exit 2; echo {}",
            managed.display()
        ),
    );
    let found = find_python_in(V313, &f.search(&["bin"])).unwrap();
    assert_eq!(
        (found.program.clone(), found.found_in),
        (managed, FoundIn::Uv)
    );
    assert_eq!(found.tried.len(), 2, "{:?}", found.tried); // python3.13 on PATH, pyenv dir

    // uv answering with an interpreter of another version is not taken.
    f.python("uv-pythons/cpython-3.13.5/bin/python3.13", "3.12.1");
    let e = find_python_in(V313, &f.search(&["bin"])).unwrap_err();
    assert!(
        e.tried
            .last()
            .unwrap()
            .to_string()
            .contains("is Python 3.12.1"),
        "{e:?}"
    );
}

#[test]
fn nothing_found_lists_every_place_and_how_to_get_one() {
    let f = Fakes::new();
    f.shim("shims/python3.13");
    f.python("shims/python3", "3.11.7");
    std::fs::create_dir_all(f.path("pyenv/versions/3.11.7")).unwrap();
    let e = find_python_in(V313, &f.search(&["shims"])).unwrap_err();
    let tried: Vec<String> = e.tried.iter().map(ToString::to_string).collect();
    assert_eq!(tried.len(), 4, "{tried:?}");
    assert!(tried[0].contains("command not found"), "{tried:?}");
    assert!(
        tried[1].starts_with("python3 on PATH: ") && tried[1].ends_with("is Python 3.11.7"),
        "{tried:?}"
    );
    assert_eq!(
        tried[2],
        format!("{}: no 3.13.*", f.path("pyenv/versions").display())
    );
    assert_eq!(tried[3], "uv: not installed");
    let how = e.how_to_get();
    for expected in [
        "pyenv install 3.13",
        "uv python install 3.13",
        "apt install python3.13",
        "--runtime-path",
    ] {
        assert!(how.contains(expected), "{how}");
    }
}

#[test]
fn interpreter_versions_parse() {
    assert_eq!(
        Version::parse("v20.20.2"),
        Some(Version {
            major: 20,
            minor: 20,
            patch: 2
        })
    );
    assert_eq!(Version::parse("3.13.0rc1").unwrap().to_string(), "3.13.0");
    assert_eq!(Version::parse("3.12").unwrap().to_string(), "3.12.0");
    assert_eq!(Version::parse("pyenv: nope"), None);
}

#[test]
fn node_and_an_explicit_python_are_asked_by_the_same_probe() {
    let f = Fakes::new();
    let real = f.python("opt/bin/python3.12", "3.12.4");
    let p = probe(real.as_os_str(), Language::Python).unwrap();
    assert_eq!(
        (p.version.to_string(), p.executable),
        ("3.12.4".into(), real)
    );
    let shim = f.shim("shims/python3.13");
    let e = probe(shim.as_os_str(), Language::Python).unwrap_err();
    assert!(e.to_string().contains("command not found"), "{e}");
    let e = probe(OsStr::new("scorekeep-no-such-python"), Language::Python).unwrap_err();
    assert!(matches!(e, ProbeError::NotFound(_)), "{e:?}");
    if let Ok(p) = probe(OsStr::new("node"), Language::Node) {
        assert!(p.executable.is_absolute(), "{p:?}");
        assert!(p.executable.ends_with("node"), "{p:?}");
    }
}

#[test]
fn versions_parse_and_pyenv_names_filter() {
    assert_eq!(PyMinor::parse("python3.13"), Some(V313));
    assert_eq!(PyMinor::parse("3.13"), Some(V313));
    assert_eq!(PyMinor::parse("nodejs22.x"), None);
    let names = [
        "3.13.0", "3.13.12", "3.13.2", "3.13-dev", "3.13.1t", "3.130.1", "myenv",
    ]
    .map(String::from);
    assert_eq!(pyenv_releases(names, V313), ["3.13.12", "3.13.2", "3.13.0"]);
}
