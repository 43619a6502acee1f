//! Text from outside (X-Ray documents, handler errors, AWS messages) made safe to print on a
//! terminal: control characters are shown, not obeyed, so a segment named
//! `"\u{1b}]0;pwned\u{7}"` cannot retitle the terminal or clear the screen. JSON output is
//! never passed through here: serde_json already escapes control characters, exactly.

use std::borrow::Cow;

/// Whether line breaks in the text are kept (a multi-line report or error) or shown as `\n`
/// (one field of one line, such as a segment name, where a newline would forge a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    Keep,
    Escape,
}

/// `text` with every control character (C0, DEL, C1) and every bidirectional override made
/// visible: ESC as `\e`, BEL as `\a`, CR as `\r`, others as `\u{..}`. Tabs stay (harmless);
/// newlines stay or not as `lines` says. Borrowed when there is nothing to change.
pub(crate) fn visible(text: &str, lines: Lines) -> Cow<'_, str> {
    if !text.chars().any(|c| needs_escape(c, lines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c, lines) {
            out.push(c);
            continue;
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\u{7}' => out.push_str("\\a"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// [`visible`] for one field of a line: newlines too.
pub(crate) fn field(text: &str) -> Cow<'_, str> {
    visible(text, Lines::Escape)
}

/// `text` with the credentials of every URL in it (`http://user:pass@host`) replaced by
/// `***`: an endpoint URL may carry them, and it is named in retry lines, hints and `-v` logs.
/// The one place they are taken out; borrowed when there are none.
pub fn redact_credentials(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment or the end of the word.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '`')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
                changed = true;
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Standard error for logs, with [`redact_credentials`] applied to what is written. The log
/// formatter writes each event in one `write_all`, so a URL is never split across writes.
pub struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact_credentials(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn needs_escape(c: char, lines: Lines) -> bool {
    match c {
        '\t' => false,
        '\n' => lines == Lines::Escape,
        // Bidi embeddings, overrides and isolates reorder what is shown ("trojan source").
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => c.is_control(),
    }
}

/// An ISO 8601 timestamp from outside with its fraction of a second cut to milliseconds
/// (`2026-12-04T12:27:52.356497000Z` → `2026-12-04T12:27:52.356Z`): moto writes nanoseconds,
/// Lambda milliseconds. Anything else is returned as it is.
pub(crate) fn millis(timestamp: &str) -> Cow<'_, str> {
    let Some(dot) = timestamp.find('.') else {
        return Cow::Borrowed(timestamp);
    };
    let digits = timestamp[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(timestamp.len() - dot - 1);
    if digits <= 3 {
        return Cow::Borrowed(timestamp);
    }
    let end = dot + 1 + digits;
    Cow::Owned(format!("{}{}", &timestamp[..dot + 4], &timestamp[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let evil = "sub\u{1b}]0;pwned\u{7}\u{1b}[2J";
        let shown = field(evil);
        assert_eq!(shown, "sub\\e]0;pwned\\a\\e[2J");
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(
            field("a\u{9b}31m\u{7f}\u{202e}b"),
            "a\\u{9b}31m\\u{7f}\\u{202e}b"
        );
    }

    #[test]
    fn url_credentials_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact_credentials("connection to lambda at http://user:pa%40ss@127.0.0.1:5000 failed"),
            "connection to lambda at http://***@127.0.0.1:5000 failed"
        );
        assert_eq!(
            redact_credentials("`https://k:s@h/p?q=a@b` and http://u@h2/x"),
            "`https://***@h/p?q=a@b` and http://***@h2/x"
        );
        assert!(matches!(
            redact_credentials("http://127.0.0.1:5000/ and mail a@b"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn newlines_are_kept_only_when_asked_and_plain_text_is_borrowed() {
        assert_eq!(visible("one\ntwo\r", Lines::Keep), "one\ntwo\\r");
        assert_eq!(visible("one\ntwo", Lines::Escape), "one\\ntwo");
        assert!(matches!(
            visible("naïve — tab\there", Lines::Escape),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn timestamps_are_cut_to_milliseconds() {
        assert_eq!(
            millis("2026-12-04T12:27:52.356497000Z"),
            "2026-12-04T12:27:52.356Z"
        );
        assert_eq!(
            millis("2026-12-04T12:27:52.356497+0000"),
            "2026-12-04T12:27:52.356+0000"
        );
        assert_eq!(
            millis("2026-12-04T12:27:52.356+0000"),
            "2026-12-04T12:27:52.356+0000"
        );
        assert_eq!(millis("2026-12-04T12:27:52Z"), "2026-12-04T12:27:52Z");
    }
}
