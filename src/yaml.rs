//! The one place that knows which YAML library we use.
//!
//! `serde_yaml` is unmaintained; everything else in the crate goes through this module so a
//! swap to a maintained fork (e.g. `serde_yaml_ng`) is a one-line change here.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use serde_yaml::value::{Tag, TaggedValue};
pub use serde_yaml::{Mapping, Number, Value};

/// A YAML syntax or shape error, with the 1-based position serde_yaml reports when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub position: Option<Position>,
}

/// 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl From<serde_yaml::Error> for YamlError {
    fn from(err: serde_yaml::Error) -> Self {
        let position = err.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
        });
        // serde_yaml appends " at line X column Y" to its message; we print the position
        // ourselves in `file:line:column` form, so strip the duplicate.
        let mut message = err.to_string();
        if let Some(idx) = message.find(" at line ") {
            message.truncate(idx);
        }
        YamlError { message, position }
    }
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(YamlError::from)
}

pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, YamlError> {
    serde_yaml::from_value(value).map_err(YamlError::from)
}

pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(YamlError::from)
}

/// The tag name without its leading `!`, e.g. `Ref` for `!Ref`.
pub fn tag_name(tagged: &TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_string()
}

pub fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: Tag::new(tag),
        value,
    }))
}

/// One step of a path into a YAML document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}

impl From<String> for PathSegment {
    fn from(key: String) -> Self {
        PathSegment::Key(key)
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// Best-effort position of the node at `path` in block-style YAML `source`.
///
/// serde_yaml's `Value` carries no positions, but our errors must say file:line:column. Config
/// files and templates are written in block style, so walking indentation finds the line of
/// each key. When a segment cannot be found (flow style, odd layout) the deepest position found
/// so far is returned, which still points the user at the right block.
pub fn locate(source: &str, path: &[PathSegment]) -> Option<Position> {
    let lines: Vec<Line> = source.lines().enumerate().filter_map(Line::parse).collect();
    let (mut start, mut end) = (0, lines.len());
    let mut found = None;
    for segment in path {
        let hit = find_segment(&lines[start..end], segment).map(|(i, c)| (i + start, c));
        let Some((i, column)) = hit else { return found };
        found = Some(Position {
            line: lines[i].number,
            column: column + 1,
        });
        // A key's children follow it; a sequence item's first key is on its own line.
        start = if matches!(segment, PathSegment::Key(_)) {
            i + 1
        } else {
            i
        };
        end = (i + 1..end)
            .find(|&j| lines[j].start() <= column)
            .unwrap_or(end);
    }
    found
}

/// Index (into `lines`) and column of `segment` among the children listed in `lines`.
fn find_segment(lines: &[Line], segment: &PathSegment) -> Option<(usize, usize)> {
    match segment {
        PathSegment::Key(key) => {
            let level = lines.first()?.indent;
            let i = lines
                .iter()
                .position(|l| l.indent == level && key_matches(l.text, key))?;
            Some((i, level))
        }
        PathSegment::Index(index) => {
            let level = lines.iter().filter_map(|l| l.dash).min()?;
            let (i, _) = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.dash == Some(level))
                .nth(*index)?;
            Some((i, level))
        }
    }
}

/// A non-blank, non-comment source line, with any leading `- ` of a sequence item split off.
struct Line<'a> {
    number: usize,
    indent: usize,
    dash: Option<usize>,
    text: &'a str,
}

impl<'a> Line<'a> {
    fn parse((index, raw): (usize, &'a str)) -> Option<Self> {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let lead = raw.len() - trimmed.len();
        let (dash, indent, text) = match trimmed.strip_prefix("- ") {
            Some(rest) => {
                let rest_trimmed = rest.trim_start();
                (Some(lead), raw.len() - rest_trimmed.len(), rest_trimmed)
            }
            None => (None, lead, trimmed),
        };
        Some(Line {
            number: index + 1,
            indent,
            dash,
            text,
        })
    }

    /// Where the line's structure begins: the dash of a sequence item, else its text.
    fn start(&self) -> usize {
        self.dash.unwrap_or(self.indent)
    }
}

fn key_matches(trimmed: &str, key: &str) -> bool {
    for candidate in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(rest) = trimmed.strip_prefix(&candidate) {
            if rest.starts_with(':') {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
top: 1
functions:
  # comment
  random-name:
    runtime: nodejs22.x
    environment:
      TOPIC_ARN: x
  worker:
    runtime: python3.13
stacks:
  - name: a
    template: t.yaml
  - name: b
    parameters:
      P: 1
";

    fn at(path: &[PathSegment]) -> Option<(usize, usize)> {
        locate(DOC, path).map(|p| (p.line, p.column))
    }

    #[test]
    fn finds_nested_keys() {
        assert_eq!(at(&["functions".into()]), Some((2, 1)));
        assert_eq!(
            at(&["functions".into(), "worker".into(), "runtime".into()]),
            Some((9, 5))
        );
        assert_eq!(
            at(&[
                "functions".into(),
                "random-name".into(),
                "environment".into(),
                "TOPIC_ARN".into()
            ]),
            Some((7, 7))
        );
    }

    #[test]
    fn finds_sequence_items_and_their_keys() {
        assert_eq!(at(&["stacks".into(), 1usize.into()]), Some((13, 3)));
        assert_eq!(
            at(&[
                "stacks".into(),
                1usize.into(),
                "parameters".into(),
                "P".into()
            ]),
            Some((15, 7))
        );
        assert_eq!(
            at(&["stacks".into(), 0usize.into(), "template".into()]),
            Some((12, 5))
        );
    }

    #[test]
    fn falls_back_to_deepest_known_ancestor() {
        assert_eq!(
            at(&["functions".into(), "worker".into(), "nope".into()]),
            Some((8, 3))
        );
        assert_eq!(at(&["missing".into()]), None);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = from_str::<Value>("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.is_some(), "{err:?}");
        assert!(!err.message.contains(" at line "));
    }

    #[test]
    fn short_form_tags_survive_a_round_trip() {
        let v: Value = from_str("A: !Ref B\nC: !GetAtt D.Arn\n").unwrap();
        let out = to_string(&v).unwrap();
        assert_eq!(out, "A: !Ref B\nC: !GetAtt D.Arn\n");
    }
}
