//! `requirements.txt`, the hashed lock a Python function's dependencies come from: its
//! logical lines (continuations, comments, options, markers), the check that every requirement
//! is pinned and hashed, and the filter that leaves out what the Lambda runtime provides.
//! Parsed here, before pip runs, so a problem is reported at its line.

use std::collections::BTreeSet;

pub(crate) const REQUIREMENTS: &str = "requirements.txt";

/// One logical line of a requirements file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Requirement(Requirement),
    /// A global option such as `--index-url`, passed through unchanged.
    Option {
        line: usize,
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    /// First physical line (1-based).
    pub(crate) line: usize,
    pub(crate) name: String,
    /// PEP 503 normalized name.
    pub(crate) normalized: String,
    /// The requirement without its options, e.g. `certifi==2026.10.19.post1`.
    pub(crate) spec: String,
    /// The pinned version, for `==` / `===` pins.
    pub(crate) version: Option<String>,
    /// `--hash=` values, e.g. `sha256:…`.
    pub(crate) hashes: Vec<String>,
    /// Other per-requirement options, kept verbatim.
    pub(crate) options: Vec<String>,
}

/// A problem in requirements.txt, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequirementsError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
pub(crate) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Physical lines joined at `\` continuations and stripped of comments, as pip reads them:
/// (first line number, logical line).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let is_comment_line = raw.trim_start().starts_with('#') || has_comment(raw);
        if raw.ends_with('\\') && !is_comment_line {
            let piece = &raw[..raw.len() - 1];
            match &mut pending {
                Some((_, acc)) => acc.push_str(piece),
                None => pending = Some((number, piece.to_string())),
            }
            continue;
        }
        let (start, joined) = match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(raw);
                (start, acc)
            }
            None => (number, raw.to_string()),
        };
        let stripped = strip_comment(&joined).trim().to_string();
        if !stripped.is_empty() {
            out.push((start, stripped));
        }
    }
    if let Some((start, acc)) = pending {
        let stripped = strip_comment(&acc).trim().to_string();
        if !stripped.is_empty() {
            out.push((start, stripped));
        }
    }
    out
}

/// pip's comment rule: `#` at the start of a line or after whitespace.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()))
}

fn has_comment(line: &str) -> bool {
    comment_start(line).is_some()
}

fn strip_comment(line: &str) -> &str {
    match comment_start(line) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Where the options of a requirement line start: the first whitespace-preceded `-`
/// outside quotes.
fn options_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '-' && prev_space => return Some(i),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// Parse a requirements file. `-r`, `-c` and `-e` lines are refused: the file must be one
/// complete lock.
pub(crate) fn parse(text: &str) -> Result<Vec<Line>, RequirementsError> {
    let mut lines = Vec::new();
    for (line, logical) in logical_lines(text) {
        if logical.starts_with('-') {
            let first = logical.split_whitespace().next().unwrap_or_default();
            let option = first.split('=').next().unwrap_or_default();
            let unsupported = if let Some(long) = option.strip_prefix("--") {
                matches!(long, "requirement" | "constraint" | "editable")
            } else {
                matches!(option.chars().nth(1), Some('r' | 'c' | 'e'))
            };
            if unsupported {
                return Err(RequirementsError {
                    line,
                    message: format!("`{first}` is not supported: requirements.txt must be one complete, hashed lock"),
                });
            }
            lines.push(Line::Option {
                line,
                text: logical,
            });
            continue;
        }
        let (spec, rest) = match options_start(&logical) {
            Some(i) => (logical[..i].trim(), &logical[i..]),
            None => (logical.trim(), ""),
        };
        let name_len = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..name_len];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(RequirementsError {
                line,
                message: format!("`{spec}` does not start with a package name"),
            });
        }
        let mut after = spec[name_len..].trim_start();
        if after.starts_with('[') {
            after = after.find(']').map_or("", |i| after[i + 1..].trim_start());
        }
        let specifier = after.split(';').next().unwrap_or_default().trim();
        let version = specifier
            .strip_prefix("===")
            .or_else(|| specifier.strip_prefix("=="))
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.contains([',', '*', ' ']))
            .map(str::to_string);
        let mut hashes = Vec::new();
        let mut options = Vec::new();
        let mut tokens = rest.split_whitespace();
        while let Some(token) = tokens.next() {
            if let Some(h) = token.strip_prefix("--hash=") {
                hashes.push(h.to_string());
            } else if token == "--hash" {
                match tokens.next() {
                    Some(h) => hashes.push(h.to_string()),
                    None => {
                        return Err(RequirementsError {
                            line,
                            message: format!("`--hash` without a value for `{name}`"),
                        })
                    }
                }
            } else {
                options.push(token.to_string());
            }
        }
        lines.push(Line::Requirement(Requirement {
            line,
            name: name.to_string(),
            normalized: normalize(name),
            spec: spec.to_string(),
            version,
            hashes,
            options,
        }));
    }
    Ok(lines)
}

