//! References in config values: `${output:Name}` for a stack output, `${region}` for the
//! region, `$${` for a literal `${`. Parsed when the config is validated, resolved at deploy.

use std::collections::BTreeMap;

/// A piece of a value with references: literal text, a stack output, or the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Output(String),
    Region,
}

/// Split `a${output:X}b${region}` into pieces. `$${` is a literal `${`.
///
/// Values may be secrets, so an error says where in the value the problem is (a character
/// offset, 1-based) and never quotes the value.
pub(crate) fn parse_references(value: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(idx) = rest.find('$') {
        text.push_str(&rest[..idx]);
        let after = &rest[idx..];
        let at = value[..value.len() - after.len()].chars().count() + 1;
        if let Some(stripped) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = stripped;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or_else(|| {
                format!("unclosed `${{` at character {at} of the value (no `}}` follows)")
            })?;
            let piece = reference_piece(&body[..end], at)?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
            rest = &body[end + 1..];
        } else {
            text.push('$');
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The piece for the text between `${` and `}` found at character `at` of a value.
fn reference_piece(reference: &str, at: usize) -> Result<Piece, String> {
    if reference == "region" {
        return Ok(Piece::Region);
    }
    if let Some(name) = reference.strip_prefix("output:") {
        if name.is_empty() {
            return Err(format!(
                "empty output name in the `${{output:}}` at character {at} of the value"
            ));
        }
        return Ok(Piece::Output(name.to_string()));
    }
    // Name the keyword the user probably meant, without quoting what they wrote.
    let kind = reference.split(':').next().unwrap_or_default();
    let guess = crate::suggest::closest(kind, ["output", "region"])
        .map(|k| {
            format!(
                ": did you mean `${{{k}{}}}`?",
                if k == "output" { ":Name" } else { "" }
            )
        })
        .unwrap_or_default();
    Err(format!(
        "unknown reference at character {at} of the value{guess}"
    ))
}

/// The output names a value refers to.
pub(crate) fn referenced_outputs(value: &str) -> Vec<String> {
    parse_references(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Output(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// Resolve references against stack outputs and the region. A missing output is an error
/// naming it.
pub(crate) fn resolve_references(
    value: &str,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse_references(value)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Region => out.push_str(region),
            Piece::Output(name) => match outputs.get(&name) {
                Some(v) => out.push_str(v),
                None => return Err(format!("stack output `{name}` does not exist")),
            },
        }
    }
    Ok(out)
}
