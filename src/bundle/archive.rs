//! Deterministic zip writing: the same entries give the same bytes on any machine.
//!
//! Entries are sorted by path, every entry carries one fixed timestamp (`SOURCE_DATE_EPOCH`,
//! else 1980-01-01 00:00:00 UTC), permissions are normalized to 0644 or 0755, compression is
//! deflate at a fixed level, and there are no directory entries, no extra fields and no comment.

use std::io::{Cursor, Read, Write};
use std::path::PathBuf;

use ::zip::write::SimpleFileOptions;
use ::zip::{CompressionMethod, DateTime, ZipWriter};

/// 1980-01-01T00:00:00Z, the earliest time a zip entry can carry.
pub(crate) const ZIP_EPOCH: i64 = 315_532_800;
/// Deflate level: fixed so that output does not depend on a library default.
pub(crate) const COMPRESSION_LEVEL: i64 = 6;

/// Where an entry's bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum Contents {
    /// In-memory entries (the archive's own tests).
    #[cfg(test)]
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One file in the archive.
#[derive(Debug, Clone)]
pub(crate) struct ZipEntry {
    /// Relative path with `/` separators.
    pub(crate) path: String,
    pub(crate) executable: bool,
    pub(crate) contents: Contents,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("refusing zip entry `{path}`: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("two files would be stored as `{0}`")]
    Duplicate(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the zip: {0}")]
    Zip(#[from] ::zip::result::ZipError),
    #[error("writing the zip: {0}")]
    Io(#[from] std::io::Error),
}

/// Check that `path` is a safe, normalized, relative zip entry name.
pub(crate) fn validate_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\\') {
        return Err("backslash in path");
    }
    if path.contains('\0') {
        return Err("NUL in path");
    }
    if path.len() > 1 && path.as_bytes()[1] == b':' {
        return Err("drive letter in path");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component"),
            "." => return Err("`.` path component"),
            ".." => return Err("`..` path component"),
            _ => {}
        }
    }
    Ok(())
}

/// The zip timestamp for `SOURCE_DATE_EPOCH` seconds, clamped to what zip can store
/// (1980-01-01 to 2107-12-31, UTC, even seconds).
pub(crate) fn zip_datetime(epoch_seconds: i64) -> DateTime {
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let secs = epoch_seconds.clamp(ZIP_EPOCH, MAX);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    DateTime::from_date_and_time(
        y as u16,
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        ((rem % 3600) / 60) as u8,
        (rem % 60) as u8,
    )
    .expect("clamped to the zip range")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Write `entries` as a deterministic zip and return its bytes. Entries are sorted by path
/// (byte order); duplicate or unsafe paths are refused.
pub(crate) fn write_zip(
    mut entries: Vec<ZipEntry>,
    epoch_seconds: i64,
) -> Result<Vec<u8>, ArchiveError> {
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    for pair in entries.windows(2) {
        if pair[0].path == pair[1].path {
            return Err(ArchiveError::Duplicate(pair[0].path.clone()));
        }
    }
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(COMPRESSION_LEVEL))
        .last_modified_time(zip_datetime(epoch_seconds))
        .large_file(false);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut buf = Vec::new();
    for entry in &entries {
        validate_path(&entry.path).map_err(|reason| ArchiveError::BadPath {
            path: entry.path.clone(),
            reason,
        })?;
        let options = base.unix_permissions(if entry.executable { 0o755 } else { 0o644 });
        let data: &[u8] = match &entry.contents {
            #[cfg(test)]
            Contents::Bytes(b) => b,
            Contents::File(path) => {
                buf.clear();
                std::fs::File::open(path)
                    .and_then(|mut f| f.read_to_end(&mut buf))
                    .map_err(|source| ArchiveError::Read {
                        path: path.clone(),
                        source,
                    })?;
                &buf
            }
        };
        zip.start_file(entry.path.as_str(), options)?;
        zip.write_all(data)?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, data: &[u8], executable: bool) -> ZipEntry {
        ZipEntry {
            path: path.into(),
            executable,
            contents: Contents::Bytes(data.to_vec()),
        }
    }

    #[test]
    fn same_entries_in_any_order_give_the_same_bytes() {
        let a = vec![
            entry("b.txt", b"bee", false),
            entry("a/run.sh", b"#!/bin/sh\n", true),
            entry("a.txt", b"ay", false),
        ];
        let mut b = a.clone();
        b.reverse();
        let za = write_zip(a, ZIP_EPOCH).unwrap();
        let zb = write_zip(b, ZIP_EPOCH).unwrap();
        assert_eq!(za, zb);

        let mut archive = ::zip::ZipArchive::new(Cursor::new(za)).unwrap();
        let names: Vec<_> = archive.file_names().map(str::to_string).collect();
        let mut ordered = Vec::new();
        for i in 0..archive.len() {
            let f = archive.by_index(i).unwrap();
            ordered.push((f.name().to_string(), f.unix_mode().unwrap() & 0o777));
            let t = f.last_modified().unwrap();
            assert_eq!((t.year(), t.month(), t.day(), t.hour()), (1980, 1, 1, 0));
        }
        assert_eq!(names.len(), 3);
        assert_eq!(
            ordered,
            vec![
                ("a.txt".to_string(), 0o644),
                ("a/run.sh".to_string(), 0o755),
                ("b.txt".to_string(), 0o644)
            ]
        );
    }

    #[test]
    fn timestamp_follows_source_date_epoch() {
        // 2024-02-29T13:45:30Z
        let t = zip_datetime(1_709_214_330);
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2024, 2, 29, 13, 45, 30)
        );
        let early = zip_datetime(0);
        assert_eq!((early.year(), early.month(), early.day()), (1980, 1, 1));
        let z1 = write_zip(vec![entry("a", b"x", false)], ZIP_EPOCH).unwrap();
        let z2 = write_zip(vec![entry("a", b"x", false)], 1_709_214_330).unwrap();
        assert_ne!(z1, z2);
    }

    #[test]
    fn unsafe_and_duplicate_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "C:/x",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?} accepted");
            assert!(write_zip(vec![entry(bad, b"", false)], ZIP_EPOCH).is_err());
        }
        assert!(validate_path("node_modules/@aws-sdk/core/package.json").is_ok());
        assert!(validate_path("..hidden/x").is_ok());
        let err = write_zip(
            vec![entry("a", b"1", false), entry("a", b"2", false)],
            ZIP_EPOCH,
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Duplicate(p) if p == "a"));
    }

    #[test]
    fn file_contents_are_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, b"from disk").unwrap();
        let bytes = write_zip(
            vec![ZipEntry {
                path: "f.txt".into(),
                executable: false,
                contents: Contents::File(path),
            }],
            ZIP_EPOCH,
        )
        .unwrap();
        let mut archive = ::zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut s = String::new();
        archive
            .by_name("f.txt")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "from disk");
    }
}
