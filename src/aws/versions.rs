//! Lambda versions and aliases: read and move an alias, publish a version (guarded by the
//! code sha and revision just read), list versions and aliases, delete a version.

use std::collections::BTreeSet;

use aws_sdk_lambda::Client;
use serde::Serialize;

use crate::aws::lambda::{with_conflict_retry, LiveFunction};
use crate::aws::{error_code, explain};
use crate::report::Task;

/// Where the alias points now, with the revision that guards moving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasState {
    pub(crate) version: String,
    pub(crate) revision_id: String,
}

/// One published version, as ListVersionsByFunction reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct VersionInfo {
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    /// When the version was published (Lambda's `LastModified` of that version).
    pub(crate) published: String,
}

/// GetAlias, or `None` when the alias does not exist.
pub(crate) async fn get_alias(
    lambda: &Client,
    name: &str,
    alias: &str,
) -> anyhow::Result<Option<AliasState>> {
    match lambda
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(out) => Ok(Some(AliasState {
            version: out.function_version().unwrap_or_default().to_string(),
            revision_id: out.revision_id().unwrap_or_default().to_string(),
        })),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(explain(format!("reading alias {alias} of function {name}"), &err).into()),
    }
}

/// PublishVersion of what Lambda has now, refused by Lambda if it moved since `live` was read;
/// retried while an update of the function is in progress.
pub(crate) async fn publish(
    lambda: &Client,
    name: &str,
    live: &LiveFunction,
    task: &Task,
) -> anyhow::Result<String> {
    let what = "publishing a version of function";
    let answer = with_conflict_retry(lambda, name, what, task, || {
        let mut request = lambda
            .publish_version()
            .function_name(name)
            .code_sha256(&live.code_sha256);
        if !live.revision_id.is_empty() {
            request = request.revision_id(&live.revision_id);
        }
        request.send()
    })
    .await?;
    match answer {
        Ok(out) => Ok(out.version().unwrap_or_default().to_string()),
        Err(err) if error_code(&err) == Some("PreconditionFailedException") => Err(crate::error::Problem::failure(format!("function {name}: not published: its code or configuration changed after this run updated it (another deploy or a console edit?)")).hint(format!("rerun `scorekeep-deploy update-functions {name}` once the other change is done")).into()),
        Err(err) => Err(explain(format!("{what} {name}"), &err).into()),
    }
}

/// CreateAlias when missing, else UpdateAlias guarded by the alias's revision (retried while
/// an update of the function is in progress; CreateAlias's conflict means the alias exists).
pub(crate) async fn point_alias(
    lambda: &Client,
    name: &str,
    alias: &str,
    version: &str,
    current: Option<&AliasState>,
    task: &Task,
) -> anyhow::Result<()> {
    let what = format!("pointing alias {alias} of function {name} at version {version}");
    match current {
        None => {
            lambda
                .create_alias()
                .function_name(name)
                .name(alias)
                .function_version(version)
                .send()
                .await
                .map_err(|e| explain(what, &e))?;
        }
        Some(state) => {
            let moving = format!("moving alias {alias} of function");
            with_conflict_retry(lambda, name, &moving, task, || {
                let mut request = lambda
                    .update_alias()
                    .function_name(name)
                    .name(alias)
                    .function_version(version);
                if !state.revision_id.is_empty() {
                    request = request.revision_id(&state.revision_id);
                }
                request.send()
            })
            .await?
            .map_err(|e| explain(what, &e))?;
        }
    }
    Ok(())
}

/// Every published version (not `$LATEST`), oldest first, and `$LATEST`'s code sha.
pub(crate) async fn list_versions(
    lambda: &Client,
    name: &str,
) -> anyhow::Result<(Vec<VersionInfo>, String)> {
    let mut versions = Vec::new();
    let mut latest_sha = String::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain(format!("listing the versions of function {name}"), &e))?;
        for v in out.versions() {
            let version = v.version().unwrap_or_default().to_string();
            let sha = v.code_sha256().unwrap_or_default().to_string();
            if version == "$LATEST" {
                latest_sha = sha;
                continue;
            }
            versions.push(VersionInfo {
                version,
                code_sha256: sha,
                published: v.last_modified().unwrap_or_default().to_string(),
            });
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    versions.sort_by_key(|v| v.version.parse::<u64>().unwrap_or(0));
    Ok((versions, latest_sha))
}

/// Versions any alias points at (ours or anyone's): never deleted.
pub(crate) async fn aliased_versions(
    lambda: &Client,
    name: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let mut aliased = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_aliases()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain(format!("listing the aliases of function {name}"), &e))?;
        for a in out.aliases() {
            aliased.extend(a.function_version().map(String::from));
            // A weighted alias also runs its additional version.
            if let Some(routing) = a.routing_config() {
                aliased.extend(
                    routing
                        .additional_version_weights()
                        .into_iter()
                        .flatten()
                        .map(|(v, _)| v.clone()),
                );
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(aliased)
}

/// DeleteFunction of one published version.
pub(crate) async fn delete_version(
    lambda: &Client,
    name: &str,
    version: &str,
) -> anyhow::Result<()> {
    lambda
        .delete_function()
        .function_name(name)
        .qualifier(version)
        .send()
        .await
        .map_err(|e| {
            explain(
                format!("deleting old version {version} of function {name}"),
                &e,
            )
        })?;
    Ok(())
}
