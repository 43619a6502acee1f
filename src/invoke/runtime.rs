//! Which interpreter runs the handler on this machine, and whether the bundle can run on it:
//! the Python minor version must match the runtime's (the bundle's dependencies were installed
//! for it), compiled code must be for this machine's architecture and OS, and a different
//! Node.js major version is only worth a warning (the bundle is JavaScript).

use std::ffi::OsString;
use std::path::Path;

use crate::config::Language;
// The one interpreter probe is `crate::interpreter`'s; `invoke/mod.rs` reaches it through here.
pub(crate) use crate::interpreter::{probe, Version};

/// The language version a Lambda runtime stands for: `python3.13` → (3, Some(13)),
/// `nodejs22.x` → (22, None).
pub(crate) fn runtime_version(runtime: &str) -> Option<(u32, Option<u32>)> {
    if let Some(v) = runtime.strip_prefix("python") {
        let (major, minor) = v.split_once('.')?;
        return Some((major.parse().ok()?, Some(minor.parse().ok()?)));
    }
    let v = runtime.strip_prefix("nodejs")?.trim_end_matches(".x");
    Some((v.parse().ok()?, None))
}

/// The interpreter to probe when none is searched for: `--runtime-path` when given, else
/// `node` (Python without `--runtime-path` goes through [`crate::interpreter::find_python`]).
pub(crate) fn explicit_or_node(explicit: Option<&Path>) -> OsString {
    match explicit {
        Some(path) => path.as_os_str().to_owned(),
        None => "node".into(),
    }
}

/// The runtime cannot run here; the message and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub(crate) detail: String,
    pub(crate) hint: String,
}

/// Compare the local interpreter with the function's runtime. A different Python minor
/// version is a mismatch; a different Node.js major version a warning (returned).
pub(crate) fn check_version(
    function: &str,
    runtime: &str,
    language: Language,
    program: &str,
    local: Version,
) -> Result<Option<String>, Mismatch> {
    let Some((major, minor)) = runtime_version(runtime) else {
        return Ok(None);
    };
    match language {
        Language::Python => {
            let minor = minor.unwrap_or_default();
            if (local.major, local.minor) == (major, minor) {
                return Ok(None);
            }
            Err(Mismatch {
                detail: format!(
                    "function `{function}` runs on {runtime}, but the Python here (`{program}`) is {local}: \
its bundle's dependencies were installed for Python {major}.{minor}, and compiled modules among them load only on that version"
                ),
                hint: format!(
                    "install Python {major}.{minor} and pass --runtime-path /path/to/python{major}.{minor} \
(a working `python{major}.{minor}` on PATH is picked up by itself), or for local runs set `runtime: python{}.{}` \
for `{function}` in the config so the bundle is built for the Python here",
                    local.major, local.minor
                ),
            })
        }
        Language::Node => Ok((local.major != major).then(|| {
            format!(
                "function `{function}` runs on {runtime}, but `{program}` here is Node.js {local}: \
running anyway (the bundle is JavaScript); pass --runtime-path to a Node.js {major} binary to match Lambda exactly"
            )
        })),
    }
}

/// A compiled file in the bundle: a shared library, Python extension or Node.js addon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompiledFile {
    /// Relative to the task root.
    pub(crate) path: String,
    /// `x86_64`, `arm64`, or another machine, when known (from the ELF header, else the name).
    pub(crate) arch: Option<String>,
    /// An ELF (Linux) binary.
    pub(crate) elf: bool,
}

/// Whether a file name is one of compiled code.
pub(crate) fn is_compiled_name(name: &str) -> bool {
    name.ends_with(".so")
        || name.contains(".so.")
        || name.ends_with(".node")
        || name.ends_with(".pyd")
        || name.ends_with(".dylib")
}

/// The architecture in a wheel-style file name: `*.cpython-313-aarch64-linux-gnu.so`.
pub(crate) fn arch_from_name(name: &str) -> Option<&'static str> {
    if name.contains("x86_64-linux") || name.contains("x86-64-linux") {
        Some("x86_64")
    } else if name.contains("aarch64-linux") || name.contains("arm64-linux") {
        Some("arm64")
    } else {
        None
    }
}

