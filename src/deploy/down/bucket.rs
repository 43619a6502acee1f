//! Emptying and deleting a versioned S3 bucket, with a bounded number of passes.
//!
//! DeleteObjects answers 200 even when some objects were not deleted (Object Lock, a policy
//! denying `s3:DeleteObjectVersion`); those come back in `Errors`. A loop that lists and
//! deletes until the bucket is empty never ends then, so every pass is counted and per-object
//! errors that will not go away by themselves stop the emptying at once.

use std::time::Duration;

use crate::aws::s3::{self, Undeleted};
use crate::aws::Clients;
use crate::error::Problem;

/// Full list-and-delete passes before giving up on objects that keep failing transiently
/// (or on a bucket that something keeps writing to).
const MAX_PASSES: usize = 4;
/// How many failed objects an error message lists before "… and N more".
const LISTED_FAILURES: usize = 10;

/// S3's own retryable codes; anything else (AccessDenied, ...) fails the same way again.
fn is_transient(u: &Undeleted) -> bool {
    matches!(
        u.code.as_str(),
        "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout"
    )
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
        let permanent = pass.failed.iter().any(|u| !is_transient(u));
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
    s3::delete_bucket(&clients.s3, bucket).await?;
    Ok(deleted)
}

/// Whether the bucket exists (see [`s3::bucket_exists`]).
pub(crate) async fn exists(clients: &Clients, bucket: &str) -> bool {
    s3::bucket_exists(&clients.s3, bucket).await
}

/// List every page once, deleting each page's versions with one DeleteObjects call.
async fn one_pass(clients: &Clients, bucket: &str) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    let mut from = None;
    loop {
        let page = s3::list_versions_page(&clients.s3, bucket, from.take()).await?;
        if !page.versions.is_empty() {
            let (deleted, failed) =
                s3::delete_versions(&clients.s3, bucket, &page.versions).await?;
            pass.deleted += deleted;
            pass.failed.extend(failed);
        }
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(pass),
        }
    }
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
        assert!(is_transient(&undeleted("k", "SlowDown")));
        assert!(!is_transient(&undeleted("k", "AccessDenied")));
    }
}
