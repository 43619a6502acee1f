//! A bundled Node handler's stack mapped back to its sources: esbuild makes one minified file,
//! so a thrown error's positions (`index.js:1:245963`) say nothing until they go through the
//! source map the build wrote (`<function>.js.map` beside the zip, or inline in the file).
//! Source map v3: `mappings` is VLQ-encoded, one group per generated line.

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

/// One mapped position of a generated line: from `column` on, the code is `source`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    column: u32,
    source: usize,
    line: u32,
    source_column: u32,
}

/// A parsed source map: its sources and, per generated line, its segments by column.
#[derive(Debug)]
pub(crate) struct SourceMap {
    sources: Vec<String>,
    lines: Vec<Vec<Segment>>,
}

impl SourceMap {
    /// A v3 source map; `None` when it is not one (nothing is mapped then).
    pub(crate) fn parse(json: &[u8]) -> Option<SourceMap> {
        let map: Value = serde_json::from_slice(json).ok()?;
        let root = map.get("sourceRoot").and_then(Value::as_str).unwrap_or("");
        let sources = map
            .get("sources")?
            .as_array()?
            .iter()
            .map(|s| format!("{root}{}", s.as_str().unwrap_or("?")))
            .collect();
        let lines = decode_mappings(map.get("mappings")?.as_str()?)?;
        Some(SourceMap { sources, lines })
    }

    /// The original `(source, line, column)` of a generated position, all 0-based.
    fn lookup(&self, line: u32, column: u32) -> Option<(&str, u32, u32)> {
        let segments = self.lines.get(line as usize)?;
        let at = segments
            .partition_point(|s| s.column <= column)
            .checked_sub(1)?;
        let s = segments[at];
        Some((
            self.sources.get(s.source)?.as_str(),
            s.line,
            s.source_column,
        ))
    }
}

/// The segments of every generated line; the source, its line and column are deltas that run
/// on across lines, the generated column restarts at each line.
fn decode_mappings(mappings: &str) -> Option<Vec<Vec<Segment>>> {
    let (mut source, mut line, mut source_column) = (0i64, 0i64, 0i64);
    let mut lines = Vec::new();
    for group in mappings.split(';') {
        let mut column = 0i64;
        let mut segments = Vec::new();
        for field in group.split(',').filter(|f| !f.is_empty()) {
            let v = decode_vlq(field)?;
            column += v[0];
            if v.len() >= 4 {
                source += v[1];
                line += v[2];
                source_column += v[3];
                segments.push(Segment {
                    column: u32::try_from(column).ok()?,
                    source: usize::try_from(source).ok()?,
                    line: u32::try_from(line).ok()?,
                    source_column: u32::try_from(source_column).ok()?,
                });
            }
        }
        segments.sort_by_key(|s| s.column);
        lines.push(segments);
    }
    Some(lines)
}

/// Base64 VLQ: 5 bits a digit, least significant first, continuation in bit 6, sign in bit 1.
fn decode_vlq(field: &str) -> Option<Vec<i64>> {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut values = Vec::new();
    let (mut value, mut shift) = (0i64, 0u32);
    for byte in field.bytes() {
        let digit = DIGITS.iter().position(|d| *d == byte)? as i64;
        value += (digit & 31) << shift;
        if digit & 32 != 0 {
            shift += 5;
            if shift > 60 {
                return None;
            }
            continue;
        }
        values.push(if value & 1 == 1 {
            -(value >> 1)
        } else {
            value >> 1
        });
        (value, shift) = (0, 0);
    }
    (shift == 0 && !values.is_empty()).then_some(values)
}

/// What maps one run's stack: the bundled file as the handler ran it and its map.
pub(crate) struct StackMap {
    map: SourceMap,
    /// The bundled file, as given and as Node names it (its real path).
    bundled: Vec<PathBuf>,
    /// The function's source directory as the config names it.
    source_dir: PathBuf,
}

impl StackMap {
    /// For a function bundled by esbuild: its one file in the task root (the handler's module,
    /// `.js`, `.mjs` or `.cjs`) and its map (inline, or `<function>.js.map` beside `zip`).
    pub(crate) fn for_bundle(
        task_root: &Path,
        handler: &str,
        zip: &Path,
        source_dir: &Path,
    ) -> Option<StackMap> {
        let module = handler.rsplit_once('.').map_or(handler, |(m, _)| m);
        let file = [".js", ".mjs", ".cjs"]
            .iter()
            .map(|ext| task_root.join(format!("{module}{ext}")))
            .find(|p| p.is_file())?;
        let beside_zip = zip.with_extension("js.map");
        let map = load(&file, &beside_zip)?;
        let mut bundled = vec![file.clone()];
        bundled.extend(
            std::fs::canonicalize(&file)
                .ok()
                .filter(|real| *real != file),
        );
        Some(StackMap {
            map,
            bundled,
            source_dir: source_dir.to_path_buf(),
        })
    }

    /// The stack with the bundle's positions mapped to the sources'.
    pub(crate) fn apply(&self, stack: &[String]) -> Vec<String> {
        self.bundled.iter().fold(stack.to_vec(), |lines, file| {
            map_stack(&lines, file, &self.map, &self.source_dir)
        })
    }
}

