//! The one place that knows which YAML library we use.
//!
//! `serde_yaml` is unmaintained; everything else in the crate goes through this module so a
//! swap to a maintained fork (e.g. `serde_yaml_ng`) is a one-line change here.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use serde_yaml::value::TaggedValue;
pub use serde_yaml::{Mapping, Number, Value};

/// A YAML syntax or shape error, with the 1-based position serde_yaml reports when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub(crate) message: String,
    pub(crate) position: Option<Position>,
    /// A next step, for the errors this module raises itself (limits, duplicate keys).
    pub(crate) hint: Option<&'static str>,
}

/// 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
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
        message = in_words(&redact_unexpected(&message));
        // serde_yaml's own guard against alias loops trips before our budget on small files.
        if message.contains("repetition limit exceeded") {
            message = format!(
                "{TOO_MANY_NODES} serde_yaml's repetition limit (aliases repeat anchored nodes)"
            );
        }
        let hint = if message.contains(DUPLICATE_KEY) {
            Some("a key may appear once in a mapping: remove or rename one of them")
        } else if message.contains(TOO_MANY_NODES) {
            Some("write the values out instead of repeating anchors (`&name`) through aliases (`*name`)")
        } else {
            None
        };
        YamlError {
            message,
            position,
            hint,
        }
    }
}

/// serde quotes the offending value ("invalid type: integer `42`, expected a string"); values
/// may be secrets (environment variables), so keep only its kind ("invalid type: integer").
fn redact_unexpected(message: &str) -> String {
    for marker in ["invalid type: ", "invalid value: "] {
        let Some(start) = message.find(marker).map(|i| i + marker.len()) else {
            continue;
        };
        let end = message[start..]
            .find(", expected")
            .map_or(message.len(), |i| start + i);
        let kind = &message[start..end];
        if let Some(quote) = kind.find([' ', '`', '"']) {
            return format!("{}{}", &message[..start + quote], &message[end..]);
        }
    }
    message.to_string()
}

/// serde names Rust types ("expected u32"); a config's author reads words.
fn in_words(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_string();
    };
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        other => other,
    };
    format!("{head}, expected {words}")
}

/// Larger than any config or template needs (CloudFormation's own limit for a template in S3
/// is 1 MB); checked before parsing.
pub(crate) const MAX_FILE_BYTES: usize = 1 << 20;

/// Nodes a document may expand to, every alias expansion counted. The committed template has
/// ~1,500; a few aliases repeated through each other (a "billion laughs") would otherwise
/// expand to gigabytes, which serde_yaml's own repetition limit does not prevent.
pub(crate) const MAX_NODES: usize = 200_000;

const DUPLICATE_KEY: &str = "duplicate key";
const TOO_MANY_NODES: &str = "the document expands to more than";

/// Parse `text`, refusing oversized files, alias bombs and duplicate mapping keys first.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    prescan(text)?;
    serde_yaml::from_str(text).map_err(YamlError::from)
}

/// Walk the document once without building anything: count nodes against [`MAX_NODES`] and
/// reject a key that repeats within one mapping (serde would silently keep the last value).
/// serde_yaml attaches the position of the node being visited to the errors raised here.
fn prescan(text: &str) -> Result<(), YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            message: format!(
                "the file is {} bytes, larger than the {MAX_FILE_BYTES}-byte limit",
                text.len()
            ),
            position: None,
            hint: Some("configs and templates are far smaller; check that this is the right file"),
        });
    }
    let budget = std::cell::Cell::new(MAX_NODES);
    let scan = scan::Node { budget: &budget };
    serde::de::DeserializeSeed::deserialize(scan, serde_yaml::Deserializer::from_str(text))
        .map_err(YamlError::from)
}

/// The visitors of [`prescan`].
mod scan {
    use std::cell::Cell;
    use std::collections::HashSet;
    use std::fmt;

    use serde::de::{
        self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
    };

    use super::{DUPLICATE_KEY, MAX_NODES, TOO_MANY_NODES};

