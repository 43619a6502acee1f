//! Releases: the release alias must name a version with the source's code and configuration.
//! [`alias_verdict`] decides from what Lambda reports whether it does; [`release`] publishes
//! and moves it when not; `rollback` moves it back and pins it ([`Pin`], in the alias's
//! description); old versions without an alias are pruned. Every call here is Lambda's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_lambda::Client;
use serde::Serialize;

use crate::aws::lambda::LiveFunction;
pub use crate::aws::versions::AliasState;
pub(crate) use crate::aws::versions::VersionInfo;
use crate::aws::versions::{
    self, aliased_versions, get_alias, list_versions, point_alias, publish,
};
use crate::report::Task;

/// What a release did to one function: the version published and where the alias moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseResult {
    pub(crate) alias: String,
    /// The version the alias pointed at before (`None`: it did not exist).
    pub(crate) previous_version: Option<String>,
    pub version: String,
    /// Why the alias moved: it was missing, on `$LATEST`, weighted, pinned and released, or
    /// named a version other than the source's.
    pub(crate) reason: String,
    /// Older versions without an alias that were deleted (beyond `keep_versions`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) pruned_versions: Vec<String>,
    /// A gradual release: its strategy (`None`: all at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
    /// A gradual release: each step's share, time and gate readings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) steps: Vec<StepRecord>,
}

/// One step of a function's release, for the report and `--output json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StepRecord {
    /// The new version's share after the step (1: the alias names it alone).
    pub(crate) share: f64,
    /// Seconds since the release's first step.
    pub(crate) at_seconds: f64,
    /// What the gates read at the end of the bake before this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gates: Option<super::gates::Readings>,
}

impl fmt::Display for ReleaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.previous_version.as_deref().unwrap_or("(new alias)");
        write!(
            f,
            "alias {} -> version {} (was {from}; {})",
            self.alias, self.version, self.reason
        )?;
        if let Some(strategy) = &self.strategy {
            let shares: Vec<String> = self
                .steps
                .iter()
                .map(|s| format!("{:.0} %", s.share * 100.0))
                .collect();
            write!(f, "; {strategy}: {}", shares.join(" -> "))?;
        }
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

/// What a rollback wrote on the alias: held at `version`, rolled back from `from`. Kept in
/// the alias's description, so every machine and CI runner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Pin {
    pub(crate) version: String,
    pub(crate) from: String,
}

const PIN_PREFIX: &str = "scorekeep-deploy: pinned at version ";

impl Pin {
    /// The alias description that records this pin.
    pub(crate) fn description(&self) -> String {
        format!(
            "{PIN_PREFIX}{} by a rollback from {}; `update-functions --unpin` releases the source again",
            self.version, self.from
        )
    }

    /// The pin an alias description records, if any.
    pub(crate) fn parse(description: &str) -> Option<Pin> {
        let rest = description.strip_prefix(PIN_PREFIX)?;
        let (version, rest) = rest.split_once(" by a rollback from ")?;
        let from = rest.split(';').next()?.trim();
        Some(Pin {
            version: version.to_string(),
            from: from.to_string(),
        })
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pinned at version {} by a rollback from {}",
            self.version, self.from
        )
    }
}

/// Whether this run may release a function that `rollback` pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unpin {
    /// Leave pinned functions alone (the default).
    No,
    /// `--unpin`: release the source again and clear the pin.
    Yes,
}

/// Why the alias must move to a version of the function as desired.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MoveReason {
    /// No alias yet.
    Missing,
    /// The alias names `$LATEST`, which any later update changes under it.
    OnLatest,
    /// The alias sends part of its traffic to other versions.
    Weighted,
    /// The alias names a version with other code or configuration: a release stopped before
    /// the alias moved, or someone moved the alias. `differs` names what.
    Behind {
        version: String,
        differs: Vec<String>,
    },
    /// `--unpin` released a pinned alias.
    Unpinned,
    /// A gradual release stopped while the alias still routed part of its traffic to a
    /// newer version: a rerun resumes it.
    InProgress {
        version: String,
        routed: BTreeMap<String, f64>,
    },
}

