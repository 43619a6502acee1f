//! Releases (issue 13): after a function's code or configuration changed, publish a version
//! and point the release alias at it; `rollback` moves the alias back; old versions without an
//! alias are pruned. Every call here is Lambda's: no build, upload or CloudFormation.

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_lambda::Client;
use serde::Serialize;

use crate::aws::lambda::LiveFunction;
use crate::aws::versions::{
    self, aliased_versions, get_alias, list_versions, point_alias, publish,
};
pub(crate) use crate::aws::versions::{AliasState, VersionInfo};
use crate::report::Task;

/// What a release did to one function: the version published and where the alias moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseResult {
    pub(crate) alias: String,
    /// The version the alias pointed at before (`None`: it did not exist).
    pub(crate) previous_version: Option<String>,
    pub version: String,
    /// Why a version was published: code or configuration changed, or the alias was missing
    /// or still on `$LATEST`.
    pub(crate) reason: &'static str,
    /// Older versions without an alias that were deleted (beyond `keep_versions`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) pruned_versions: Vec<String>,
}

impl fmt::Display for ReleaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.previous_version.as_deref().unwrap_or("(new alias)");
        write!(
            f,
            "alias {} -> version {} (was {from}; {})",
            self.alias, self.version, self.reason
        )?;
        if !self.pruned_versions.is_empty() {
            write!(
                f,
                "; deleted old version(s) {}",
                self.pruned_versions.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Whether this run changed the function's code or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Yes,
    No,
}

/// Per function ARN, the code and configuration its alias was last seen to name a published
/// version of (or a version `rollback` chose while they stayed so). While a function still
/// has them, a run that changed nothing does not even read the alias: a no-op stays as cheap
/// as before releases existed. A fresh machine has no record and reads every alias once.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct ReleasedRecord {
    functions: std::collections::BTreeMap<String, String>,
}

impl ReleasedRecord {
    pub(crate) fn load(path: &std::path::Path) -> ReleasedRecord {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_write::write_atomically(path, &bytes)
    }

    fn state(live: &LiveFunction) -> String {
        format!("{} {}", live.code_sha256, live.settings.fingerprint())
    }

    /// True when the alias was confirmed for the function exactly as `live` has it.
    pub(crate) fn confirmed(&self, live: &LiveFunction) -> bool {
        self.functions.get(&live.arn) == Some(&Self::state(live))
    }

    pub(crate) fn record(&mut self, live: &LiveFunction) {
        self.functions.insert(live.arn.clone(), Self::state(live));
    }
}

/// Why a version must be published, or `None` when the alias already names this release.
/// A no-op run publishes nothing; an alias a `rollback` moved stays where it is.
pub(crate) fn publish_reason(changed: Changed, alias: Option<&AliasState>) -> Option<&'static str> {
    match (changed, alias) {
        (Changed::Yes, _) => Some("code or configuration changed"),
        (Changed::No, None) => Some("the alias did not exist"),
        (Changed::No, Some(a)) if a.version == "$LATEST" => Some("the alias was on $LATEST"),
        (Changed::No, Some(_)) => None,
    }
}

/// Publish `live` (guarded by its CodeSha256 and RevisionId, so a concurrent change is not
/// published by mistake), move the alias to it and prune old versions.
pub async fn release(
    lambda: &Client,
    live: &LiveFunction,
    name: &str,
    settings: &crate::config::ReleasesConfig,
    changed: Changed,
    task: &Task,
) -> anyhow::Result<Option<ReleaseResult>> {
    let alias = settings.alias.as_str();
    let current = get_alias(lambda, name, alias).await?;
    let Some(reason) = publish_reason(changed, current.as_ref()) else {
        return Ok(None);
    };
    let version = publish(lambda, name, live, task).await?;
    point_alias(lambda, name, alias, &version, current.as_ref(), task).await?;
    // Version numbers only grow: while the newest is at most `keep`, there is nothing to prune.
    let keep = settings.keep_versions as usize;
    let pruned = match version.parse::<usize>() {
        Ok(n) if n <= keep => Vec::new(),
        _ => prune(lambda, name, keep).await?,
    };
    Ok(Some(ReleaseResult {
        alias: alias.to_string(),
        previous_version: current.map(|c| c.version),
        version,
        reason,
        pruned_versions: pruned,
    }))
}

/// The versions to delete: all but the newest `keep`, except those an alias points at.
pub(crate) fn versions_to_prune(
    versions: &[VersionInfo],
    aliased: &BTreeSet<String>,
    keep: usize,
) -> Vec<String> {
    let excess = versions.len().saturating_sub(keep);
    versions[..excess]
        .iter()
        .filter(|v| !aliased.contains(&v.version))
        .map(|v| v.version.clone())
        .collect()
}

/// Delete old unaliased versions beyond `keep` (DeleteFunction with a qualifier).
async fn prune(lambda: &Client, name: &str, keep: usize) -> anyhow::Result<Vec<String>> {
    let (versions, _) = list_versions(lambda, name).await?;
    if versions.len() <= keep {
        return Ok(Vec::new());
    }
    let aliased = aliased_versions(lambda, name).await?;
    let doomed = versions_to_prune(&versions, &aliased, keep);
    for version in &doomed {
        versions::delete_version(lambda, name, version).await?;
    }
    Ok(doomed)
}