    /// Any node: counts itself and walks its children.
    #[derive(Clone, Copy)]
    pub(super) struct Node<'a> {
        pub(super) budget: &'a Cell<usize>,
    }

    impl Node<'_> {
        fn count<E: de::Error>(self) -> Result<(), E> {
            match self.budget.get().checked_sub(1) {
                Some(left) => {
                    self.budget.set(left);
                    Ok(())
                }
                None => Err(E::custom(format!(
                    "{TOO_MANY_NODES} {MAX_NODES} nodes (aliases repeat anchored nodes)"
                ))),
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Node<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Node<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any YAML node")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            self.count()
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            self.count()
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            self.count()
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            self.count()
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            self.count()
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.count()
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            self.count()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            self.count()?;
            while seq.next_element_seed(self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            self.count()?;
            let mut seen = HashSet::new();
            while let Some(()) = map.next_key_seed(Key {
                node: self,
                seen: &mut seen,
            })? {
                map.next_value_seed(self)?;
            }
            Ok(())
        }
        /// A tagged node (`!Ref x`): serde_yaml presents the tag as an enum variant.
        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
            self.count()?;
            let (_tag, content) = data.variant::<String>()?;
            content.newtype_variant_seed(self)
        }
    }

    /// A mapping key: a node that must differ from the mapping's earlier scalar keys.
    struct Key<'a, 's> {
        node: Node<'a>,
        seen: &'s mut HashSet<String>,
    }

    impl Key<'_, '_> {
        fn scalar<E: de::Error>(self, kind: &str, text: String) -> Result<(), E> {
            self.node.count()?;
            // The kind keeps `1` and `"1"` apart, as YAML does.
            if self.seen.insert(format!("{kind}:{text}")) {
                Ok(())
            } else {
                Err(E::custom(format!("{DUPLICATE_KEY} `{text}`")))
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Key<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping key")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
            self.scalar("bool", v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
            self.scalar("int", v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
            self.scalar("int", v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
            self.scalar("float", v.to_string())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            self.scalar("str", v.to_string())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.scalar("null", "null".into())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            self.scalar("null", "null".into())
        }
        // Complex keys are counted, not compared: neither configs nor templates use them.
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            self.node.visit_seq(seq)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
            self.node.visit_map(map)
        }
        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
            self.node.visit_enum(data)
        }
    }
}

pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(YamlError::from)
}

/// A value as YAML data (for merging settings before serde reads them again).
pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<Value, YamlError> {
    serde_yaml::to_value(value).map_err(YamlError::from)
}

/// Read a value built in memory; the message is serde's, in words (it has no position).
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_yaml::from_value(value).map_err(|e| YamlError::from(e).message)
}

/// The tag name without its leading `!`, e.g. `Ref` for `!Ref`.
pub(crate) fn tag_name(tagged: &TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_string()
}

/// One step of a path into a YAML document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathSegment {
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
pub(crate) fn locate(source: &str, path: &[PathSegment]) -> Option<Position> {
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
    fn duplicate_keys_are_located_at_the_second_one() {
        let err = from_str::<Value>("a:\n  b: 1\n  c: 2\n  b: 3\n").unwrap_err();
        assert!(err.message.ends_with("duplicate key `b`"), "{err:?}");
        assert_eq!(err.position, Some(Position { line: 4, column: 3 }));
        assert!(err.hint.is_some());
        // Equal text of different kinds are different keys; nested mappings are separate.
        assert!(from_str::<Value>("1: a\n'1': b\nx: {k: 1}\ny: {k: 2}\n").is_ok());
        let err = from_str::<Value>("t: !Ref {k: 1, k: 2}\n").unwrap_err();
        assert!(err.message.contains("duplicate key"), "{err:?}");
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            a: String,
            b: u32,
        }
        let err = from_str::<S>("a: {k: s3cr3t}\nb: 1\n").unwrap_err();
        assert!(
            err.message
                .ends_with("invalid type: map, expected a string"),
            "{err:?}"
        );
        let err = from_str::<S>("a: x\nb: s3cr3t\n").unwrap_err();
        assert!(
            err.message
                .ends_with("invalid type: string, expected a whole number (0 or more)"),
            "{err:?}"
        );
        let err = from_str::<S>("a: x\nb: -1\n").unwrap_err();
        assert!(!err.message.contains("-1"), "{err:?}");
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = String::from("l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
        for level in 1..=9 {
            let items = vec![format!("*l{}", level - 1); 10].join(", ");
            text.push_str(&format!("l{level}: &l{level} [{items}]\n"));
        }
        let started = std::time::Instant::now();
        let err = from_str::<Value>(&text).unwrap_err();
        assert!(err.message.contains("aliases"), "{err:?}");
        assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());
        // Empty and explicit single documents pass the scan as before.
        assert_eq!(from_str::<Value>("").unwrap(), Value::Null);
        assert!(from_str::<Value>("---\na: 1\n").is_ok());
        // A few aliases are fine.
        let v: Value = from_str("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(v["b"], v["a"]);
    }

    #[test]
    fn oversized_text_is_refused_before_parsing() {
        let text = format!("a: \"{}\"\n", "x".repeat(MAX_FILE_BYTES));
        let err = from_str::<Value>(&text).unwrap_err();
        assert!(err.message.contains("larger than"), "{err:?}");
    }

    #[test]
    fn short_form_tags_survive_a_round_trip() {
        let v: Value = from_str("A: !Ref B\nC: !GetAtt D.Arn\n").unwrap();
        let out = to_string(&v).unwrap();
        assert_eq!(out, "A: !Ref B\nC: !GetAtt D.Arn\n");
    }
}
