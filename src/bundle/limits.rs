//! Lambda's size limits, checked on the built artifacts before anything is deployed: a
//! bundle over the direct-upload limit with no `artifact_bucket` would otherwise fail only at
//! upload, after the stacks were already changed.
//!
//! Called by `plan` and at the start of `up` / `update-functions`, once the artifacts are
//! built and before the first stack or function change.

use super::{Artifact, BuildSettings};
use crate::error::Problem;
use crate::report::human_bytes;

/// [`check`] with the project's `artifact_bucket` and the build's limits: `plan`, and `up` and
/// `update-functions` before any change.
pub(crate) fn check_project(
    project: &crate::config::Project,
    artifacts: &[Artifact],
) -> anyhow::Result<()> {
    let settings = BuildSettings::from_env()?;
    check(
        artifacts,
        project.config.artifact_bucket.as_deref(),
        &settings,
    )?;
    Ok(())
}

/// Every artifact within Lambda's limits for how it will be uploaded, or one usage error
/// naming each function over a limit (exit 2: nothing was changed).
pub(crate) fn check(
    artifacts: &[Artifact],
    artifact_bucket: Option<&str>,
    settings: &BuildSettings,
) -> Result<(), Problem> {
    let mut over = Vec::new();
    for a in artifacts {
        let m = &a.manifest;
        if m.unzipped_bytes > settings.max_unzipped_bytes {
            over.push(format!(
                "function `{}`: {} unzipped, over Lambda's limit of {}",
                a.function,
                human_bytes(m.unzipped_bytes),
                human_bytes(settings.max_unzipped_bytes)
            ));
        } else if m.zip_bytes > settings.max_direct_upload_bytes && artifact_bucket.is_none() {
            over.push(format!(
                "function `{}`: the zip is {}, over Lambda's direct-upload limit of {}, and no `artifact_bucket` is set",
                a.function,
                human_bytes(m.zip_bytes),
                human_bytes(settings.max_direct_upload_bytes)
            ));
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    let hint = if over.iter().any(|o| o.contains("artifact_bucket")) {
        "add `artifact_bucket: BUCKET` to the config (larger zips are uploaded through S3), or make the bundle smaller (runtime_provided, externals)"
    } else {
        "drop unneeded dependencies (or list runtime-provided ones in `runtime_provided`), or move large data to S3"
    };
    Err(Problem::usage(over.join("\n")).hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::Manifest;

    fn artifact(function: &str, zip_bytes: u64, unzipped_bytes: u64) -> Artifact {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "function": function, "runtime": "nodejs22.x", "architecture": "x86_64",
            "sha256_hex": "", "sha256_base64": "", "zip_bytes": zip_bytes,
            "unzipped_bytes": unzipped_bytes, "file_count": 1, "inputs_hash": "",
            "tool_version": "0", "source_date_epoch": 0, "needs_s3_upload": false,
            "dependencies": [], "runtime_provided_excluded": [], "platform_tags": [],
        }))
        .unwrap();
        Artifact {
            function: function.into(),
            zip_path: "x.zip".into(),
            manifest_path: "x.json".into(),
            manifest,
            cached: false,
        }
    }

    #[test]
    fn a_large_zip_needs_the_artifact_bucket_and_unzipped_size_is_a_hard_limit() {
        let settings = BuildSettings::from_lookup(|_| None).unwrap();
        let small = artifact("small", 1_000_000, 3_000_000);
        let big_zip = artifact("big", 106_000_000, 200_000_000);
        let huge = artifact("huge", 10_000_000, 300_000_000);
        assert!(check(std::slice::from_ref(&small), None, &settings).is_ok());

        let err = check(&[small.clone(), big_zip.clone()], None, &settings).unwrap_err();
        assert_eq!(
            crate::error::Explain::class(&err),
            crate::error::Class::Usage
        );
        assert!(
            err.message()
                .contains("function `big`: the zip is 106.00 MB"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("small"));
        assert!(crate::error::Explain::hint(&err)
            .unwrap()
            .contains("artifact_bucket"));
        assert!(check(&[big_zip], Some("bucket"), &settings).is_ok());

        let err = check(&[huge], Some("bucket"), &settings).unwrap_err();
        assert!(
            err.message()
                .contains("function `huge`: 300.00 MB unzipped"),
            "{}",
            err.message()
        );
    }
}