/// The machine of an ELF file from its first 20 bytes, in Lambda's names.
pub(crate) fn elf_arch(header: &[u8]) -> Option<String> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return None;
    }
    let machine = match header[5] {
        2 => u16::from_be_bytes([header[18], header[19]]),
        _ => u16::from_le_bytes([header[18], header[19]]),
    };
    Some(match machine {
        0x3e => "x86_64".to_string(),
        0xb7 => "arm64".to_string(),
        0x03 => "x86".to_string(),
        0x28 => "arm".to_string(),
        other => format!("ELF machine {other:#x}"),
    })
}

/// Every compiled file under `root`.
pub(crate) fn scan_compiled(root: &Path) -> std::io::Result<Vec<CompiledFile>> {
    use std::io::Read;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_file() || !is_compiled_name(&name) {
            continue;
        }
        let mut header = Vec::with_capacity(20);
        std::fs::File::open(entry.path())?
            .take(20)
            .read_to_end(&mut header)?;
        let from_elf = elf_arch(&header);
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        out.push(CompiledFile {
            elf: from_elf.is_some(),
            arch: from_elf.or_else(|| arch_from_name(&name).map(String::from)),
            path: rel,
        });
    }
    Ok(out)
}

/// Lambda's name for this machine's architecture (`std::env::consts::ARCH`).
pub(crate) fn lambda_arch(host_arch: &str) -> &str {
    match host_arch {
        "aarch64" => "arm64",
        other => other,
    }
}

