//! Emptying and deleting a versioned S3 bucket, with a bounded number of passes.
//!
//! DeleteObjects answers 200 even when some objects were not deleted (Object Lock, a policy
//! denying `s3:DeleteObjectVersion`); those come back in `Errors`. A loop that lists and
//! deletes until the bucket is empty never ends then, so every pass is counted and per-object
//! errors that will not go away by themselves stop the emptying at once.

use std::time::Duration;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::aws::{explain, Clients};
use crate::error::Problem;

/// Full list-and-delete passes before giving up on objects that keep failing transiently
/// (or on a bucket that something keeps writing to).
const MAX_PASSES: usize = 4;
/// How many failed objects an error message lists before "… and N more".
const LISTED_FAILURES: usize = 10;

/// One object version DeleteObjects reported as not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undeleted {
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Undeleted {
    /// S3's own retryable codes; anything else (AccessDenied, ...) fails the same way again.
    fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout"
        )
    }
}

/// What one pass over the bucket did.
#[derive(Debug, Default)]
struct Pass {
    deleted: usize,
    failed: Vec<Undeleted>,
}

/// Delete every object version and delete marker; the number of versions deleted.
pub(crate) async fn empty(clients: &Clients, bucket: &str) -> anyhow::Result<usize> {
    let mut deleted = 0;
    for pass_no in 1..=MAX_PASSES {
        let pass = one_pass(clients, bucket).await?;
        deleted += pass.deleted;
        if pass.failed.is_empty() && pass.deleted == 0 {
            return Ok(deleted);
        }
        let permanent = pass.failed.iter().any(|u| !u.is_transient());
        if permanent || (pass_no == MAX_PASSES && !pass.failed.is_empty()) {
            return Err(not_emptied(bucket, &pass.failed).into());
        }
        if !pass.failed.is_empty() {
            tokio::time::sleep(Duration::from_millis(500 * pass_no as u64)).await;
        }
    }
    Err(Problem::failure(format!(
        "bucket {bucket}: still not empty after {MAX_PASSES} passes (something keeps writing to it)"
    ))
    .resource(format!("s3 bucket {bucket}"))
    .hint("stop what writes to the bucket, then rerun `scorekeep-deploy down --delete-data`")
    .into())
}

/// Empty the bucket (see [`empty`]), then delete it.
pub(crate) async fn delete(clients: &Clients, bucket: &str) -> anyhow::Result<usize> {
    let deleted = empty(clients, bucket).await?;
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| explain(format!("deleting bucket {bucket}"), &e))?;
    Ok(deleted)
}

/// Whether the bucket exists (any answer but NotFound counts as existing, so that a denied
/// HeadBucket is reported by the delete that follows rather than hidden).
pub(crate) async fn exists(clients: &Clients, bucket: &str) -> bool {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) => !e.as_service_error().is_some_and(|s| s.is_not_found()),
    }
}

/// List every page once, deleting each page's versions with one DeleteObjects call.
async fn one_pass(clients: &Clients, bucket: &str) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| explain(format!("listing objects of bucket {bucket}"), &e))?;
        let ids = page_identifiers(&page);
        if !ids.is_empty() {
            let (deleted, failed) = delete_page(clients, bucket, ids).await?;
            pass.deleted += deleted;
            pass.failed.extend(failed);
        }
        if page.is_truncated() != Some(true) {
            return Ok(pass);
        }
        key_marker = page.next_key_marker().map(String::from);
        version_marker = page.next_version_id_marker().map(String::from);
    }
}

fn page_identifiers(
    page: &aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput,
) -> Vec<ObjectIdentifier> {
    page.versions()
        .iter()
        .map(|v| (v.key(), v.version_id()))
        .chain(
            page.delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id())),
        )
        .filter_map(|(k, v)| {
            ObjectIdentifier::builder()
                .key(k?)
                .set_version_id(v.map(String::from))
                .build()
                .ok()
        })
        .collect()
}

async fn delete_page(
    clients: &Clients,
    bucket: &str,
    ids: Vec<ObjectIdentifier>,
) -> anyhow::Result<(usize, Vec<Undeleted>)> {
    let out = clients
        .s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .quiet(false)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| explain(format!("deleting objects of bucket {bucket}"), &e))?;
    let failed = out
        .errors()
        .iter()
        .map(|e| Undeleted {
            key: e.key().unwrap_or("(no key)").to_string(),
            version_id: e.version_id().map(String::from),
            code: e.code().unwrap_or("UnknownError").to_string(),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect();
    Ok((out.deleted().len(), failed))
}

/// The error for objects that could not be deleted: the bucket, each key with S3's reason,
/// and what to do.
pub(crate) fn not_emptied(bucket: &str, failed: &[Undeleted]) -> Problem {
    let mut message = format!(
        "bucket {bucket}: {} object version(s) could not be deleted:",
        failed.len()
    );
    for u in failed.iter().take(LISTED_FAILURES) {
        let version = u
            .version_id
            .as_deref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default();
        let reason = if u.message.is_empty() {
            u.code.clone()
        } else {
            format!("{}: {}", u.code, u.message)
        };
        message.push_str(&format!("\n    {}{version}: {reason}", u.key));
    }
    if failed.len() > LISTED_FAILURES {
        message.push_str(&format!(
            "\n    … and {} more",
            failed.len() - LISTED_FAILURES
        ));
    }
    let hint = if failed.iter().any(|u| u.code.starts_with("AccessDenied")) {
        "objects under Object Lock (a legal hold or retention) or protected by a policy that denies s3:DeleteObjectVersion cannot be deleted: release the hold (or let the retention expire) or grant the permission, then rerun `scorekeep-deploy down --delete-data`"
    } else {
        "rerun `scorekeep-deploy down --delete-data`; if the same objects fail again, check the bucket's Object Lock settings and policy"
    };
    Problem::failure(message)
        .resource(format!("s3 bucket {bucket}"))
        .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undeleted(key: &str, code: &str) -> Undeleted {
        Undeleted {
            key: key.into(),
            version_id: Some("v1".into()),
            code: code.into(),
            message: "Access Denied".into(),
        }
    }

    #[test]
    fn the_error_names_bucket_keys_and_reasons_and_caps_the_list() {
        let failed: Vec<Undeleted> = (0..12)
            .map(|i| undeleted(&format!("k{i}"), "AccessDenied"))
            .collect();
        let err = not_emptied("records-1", &failed);
        let text = err.to_string();
        assert!(
            text.contains("bucket records-1: 12 object version(s)"),
            "{text}"
        );
        assert!(
            text.contains("k0 (version v1): AccessDenied: Access Denied"),
            "{text}"
        );
        assert!(!text.contains("k11"), "{text}");
        assert!(text.contains("… and 2 more"), "{text}");
        let hint = crate::error::Explain::hint(&err).unwrap_or_default();
        assert!(hint.starts_with("objects under Object Lock"), "{hint}");
    }

    #[test]
    fn only_s3_retryable_codes_are_transient() {
        assert!(undeleted("k", "SlowDown").is_transient());
        assert!(!undeleted("k", "AccessDenied").is_transient());
    }
}
