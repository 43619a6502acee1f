//! S3: the artifact bucket's uploads and the records bucket's emptying. Callers decide what
//! to upload and what to delete; these are the calls.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;

use super::explain;
use super::timeouts::CallKind;

/// One object version (or delete marker) of a versioned bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectVersion {
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
}

/// One page of ListObjectVersions: versions and delete markers alike, and where the next
/// page starts (`None` on the last).
#[derive(Debug, Default)]
pub(crate) struct VersionPage {
    pub(crate) versions: Vec<ObjectVersion>,
    pub(crate) next: Option<PageMarker>,
}

/// ListObjectVersions' key and version-id markers.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageMarker {
    key: Option<String>,
    version_id: Option<String>,
}

/// One object version DeleteObjects reported as not deleted, with S3's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undeleted {
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
    pub(crate) code: String,
    pub(crate) message: String,
}

/// Whether `key` is in `bucket` (any failed HeadObject counts as absent: the upload that
/// follows reports a real problem).
pub(crate) async fn object_exists(s3: &Client, bucket: &str, key: &str) -> bool {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// PutObject of `bytes`, with the upload timeouts; `what` names it in errors.
pub(crate) async fn upload_bytes(
    s3: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    what: &str,
) -> anyhow::Result<()> {
    put_object(s3, bucket, key, ByteStream::from(bytes), what).await
}

/// PutObject of the file at `path`, streamed from disk.
pub(crate) async fn upload_file(
    s3: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    what: &str,
) -> anyhow::Result<()> {
    let body = ByteStream::from_path(path).await?;
    put_object(s3, bucket, key, body, what).await
}

async fn put_object(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
    what: &str,
) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .customize()
        .config_override(
            aws_sdk_s3::config::Builder::default().timeout_config(CallKind::Upload.timeouts()),
        )
        .send()
        .await
        .map_err(|e| explain(format!("uploading the {what} to s3://{bucket}/{key}"), &e))?;
    Ok(())
}

/// Whether the bucket exists (any answer but NotFound counts as existing, so that a denied
/// HeadBucket is reported by the delete that follows rather than hidden).
pub(crate) async fn bucket_exists(s3: &Client, bucket: &str) -> bool {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) => !e.as_service_error().is_some_and(|s| s.is_not_found()),
    }
}

/// DeleteBucket (of an empty bucket).
pub(crate) async fn delete_bucket(s3: &Client, bucket: &str) -> anyhow::Result<()> {
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| explain(format!("deleting bucket {bucket}"), &e))?;
    Ok(())
}

/// One page of ListObjectVersions from `from` (`None`: the first page).
pub(crate) async fn list_versions_page(
    s3: &Client,
    bucket: &str,
    from: Option<PageMarker>,
) -> anyhow::Result<VersionPage> {
    let from = from.unwrap_or_default();
    let page = s3
        .list_object_versions()
        .bucket(bucket)
        .set_key_marker(from.key)
        .set_version_id_marker(from.version_id)
        .send()
        .await
        .map_err(|e| explain(format!("listing objects of bucket {bucket}"), &e))?;
    let versions = page
        .versions()
        .iter()
        .map(|v| (v.key(), v.version_id()))
        .chain(
            page.delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id())),
        )
        .filter_map(|(key, version_id)| {
            Some(ObjectVersion {
                key: key?.to_string(),
                version_id: version_id.map(String::from),
            })
        })
        .collect();
    let next = (page.is_truncated() == Some(true)).then(|| PageMarker {
        key: page.next_key_marker().map(String::from),
        version_id: page.next_version_id_marker().map(String::from),
    });
    Ok(VersionPage { versions, next })
}

/// DeleteObjects of these versions (at most 1,000, as one ListObjectVersions page holds): how
/// many were deleted, and the ones S3 reported as not deleted (it answers 200 even then).
pub(crate) async fn delete_versions(
    s3: &Client,
    bucket: &str,
    versions: &[ObjectVersion],
) -> anyhow::Result<(usize, Vec<Undeleted>)> {
    let ids: Vec<ObjectIdentifier> = versions
        .iter()
        .map(|v| {
            ObjectIdentifier::builder()
                .key(&v.key)
                .set_version_id(v.version_id.clone())
                .build()
        })
        .collect::<Result<_, _>>()?;
    let out = s3
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
