//! Reading the files a user names (config, templates, events) with a size cap, so
//! `--config /dev/zero` fails at once instead of filling memory. The limits are in the README.

use std::io::{self, Read};
use std::path::Path;

use crate::yaml::Position;

/// What is being read, and so how much of it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `scorekeep-deploy.yaml`: a few KB in practice.
    Config,
    /// A CloudFormation template: CloudFormation itself takes at most 1 MB (from S3).
    Template,
    /// An `invoke --local` event: Lambda takes at most 6 MB; room for a test that tries more.
    Event,
}

impl Input {
    pub(crate) fn limit(self) -> u64 {
        match self {
            Input::Config | Input::Template => crate::yaml::MAX_FILE_BYTES as u64,
            Input::Event => 16 << 20,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Input::Config => "a config file",
            Input::Template => "a template",
            Input::Event => "an event",
        }
    }
}

/// The whole of `path`, or an error of kind `FileTooLarge` as soon as it passes the limit.
pub(crate) fn read(path: &Path, input: Input) -> io::Result<Vec<u8>> {
    read_from(std::fs::File::open(path)?, input)
}

/// [`read`] for a stream (standard input).
pub(crate) fn read_from(reader: impl Read, input: Input) -> io::Result<Vec<u8>> {
    let limit = input.limit();
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "larger than {} MiB, the limit for {}",
                limit >> 20,
                input.what()
            ),
        ));
    }
    Ok(bytes)
}

/// Whether an I/O error is [`read`]'s size cap (for hints).
pub(crate) fn is_too_large(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::FileTooLarge
}

/// The text of `bytes`, or the 1-based position of the first byte that is not UTF-8.
pub(crate) fn utf8(bytes: Vec<u8>) -> Result<String, Position> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        Position { line, column }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_stream_fails_at_the_limit() {
        let err = read_from(io::repeat(0), Input::Config).unwrap_err();
        assert!(is_too_large(&err));
        assert_eq!(
            err.to_string(),
            "larger than 1 MiB, the limit for a config file"
        );
        let exactly = read_from(io::repeat(b'a').take(1 << 20), Input::Template).unwrap();
        assert_eq!(exactly.len(), 1 << 20);
    }

    #[test]
    fn non_utf8_is_located_by_line_and_column() {
        assert_eq!(
            utf8(b"a: 1\nb: \xe9t\xe9\n".to_vec()),
            Err(Position { line: 2, column: 4 })
        );
        assert_eq!(
            utf8("é: \u{1F600}\n".as_bytes().to_vec()).unwrap(),
            "é: \u{1F600}\n"
        );
    }
}