/// Every requirement must be pinned (`==`, or a direct URL) and carry at least one hash:
/// with `--no-deps` the file is the whole dependency set.
pub(crate) fn check_locked(lines: &[Line]) -> Result<(), RequirementsError> {
    for line in lines {
        let Line::Requirement(r) = line else { continue };
        let is_url = r.spec.contains(" @ ") || r.spec.contains("@ ");
        if r.version.is_none() && !is_url {
            return Err(RequirementsError {
                line: r.line,
                message: format!("`{}` is not pinned to one version with `==`", r.spec),
            });
        }
        if r.hashes.is_empty() {
            return Err(RequirementsError {
                line: r.line,
                message: format!("`{}` has no `--hash`", r.spec),
            });
        }
    }
    Ok(())
}

/// The requirements file pip is given, without the runtime-provided packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filtered {
    /// One logical line per requirement or option.
    pub(crate) text: String,
    /// Number of requirements kept.
    pub(crate) kept: usize,
    /// Normalized names of the locked packages that were left out, sorted.
    pub(crate) excluded: Vec<String>,
}

/// Drop the requirements whose normalized name is in `provided` (compared normalized).
pub(crate) fn filter(lines: &[Line], provided: &[String]) -> Filtered {
    let provided: BTreeSet<String> = provided.iter().map(|p| normalize(p)).collect();
    let mut text = String::new();
    let mut kept = 0;
    let mut excluded = BTreeSet::new();
    for line in lines {
        match line {
            Line::Option { text: t, .. } => {
                text.push_str(t);
                text.push('\n');
            }
            Line::Requirement(r) if provided.contains(&r.normalized) => {
                excluded.insert(r.normalized.clone());
            }
            Line::Requirement(r) => {
                kept += 1;
                text.push_str(&r.spec);
                for o in &r.options {
                    text.push(' ');
                    text.push_str(o);
                }
                for h in &r.hashes {
                    text.push_str(" --hash=");
                    text.push_str(h);
                }
                text.push('\n');
            }
        }
    }
    Filtered {
        text,
        kept,
        excluded: excluded.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = include_str!("../../../functions/scorekeep-worker/requirements.txt");

    fn requirements(lines: &[Line]) -> Vec<&Requirement> {
        lines
            .iter()
            .filter_map(|l| match l {
                Line::Requirement(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a--_.b"), "a-b");
        assert_eq!(normalize("Boto3"), "boto3");
    }

    #[test]
    fn parses_the_committed_pip_compile_lock() {
        let lines = parse(LOCK).unwrap();
        let reqs = requirements(&lines);
        let names: Vec<&str> = reqs.iter().map(|r| r.normalized.as_str()).collect();
        assert_eq!(
            names,
            [
                "aws-xray-sdk",
                "boto3",
                "botocore",
                "certifi",
                "charset-normalizer",
                "idna",
                "jmespath",
                "python-dateutil",
                "requests",
                "s3transfer",
                "six",
                "urllib3",
                "wrapt"
            ]
        );
        let xray = reqs[0];
        assert_eq!(xray.spec, "aws-xray-sdk==2.15.0");
        assert_eq!(xray.version.as_deref(), Some("2.15.0"));
        assert_eq!(xray.hashes.len(), 2);
        assert!(xray.hashes[0].starts_with("sha256:"));
        let charset = reqs
            .iter()
            .find(|r| r.name == "charset-normalizer")
            .unwrap();
        assert!(charset.hashes.len() > 50, "{}", charset.hashes.len());
        assert!(reqs.iter().all(|r| r.options.is_empty()));
        check_locked(&lines).unwrap();
    }

    #[test]
    fn filters_runtime_provided_packages_by_normalized_name() {
        let lines = parse(LOCK).unwrap();
        let provided: Vec<String> = [
            "boto3",
            "botocore",
            "s3transfer",
            "jmespath",
            "Python_Dateutil",
            "six",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = filter(&lines, &provided);
        assert_eq!(f.kept, 7);
        assert_eq!(
            f.excluded,
            [
                "boto3",
                "botocore",
                "jmespath",
                "python-dateutil",
                "s3transfer",
                "six"
            ]
        );
        assert!(!f.text.contains("boto"), "{}", f.text);
        assert!(!f.text.contains('#'));
        // The filtered text is itself a valid lock with the same requirements.
        let again = parse(&f.text).unwrap();
        let reqs = requirements(&again);
        assert_eq!(reqs.len(), 7);
        assert_eq!(reqs[0].hashes, requirements(&lines)[0].hashes);
        check_locked(&again).unwrap();
        assert_eq!(filter(&lines, &[]).kept, 13);
    }

    #[test]
    fn continuation_comments_options_and_markers() {
        let text = "\
--index-url https://example.invalid/simple  # a mirror
# a comment \\
Foo_Bar[extra] == 1.0 ; python_version >= \"3.8\" \\
    --hash=sha256:aa \\
    --hash sha256:bb
    # via x
baz===2 --hash=sha256:cc
";
        let lines = parse(text).unwrap();
        assert_eq!(
            lines[0],
            Line::Option {
                line: 1,
                text: "--index-url https://example.invalid/simple".into()
            }
        );
        let reqs = requirements(&lines);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].line, 3);
        assert_eq!(reqs[0].normalized, "foo-bar");
        assert_eq!(
            reqs[0].spec,
            "Foo_Bar[extra] == 1.0 ; python_version >= \"3.8\""
        );
        assert_eq!(reqs[0].version.as_deref(), Some("1.0"));
        assert_eq!(reqs[0].hashes, ["sha256:aa", "sha256:bb"]);
        assert_eq!(reqs[1].version.as_deref(), Some("2"));
        assert_eq!(reqs[1].line, 7);
        check_locked(&lines).unwrap();
    }

    #[test]
    fn unlocked_and_unsupported_lines_are_errors_with_line_numbers() {
        let e =
            check_locked(&parse("a==1 --hash=sha256:x\nrequests>=2 --hash=sha256:y\n").unwrap())
                .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not pinned"), "{}", e.message);
        let e = check_locked(&parse("\n\nrequests==2.0\n").unwrap()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("no `--hash`"), "{}", e.message);
        assert!(check_locked(&parse("a==1.*  --hash=sha256:x").unwrap()).is_err());
        for bad in [
            "-r base.txt",
            "--requirement=base.txt",
            "-c c.txt",
            "-e .",
            "--editable .",
        ] {
            let e = parse(&format!("# x\n{bad}\n")).unwrap_err();
            assert_eq!(e.line, 2);
            assert!(e.message.contains("not supported"), "{}", e.message);
        }
        assert!(parse("./local-dir --hash=sha256:x").is_err());
    }
}