/// Can the bundle's compiled code load here? Pure code runs anywhere; compiled code must be
/// for this machine's architecture (and, being Linux ELF, for Linux).
pub(crate) fn check_architecture(
    function: &str,
    function_arch: &str,
    host_arch: &str,
    host_os: &str,
    compiled: &[CompiledFile],
) -> Result<(), Mismatch> {
    let host = lambda_arch(host_arch);
    let examples = |files: &[&CompiledFile]| -> String {
        let mut list: Vec<String> = files.iter().take(3).map(|f| f.path.clone()).collect();
        if files.len() > 3 {
            list.push(format!("and {} more", files.len() - 3));
        }
        list.join(", ")
    };
    let foreign: Vec<&CompiledFile> = compiled
        .iter()
        .filter(|f| match &f.arch {
            Some(a) => a != host,
            None => function_arch != host,
        })
        .collect();
    if !foreign.is_empty() {
        let built_for = foreign[0].arch.as_deref().unwrap_or(function_arch);
        return Err(Mismatch {
            detail: format!(
                "function `{function}` (architecture {function_arch}) bundles compiled code for {built_for} \
({}), which cannot load on this {host} machine",
                examples(&foreign)
            ),
            hint: format!(
                "for local runs set `architecture: {host}` for `{function}` in the config so the bundle is built with \
{host} wheels, or run `invoke --local` on a {function_arch} machine"
            ),
        });
    }
    let elf: Vec<&CompiledFile> = compiled.iter().filter(|f| f.elf).collect();
    if host_os != "linux" && !elf.is_empty() {
        return Err(Mismatch {
            detail: format!(
                "function `{function}` bundles compiled code for Linux ({}), which cannot load on {host_os}",
                examples(&elf)
            ),
            hint: "run `invoke --local` on Linux (a VM, a container or CI) for this function".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_parse() {
        assert_eq!(runtime_version("python3.13"), Some((3, Some(13))));
        assert_eq!(runtime_version("nodejs22.x"), Some((22, None)));
        assert_eq!(runtime_version("java21"), None);
    }

    #[test]
    fn without_runtime_path_node_is_probed() {
        assert_eq!(explicit_or_node(None), OsString::from("node"));
        assert_eq!(
            explicit_or_node(Some(Path::new("/opt/py/bin/python"))),
            OsString::from("/opt/py/bin/python")
        );
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn python_minor_mismatch_is_an_error_with_both_ways_out() {
        assert_eq!(
            check_version("w", "python3.11", Language::Python, "python3", v("3.11.7")),
            Ok(None)
        );
        let m =
            check_version("w", "python3.13", Language::Python, "python3", v("3.11.7")).unwrap_err();
        assert!(m.detail.contains("runs on python3.13"), "{m:?}");
        assert!(m.detail.contains("3.11.7"), "{m:?}");
        assert!(m.hint.contains("--runtime-path"), "{m:?}");
        assert!(m.hint.contains("runtime: python3.11"), "{m:?}");
    }

    #[test]
    fn node_major_mismatch_is_only_a_warning() {
        assert_eq!(
            check_version("rn", "nodejs22.x", Language::Node, "node", v("22.3.0")),
            Ok(None)
        );
        let w = check_version("rn", "nodejs22.x", Language::Node, "node", v("20.20.2"))
            .unwrap()
            .unwrap();
        assert!(
            w.contains("Node.js 20.20.2") && w.contains("--runtime-path"),
            "{w}"
        );
    }

    fn elf_header(machine: u16) -> Vec<u8> {
        let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        h.resize(18, 0);
        h.extend_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn architecture_comes_from_elf_headers_and_names() {
        assert_eq!(elf_arch(&elf_header(0x3e)).as_deref(), Some("x86_64"));
        assert_eq!(elf_arch(&elf_header(0xb7)).as_deref(), Some("arm64"));
        assert_eq!(elf_arch(b"\xcf\xfa\xed\xfe not elf at all.."), None);
        assert_eq!(
            arch_from_name("_wrappers.cpython-313-aarch64-linux-gnu.so"),
            Some("arm64")
        );
        assert_eq!(
            arch_from_name("_wrappers.cpython-311-x86_64-linux-gnu.so"),
            Some("x86_64")
        );
        assert_eq!(arch_from_name("_cffi_backend.abi3.so"), None);
        assert!(is_compiled_name("libssl.so.3"));
        assert!(is_compiled_name("addon.node"));
        assert!(!is_compiled_name("index.js"));

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wrapt")).unwrap();
        std::fs::write(
            dir.path()
                .join("wrapt/_wrappers.cpython-313-aarch64-linux-gnu.so"),
            elf_header(0xb7),
        )
        .unwrap();
        std::fs::write(dir.path().join("fake.abi3.so"), b"not elf").unwrap();
        std::fs::write(dir.path().join("app.py"), b"").unwrap();
        let found = scan_compiled(dir.path()).unwrap();
        assert_eq!(
            found,
            [
                CompiledFile {
                    path: "fake.abi3.so".into(),
                    arch: None,
                    elf: false
                },
                CompiledFile {
                    path: "wrapt/_wrappers.cpython-313-aarch64-linux-gnu.so".into(),
                    arch: Some("arm64".into()),
                    elf: true
                },
            ]
        );
    }

    fn file(path: &str, arch: Option<&str>) -> CompiledFile {
        CompiledFile {
            path: path.into(),
            arch: arch.map(String::from),
            elf: arch.is_some(),
        }
    }

    #[test]
    fn architecture_decision() {
        // Pure code runs anywhere, whatever the function's architecture.
        assert_eq!(
            check_architecture("f", "arm64", "x86_64", "linux", &[]),
            Ok(())
        );
        // Matching compiled code is fine; aarch64 is Lambda's arm64.
        let arm = [file("w/_w.cpython-313-aarch64-linux-gnu.so", Some("arm64"))];
        assert_eq!(
            check_architecture("f", "arm64", "aarch64", "linux", &arm),
            Ok(())
        );
        let m = check_architecture("f", "arm64", "x86_64", "linux", &arm).unwrap_err();
        assert!(m.detail.contains("compiled code for arm64"), "{m:?}");
        assert!(
            m.detail.contains("w/_w.cpython-313-aarch64-linux-gnu.so"),
            "{m:?}"
        );
        assert!(m.detail.contains("this x86_64 machine"), "{m:?}");
        assert!(m.hint.contains("architecture: x86_64"), "{m:?}");
        // Unknown architecture: the function's own setting decides.
        let unknown = [file("x.node", None)];
        assert!(check_architecture("f", "arm64", "x86_64", "linux", &unknown).is_err());
        assert_eq!(
            check_architecture("f", "x86_64", "x86_64", "linux", &unknown),
            Ok(())
        );
        // Linux ELF code does not load on macOS.
        let x86 = [file("a.so", Some("x86_64"))];
        let m = check_architecture("f", "x86_64", "x86_64", "macos", &x86).unwrap_err();
        assert!(m.detail.contains("cannot load on macos"), "{m:?}");
    }
}
