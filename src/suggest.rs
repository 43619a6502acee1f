//! Did-you-mean: the one place that decides whether a name someone typed is close enough to a
//! known one to be a typo (config keys, function names on the command line, template names,
//! reference kinds), so every hint agrees.

/// The candidate with the smallest edit distance to `typed` (case-insensitive), when that
/// distance is at most a third of the candidate's length (and at least 2): a typo, not another
/// word.
pub(crate) fn closest<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&typed, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `X`? " for the closest candidate, or nothing: the start of a hint.
pub(crate) fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(typed, candidates).map(hint).unwrap_or_default()
}

/// "did you mean `name`? ", for a guess made some other way too.
pub(crate) fn hint(name: &str) -> String {
    format!("did you mean `{name}`? ")
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_suggested_and_another_word_is_not() {
        let names = ["random-name", "scorekeep-worker"];
        assert_eq!(closest("random-nmae", names), Some("random-name"));
        assert_eq!(closest("SCOREKEEP-WORKR", names), Some("scorekeep-worker"));
        assert_eq!(closest("nope", names), None);
        assert_eq!(
            did_you_mean("memroy", ["memory", "timeout"]),
            "did you mean `memory`? "
        );
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