impl fmt::Display for MoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveReason::Missing => f.write_str("the alias did not exist"),
            MoveReason::OnLatest => f.write_str("the alias was on $LATEST"),
            MoveReason::Weighted => {
                f.write_str("the alias routed traffic to more than one version")
            }
            MoveReason::Behind { version, differs } => write!(
                f,
                "version {version}, which the alias named, has other {} than the source (a release stopped before the alias moved, or the alias was moved by hand)",
                differs.join(", ")
            ),
            MoveReason::Unpinned => f.write_str("--unpin released the rollback pin"),
            MoveReason::InProgress { version, routed } => {
                let routed: Vec<String> = routed
                    .iter()
                    .map(|(v, w)| format!("version {v} takes {:.0} %", w * 100.0))
                    .collect();
                write!(
                    f,
                    "a gradual release is in progress (version {version} keeps the rest, {})",
                    routed.join(", ")
                )
            }
        }
    }
}

/// What the release alias needs, decided from what Lambda reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AliasVerdict {
    /// The alias names a version with the desired code and configuration.
    Serves,
    /// `rollback` pinned it and this run does not unpin: the function is left alone.
    Pinned(Pin),
    /// Publish (or find) a version of the function as desired and move the alias to it.
    Move(MoveReason),
}

/// Decide the alias's step. `served_differs` lists what the version the alias names has other
/// than desired (code, configuration fields), echoes of unstored settings already left out.
pub(crate) fn alias_verdict(
    alias: Option<&AliasState>,
    served_differs: Vec<String>,
    unpin: Unpin,
) -> AliasVerdict {
    let Some(alias) = alias else {
        return AliasVerdict::Move(MoveReason::Missing);
    };
    match (Pin::parse(&alias.description), unpin) {
        (Some(pin), Unpin::No) => return AliasVerdict::Pinned(pin),
        (Some(_), Unpin::Yes) => return AliasVerdict::Move(MoveReason::Unpinned),
        (None, _) => {}
    }
    if alias.version == "$LATEST" {
        AliasVerdict::Move(MoveReason::OnLatest)
    } else if !served_differs.is_empty() && !alias.routing.is_empty() {
        AliasVerdict::Move(MoveReason::InProgress {
            version: alias.version.clone(),
            routed: alias.routing.clone(),
        })
    } else if !served_differs.is_empty() {
        AliasVerdict::Move(MoveReason::Behind {
            version: alias.version.clone(),
            differs: served_differs,
        })
    } else if !alias.routing.is_empty() {
        AliasVerdict::Move(MoveReason::Weighted)
    } else {
        AliasVerdict::Serves
    }
}

/// How a function is released: the project's settings, and the function's pre-traffic check.
pub struct Policy<'a> {
    pub settings: &'a crate::config::ReleasesConfig,
    pub smoke_event: Option<std::path::PathBuf>,
}