/// The map of a bundled file: inline (`sourceMappingURL=data:…;base64,…` at its end), else
/// the one beside the zip. `None` when there is none or it cannot be read.
fn load(bundled: &Path, beside_zip: &Path) -> Option<SourceMap> {
    let code = std::fs::read_to_string(bundled).ok()?;
    let inline = code
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("//# sourceMappingURL=data:"))
        .and_then(|url| url.split_once(";base64,"))
        .and_then(|(_, data)| base64::engine::general_purpose::STANDARD.decode(data).ok());
    match inline {
        Some(json) => SourceMap::parse(&json),
        None => SourceMap::parse(&std::fs::read(beside_zip).ok()?),
    }
}

/// The stack with each position in `bundled` (`<path>:<line>:<column>`, 1-based as Node
/// prints them) replaced by its source's, under `source_dir`. Positions the map does not
/// cover are left as they are.
fn map_stack(stack: &[String], bundled: &Path, map: &SourceMap, source_dir: &Path) -> Vec<String> {
    let needle = format!("{}:", bundled.display());
    stack
        .iter()
        .map(|line| match line.find(&needle) {
            Some(at) => {
                let rest = &line[at + needle.len()..];
                let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
                let line_end = digits(rest);
                let Some(col_text) = rest[line_end..].strip_prefix(':') else {
                    return line.clone();
                };
                let col_end = digits(col_text);
                let (Ok(l), Ok(c)) = (
                    rest[..line_end].parse::<u32>(),
                    col_text[..col_end].parse::<u32>(),
                ) else {
                    return line.clone();
                };
                match map.lookup(l.saturating_sub(1), c.saturating_sub(1)) {
                    Some((source, sl, sc)) => format!(
                        "{}{}:{}:{}{}",
                        &line[..at],
                        shown_source(source, source_dir),
                        sl + 1,
                        sc + 1,
                        &col_text[col_end..]
                    ),
                    None => line.clone(),
                }
            }
            None => line.clone(),
        })
        .collect()
}

/// A map's source path as the user knows it. esbuild wrote the map in its `out/` directory
/// and read the function's files from `tree/` beside it (`crate::bundle::esbuild`), so
/// `../tree/index.js` is `index.js` of the function's source directory; any other path is
/// shown as the map names it.
fn shown_source(source: &str, source_dir: &Path) -> String {
    match normalize(&Path::new("out").join(source)).strip_prefix("tree") {
        Ok(inside) => source_dir.join(inside).display().to_string(),
        Err(_) => source.to_string(),
    }
}

/// `a/b/../c` as `a/c`, without asking the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlq_digits_decode_to_signed_values() {
        assert_eq!(decode_vlq("AAAA"), Some(vec![0, 0, 0, 0]));
        assert_eq!(decode_vlq("D"), Some(vec![-1]));
        assert_eq!(decode_vlq("gB"), Some(vec![16]));
        assert_eq!(decode_vlq("2HwcU"), Some(vec![123, 456, 10]));
        assert_eq!(decode_vlq("g"), None, "a continuation without its end");
        assert_eq!(decode_vlq("*"), None);
    }

    /// Generated line 1: column 0 from a.js 1:1, column 10 from b.js 5:3; line 2: column 4
    /// from b.js 6:1.
    fn map() -> SourceMap {
        let json = r#"{"version":3,"sources":["../tree/a.js","../tree/node_modules/b/b.js"],
            "mappings":"AAAA,UCII;IACJ"}"#;
        SourceMap::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn positions_map_to_the_segment_that_covers_them() {
        let m = map();
        assert_eq!(m.lookup(0, 0), Some(("../tree/a.js", 0, 0)));
        assert_eq!(m.lookup(0, 9), Some(("../tree/a.js", 0, 0)));
        assert_eq!(m.lookup(0, 10), Some(("../tree/node_modules/b/b.js", 4, 4)));
        assert_eq!(
            m.lookup(0, 500),
            Some(("../tree/node_modules/b/b.js", 4, 4))
        );
        assert_eq!(m.lookup(1, 4), Some(("../tree/node_modules/b/b.js", 5, 0)));
        assert_eq!(m.lookup(1, 3), None);
        assert_eq!(m.lookup(7, 0), None);
    }

    #[test]
    fn a_stack_in_the_bundle_names_the_functions_sources() {
        let stack = vec![
            "Error: boom".to_string(),
            "    at handler (/tmp/run/task/index.js:1:11)".to_string(),
            "    at /tmp/run/task/index.js:2:5".to_string(),
            "    at /tmp/run/task/index.js:9:1".to_string(),
            "    at Runtime.handle (/tmp/run/runner.js:3:7)".to_string(),
        ];
        let mapped = map_stack(
            &stack,
            Path::new("/tmp/run/task/index.js"),
            &map(),
            Path::new("functions/f"),
        );
        assert_eq!(
            mapped,
            [
                "Error: boom",
                "    at handler (functions/f/node_modules/b/b.js:5:5)",
                "    at functions/f/node_modules/b/b.js:6:1",
                "    at /tmp/run/task/index.js:9:1",
                "    at Runtime.handle (/tmp/run/runner.js:3:7)",
            ]
        );
    }
}
