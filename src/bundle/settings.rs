//! Build settings read from the environment once per build: `SOURCE_DATE_EPOCH` and the
//! Lambda size limits (overridable for tests), and the Python whose pip installs dependencies.

use std::ffi::OsString;

use super::{archive, python, BuildError, MAX_DIRECT_UPLOAD_BYTES, MAX_UNZIPPED_BYTES};

/// Settings read from the environment once per build.
#[derive(Debug, Clone)]
pub(crate) struct BuildSettings {
    pub(crate) source_date_epoch: i64,
    pub(crate) max_unzipped_bytes: u64,
    pub(crate) max_direct_upload_bytes: u64,
    pub(crate) python: OsString,
}

impl BuildSettings {
    pub(crate) fn from_env() -> Result<Self, BuildError> {
        let mut settings = Self::from_lookup(|k| std::env::var(k).ok())?;
        settings.python = python::python_program();
        Ok(settings)
    }

    /// From a variable lookup (pure, for tests).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let source_date_epoch = match get("SOURCE_DATE_EPOCH").filter(|v| !v.trim().is_empty()) {
            None => archive::ZIP_EPOCH,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map_err(|_| BuildError::SourceDateEpoch { value: v.clone() })?,
        };
        let limit = |name: &'static str, default: u64| -> Result<u64, BuildError> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| BuildError::BadSetting {
                    name,
                    value: v.clone(),
                }),
            }
        };
        Ok(BuildSettings {
            source_date_epoch,
            max_unzipped_bytes: limit("SCOREKEEP_MAX_UNZIPPED_BYTES", MAX_UNZIPPED_BYTES)?,
            max_direct_upload_bytes: limit(
                "SCOREKEEP_MAX_DIRECT_UPLOAD_BYTES",
                MAX_DIRECT_UPLOAD_BYTES,
            )?,
            python: "python3".into(),
        })
    }
}