/// Publish `live` (guarded by its CodeSha256 and RevisionId, so a concurrent change is not
/// published by mistake; Lambda answers an unchanged function with its existing version),
/// smoke-test it when the function has a `smoke_event`, move the alias to it (`current`, for
/// `reason`), clearing any pin, and prune old versions.
pub async fn release(
    lambda: &Client,
    live: &LiveFunction,
    name: &str,
    policy: Policy<'_>,
    (current, reason): (Option<&AliasState>, &MoveReason),
    task: &Task,
) -> anyhow::Result<ReleaseResult> {
    let settings = policy.settings;
    let alias = settings.alias.as_str();
    let version = publish(lambda, name, live, task).await?;
    if let Some(event) = &policy.smoke_event {
        task.set_message(format!("function {name}: smoke test of version {version}"));
        super::smoke::smoke_test(lambda, name, &version, event).await?;
    }
    point_alias(lambda, name, alias, &version, current, "", task).await?;
    // Version numbers only grow: while the newest is at most `keep`, there is nothing to prune.
    let keep = settings.keep_versions as usize;
    let pruned = match version.parse::<usize>() {
        Ok(n) if n <= keep => Vec::new(),
        _ => prune(lambda, name, keep).await?,
    };
    Ok(ReleaseResult {
        alias: alias.to_string(),
        previous_version: current.map(|c| c.version.clone()),
        version,
        reason: reason.to_string(),
        pruned_versions: pruned,
        strategy: None,
        steps: Vec::new(),
    })
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
pub(crate) async fn prune(lambda: &Client, name: &str, keep: usize) -> anyhow::Result<Vec<String>> {
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
    /// `rollback` pinned the alias here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pinned: Option<Pin>,
    /// A gradual release in progress: the versions the alias also routes to, and their shares.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) routing: BTreeMap<String, f64>,
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
    let pinned = current.as_ref().and_then(|c| Pin::parse(&c.description));
    let routing = current
        .as_ref()
        .map(|c| c.routing.clone())
        .unwrap_or_default();
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
        pinned,
        routing,
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
                self.alias,
                i.code_sha256,
                crate::text::millis(&i.published)
            )?,
            (Some(v), None) => write!(f, "alias {} -> {v}", self.alias)?,
        }
        if let Some(pin) = &self.pinned {
            write!(
                f,
                "\n  {pin}: `up` and `update-functions` leave it alone until `--unpin`"
            )?;
        }
        for (version, weight) in &self.routing {
            write!(
                f,
                "\n  release in progress: version {version} takes {:.0} % of the traffic; rerunning `up` or `update-functions` resumes it, `rollback` ends it",
                weight * 100.0
            )?;
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
            .map(|v| format!("{} ({})", v.version, crate::text::millis(&v.published)))
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
                fingerprint: String::new(),
            })
            .collect()
    }

    fn alias(version: &str, description: &str) -> AliasState {
        AliasState {
            version: version.into(),
            revision_id: "r".into(),
            description: description.into(),
            routing: Default::default(),
        }
    }

    #[test]
    fn the_alias_moves_exactly_when_it_does_not_serve_the_source() {
        let serves = alias_verdict(Some(&alias("3", "")), vec![], Unpin::No);
        assert_eq!(serves, AliasVerdict::Serves);
        assert_eq!(
            alias_verdict(None, vec![], Unpin::No),
            AliasVerdict::Move(MoveReason::Missing)
        );
        assert_eq!(
            alias_verdict(Some(&alias("$LATEST", "")), vec![], Unpin::No),
            AliasVerdict::Move(MoveReason::OnLatest)
        );
        let behind = alias_verdict(Some(&alias("3", "")), vec!["code".into()], Unpin::No);
        let AliasVerdict::Move(reason) = behind else {
            panic!("{behind:?}")
        };
        assert!(reason
            .to_string()
            .starts_with("version 3, which the alias named, has other code"));
        let mut weighted = alias("3", "");
        weighted.routing.insert("2".into(), 0.1);
        assert_eq!(
            alias_verdict(Some(&weighted), vec![], Unpin::No),
            AliasVerdict::Move(MoveReason::Weighted)
        );
    }

    #[test]
    fn a_pin_holds_until_unpinned_and_reads_back_from_the_description() {
        let pin = Pin {
            version: "2".into(),
            from: "3".into(),
        };
        assert_eq!(Pin::parse(&pin.description()), Some(pin.clone()));
        assert_eq!(Pin::parse("a hand-written description"), None);
        let pinned = alias("2", &pin.description());
        assert_eq!(
            alias_verdict(Some(&pinned), vec!["code".into()], Unpin::No),
            AliasVerdict::Pinned(pin.clone())
        );
        assert_eq!(
            alias_verdict(Some(&pinned), vec![], Unpin::Yes),
            AliasVerdict::Move(MoveReason::Unpinned)
        );
        assert_eq!(pin.to_string(), "pinned at version 2 by a rollback from 3");
        assert!(pin.description().len() <= 256, "Lambda's description limit");
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