/// Which version `rollback` moves the alias to: the one asked for, or the newest published
/// version older than the alias's.
pub(crate) fn rollback_target(
    versions: &[VersionInfo],
    current: &str,
    to: Option<&str>,
) -> Result<String, String> {
    if let Some(to) = to {
        return if versions.iter().any(|v| v.version == to) {
            Ok(to.to_string())
        } else {
            Err(format!(
                "version {to} does not exist (published: {})",
                list_or_none(versions)
            ))
        };
    }
    let current_n = current.parse::<u64>().unwrap_or(u64::MAX);
    versions
        .iter()
        .rev()
        .find(|v| v.version.parse::<u64>().is_ok_and(|n| n < current_n))
        .map(|v| v.version.clone())
        .ok_or_else(|| {
            format!(
                "no version older than {current} to go back to (published: {})",
                list_or_none(versions)
            )
        })
}

fn list_or_none(versions: &[VersionInfo]) -> String {
    if versions.is_empty() {
        "none".into()
    } else {
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How many versions `status` lists per function.
const STATUS_VERSIONS: usize = 5;

/// `status`: where the alias points, that version's code and publish time, the newest
/// versions, and whether `$LATEST` runs other code.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReleaseStatus {
    pub(crate) alias: String,
    /// `None` when the alias does not exist.
    pub(crate) alias_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) alias_version_info: Option<VersionInfo>,
    pub(crate) latest_code_sha256: String,
    /// True when unqualified callers (`$LATEST`) run other code than the alias.
    pub(crate) latest_differs: bool,
    /// The newest published versions, newest first.
    pub(crate) recent_versions: Vec<VersionInfo>,
}

pub(crate) async fn status(
    lambda: &Client,
    name: &str,
    alias: &str,
) -> anyhow::Result<ReleaseStatus> {
    let current = get_alias(lambda, name, alias).await?;
    let (versions, latest_sha) = list_versions(lambda, name).await?;
    let info = current
        .as_ref()
        .and_then(|c| versions.iter().find(|v| v.version == c.version).cloned());
    let latest_differs = match &info {
        Some(v) => v.code_sha256 != latest_sha,
        None => false,
    };
    Ok(ReleaseStatus {
        alias: alias.to_string(),
        alias_version: current.map(|c| c.version),
        alias_version_info: info,
        latest_code_sha256: latest_sha,
        latest_differs,
        recent_versions: versions
            .iter()
            .rev()
            .take(STATUS_VERSIONS)
            .cloned()
            .collect(),
    })
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.alias_version, &self.alias_version_info) {
            (None, _) => write!(
                f,
                "alias {}: does not exist (nothing released yet)",
                self.alias
            )?,
            (Some(v), Some(i)) => write!(
                f,
                "alias {} -> version {v} (code sha256 {}, published {})",
                self.alias, i.code_sha256, i.published
            )?,
            (Some(v), None) => write!(f, "alias {} -> {v}", self.alias)?,
        }
        if self.latest_differs {
            write!(
                f,
                "\n  note: $LATEST has other code ({}): callers without `:{}` run it, not the alias's version",
                self.latest_code_sha256, self.alias
            )?;
        }
        let recent: Vec<String> = self
            .recent_versions
            .iter()
            .map(|v| format!("{} ({})", v.version, v.published))
            .collect();
        if !recent.is_empty() {
            write!(f, "\n  versions {}", recent.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(ns: &[&str]) -> Vec<VersionInfo> {
        ns.iter()
            .map(|n| VersionInfo {
                version: n.to_string(),
                code_sha256: format!("sha{n}"),
                published: String::new(),
            })
            .collect()
    }

    #[test]
    fn a_no_op_publishes_nothing_unless_the_alias_is_missing_or_on_latest() {
        let at = |v: &str| AliasState {
            version: v.into(),
            revision_id: "r".into(),
        };
        assert_eq!(publish_reason(Changed::No, Some(&at("3"))), None);
        assert!(publish_reason(Changed::Yes, Some(&at("3"))).is_some());
        assert!(publish_reason(Changed::No, None).is_some());
        assert!(publish_reason(Changed::No, Some(&at("$LATEST"))).is_some());
    }

    #[test]
    fn the_record_is_settled_only_for_the_same_code_and_configuration() {
        let live = LiveFunction {
            arn: "arn:fn".into(),
            code_sha256: "a=".into(),
            ..Default::default()
        };
        let mut record = ReleasedRecord::default();
        assert!(!record.confirmed(&live));
        record.record(&live);
        assert!(record.confirmed(&live));
        let mut new_code = live.clone();
        new_code.code_sha256 = "b=".into();
        assert!(!record.confirmed(&new_code));
        let mut new_config = live.clone();
        new_config.settings.memory = 512;
        assert!(!record.confirmed(&new_config));
    }

    #[test]
    fn pruning_keeps_the_newest_and_every_aliased_version() {
        let all = versions(&["1", "2", "3", "4", "5", "6", "7"]);
        let aliased = BTreeSet::from(["2".to_string()]);
        assert_eq!(versions_to_prune(&all, &aliased, 3), vec!["1", "3", "4"]);
        assert!(versions_to_prune(&all, &aliased, 7).is_empty());
    }

    #[test]
    fn rollback_goes_to_the_previous_existing_version_or_the_one_asked_for() {
        let all = versions(&["1", "3", "4"]);
        assert_eq!(rollback_target(&all, "4", None).unwrap(), "3");
        assert_eq!(rollback_target(&all, "3", None).unwrap(), "1");
        assert!(rollback_target(&all, "1", None)
            .unwrap_err()
            .contains("no version older than 1"));
        assert_eq!(rollback_target(&all, "1", Some("4")).unwrap(), "4");
        assert!(rollback_target(&all, "4", Some("2"))
            .unwrap_err()
            .contains("version 2 does not exist (published: 1, 3, 4)"));
    }
}
